"""The smoke grid through `revkl llm run --launcher slurm` on a real Slurm (`make test-slurm` starts one).

Marked ``slurm``: left out of ``make test``; ``make test-slurm`` runs scripts/slurm_local.sh start,
this test with SLURM_CONF set, then scripts/slurm_local.sh stop.
"""

import os
import shutil
from pathlib import Path

import pytest

from llm_experiments import launch, results, units
from llm_experiments import run as runner
from llm_experiments.config import load_config
from revkl.cli import main

SMOKE = Path(__file__).resolve().parents[2] / "llm_experiments" / "configs" / "smoke.toml"

pytestmark = pytest.mark.slurm


def test_smoke_grid_as_slurm_jobs(tmp_path: Path) -> None:
    assert shutil.which("sbatch") and os.environ.get("SLURM_CONF"), "start Slurm first: scripts/slurm_local.sh start"
    out = tmp_path / "slurm"
    rc = main(["llm", "run", "--config", str(SMOKE), "--out", str(out), "--launcher", "slurm",
               "--slurm-partition", "local", "--slurm-time", "10", "--units-per-job", "4"])
    cfg = load_config(SMOKE)
    keys = sorted(u.key for u in units.plan_units(cfg))
    recs = results.load_results(out)
    assert rc == 0 and sorted(r["key"] for r in recs) == keys
    assert results.load_summary(out)["complete"] and results.load_summary(out)["n_results"] == len(keys)
    logs = list((out / launch.JOBS_DIR).glob("*_log.out"))
    assert len(logs) == 2, logs  # two jobs of four units each ran under Slurm
    # the same grid in this process: the jobs computed the same numbers
    runner.run(cfg, tmp_path / "local")
    ref = {r["key"]: r for r in results.load_results(tmp_path / "local")}
    for r in recs:
        assert r["acc_strong"] == ref[r["key"]]["acc_strong"]
        assert r["err_strong"] == pytest.approx(ref[r["key"]]["err_strong"], abs=1e-6)


def test_a_killed_job_is_reported_not_waited_for(tmp_path: Path) -> None:
    """SIGKILL leaves no result; this Slurm has no accounting (sacct says nothing), so only the queue shows
    that the job is gone: wait_for reports it instead of waiting for ever."""
    import subprocess
    import time

    assert shutil.which("sbatch") and os.environ.get("SLURM_CONF"), "start Slurm first: scripts/slurm_local.sh start"
    ex = launch.executor("slurm", tmp_path / "jobs", launch.JobOptions(timeout_min=10, partition="local"))
    job = ex.submit(time.sleep, 600)  # importable in the job (a test module is not)
    t0 = time.monotonic()
    while not (tmp_path / "jobs" / f"{job.job_id}_0_log.out").exists():  # running: submitit has started in it
        assert time.monotonic() - t0 < 120, "the job did not start"
        time.sleep(0.5)
    subprocess.run(["scancel", "--signal=KILL", "--full", job.job_id], check=True)
    failed = launch.wait_for([job], [1], slurm=True, poll_s=1.0, grace_s=5.0)
    assert failed == [f"job {job.job_id} (1 units): left the Slurm queue without a result (killed, out of memory or preempted?)"]
    assert not list((tmp_path / "jobs").glob("*_result.pkl"))
