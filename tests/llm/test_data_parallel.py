"""The smoke pipeline data-parallel: two processes under `accelerate launch` (gloo on CPU) vs one process.

`accelerate launch --cpu --num_processes 2` starts ONE process unless an MPI hostfile is given
(accelerate 1.x); `--multi_gpu --num_processes 2` on a machine without CUDA starts two through
torchrun, and `Accelerator(cpu=True)` joins them with gloo. The test checks that two ran.

fit() gives each process a shard of every batch and weights its loss by the shard's share, so two
processes take the optimiser steps of one process; they differ only in the order of float32
summation (two shard means averaged by an all-reduce instead of one mean), about 1e-7 relative per
step. Over the handful of steps here that moves logits by ~1e-6, so the test allows 1e-4 nats on
every Err / misfit and at most one test item whose predicted side differs (a logit within ~1e-6 of
0 could flip), while a wrong shard weight, a process training on the other's batches, a lost or
duplicated prediction row or a second record per unit moves them by far more.
"""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from llm_experiments import results
from llm_experiments.config import config_from_dict, to_toml
from llm_experiments.run import run

SMOKE = Path(__file__).resolve().parents[2] / "llm_experiments" / "configs" / "smoke.toml"


def test_two_processes_match_one(tmp_path: Path) -> None:
    raw = tomllib.loads(SMOKE.read_text())
    # 21 items: batches of 16 and 5, so the last batch splits 3 / 2 between the processes
    raw["data"].update(gt=21, weak=21, test=21)
    raw["w2s"].update(losses=["forward_kl", "reverse_kl"], noise=[{"kind": "none"}])
    raw["runtime"]["threads"] = 1
    cfg = config_from_dict(raw)
    path = tmp_path / "dp.toml"
    path.write_text(to_toml(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0",
           "-m", "revkl", "llm", "run", "--config", str(path), "--out", str(tmp_path / "ddp")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run(cfg, tmp_path / "one")
    one = {r["key"]: r for r in results.load_results(tmp_path / "one")}
    ddp = results.load_results(tmp_path / "ddp")
    assert sorted(r["key"] for r in ddp) == sorted(one) and len(ddp) == 2  # rank 0 wrote each unit once
    assert results.load_summary(tmp_path / "ddp")["complete"]
    assert "data-parallel: 2 processes" in (tmp_path / "ddp" / results.LOG_FILE).read_text()
    n = ddp[0]["n_test"]
    for r in ddp:
        ref = one[r["key"]]
        assert r["steps"] == ref["steps"] == 2
        for field in ("acc_strong", "acc_weak", "acc_ceiling", "agreement"):
            assert abs(r[field] - ref[field]) <= 1 / n + 1e-12, field
        for field in ("err_strong", "err_weak", "err_ceiling", "misfit_forward", "misfit_reverse", "train_loss"):
            assert r[field] == pytest.approx(ref[field], abs=1e-4), field
