r"""The data of a study: every split over one deduplicated table of texts, and the features of each model.

A study holds the splits its units use (:func:`load_study`), their items indexing one shared table
of texts. In last_layer mode each backbone makes one forward pass over that table
(:func:`model_features`): pooled features standardised per dimension,

.. math:: \tilde f_{t,j} = (f_{t,j} - \bar f_j) / \max(s_j, 10^{-8}),

with the mean and standard deviation over all texts (label-free), so every split, stage, loss and
seed reuses them. Stages are saved under ``DIR/cache/<stage>-<key>.pt`` (:func:`cached_stage`;
temp file + hard link: the first copy is kept and never replaced).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch

from llm_experiments.config import Config, RuntimeConfig
from llm_experiments.data import Part, part_sizes, render_texts
from llm_experiments.datasets import load_dataset
from llm_experiments.encode import encode_texts, tokenize
from llm_experiments.models import load_scorer, load_tokenizer
from llm_experiments.parallel import agree
from llm_experiments.units import features_key
from revkl_core.runfolder import publish_once

log = logging.getLogger("llm_experiments")


@dataclass
class Study:
    """The splits a config uses, their items indexing one shared, deduplicated table of texts."""

    task: str
    num_classes: int
    texts: list[str]
    splits: dict[int, dict[str, Part]]
    sizes: dict[int, dict[str, tuple[int, int]]]
    chats: list[list[dict[str, str]]] | None = None  # conversational data: texts[i] as messages


def load_study(cfg: Config, split_seeds: Iterable[int]) -> Study:
    """Load (and validate) each split; remap its items into one text table shared by all splits."""
    texts: list[str] = []
    chats: list[list[dict[str, str]]] = []
    index: dict[str, int] = {}
    splits, sizes, kinds = {}, {}, set()
    for sp in sorted(set(split_seeds)):
        dcfg = dataclasses.replace(cfg.data, seed=sp)
        data = load_dataset(dcfg)
        kinds.add((data.task, data.num_classes))
        remap = np.empty(len(data.texts), dtype=np.int64)
        for i, t in enumerate(data.texts):
            if t not in index:
                index[t] = len(texts)
                texts.append(t)
                if data.chats is not None:
                    chats.append(data.chats[i])
            remap[i] = index[t]
        splits[sp] = {name: Part(remap[p.items], p.labels) for name, p in data.parts.items()}
        sizes[sp] = part_sizes(dcfg, data)
    if len(kinds) != 1:
        raise AssertionError(f"dataset {cfg.data.dataset!r}: splits disagree on the task or classes: {kinds}")
    (task, k), = kinds
    return Study(task, k, texts, splits, sizes, chats if len(chats) == len(texts) else None)


def progress_options(runtime: RuntimeConfig) -> dict[str, Any]:
    """The progress keywords of the loops (``encode_texts``, ``fit``) from ``[runtime]``."""
    return {"progress": runtime.progress, "progress_interval": runtime.progress_interval}


def token_ids(cfg: Config, study: Study, model: str) -> tuple[list[list[int]], int]:
    """(token ids of every text of the study, truncated to ``max_length``; the pad id) for ``model``."""
    tok = load_tokenizer(model, cfg.runtime.assets_cache)
    pad = int(tok.pad_token_id)
    texts = render_texts(study.texts, study.chats, tok)
    return tokenize(tok, texts, cfg.data.max_length, model), pad


def cached_stage(run_dir: Path, stage: str, key: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Load ``cache/<stage>-<key>.pt`` or compute and publish it; return it (``_cached`` says which).

    Two jobs that compute the same stage at once both finish, but only the first copy is
    published and both continue from it, so every unit of a run folder sees the same stage.
    """
    path = run_dir / "cache" / f"{stage}-{key}.pt"
    if not agree(path.exists()):
        path.parent.mkdir(parents=True, exist_ok=True)
        out = compute()
        if publish_once(path, lambda tmp: torch.save(out, tmp)):
            out["_cached"] = False
            return out
    out = torch.load(path, weights_only=False)
    out["_cached"] = True
    return out


def model_features(cfg: Config, study: Study, model: str, run_dir: Path, device: torch.device,
                   digests: dict[str, str]) -> tuple[torch.Tensor, dict[str, Any]]:
    """(standardised last-layer features of every text, shape (T, d); the stage's summary entry), cached."""
    key = features_key(cfg, study.texts, model, digests)
    stage = cached_stage(run_dir, "features", key, lambda: _compute_features(cfg, study, model, device))
    info = {"stage": "features", "model": model, "key": key, "wall_s": stage["wall_s"], "texts": len(study.texts)}
    return stage["features"], info


def _compute_features(cfg: Config, study: Study, model: str, device: torch.device) -> dict[str, Any]:
    t0 = time.time()
    log.info("features: one forward pass of %s over %d texts%s", model, len(study.texts),
             " (bf16 autocast)" if cfg.models.feature_bf16 else "")
    out_dim = 1 if study.task == "pairs" else study.num_classes
    scorer = load_scorer(model, out_dim, seed=0, mode="last_layer", cache_dir=cfg.runtime.assets_cache).to(device).eval()
    ids, pad = token_ids(cfg, study, model)
    f = encode_texts(scorer.features, ids, pad, cfg.runtime.feature_batch_size, device, desc=f"features {model}",
                     bf16=cfg.models.feature_bf16, **progress_options(cfg.runtime))
    f = f.double()
    f = ((f - f.mean(0)) / f.std(0).clamp_min(1e-8)).float()  # per-dimension standardisation (label-free)
    return {"features": f, "wall_s": time.time() - t0}
