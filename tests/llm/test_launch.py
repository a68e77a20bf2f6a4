"""Jobs that share one run folder: unit subsets, concurrent writers, and the submitit launcher."""

import dataclasses
import json
import tomllib
from pathlib import Path

import pytest

from llm_experiments import launch, results, units
from llm_experiments import run as runner
from llm_experiments.config import config_from_dict
from revkl_core.runfolder import UserError, append_batch

SMOKE = Path(__file__).resolve().parents[2] / "llm_experiments" / "configs" / "smoke.toml"


def _cfg(pairs=None, **w2s):
    """The smoke config, smaller; both seeds share one split (seed_scope head) unless ``w2s`` says otherwise."""
    raw = tomllib.loads(SMOKE.read_text())
    raw["data"].update(gt=16, weak=16, test=16)  # one optimiser step per model: plumbing, not learning
    raw["w2s"].update({"losses": ["forward_kl", "reverse_kl"], "seeds": [0, 1], "noise": [{"kind": "none"}],
                       "seed_scope": "head", **w2s})
    raw["runtime"]["threads"] = 1
    if pairs:
        raw["models"]["pairs"] = pairs
    return config_from_dict(raw)


def _lines(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / results.RESULTS_FILE).read_text().splitlines()]


def test_plan_groups_by_pair_and_skips_done_units(tmp_path: Path) -> None:
    cfg = _cfg(pairs=[["tiny-gpt2", "tiny-gpt2-wide"], ["tiny-gpt2-wide", "tiny-gpt2"]])
    keys = [u.key for u in units.plan_units(cfg)]
    assert len(keys) == len(set(keys)) == 8
    assert launch.plan(cfg, tmp_path) == [keys[:4], keys[4:]]
    assert launch.plan(cfg, tmp_path, units_per_job=3) == [keys[:3], keys[3:4], keys[4:7], keys[7:]]
    append_batch(tmp_path / results.RESULTS_FILE, keys[1], [{"key": keys[1]}])
    assert launch.plan(cfg, tmp_path) == [[keys[0], *keys[2:4]], keys[4:]]
    # seed_scope pipeline: each seed draws its own split, whose stages its units share
    per_split = _cfg(pairs=[["tiny-gpt2", "tiny-gpt2-wide"]], seed_scope="pipeline")
    by_seed = {s: [u.key for u in units.plan_units(per_split) if u.seed == s] for s in (0, 1)}
    assert launch.plan(per_split, tmp_path / "p") == [by_seed[0], by_seed[1]]
    with pytest.raises(UserError, match="--units-per-job"):
        launch.plan(cfg, tmp_path, units_per_job=-1)
    with pytest.raises(UserError, match="--launcher: unknown launcher 'pbs'"):
        launch.launch(cfg, tmp_path / "x", "pbs")
    with pytest.raises(UserError, match="only: 1 key"):
        runner.run(cfg, tmp_path / "y", only=["0123"])


def test_a_unit_written_twice_counts_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two jobs that both missed each other's result (a race) append the same unit: read back once."""
    cfg = _cfg(losses=["reverse_kl"], seeds=[0])
    [unit] = units.plan_units(cfg)
    monkeypatch.setattr(runner, "_done", lambda run_dir: set())
    runner.run(cfg, tmp_path, only=[unit.key])
    summary = runner.run(cfg, tmp_path, only=[unit.key])
    assert [r["key"] for r in _lines(tmp_path)] == [unit.key, unit.key]
    assert [r["key"] for r in results.load_results(tmp_path)] == [unit.key]
    assert summary["n_results"] == 1 and summary["complete"]


def test_concurrent_jobs_then_launcher_complete_the_grid(tmp_path: Path) -> None:
    """Three submitit-local jobs with overlapping subsets write one folder at once; then the launcher
    submits only the unit still missing. Each unit is read back once, with the numbers of a
    sequential run in one process (same seeds, one thread each: the same arithmetic)."""
    cfg = _cfg()
    keys = [u.key for u in units.plan_units(cfg)]
    runner.run(cfg, tmp_path / "seq")
    ref = {r["key"]: r for r in results.load_results(tmp_path / "seq")}
    out = tmp_path / "jobs"
    runner.prepare(cfg, out)
    overlapping = [keys[:2], keys[1:3], keys[2::-2]]  # each of keys[:3] in two jobs
    handles = launch.submit(launch.executor("submitit-local", out / launch.JOBS_DIR, launch.JobOptions()), cfg, out,
                            overlapping)
    assert [h.result()["units"] for h in handles] == [2, 2, 2]
    assert sorted(r["key"] for r in results.load_results(out)) == sorted(keys[:3])
    assert launch.plan(cfg, out) == [keys[3:]]
    summary = launch.launch(cfg, out, "submitit-local")
    recs = results.load_results(out)
    assert sorted(r["key"] for r in recs) == sorted(keys) and len(_lines(out)) >= len(keys)
    assert summary["complete"] and summary["n_results"] == 4
    assert results.load_summary(out)["n_results"] == 4 and len(summary["stages"]) == 2
    for r in recs:
        assert r["acc_strong"] == ref[r["key"]]["acc_strong"]
        assert r["err_strong"] == pytest.approx(ref[r["key"]]["err_strong"], abs=1e-6)
    assert launch.plan(cfg, out) == []  # resubmitting finds nothing to do


def test_launcher_refuses_user_errors_before_submitting(tmp_path: Path) -> None:
    bad = dataclasses.replace(_cfg(), runtime=dataclasses.replace(_cfg().runtime, device="abacus"))
    out = tmp_path / "run"
    with pytest.raises(UserError, match=r"\[runtime\]: device"):
        launch.launch(bad, out, "submitit-local")
    assert not (out / launch.JOBS_DIR).exists()


class _FakeJob:
    """A submitit job handle: done after ``polls`` calls of done(), then its result or its error."""

    def __init__(self, job_id: str, polls: int, error: str | None = None, never: bool = False) -> None:
        self.job_id, self.polls, self.error, self.never = job_id, polls, error, never

    def done(self) -> bool:
        self.polls -= 1
        return not self.never and self.polls <= 0

    def result(self) -> dict:
        if self.error:
            raise RuntimeError(f"Traceback...\n{self.error}")
        return {}


def test_wait_reports_failed_jobs_and_slurm_jobs_that_vanished(monkeypatch: pytest.MonkeyPatch) -> None:
    """A job killed without a result never reads as done without accounting: leaving the queue fails it."""
    gone = {"3_1"}
    monkeypatch.setattr(launch, "slurm_active", lambda job_id: job_id not in gone)
    jobs = [_FakeJob("3_0", 2), _FakeJob("3_1", 0, never=True), _FakeJob("3_2", 3, error="ValueError: boom")]
    failed = launch.wait_for(jobs, [4, 4, 2], slurm=True, poll_s=0.01, grace_s=0.05)
    assert sorted(failed) == ["job 3_1 (4 units): left the Slurm queue without a result (killed, out of memory or preempted?)",
                              "job 3_2 (2 units): ValueError: boom"]
    # without Slurm (local executor) the queue is never asked
    monkeypatch.setattr(launch, "slurm_active", lambda job_id: pytest.fail("squeue asked for a local job"))
    assert launch.wait_for([_FakeJob("1", 2)], [1], slurm=False, poll_s=0.01) == []


def test_slurm_active_reads_squeue(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    answers = {"1": (0, "RUNNING\n", ""), "2": (0, "", ""), "3": (0, "COMPLETED\n", ""),
               "4": (1, "", "slurm_load_jobs error: Invalid job id specified"), "5": (1, "", "Socket timed out")}

    def fake_run(cmd, **kw):
        rc, out, err = answers[cmd[cmd.index("-j") + 1]]
        return subprocess.CompletedProcess(cmd, rc, out, err)

    monkeypatch.setattr(launch.subprocess, "run", fake_run)
    assert [launch.slurm_active(j) for j in "12345"] == [True, False, False, False, True]
