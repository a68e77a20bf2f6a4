"""Last-layer mode: 4 losses x 3 seeds from one cached feature pass, against 12 separate runs.

The grid run computes each backbone's features once and trains 12 heads on them; the separate
runs each start from an empty run folder (features, weak model and ceiling recomputed every
time), which is what a per-run script without a feature cache does. Target: >= 10x.
Uses tiny-gpt2 -> all-MiniLM-L6-v2 (when installed) on movie-review pairs (or synthetic pairs).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llm_experiments.config import config_from_dict  # noqa: E402
from llm_experiments.run import run  # noqa: E402

LOSSES, SEEDS = ["forward_kl", "reverse_kl", "ce", "rce"], [0, 1, 2]


def _raw(losses: list[str], seeds: list[int]) -> dict:
    try:
        from llm_experiments import assets, data

        assets.minilm_path()
        data.read_movie_snippets()
        dataset, strong = "movie-pairs", "minilm"
    except ValueError:  # includes revkl_core.runfolder.UserError
        dataset, strong = "synthetic-pairs", "tiny-gpt2-wide"
    return {"name": "bench-last-layer",
            "data": {"dataset": dataset, "gt": 300, "weak": 300, "test": 300, "max_length": 64},
            "models": {"pairs": [["tiny-gpt2", strong]], "mode": "last_layer"},
            "train": {"epochs": 5, "lr": 1e-3, "batch_size": 32},
            "w2s": {"losses": losses, "seeds": seeds, "noise": [{"kind": "none"}], "seed_scope": "head"},
            "runtime": {"progress": False}}


def main() -> int:
    import logging

    logging.getLogger("llm_experiments").propagate = False
    with tempfile.TemporaryDirectory() as tmp:
        # Warm-up outside the timings: the first run in a process pays one-off imports and model
        # file reads (about 4 s), which would otherwise be charged to whichever side runs first.
        run(config_from_dict(_raw(LOSSES[:1], SEEDS[:1])), Path(tmp) / "warmup")
        t0 = time.perf_counter()
        run(config_from_dict(_raw(LOSSES, SEEDS)), Path(tmp) / "grid")
        grid = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i, (loss, seed) in enumerate((l, s) for l in LOSSES for s in SEEDS):
            run(config_from_dict(_raw([loss], [seed])), Path(tmp) / f"single{i}")
        single = time.perf_counter() - t0
    print(f"bench_llm_lastlayer: {len(LOSSES)} losses x {len(SEEDS)} seeds")
    print(f"  one grid run (one cached feature pass): {grid:.1f}s")
    print(f"  12 separate runs:                       {single:.1f}s")
    print(f"  speed-up {single / grid:.1f}x (target >= 10x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
