"""The smoke grid through `revkl llm run --launcher slurm` on a real Slurm (`make test-slurm` starts one).

Marked ``slurm``: left out of ``make test``; ``make test-slurm`` runs scripts/slurm_local.sh start,
this test with SLURM_CONF set, then scripts/slurm_local.sh stop.
"""

import os
import shutil
from pathlib import Path

import pytest

from llm_experiments import launch, pipeline, results
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
    keys = sorted(u.key for u in pipeline.plan_units(cfg))
    recs = results.load_results(out)
    assert rc == 0 and sorted(r["key"] for r in recs) == keys
    assert results.load_summary(out)["complete"] and results.load_summary(out)["n_results"] == len(keys)
    logs = list((out / launch.JOBS_DIR).glob("*_log.out"))
    assert len(logs) == 2, logs  # two jobs of four units each ran under Slurm
    # the same grid in this process: the jobs computed the same numbers
    pipeline.run(cfg, tmp_path / "local")
    ref = {r["key"]: r for r in results.load_results(tmp_path / "local")}
    for r in recs:
        assert r["acc_strong"] == ref[r["key"]]["acc_strong"]
        assert r["err_strong"] == pytest.approx(ref[r["key"]]["err_strong"], abs=1e-6)
