"""Two data-parallel processes against one: the largest difference of each record field.

Runs the config of tests/llm/test_data_parallel.py (smoke, 21 items per part, forward_kl and
reverse_kl) under ``accelerate launch --multi_gpu --num_processes 2`` (gloo on a CPU-only machine)
and in this process, and prints |two - one| per unit for accuracies, Err, misfit and train loss.

    python benchmarks/dp_agreement.py OUT_DIR [--mode full|last_layer]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llm_experiments import results  # noqa: E402
from llm_experiments.config import config_from_dict, to_toml  # noqa: E402
from llm_experiments.run import run  # noqa: E402

FIELDS = ("acc_strong", "acc_weak", "acc_ceiling", "err_strong", "err_weak", "err_ceiling", "misfit_forward",
          "misfit_reverse", "train_loss")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--mode", default="full", choices=("full", "last_layer"))
    args = ap.parse_args()
    raw = tomllib.loads((ROOT / "llm_experiments" / "configs" / "smoke.toml").read_text())
    raw["data"].update(gt=21, weak=21, test=21)
    raw["w2s"].update(losses=["forward_kl", "reverse_kl"], noise=[{"kind": "none"}])
    raw["models"]["mode"] = args.mode
    raw["runtime"]["threads"] = 1
    cfg = config_from_dict(raw)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "dp.toml").write_text(to_toml(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    t = time.time()
    subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                    "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                    "--main_process_port", "0", "-m", "revkl", "llm", "run", "--config", str(args.out / "dp.toml"),
                    "--out", str(args.out / "two")], env=env, check=True, capture_output=True)
    print(f"two processes: {time.time() - t:.1f} s")
    t = time.time()
    run(cfg, args.out / "one")
    print(f"one process: {time.time() - t:.1f} s")
    assert "data-parallel: 2 processes" in (args.out / "two" / results.LOG_FILE).read_text()
    one = {r["key"]: r for r in results.load_results(args.out / "one")}
    for r in results.load_results(args.out / "two"):
        diffs = ", ".join(f"{f} {abs(r[f] - one[r['key']][f]):.2e}" for f in FIELDS)
        print(f"{r['loss']}: {diffs}")


if __name__ == "__main__":
    main()
