"""Small result fixtures for the figures tests, written through the packages' own writers.

* ``make_verify(...)``: a verify report shaped as docs/CONTRACTS.md and bounds/verify.py write it,
  with points computed from random instances (so a violation can be planted on purpose).
* ``synthetic_run``: a synthetic run folder written by ``synthetic.run.run_study``.
* ``write_llm_run(...)`` / ``llm_run``: an LLM run folder written with ``llm_experiments.results.append_record``
  (effect size, seed spread and weak-ceiling gap chosen by the caller) and a summary built by that module's
  own ``accuracy_table`` / ``noise_table`` / ``reverse_wins``, plus a ``theory.jsonl`` (``write_theory``)
  appended with ``revkl_core.runfolder.append_batch``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from bounds import LOSS_DIRECTION as DIRECTION  # noqa: E402
from bounds import LOSSES  # noqa: E402
from bounds.theorems import COUNTEREXAMPLE_MARGIN  # noqa: E402
from llm_experiments.feature_theory import SCHEMA as THEORY_SCHEMA  # noqa: E402


def _theorem(kind: str, n: int, rng: np.random.Generator, violations: int = 0, title: str = "a result") -> dict[str, Any]:
    gap = rng.normal(0.0, 0.2, n)
    bound = np.abs(gap) + rng.exponential(0.1, n)
    pts = {"lhs": np.abs(gap), "rhs": bound, "allowance": np.zeros(n), "gap": gap, "met": np.ones(n),
           "gamma": 10 ** rng.uniform(-3, -0.5, n), "misfit": rng.exponential(0.1, n)}
    pts["lhs"][:violations] = pts["rhs"][:violations] + 0.3  # planted violations
    return {"kind": kind, "title": title, "statement": "$x \\le y$", "hypotheses": {}, "instances": n, "hypotheses_met": n,
            "violations": violations, "max_violation": 0.3 if violations else 0.0, "worst_instance": {}, "tightness": {},
            "points": {k: v.tolist() for k, v in pts.items()}}


def make_verify_report(violated: tuple[str, ...] = (), nt_counterexamples: dict[str, int] | None = None, n: int = 60,
                       seed: int = 0) -> dict[str, Any]:
    """A verify report: T1-T6 (violations planted in ``violated``) and the two non-theorems."""
    rng = np.random.default_rng(seed)
    rep = {name: _theorem("theorem", n, rng, 3 if name in violated else 0, f"title of {name}") for name in ("T0", "T1", "T2", "T4", "T5", "T6")}
    t3 = _theorem("theorem", n, rng, 3 if "T3" in violated else 0, "tighter lower bounds")
    gap = np.asarray(t3["points"]["gap"])
    lower = gap - rng.exponential(0.1, n)
    t3["relation"] = "lower"  # lhs = gap >= rhs = the bound
    t3["points"].update({"lhs": gap.tolist(), "rhs": lower.tolist(), "bound_forward": lower.tolist(),
                         "bound_reverse": (lower - 0.01).tolist(), "t1_lower": (lower - 0.05).tolist(), "t2_lower": (lower - 0.08).tolist()})
    if "T3" in violated:
        t3["points"]["rhs"][0] = t3["points"]["lhs"][0] + 0.3
    t3["tightness"] = {"never_looser": True, "fraction_strictly_tighter": 1.0}
    rep["T3"] = t3
    for name in ("T4", "T5"):
        allowance = 10 ** rng.uniform(-12, -8, n)
        rep[name]["points"]["allowance"] = allowance.tolist()
        rep[name]["points"]["rhs"] = (np.asarray(rep[name]["points"]["lhs"]) + rng.uniform(-0.5, 1, n) * allowance).tolist()
        if name in violated:
            rep[name]["points"]["rhs"][0] = rep[name]["points"]["lhs"][0] - 1.0
    counts = {"NT-forward-convex": 5, "NT-reverse-softmax": 7, **(nt_counterexamples or {})}
    for name, c in counts.items():
        rep[name] = _theorem("non-theorem", n, rng, c, f"title of {name}")
    rep["_meta"] = {"instances": n, "seed": seed}
    return rep


@pytest.fixture
def make_verify() -> Callable[..., dict[str, Any]]:
    return make_verify_report


@pytest.fixture(scope="session")
def synthetic_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (tiny) synthetic study: every head class, K in (2, 4), clean and swap_top noise, two deltas, all losses."""
    import torch

    from synthetic.config import config_from_dict
    from synthetic.run import run_study

    run = tmp_path_factory.mktemp("results") / "synthetic"
    cfg = config_from_dict({
        "name": "fixture", "seed": 1, "tasks": 3, "chunk": 3,
        "head_classes": ["stochastic_matrix", "mixture", "softmax_linear", "softmax_mixture"], "K": [2, 4],
        "losses": list(LOSSES), "methods": ["exact", "sgd"],
        "data": {"d": 4, "m": 4, "k": 3, "hidden": 8, "n_weak_train": 40, "n_transfer": 60, "n_val": 30, "n_test": 80},
        "representation": {"kind": "controlled", "deltas": [0.0, 0.5], "weak_dim": 2},
        "weak": {"steps": 30, "noise": [{"kind": "none"}, {"kind": "swap_top", "rate": 0.3}]},
        "sgd": {"max_epochs": 4, "batch_size": 32},
    })
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_study(cfg, run, progress=False)
    finally:
        torch.set_num_threads(threads)
    return run


def _check(slack: float | None, failed: list[str], **extra: float) -> dict[str, Any]:
    """A theorem result as feature_theory.theorem_result writes it for a certified fit (None for a side it could not
    compute); ``breaks`` as bounds.theorems.breaks decides it with no allowance or rounding."""
    if slack is None:
        return {"lhs": None, "rhs": None, "slack": None, "allowance": None, "violation": None,
                "hypotheses_met": False, "holds": False, "breaks": False, "failed": failed, **extra}
    return {"lhs": 0.5, "rhs": 0.5 + slack, "slack": slack, "allowance": 0.0, "violation": max(-slack, 0.0),
            "hypotheses_met": not failed, "holds": slack >= 0, "breaks": -slack > COUNTEREXAMPLE_MARGIN, "failed": failed,
            **extra}


def write_theory(run: Path, rng: np.random.Generator) -> list[dict[str, Any]]:
    """theory.jsonl records (the fields figures/plot_llm_theory.py reads) for both head classes and every loss."""
    from revkl_core.runfolder import append_batch

    out = []
    for kind in ("softmax-linear", "probability-convex"):
        recs = []
        for loss in ("forward_kl", "reverse_kl", "ce", "rce"):
            misfit, gain = 0.02 + 0.1 * rng.random(), 0.2 * rng.random() - 0.05
            u = {n: {"ratio": 10 + 100 * rng.random(), "gap": 0.1, "bound": 1.0, "beats_trivial": False, "holds": True,
                     "hypotheses_met": True}
                 for n in ("T1", "T2", "T3")}
            convex, direction = kind == "probability-convex", DIRECTION[loss]
            t4_ref = (_check(0.001, []) if convex and loss == "reverse_kl"  # T4 at F°: met only by a reverse-KL convex fit
                      else _check(-0.05 if convex and direction == "forward" else 0.001,
                                  (["reverse_fit"] if loss != "reverse_kl" else []) + ([] if convex else ["prob_convex"])))
            recs.append({"kind": "theory", "schema": THEORY_SCHEMA, "pair": "minilm->mpnet", "split_seed": 0,
                         "model_kind": kind, "loss": loss, "misfit": misfit,
                         "head": "convex" if convex else "softmax", "direction": direction,
                         "gain": gain, "eps": 0.3, "eps_test": 0.35, "certificate": 1e-11,
                         "certificate_kind": "gradient-norm" if kind == "softmax-linear" else "frank-wolfe-gap",
                         "universal": {"test": u},
                         "theorems": {"T4": _check(-0.1, ["realizable"]), "T5": _check(None, ["realizable", "parameters"]),
                                      "T6": _check(0.05, [], realizability_term=0.2 + 0.01 * len(recs)),
                                      "T4_ref": t4_ref, "T5_ref": _check(0.0, [])}})
        append_batch(run / "theory.jsonl", kind, recs)
        out += recs
    return out


def write_llm_run(run: Path, *, dataset: str = "movie-pairs", pairs: tuple[str, ...] = ("minilm->mpnet", "tiny->minilm"),
                  seeds: int = 6, levels: tuple[float, ...] = (0.0, 0.2, 0.4), effect: float = 0.02, slope: tuple[float, float] = (0.1, 0.4),
                  spread: float = 0.005, gap: float = 0.2, gap_spread: float = 0.01, rng_seed: int = 1,
                  seed_scope: str = "pipeline") -> Path:
    """An LLM run folder written with ``llm_experiments.results.append_record``, summary by that module's own tables.

    Per (pair, seed): a shared seed offset (it cancels in matched comparisons), weak accuracy 0.7 and ceiling
    0.7 + ``gap`` (each +- ``gap_spread`` noise per seed). Per record: accuracy = 0.8 + offset + ``effect`` (reverse
    losses) - level * ``slope`` (reverse, forward) + ``spread`` * N(0, 1). ``seed_scope = "head"``: every seed of a
    pair shares split 0, and with it the first seed's weak and ceiling accuracies (one weak model, one ceiling).
    """
    from llm_experiments import results as R
    from revkl_core.runfolder import atomic_write_json

    run.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(rng_seed)
    shared: dict[str, tuple[float, float]] = {}
    for pair in pairs:
        for seed in range(seeds):
            offset = 0.02 * rng.standard_normal()
            acc_weak = 0.7 + gap_spread * rng.standard_normal()
            acc_ceiling = 0.7 + gap + gap_spread * rng.standard_normal()
            if seed_scope == "head":
                acc_weak, acc_ceiling = shared.setdefault(pair, (acc_weak, acc_ceiling))
            for loss in ("forward_kl", "reverse_kl", "ce", "rce"):  # the losses llm_experiments trains
                rev = DIRECTION[loss] == "reverse"
                for level in levels:
                    acc = 0.8 + offset + (effect if rev else 0.0) - level * slope[0 if rev else 1] + spread * rng.standard_normal()
                    noise = {"kind": "none", "rate": 0.0, "alpha": None} if level == 0 else {"kind": "flip", "rate": level, "alpha": None}
                    rec = {f: None for f in R.RECORD_FIELDS}
                    rec.update({"kind": "w2s", "key": f"{dataset}{pair}{loss}{seed}{level}", "name": run.name, "dataset": dataset,
                                "task": "pairs", "num_classes": 2, "mode": "last_layer", "weak_model": pair.split("->")[0],
                                "strong_model": pair.split("->")[1], "pair": pair, "loss": loss, "direction": DIRECTION[loss],
                                "aux_conf": 0.0, "mirror_weight": 0.0, "seed": seed, "split_seed": seed if seed_scope == "pipeline" else 0, "seed_scope": seed_scope, "noise": noise, "noise_level": level,
                                "acc_strong": acc, "acc_weak": acc_weak, "acc_ceiling": acc_ceiling,
                                "pgr": (acc - acc_weak) / (acc_ceiling - acc_weak), "agreement": 0.8,
                                "err_strong": 0.5 - 0.1 * rng.random(), "err_weak": 0.55, "err_ceiling": 0.3,
                                "misfit_forward": 0.05, "misfit_reverse": 0.04, "misfit": 0.05 if not rev else 0.04, "checks": {},
                                "train_loss": 0.1, "steps": 10, "n_gt": 10, "n_weak": 10, "n_test": 10, "wall_s": 0.1,
                                "finished_at": "2025-01-01T00:00:00Z", "config": {}})
                    rec["gain"] = rec["err_weak"] - rec["err_strong"]
                    R.append_record(run, rec)
    write_theory(run, rng)
    recs = R.load_results(run)
    atomic_write_json(run / "summary.json", {"name": run.name, "n_results": len(recs), "complete": True, "stages": {},
                                               "table": R.accuracy_table(recs), "noise_table": R.noise_table(recs),
                                               "wins": R.reverse_wins(recs), "wall_s": 1.0, "updated_at": "now"})
    return run


@pytest.fixture
def llm_run(tmp_path: Path) -> Path:
    """An LLM run folder: two pairs, four losses, six seeds, flip noise 0 / 0.2 / 0.4; reverse losses
    2 points better and less hurt by noise, spread 0.5 points, weak-ceiling gap 20 points."""
    return write_llm_run(tmp_path / "results" / "llm" / "fixture-run")


@pytest.fixture
def full_results(tmp_path: Path, synthetic_run: Path, llm_run: Path) -> Path:
    """A results folder with bounds.json, synthetic/ and llm/fixture-run/."""
    root = tmp_path / "results"
    (root / "bounds.json").write_text(json.dumps(make_verify_report()))
    shutil.copytree(synthetic_run, root / "synthetic")
    return root
