"""`revkl figures` and `revkl reproduce`: missing results are reported, never a crash."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from revkl import reproduce as R
from revkl.cli import main


def test_figures_on_partial_results_says_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         make_verify) -> None:
    import json

    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "bounds.json").write_text(json.dumps(make_verify()))
    code = main(["figures", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "figs"), "--no-toy"])
    out = capsys.readouterr().out
    assert code == 0
    assert "skipped llm_accuracy" in out and "skipped synthetic_gain_vs_misfit" in out
    assert "not yet measured" in (tmp_path / "figs" / "scorecard.md").read_text()


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_figures_refuses_a_results_folder_with_nothing_in_it(make: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A mistyped --results exited 0 with an all 'not yet measured' scorecard; now one line, exit 2, nothing written."""
    if make == "empty":
        (tmp_path / "results").mkdir()
    assert main(["figures", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "figs"), "--no-toy"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--results" in err[0] and not (tmp_path / "figs").exists()


def _malformed(kind: str, root: Path, full_results: Path) -> None:
    import shutil

    shutil.copytree(full_results, root)
    if kind == "summary garbage":
        (root / "synthetic" / "summary.json").write_text("garbage")
    elif kind == "bounds structure":
        (root / "bounds.json").write_text('{"T1": 3, "_meta": {}}')
    elif kind == "llm run at synthetic/":
        shutil.rmtree(root / "synthetic")
        shutil.copytree(next(p for p in (root / "llm").iterdir() if p.is_dir()), root / "synthetic")


@pytest.mark.parametrize("kind", ["summary garbage", "bounds structure", "llm run at synthetic/"])
def test_figures_names_the_file_of_malformed_results(kind: str, full_results: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Each was a traceback; now one line naming the file, exit 2, nothing written."""
    _malformed(kind, tmp_path / "copy", full_results)
    assert main(["figures", "--results", str(tmp_path / "copy"), "--out", str(tmp_path / "figs"), "--no-toy"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path / "copy") in err[0], err
    assert not (tmp_path / "figs").exists()


def test_figures_refuses_an_out_that_is_a_file(full_results: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("x")
    assert main(["figures", "--results", str(full_results), "--out", str(tmp_path / "file"), "--no-toy"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out" in err[0] and (tmp_path / "file").read_text() == "x"


def test_figures_on_full_fixture(full_results: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "figs"
    assert main(["figures", "--results", str(full_results), "--out", str(out_dir), "--no-toy"]) == 0
    out = capsys.readouterr().out
    assert "skipped" not in out.replace("0 figure(s) skipped", "")
    from figures.render import FIGURES

    for spec in FIGURES:  # every figure renders from the fixtures and writes non-empty files
        if spec.name == "llm_tables":
            assert (out_dir / "llm_accuracy_table.tex").stat().st_size > 100
            continue
        if spec.name == "pooled_forest":  # one forest per pooled row: C5 and C6, over the LLM studies and over all
            assert all((out_dir / f"forest_{c}_{s}.{ext}").stat().st_size > 500
                       for c in ("C5", "C6") for s in ("llm", "all") for ext in ("pdf", "png"))
            continue
        for ext in ("pdf", "png"):
            assert (out_dir / f"{spec.name}.{ext}").stat().st_size > 500, spec.name


def test_reproduce_reports_failed_stages_and_goes_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(_args: argparse.Namespace) -> str:
        raise RuntimeError("boom")

    ran: list[str] = []

    def fine(_args: argparse.Namespace) -> str:
        ran.append("fine")
        return "ok"

    args = argparse.Namespace(full=False, out=str(tmp_path / "res"), figures=str(tmp_path / "figs"))
    stages = (R.Stage("b", "fails", broken), R.Stage("c", "runs", fine))
    assert R.reproduce(args, stages) == 1
    out = capsys.readouterr().out
    assert "RuntimeError: boom" in out and ran == ["fine"]
    status = __import__("json").loads((tmp_path / "res" / "reproduce.json").read_text())
    assert [status[k]["state"] for k in "bc"] == ["failed", "done"]


def test_only_runs_the_named_stages_and_merges_the_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ran: list[str] = []

    def runs(name: str) -> R.Stage:
        return R.Stage(name, name, lambda _args: ran.append(name) or "ok", full_only=name == "big")

    stages = tuple(runs(n) for n in ("a", "big", "c"))
    args = argparse.Namespace(full=False, out=str(tmp_path), figures=str(tmp_path), only=None)
    assert R.reproduce(args, stages) == 0 and ran == ["a", "c"]  # full_only stages wait for --full
    args.only = "big"
    assert R.reproduce(args, stages) == 0 and ran == ["a", "c", "big"]  # ... unless named
    status = __import__("json").loads((tmp_path / "reproduce.json").read_text())
    assert sorted(status) == ["a", "big", "c"] and {s["mode"] for s in status.values()} == {"default"}
    args.only = "a,nope"
    with pytest.raises(R.UserError, match="unknown stage nope; stages: a, big, c"):
        R.reproduce(args, stages)
    assert main(["reproduce", "--only", "llm:nope", "--out", str(tmp_path)]) == 2
    assert "llm:decoder-movie-pairs" in capsys.readouterr().err


@pytest.mark.parametrize("argv, names", [
    (["--only", ""], "--only"),
    (["--only", " , "], "--only"),
    (["--out", "FILE"], "--out"),
    (["--figures", "FILE"], "--figures"),
])
def test_reproduce_refuses_bad_arguments_before_any_stage(argv: list[str], names: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Each was a run of every stage, a traceback or exit 1 before; now one line, exit 2, nothing written."""
    (tmp_path / "FILE").write_text("x")
    argv = [a.replace("FILE", str(tmp_path / "FILE")) for a in argv]
    base = {"--out": str(tmp_path / "res"), "--figures": str(tmp_path / "figs")}
    for flag, value in base.items():
        if flag not in argv:
            argv += [flag, value]
    assert main(["reproduce", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and names in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["FILE"]


def test_reproduce_refuses_a_study_whose_models_are_not_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from llm_experiments import assets

    monkeypatch.setattr(assets, "gguf_available", lambda key: False)
    out = tmp_path / "res"
    assert main(["reproduce", "--only", "llm:decoder-movie-pairs", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not installed" in err[0] and "make assets-full" in err[0]
    assert not out.exists()


def test_dry_run_says_what_each_stage_would_do_and_writes_nothing(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "res"
    assert main(["reproduce", "--dry-run", "--only", "theory,synthetic,figures", "--out", str(out),
                 "--figures", str(tmp_path / "figs")]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["[1/3] theory", "[2/3] synthetic", "[3/3] figures"]
    assert "verify 2000 instances" in lines[0] and "about" in lines[0]
    assert "16 of 16 chunks to compute" in lines[1] or "chunks to compute" in lines[1]
    assert "records" in lines[2]
    assert not out.exists() and not (tmp_path / "figs").exists()


def test_theory_stage_fails_on_a_violated_theorem(tmp_path: Path, make_verify) -> None:
    import json
    from bounds.verify import REPORT_FORMAT

    report = make_verify(violated=("T4",))
    report["_meta"] = {"instances": R.VERIFY_INSTANCES, "seed": R.VERIFY_SEED, "format": REPORT_FORMAT}
    (tmp_path / "bounds.json").write_text(json.dumps(report))
    args = argparse.Namespace(full=False, out=str(tmp_path), figures=str(tmp_path / "figs"))
    with pytest.raises(RuntimeError, match="violated beyond their certificates: T4"):
        R.stage_theory(args)  # the stored report is reused, and still judged
    report["T4"]["violations"] = 0
    (tmp_path / "bounds.json").write_text(json.dumps(report))
    assert R.stage_theory(args).startswith("reused")
    assert R._reusable_report(tmp_path / "bounds.json") is not None
    report["_meta"]["format"] = REPORT_FORMAT - 1  # an older report's fields mean other things: never reused
    (tmp_path / "bounds.json").write_text(json.dumps(report))
    assert R._reusable_report(tmp_path / "bounds.json") is None


def test_partial_results_never_downgrade_an_existing_scorecard(full_results: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "figs"
    assert main(["figures", "--results", str(full_results), "--out", str(out_dir), "--no-toy"]) == 0
    measured = (out_dir / "scorecard.json").read_bytes()
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "bounds.json").write_bytes((full_results / "bounds.json").read_bytes())  # no synthetic/, no llm/
    capsys.readouterr()
    assert main(["figures", "--results", str(partial), "--out", str(out_dir), "--no-toy"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "synthetic/" in err and "--force" in err
    assert (out_dir / "scorecard.json").read_bytes() == measured  # untouched
    assert main(["figures", "--results", str(partial), "--out", str(out_dir), "--no-toy", "--force"]) == 0
    assert (out_dir / "scorecard.json").read_bytes() != measured
