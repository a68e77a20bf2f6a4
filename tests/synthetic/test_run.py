"""Runs: T4 on every probability-convex task of the quick config, resumption, the result reader, the report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from revkl_core.runfolder import UserError
from synthetic import results as R
from synthetic.config import RuntimeConfig, config_from_dict, load_config
from synthetic.report import report
from synthetic.run import plan, run_study
from tests.synthetic.conftest import tiny_dict

ROOT = Path(__file__).resolve().parents[2]
def _stable(records: list[dict]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in records)


def test_t4_holds_on_every_probability_convex_task_of_quick(tmp_path: Path) -> None:
    cfg = load_config(ROOT / "synthetic/configs/quick.toml")
    cfg = replace(cfg, head_classes=("stochastic_matrix", "mixture"))
    run_study(cfg, tmp_path, progress=False)
    recs = R.load_results(tmp_path)
    convex = [r for r in recs if r["probability_convex"] and r["loss"] == "reverse_kl"]
    realizable_exact = [r for r in convex if r["delta"] == 0.0 and r["method"] == "exact"]
    assert len(realizable_exact) == cfg.tasks * 2 * len(cfg.weak.noise)
    for r in realizable_exact:
        t4 = next(c for c in r["checks"] if c["name"] == "T4")
        assert t4["hypotheses_met"], r["setting"]
        assert t4["holds"] and r["t4_slack"] >= -r["t4_tolerance"], (r["setting"], r["task"], r["t4_slack"])
    # Within its Frank-Wolfe gap every reverse-KL fit on a realizable convex class satisfies T4 (SGD too).
    for r in convex:
        if r["delta"] == 0.0:
            assert r["t4_slack"] >= -r["t4_tolerance"], (r["setting"], r["method"], r["t4_slack"], r["t4_tolerance"])
    assert all(c["holds"] for r in recs for c in r["checks"] if c["hypotheses_met"])


def test_resume_after_interruption(tiny, tmp_path: Path) -> None:
    full, cut = tmp_path / "full", tmp_path / "cut"
    run_study(tiny, full, progress=False)
    run_study(tiny, cut, progress=False, max_chunks=1)
    assert len(R.completed_chunks(cut)) == 1
    # A kill in the middle of the next chunk's write: half its lines and a torn one.
    lines = (full / R.RESULTS_FILE).read_text().splitlines()
    second = [ln for ln in lines if json.loads(ln)["batch"] == plan(tiny)[1].id]
    with open(cut / R.RESULTS_FILE, "a") as fh:
        fh.write("\n".join(second[: len(second) // 2]) + "\n" + second[-1][:40])
    assert len(R.completed_chunks(cut)) == 1
    run_study(tiny, cut, progress=False)  # the same command again
    assert R.completed_chunks(cut) == R.completed_chunks(full) == {c.id for c in plan(tiny)}
    assert _stable(R.load_results(cut)) == _stable(R.load_results(full))
    assert (cut / R.RESULTS_FILE).read_bytes() == (full / R.RESULTS_FILE).read_bytes()  # the torn tail was cut
    before = (cut / R.RESULTS_FILE).stat().st_size
    run_study(tiny, cut, progress=False)  # nothing left to do: nothing appended
    assert (cut / R.RESULTS_FILE).stat().st_size == before
    summary = R.load_summary(cut)
    assert summary["elapsed_s"] < summary["compute_s"]  # the last call did nothing; the total keeps the earlier calls


def test_changing_threads_resumes(tiny, tmp_path: Path) -> None:
    run_study(tiny, tmp_path, progress=False, max_chunks=1)
    summary = run_study(replace(tiny, runtime=RuntimeConfig(threads=2)), tmp_path, progress=False)  # [runtime]: same run
    assert summary["records"] == len(R.load_results(tmp_path)) and R.completed_chunks(tmp_path) == {c.id for c in plan(tiny)}


def test_progress_lines_in_the_log(tiny, tmp_path: Path) -> None:
    run_study(tiny, tmp_path, progress=False)
    log = (tmp_path / R.LOG_FILE).read_text()
    assert f"synthetic tiny: {len(plan(tiny))}/{len(plan(tiny))} chunks (100%)" in log


def test_same_seed_same_numbers_and_fields(tiny, tmp_path: Path) -> None:
    run_study(tiny, tmp_path / "a", progress=False)
    run_study(tiny, tmp_path / "b", progress=False)
    a, b = R.load_results(tmp_path / "a"), R.load_results(tmp_path / "b")
    assert _stable(a) == _stable(b)
    for rec in a:
        assert set(R.RECORD_FIELDS) <= set(rec), set(R.RECORD_FIELDS) - set(rec)
    summary = R.load_summary(tmp_path / "a")
    assert summary["records"] == len(a) and summary["groups"]
    text = report(str(tmp_path / "a"))
    assert "T4 cert." in text and "PGR" in text and "Findings" in text


def test_report_after_the_records_were_truncated_reports_the_records(tiny, tmp_path: Path) -> None:
    """It printed summary.json's old record count; the report is now computed from results.jsonl."""
    run_study(tiny, tmp_path, progress=False)
    before = R.load_summary(tmp_path)["records"]
    lines = (tmp_path / R.RESULTS_FILE).read_text().splitlines(keepends=True)
    first_batch = [ln for ln in lines if f'"batch":"{R.load_results(tmp_path)[0]["batch"]}"' in ln]
    (tmp_path / R.RESULTS_FILE).write_text("".join(first_batch))
    kept = len(R.load_results(tmp_path))
    assert 0 < kept < before
    text = report(str(tmp_path))
    assert f": {kept} records," in text and f"(summary.json counted {before} records; results.jsonl now holds {kept}" in text


def test_other_config_refused(tiny, tmp_path: Path) -> None:
    run_study(tiny, tmp_path, progress=False, max_chunks=1)
    with pytest.raises(UserError, match="different config"):
        run_study(replace(tiny, seed=4), tmp_path, progress=False)


def test_report_on_a_read_only_run(tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    import errno

    from revkl.cli import main
    from synthetic import report as rep

    run_study(tiny, tmp_path, progress=False)

    def read_only(path: Path, text: str) -> None:  # what a read-only folder does (root can write to chmod 555 ones)
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(rep, "atomic_write_text", read_only)
    assert main(["synthetic", "report", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "T4 cert." in out and f"(not written to {tmp_path / 'report.txt'}: Read-only file system)" in out
    assert not (tmp_path / "report.txt").exists()


@pytest.mark.parametrize("summary", [{"name": "x", "n_results": 0, "table": []}, None])
def test_report_on_an_llm_run_folder(tmp_path: Path, summary: dict | None) -> None:
    (tmp_path / "cache").mkdir()
    if summary is not None:
        (tmp_path / R.SUMMARY_FILE).write_text(json.dumps(summary))
    proc = subprocess.run([sys.executable, "-m", "revkl", "synthetic", "report", str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "language-model run folder" in proc.stderr and "revkl llm report" in proc.stderr


def test_report_intervals_are_t_intervals() -> None:
    from scipy import stats

    from synthetic.report import mean_ci

    m, ci = mean_ci([0.1, 0.5, 0.3, None, float("nan")])
    half = stats.t.ppf(0.975, 2) * stats.tstd([0.1, 0.5, 0.3]) / 3 ** 0.5
    assert m == pytest.approx(0.3) and ci == pytest.approx([0.3 - half, 0.3 + half])
    assert mean_ci([0.4]) == (0.4, None) and mean_ci([None]) == (None, None)


def test_a_new_head_class_is_one_registry_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A class added to the registry alone is validated, planned, fitted (exact and SGD) and recorded."""
    from synthetic.config import config_from_dict
    from synthetic.heads import HEAD_CLASSES, StochasticMatrix
    from tests.synthetic.conftest import tiny_dict

    class Sharp(StochasticMatrix):
        name = "sharp_stochastic_matrix"

    monkeypatch.setitem(HEAD_CLASSES, Sharp.name, Sharp())
    cfg = config_from_dict(tiny_dict(head_classes=[Sharp.name], tasks=2))
    run_study(cfg, tmp_path, progress=False)
    recs = R.load_results(tmp_path)
    assert {r["head_class"] for r in recs} == {Sharp.name} and {r["method"] for r in recs} == {"exact", "sgd"}
    assert all(r["probability_convex"] for r in recs)


def _run_tiny(out: str) -> None:
    import torch

    torch.set_num_threads(1)
    run_study(config_from_dict(tiny_dict()), out, progress=False)


def test_two_processes_into_one_folder_never_compute_a_chunk_twice(tmp_path: Path) -> None:
    """Both computed every unit before (CPU x2, results.jsonl x2); chunks are now claimed (revkl_core.runfolder.claim)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_run_tiny, args=(str(tmp_path),)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
        assert p.exitcode == 0
    raw = [ln for ln in (tmp_path / R.RESULTS_FILE).read_text().splitlines() if ln.strip()]
    records = R.load_results(tmp_path)
    assert len(raw) == len(records)  # no batch written twice
    assert {r["batch"] for r in records} == {c.id for c in plan(config_from_dict(tiny_dict()))}
