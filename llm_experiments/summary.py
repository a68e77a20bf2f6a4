"""What a run writes: one record per finished unit (``results.jsonl``) and the summary (``summary.json``).

The record's fields are listed in :mod:`llm_experiments.results`. The summary is rebuilt from
``results.jsonl`` and every stage recorded so far (features, weak, ceiling), with the tables of
:mod:`llm_experiments.results`; ``compute_s`` is the wall time of every stage and unit it counts.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from bounds import LOSS_DIRECTION
from bounds.metrics import pgr
from llm_experiments import metrics, results
from llm_experiments.checks import theorem_checks
from llm_experiments.config import Config
from llm_experiments.data import describe
from llm_experiments.study import Study
from llm_experiments.units import Unit
from revkl_core.runfolder import atomic_write_json, locked


def unit_record(cfg: Config, study: Study, u: Unit, digests: dict[str, str], base: tuple[Any, ...],
                stages: tuple[dict[str, Any], dict[str, Any]], s_logits: torch.Tensor, train_stats: dict[str, float],
                t0: float) -> dict[str, Any]:
    """The strict-JSON record of unit ``u``: the strong model's test logits ``s_logits`` scored against the truth
    and the weak and ceiling stages ``stages``, the theorem checks, the training stats; ``wall_s`` since ``t0``."""
    W, C = stages
    labels = torch.as_tensor(study.splits[u.split_seed]["test"].labels)
    acc_s = metrics.accuracy(s_logits, labels, study.task)
    err_s = metrics.err(s_logits, labels, study.task, study.num_classes)
    mis = metrics.misfits(s_logits, W["test_logits"], study.task)
    acc_w, acc_c = W["acc"], C["acc"]
    sizes = study.sizes[u.split_seed]
    rec = {
        "kind": "w2s", "key": u.key, "name": cfg.name, "dataset": cfg.data.dataset, "data_name": describe(cfg.data),
        "inputs": digests, "task": study.task, "num_classes": study.num_classes, "mode": cfg.models.mode,
        "weak_model": u.weak, "strong_model": u.strong, "pair": f"{u.weak}->{u.strong}", "loss": u.loss,
        "direction": LOSS_DIRECTION[u.loss], "aux_conf": cfg.w2s.aux_conf, "mirror_weight": cfg.w2s.mirror_weight,
        "seed": u.seed, "seed_scope": cfg.w2s.seed_scope, "split_seed": u.split_seed, "noise": u.noise,
        "noise_level": u.noise["rate"], "acc_strong": acc_s, "acc_weak": acc_w, "acc_ceiling": acc_c,
        "pgr": pgr(acc_s, acc_w, acc_c), "agreement": metrics.agreement(s_logits, W["test_logits"], study.task),
        "err_strong": err_s, "err_weak": W["err"], "err_ceiling": C["err"], "gain": W["err"] - err_s, **mis,
        "misfit": mis[f"misfit_{LOSS_DIRECTION[u.loss]}"],
        "checks": theorem_checks(s_logits, W["test_logits"], labels, study.task, study.num_classes, u.loss),
        "train_loss": train_stats["train_loss"], "steps": train_stats["steps"], "n_gt": sizes["gt"][0],
        "n_weak": sizes["weak"][0], "n_test": sizes["test"][0], "wall_s": time.time() - t0,
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "config": {"base": base, "weak": u.weak, "strong": u.strong, "noise": u.noise, "loss": u.loss,
                   "seed": u.seed, "split_seed": u.split_seed, "aux_conf": cfg.w2s.aux_conf,
                   "mirror_weight": cfg.w2s.mirror_weight, "seed_scope": cfg.w2s.seed_scope},
    }
    return jsonable(rec)


def summarize(cfg: Config, study: Study, units: list[Unit], digests: dict[str, str], records: list[dict[str, Any]],
              stages: dict[str, Any], prev: dict[str, Any], t_call: float) -> dict[str, Any]:
    """The summary of the ``records`` of ``units`` (those in ``results.jsonl``), the ``stages`` recorded so far and
    the previous summary ``prev`` (its ``calls_s`` plus this call's time since ``t_call``)."""
    keys = [u.key for u in units]
    last = time.time() - t_call
    return {
        "name": cfg.name, "seed_scope": cfg.w2s.seed_scope, "n_units": len(keys), "n_results": len(records),
        "complete": {r["key"] for r in records} >= set(keys), "keys": keys, "inputs": digests,
        "sizes": {str(sp): {p: list(v) for p, v in s.items()} for sp, s in study.sizes.items()},
        "stages": stages, "table": results.accuracy_table(records), "noise_table": results.noise_table(records),
        "wins": results.reverse_wins(records), "wins_by_noise": results.wins_by_noise(records),
        "compute_s": sum(s["wall_s"] for s in stages.values()) + sum(r["wall_s"] for r in records),
        "last_call_s": last, "calls_s": prev.get("calls_s", 0.0) + last,
        "updated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def write_summary(run_dir: Path, build: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    """Write ``build(stages already in summary.json)`` as ``summary.json``; return it.

    Read-merge-write under a lock on the folder, so concurrent jobs never drop each other's stages.
    """
    with locked(run_dir / ".summary.lock"):
        path = run_dir / results.SUMMARY_FILE
        summary = build(results.load_summary(run_dir).get("stages", {}) if path.is_file() else {})
        atomic_write_json(path, jsonable(summary))
    return summary


def jsonable(obj: Any) -> Any:
    """Replace non-finite floats by None and tuples by lists, so the record is strict JSON."""
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj
