"""`revkl bounds verify` and `revkl bounds check` end to end."""

import json

import numpy as np

import bounds.theorems as theorems
from revkl.cli import main


def test_verify_writes_the_report_and_passes(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["bounds", "verify", "--instances", "64", "--seed", "3", "--only", "T3", "T4", "NT-forward-convex", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    for name in ("T3", "T4", "NT-forward-convex"):
        entry = report[name]
        assert {"instances", "hypotheses_met", "violations", "max_violation", "worst_instance", "tightness", "points"} <= set(entry)
        assert entry["instances"] == 64
    assert report["T4"]["violations"] == 0
    assert "T3" in capsys.readouterr().out


def test_verify_exits_nonzero_on_a_violation(tmp_path, monkeypatch):
    # Make T1's constant a million times too small: the verification must catch it and fail.
    monkeypatch.setattr(theorems, "pinsker_constant", lambda g: 1e-6 / (g * np.sqrt(2.0)))
    assert main(["bounds", "verify", "--instances", "64", "--only", "T1", "--out", str(tmp_path / "r.json")]) == 1


def test_check_reports_bounds_and_rejects_bad_files(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "fs.npy", np.eye(3)[rng.integers(0, 3, 20)])
    np.savetxt(tmp_path / "fw.csv", rng.dirichlet([2, 2, 2], 20), delimiter=",")
    np.save(tmp_path / "fsw.npy", rng.dirichlet([2, 2, 2], 20))
    args = ["bounds", "check", "--fstar", str(tmp_path / "fs.npy"), "--fw", str(tmp_path / "fw.csv"), "--fsw", str(tmp_path / "fsw.npy"), "--json"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary["bounds"]) == {"T1", "T2", "T3"} and all(b["holds"] for b in summary["bounds"].values())
    np.savetxt(tmp_path / "bad.csv", np.full((20, 3), 0.5), delimiter=",")
    assert main(args[:6] + ["--fsw", str(tmp_path / "bad.csv")]) == 2
    assert "fsw: each row must sum to 1" in capsys.readouterr().err
    assert main(args[:4] + ["--fw", str(tmp_path / "missing.npy")] + args[6:]) == 2
    assert "fw: file not found" in capsys.readouterr().err


def test_load_report_names_a_bad_file(tmp_path):
    import pytest

    from bounds.verify import load_report

    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        load_report(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="list.json: expected a JSON object"):
        load_report(tmp_path / "list.json")
