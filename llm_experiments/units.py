"""The plan of a config: its units and the cache key of every stage they use.

A config plans *units* (:func:`plan_units`): one per (weak -> strong pair, noise, loss, seed).
Each unit belongs to a split, drawn with its split seed (``[w2s] seed_scope = "pipeline"``: seed s
draws the split ``[data].seed + s``; ``"head"``: every seed shares the split ``[data].seed``).
A unit's key is the batch id of its record in ``results.jsonl``; the stages it shares with other
units (``features``, ``weak``, ``ceiling``) have keys of their own (``cache/<stage>-<key>.pt``).

Every key covers the config fields the stage depends on *and the content*
(``runfolder.content_digest``) of each local input: a data file (``[data].options.path``) or a
local model folder. Editing one therefore changes the keys of what depends on it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_experiments.config import Config, normalize_noise, stage_key, to_dict
from llm_experiments.data import local_inputs
from llm_experiments.models import MODELS
from revkl_core.runfolder import canonical_json, content_digest


@dataclass(frozen=True)
class Unit:
    """One weak-to-strong run: its key (the ``results.jsonl`` batch id) and what it trains."""

    key: str
    weak: str
    strong: str
    noise: dict[str, Any]
    loss: str
    seed: int
    split_seed: int


def split_seed(cfg: Config, seed: int) -> int:
    """The seed of the split a unit with ``seed`` uses (``[w2s].seed_scope``)."""
    return cfg.data.seed + seed if cfg.w2s.seed_scope == "pipeline" else cfg.data.seed


def input_digests(cfg: Config) -> dict[str, str]:
    """``{path: content digest}`` of every local input: the data file(s) and local model folders."""
    paths = [*local_inputs(cfg.data), *(Path(m) for pair in cfg.models.pairs for m in pair if Path(m).is_dir())]
    return {str(p.resolve()): content_digest(p) for p in dict.fromkeys(paths)}


def _model_spec(name: str) -> dict[str, Any] | None:
    """A registry model's definition (source, pooling, ...): part of every key that depends on the model, so a
    changed registry entry (e.g. ``bow`` with other buckets) recomputes; local folders are keyed by content."""
    return dataclasses.asdict(MODELS[name]) if name in MODELS else None


def stage_base(cfg: Config, digests: dict[str, str]) -> tuple[Any, ...]:
    """What every trained stage depends on besides its model and split (the ``base`` of a record's ``config``)."""
    specs = {m: _model_spec(m) for pair in cfg.models.pairs for m in pair}
    return (to_dict(cfg.data), cfg.models.mode, cfg.models.feature_bf16, to_dict(cfg.train), to_dict(cfg.lora), digests,
            specs)


def split_stage_key(cfg: Config, digests: dict[str, str], stage: str, model: str, sp: int) -> str:
    """The cache key of split ``sp``'s ``weak`` or ``ceiling`` stage (``cache/<stage>-<key>.pt``)."""
    return stage_key(stage, *stage_base(cfg, digests), model, sp)


def features_key(cfg: Config, texts: list[str], model: str, digests: dict[str, str]) -> str:
    """The cache key of ``model``'s last-layer features over the run's text table (``cache/features-<key>.pt``)."""
    texts_digest = hashlib.sha256(canonical_json(texts).encode()).hexdigest()[:16]
    model_digest = digests.get(str(Path(model).resolve())) if Path(model).is_dir() else None
    return stage_key("features", model, _model_spec(model), model_digest, cfg.data.max_length, cfg.models.feature_bf16,
                     texts_digest)


def plan_units(cfg: Config, digests: dict[str, str] | None = None) -> list[Unit]:
    """Every unit of ``cfg`` with its key, in run order (pair, split, noise, loss, seed)."""
    digests = input_digests(cfg) if digests is None else digests
    base = stage_base(cfg, digests)
    units = []
    for weak, strong in cfg.models.pairs:
        for nz in (normalize_noise(n) for n in cfg.w2s.noise):
            for loss in cfg.w2s.losses:
                for seed in cfg.w2s.seeds:
                    sp = split_seed(cfg, seed)
                    key = stage_key("w2s", *base, weak, strong, nz, loss, seed, sp, cfg.w2s.aux_conf,
                                    cfg.w2s.mirror_weight, cfg.w2s.seed_scope)
                    units.append(Unit(key, weak, strong, nz, loss, seed, sp))
    return sorted(units, key=lambda u: (cfg.models.pairs.index([u.weak, u.strong]), u.split_seed))
