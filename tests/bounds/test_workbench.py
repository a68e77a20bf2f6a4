"""Issue 17, part 2: a user's own theorem through `revkl bounds verify --theorem`, with the same machinery."""

import json
from pathlib import Path

import numpy as np

from bounds.rigorous import confirm
from bounds.verify import load_theorem
from revkl.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "bretagnolle_huber.py"


def test_the_worked_example_runs_through_verify_and_writes_its_report(tmp_path, capsys):
    out = tmp_path / "bh.json"
    assert main(["bounds", "verify", "--theorem", f"{EXAMPLE}:BH", "--instances", "300", "--no-progress",
                 "--out", str(out)]) == 0
    assert "BH" in capsys.readouterr().out
    report = json.loads(out.read_text())
    assert list(k for k in report if not k.startswith("_")) == ["BH"]
    bh = report["BH"]
    assert bh["violations"] == 0 and bh["hypotheses_met"] == 300
    # Near the extremal limit phi(M) ~ sqrt(M): the Bretagnolle-Huber form is sqrt(2) looser than T1 there.
    assert 0.70 < bh["tightness"]["max_ratio"] <= 2**-0.5 + 1e-6


def test_a_users_exact_sides_redecide_the_checks_the_floats_flag():
    """Flag every check of the example: its own interval sides (``exact``) decide them all as holding."""
    thm = load_theorem(f"{EXAMPLE}:BH")
    inst = thm.families["dirichlet"](np.random.default_rng(0), 6, 4, 3)
    res = thm.check(inst)
    still, how = confirm(thm.name, res, inst, np.ones(6, bool), thm.exact)
    assert not still.any() and how == {"interval: holds": 6}
    _, floats = confirm(thm.name, res, inst, np.ones(6, bool))  # without them only the floats can decide
    assert floats == {"float: violated": 6}


def test_a_wrong_user_bound_is_reported_violated(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(f"import runpy\nns = runpy.run_path({str(EXAMPLE)!r})\n"
                   "from bounds.theorems import Sides\n"
                   "HALF = ns['BH'].with_sides('HALF', lambda i: (lambda s: Sides(s.lhs, s.rhs / 2, s.allowance, "
                   "s.rounding / 2, s.extras))(ns['sides'](i)))\n")
    assert main(["bounds", "verify", "--theorem", f"{bad}:HALF", "--instances", "200", "--no-progress"]) == 1


def test_bad_theorem_specs_are_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "boom.py").write_text("raise RuntimeError('nope')\n")
    (tmp_path / "plain.py").write_text("X = 3\n")
    cases = {"no-colon.py": "expected path/to/file.py:Name", f"{tmp_path / 'missing.py'}:A": "not a Python file",
             f"{tmp_path / 'boom.py'}:A": "RuntimeError: nope", f"{tmp_path / 'plain.py'}:X": "is of type int, not a",
             f"{tmp_path / 'plain.py'}:Y": "Y is not defined"}
    for spec, message in cases.items():
        assert main(["bounds", "verify", "--theorem", spec, "--instances", "2"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (spec, err)
