"""`revkl figures` and `revkl reproduce`: missing results are reported, never a crash."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from revkl import reproduce as R
from revkl.cli import main


def test_figures_on_empty_results_says_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "results").mkdir()
    code = main(["figures", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "figs"), "--no-toy"])
    out = capsys.readouterr().out
    assert code == 0
    assert "skipped bounds_universal: no bounds.json" in out
    assert "skipped llm_accuracy" in out and "skipped synthetic_gain_vs_misfit" in out
    assert "not yet measured" in (tmp_path / "figs" / "scorecard.md").read_text()


def test_figures_on_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["figures", "--results", str(tmp_path / "nope"), "--out", str(tmp_path / "figs"), "--no-toy"]) == 0
    assert "skipped" in capsys.readouterr().out


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
        for ext in ("pdf", "png"):
            assert (out_dir / f"{spec.name}.{ext}").stat().st_size > 500, spec.name


def test_reproduce_reports_skipped_and_failed_stages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def skipped(_args: argparse.Namespace) -> str:
        raise R.StageSkipped("package 'nothing' is not installed yet")

    def broken(_args: argparse.Namespace) -> str:
        raise RuntimeError("boom")

    ran: list[str] = []

    def fine(_args: argparse.Namespace) -> str:
        ran.append("fine")
        return "ok"

    args = argparse.Namespace(full=False, out=str(tmp_path / "res"), figures=str(tmp_path / "figs"))
    stages = (R.Stage("a", "skips", skipped), R.Stage("b", "fails", broken), R.Stage("c", "runs", fine))
    assert R.reproduce(args, stages) == 1
    out = capsys.readouterr().out
    assert "skipped" in out and "RuntimeError: boom" in out and ran == ["fine"]
    status = __import__("json").loads((tmp_path / "res" / "reproduce.json").read_text())
    assert [status[k]["state"] for k in "abc"] == ["skipped", "failed", "done"]


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


def test_missing_config_is_a_skip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(R.SYNTHETIC_CONFIGS, "full", tmp_path / "absent.toml")
    args = argparse.Namespace(full=True, out=str(tmp_path), figures=str(tmp_path))
    with pytest.raises(R.StageSkipped, match="does not exist"):
        R.stage_synthetic(args)


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
