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


def _args(tmp_path, **over):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "fs.npy", np.eye(3)[rng.integers(0, 3, 20)])
    np.save(tmp_path / "fw.npy", rng.dirichlet([2, 2, 2], 20))
    np.save(tmp_path / "fsw.npy", rng.dirichlet([2, 2, 2], 20))
    files = {"fstar": tmp_path / "fs.npy", "fw": tmp_path / "fw.npy", "fsw": tmp_path / "fsw.npy", **over}
    return ["bounds", "check"] + [x for k, v in files.items() for x in (f"--{k}", str(v))]


def test_check_refuses_a_gamma_outside_zero_to_the_minimum(tmp_path, capsys):
    args = _args(tmp_path)
    smallest = min(np.load(tmp_path / "fw.npy").min(), np.load(tmp_path / "fsw.npy").min())
    for bad in ("0.5", "-1", "nan", "0"):
        assert main(args + ["--gamma", bad]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "gamma" in err, err
        if bad in ("0.5", "-1", "0"):
            assert f"{smallest:.6g}" in err
    assert main(args + ["--gamma", str(smallest / 2), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["gamma"] == smallest / 2


def test_check_names_the_file_of_unreadable_input(tmp_path, capsys):
    (tmp_path / "latin1.csv").write_bytes(b"0.5,0.5\n0.25,0.75\n0.5,\xe90.5\n")
    (tmp_path / "text.csv").write_text("0.5,0.5\n0.5,abc\n")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    (tmp_path / "empty.npy").write_bytes(b"")
    (tmp_path / "empty.csv").write_text("")
    expect = {"latin1.csv": "not UTF-8 text (byte 22, line 3)", "text.csv": "not a comma-separated table",
              "obj.npy": "holds Python objects", "empty.npy": "empty or truncated", "empty.csv": "empty file"}
    for name, msg in expect.items():
        assert main(_args(tmp_path, fw=tmp_path / name)) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and f"fw: {tmp_path / name}: {msg}" in err, err


def test_verify_out_that_cannot_be_written_fails_before_computing(tmp_path, capsys, monkeypatch):
    import bounds.verify as bv

    monkeypatch.setattr(bv, "verify", lambda *a, **k: (_ for _ in ()).throw(AssertionError("computed before checking --out")))
    assert main(["bounds", "verify", "--instances", "8", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "is a folder" in err
    (tmp_path / "file").write_text("x")
    assert main(["bounds", "verify", "--out", str(tmp_path / "file" / "r.json")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # no stray .tmp


def test_check_without_the_class_says_t4_t6_are_not_assessed(tmp_path, capsys):
    assert main(_args(tmp_path)) == 0
    out = capsys.readouterr().out
    for name in ("T4", "T5", "T6"):
        assert f"{name}: not assessed: needs the model class" in out
    assert "T4's residual Err(F_w) - M_r - Err(F_sw) = " in out


def test_check_with_a_probability_convex_class_reports_t4_holding():
    """The shipped example (the README's command): F* in F = A h, F_sw the exact reverse-KL fit."""
    from pathlib import Path

    from bounds.check import check_arrays, load_array

    ex = Path(__file__).resolve().parents[2] / "bounds" / "examples"
    arrays = [load_array(ex / f, f) for f in ("truth.npy", "weak.csv", "strong.npy")]
    s = check_arrays(*arrays, features=load_array(ex / "features.npy", "features"), class_kind="stochastic")
    t4 = s["class"]["results"]["T4"]
    assert t4["hypotheses_failed"] == [] and t4["holds"]
    assert s["class"]["results"]["T6"]["holds"] and s["class"]["results"]["T5"]["hypotheses_failed"]
    assert main(["bounds", "check", "--fstar", str(ex / "truth.npy"), "--fw", str(ex / "weak.csv"), "--fsw",
                 str(ex / "strong.npy"), "--features", str(ex / "features.npy"), "--class", "stochastic"]) == 0


def test_check_with_a_softmax_class_reports_the_failed_hypothesis_and_slack(tmp_path, capsys):
    from scipy.special import softmax

    rng = np.random.default_rng(0)
    n, k, d = 30, 3, 3
    h = np.concatenate([rng.normal(size=(n, d - 1)), np.ones((n, 1))], 1)
    fstar = softmax(h @ rng.normal(scale=2.0, size=(k, d)).T, axis=-1)
    fw = 0.5 * fstar + 0.5 * rng.dirichlet(np.ones(k), n)
    for name, a in (("fs", fstar), ("fw", fw), ("h", h)):
        np.save(tmp_path / f"{name}.npy", a)
    args = ["bounds", "check", "--fstar", str(tmp_path / "fs.npy"), "--fw", str(tmp_path / "fw.npy"), "--fsw",
            str(tmp_path / "fw.npy"), "--features", str(tmp_path / "h.npy"), "--class", "softmax"]
    assert main(args + ["--json"]) == 0  # a failed hypothesis is reported, not a violation
    t4 = json.loads(capsys.readouterr().out)["class"]["results"]["T4"]
    assert t4["hypotheses_failed"] == ["prob_convex"] and t4["slack"] < -1e-3 and not t4["holds"]
    assert main(args) == 0
    assert "T4 on the reverse_kl fit" in (out := capsys.readouterr().out) and "hypotheses failed: prob_convex" in out
    assert f"for information, {t4['shown']}: fails by {-t4['slack']:.3g}" in out
    _no_holds_beside_a_negative_number(out)
    assert main(args[:-4] + ["--features", str(tmp_path / "h.npy")]) == 2  # --features without --class


def test_verify_logs_progress_lines_when_not_on_a_terminal():
    from bounds.verify import verify

    lines: list[str] = []
    verify(8, 0, results=["T1", "T3"], progress=False, log=lines.append)
    assert lines and lines[-1].startswith("verify: 2/2 batches (100%)")


def _one_line_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_verify_refuses_bad_arguments_in_one_line(tmp_path, capsys):
    """Each was a traceback (or, for --out, a silent overwrite) before; now one line, exit 2, nothing written."""
    assert "--seed" in _one_line_exit_2(["bounds", "verify", "--seed", "-1"], capsys)
    assert "T9" in _one_line_exit_2(["bounds", "verify", "--only", "T9"], capsys)
    assert "did you mean T4" in _one_line_exit_2(["bounds", "verify", "--only", "t4"], capsys)
    for name, data in (("a.npy", b"\x93NUMPY\x01\x00"), ("c.toml", b"seed = 1\n"), ("r.json", b"[1, 2]")):
        (tmp_path / name).write_bytes(data)
        line = _one_line_exit_2(["bounds", "verify", "--instances", "4", "--only", "T1", "--out", str(tmp_path / name)], capsys)
        assert "not a `revkl bounds verify` report" in line and (tmp_path / name).read_bytes() == data


def test_verify_replaces_its_own_earlier_report(tmp_path):
    out = tmp_path / "r.json"
    for seed in ("0", "1"):
        assert main(["bounds", "verify", "--instances", "4", "--seed", seed, "--only", "T1", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["_meta"]["seed"] == 1


def test_verify_out_on_a_read_only_file_system_fails_before_computing(tmp_path, capsys, monkeypatch):
    import errno
    import tempfile

    import bounds.verify as bv

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "TemporaryFile", read_only)
    monkeypatch.setattr(bv, "verify", lambda *a, **k: (_ for _ in ()).throw(AssertionError("computed")))
    line = _one_line_exit_2(["bounds", "verify", "--out", str(tmp_path / "sub" / "r.json")], capsys)
    assert "Read-only file system" in line and not (tmp_path / "sub").exists()


def test_check_json_is_strict_json_when_a_side_is_infinite(tmp_path, capsys):
    """F_w with a zero where F* has mass makes Err(F_w) infinite: printed as null, never as Infinity."""
    np.save(tmp_path / "fs.npy", np.array([[1.0, 0.0], [0.0, 1.0]]))
    np.save(tmp_path / "fw.npy", np.array([[0.0, 1.0], [0.3, 0.7]]))
    np.save(tmp_path / "fsw.npy", np.array([[0.6, 0.4], [0.3, 0.7]]))
    args = ["bounds", "check", "--fstar", str(tmp_path / "fs.npy"), "--fw", str(tmp_path / "fw.npy"),
            "--fsw", str(tmp_path / "fsw.npy"), "--json"]
    main(args)
    out = capsys.readouterr().out
    summary = json.loads(out, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(f"not JSON: {c}")))
    assert summary["err_w"] is None


def _no_holds_beside_a_negative_number(out: str) -> None:
    import re

    for line in out.splitlines():
        if re.search(r"\bholds\b", line):
            assert not re.search(r"slack -\d", line), line


def test_check_with_a_truth_outside_the_class_never_says_holds_beside_a_negative_slack(tmp_path, capsys):
    """The issue's case: T4 on a softmax class with F* outside it printed 'slack -0.162 ... holds anyway'."""
    rng = np.random.default_rng(1)
    n, k = 40, 3
    fstar = np.eye(k)[rng.integers(0, k, n)]
    fw = 0.6 * fstar + 0.4 * rng.dirichlet(np.ones(k), n)
    fsw = 0.5 * fstar + 0.5 * rng.dirichlet(np.ones(k), n)
    h = np.concatenate([rng.normal(size=(n, 2)), np.ones((n, 1))], 1)
    for name, a in (("fs", fstar), ("fw", fw), ("fsw", fsw), ("h", h), ("hs", rng.dirichlet(np.ones(4), n))):
        np.save(tmp_path / f"{name}.npy", a)
    base = ["bounds", "check", "--fstar", str(tmp_path / "fs.npy"), "--fw", str(tmp_path / "fw.npy"),
            "--fsw", str(tmp_path / "fsw.npy")]
    for features, kind in (("h", "softmax"), ("hs", "stochastic")):
        main(base + ["--features", str(tmp_path / f"{features}.npy"), "--class", kind])
        out = capsys.readouterr().out
        assert "T4 on the reverse_kl fit" in out
        _no_holds_beside_a_negative_number(out)
