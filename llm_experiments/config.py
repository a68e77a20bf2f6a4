"""The run config: TOML in, validated dataclasses out (:mod:`revkl_core.config`), and the hashes that key cached stages.

A config has the sections ``[data]``, ``[models]``, ``[train]``, ``[w2s]``, ``[lora]``,
``[runtime]`` and a top-level ``name``; every field, its default and its range is listed on the
dataclasses below (docs/llm.md shows a full example). Unknown keys are errors, so a typo
never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from revkl_core import config as core
from revkl_core.config import FieldError, NoiseVocabulary, Schema, setting
from revkl_core.runfolder import UserError, config_hash

MODES = ("full", "last_layer", "lora")
SCHEDULES = ("cosine", "linear", "constant")
SEED_SCOPES = ("pipeline", "head")
#: Weak-label noise kinds and the numbers each needs (see :mod:`llm_experiments.noise`): ``rate`` the
#: corrupted fraction, ``factor`` the shrink factor (1 = no change).
NOISE_NUMBERS: dict[str, dict[str, tuple[float, float]]] = {
    "none": {}, "flip": {"rate": (0.0, 0.5)}, "shrink": {"rate": (0.0, 0.5), "factor": (0.0, 1.0)}}
NOISE_KINDS = tuple(NOISE_NUMBERS)
NOISE = NoiseVocabulary(NOISE_NUMBERS)
#: Old field names and where they live now (a config using one gets a one-line error naming the new place).
RENAMED = {"w2s.symmetric": "[w2s].mirror_weight"}


def _losses() -> list[str]:
    """The losses the pipeline trains: it measures the misfit in a loss's own direction and mirrors it
    (``mirror_weight``), so forward or reverse."""
    from bounds import LOSS_DIRECTION

    return sorted(name for name, direction in LOSS_DIRECTION.items() if direction in ("forward", "reverse"))


@dataclass(frozen=True)
class DataConfig:
    """Which data set, how big each part is, and how texts are tokenised.

    ``gt``/``weak``/``test``: sizes of the ground-truth, weak-labelled and test parts.
    ``options``: loader-specific settings (e.g. ``path`` for ``jsonl``, ``min_margin`` for
    ``movie-pairs``, ``subset`` for ``hh-rlhf``); each loader rejects keys it does not know.
    A relative ``options.path`` is resolved against the folder of the config file
    (:func:`load_config`), or the working directory for a config built in Python.
    ``seed`` draws the split (with ``[w2s] seed_scope = "pipeline"`` each w2s seed s uses
    ``seed + s``).
    """

    dataset: str = setting(nonempty=True)
    seed: int = setting(0, ge=0)
    gt: int = setting(4000, ge=1)
    weak: int = setting(4000, ge=1)
    test: int = setting(4000, ge=1)
    max_length: int = setting(512, ge=2)
    options: dict[str, Any] = setting({})


@dataclass(frozen=True)
class ModelsConfig:
    """Weak -> strong pairs (registry names or local paths) and the fine-tuning mode.

    ``feature_bf16``: run the frozen backbones' forward passes (features, predictions) under
    bf16 autocast on CPU too (on CUDA they always autocast to bf16). Faster on CPUs with bf16
    matrix units, but it changes the numbers, so it is part of the features' cache key.
    """

    pairs: list[list[str]] = setting(nonempty=True)
    mode: str = setting("full", choices=MODES)
    feature_bf16: bool = False


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and schedule, shared by the weak, ceiling and weak-to-strong stages.

    In ``last_layer`` mode these train the linear head on cached features.
    The learning rate warms up linearly over ``warmup_frac`` of the steps, then follows
    ``schedule`` down to 0 (cosine or linear) or stays (constant).
    """

    epochs: float = setting(1.0, gt=0)
    lr: float = setting(1e-5, gt=0)
    batch_size: int = setting(16, ge=1)
    grad_accum: int = setting(1, ge=1)
    warmup_frac: float = setting(0.05, ge=0, lt=1)
    schedule: str = setting("cosine", choices=SCHEDULES)
    weight_decay: float = setting(0.0, ge=0)
    max_grad_norm: float = setting(1.0, ge=0)
    grad_checkpointing: bool = False
    group_by_length: bool = True
    eval_batch_size: int = setting(64, ge=1)


@dataclass(frozen=True)
class W2SConfig:
    """The weak-to-strong grid: losses x seeds x noise settings.

    ``noise``: list of ``{kind = "none"}``, ``{kind = "flip", rate = r}`` or ``{kind = "shrink", rate = r,
    factor = a}``: ``rate`` in [0, 0.5] the corrupted fraction, ``factor`` in [0, 1] the shrink factor.
    ``aux_conf``: weight of Burns et al.'s auxiliary confidence loss; ``mirror_weight``: weight
    of the mirrored loss (forward <-> reverse); both 0 by default.
    ``seed_scope``: what a seed varies. ``"pipeline"`` (default): seed s re-draws the data split
    (split seed ``[data].seed + s``) and retrains the weak model and the ceiling on it, so the
    spread over seeds includes the split and the weak model; ``"head"``: one fixed split
    (``[data].seed``), one weak model and ceiling, and the seed varies only the strong model's
    initialisation and batch order.
    """

    losses: list[str] = setting(["forward_kl", "reverse_kl", "ce", "rce"], choices=_losses, nonempty=True)
    seeds: list[int] = setting([0, 1, 2], ge=0, nonempty=True)
    noise: list[dict[str, Any]] = setting([{"kind": "none"}], entries=NOISE, nonempty=True)
    aux_conf: float = setting(0.0, ge=0, le=1)
    mirror_weight: float = setting(0.0, ge=0, le=1)
    seed_scope: str = setting("pipeline", choices=SEED_SCOPES)


@dataclass(frozen=True)
class LoraConfig:
    """LoRA adapters (``mode = "lora"``); empty ``target_modules`` lets peft pick per architecture."""

    r: int = setting(16, ge=1)
    alpha: int = setting(32, ge=1)
    dropout: float = setting(0.05, ge=0, lt=1)
    target_modules: list[str] = setting([])


@dataclass(frozen=True)
class RuntimeConfig:
    """Where things run; none of these change the numbers (they are not hashed)."""

    device: str = setting("auto", nonempty=True)
    feature_batch_size: int = setting(64, ge=1)
    assets_cache: str = ""
    progress: bool = True
    progress_interval: float = setting(30.0, gt=0)  # seconds between progress lines when stderr is not a terminal
    threads: int = setting(0, ge=0)  # torch CPU threads; 0 keeps torch's default (1 avoids oversubscription)


@dataclass(frozen=True)
class Config:
    name: str = setting(nonempty=True)
    data: DataConfig = setting()
    models: ModelsConfig = setting()
    train: TrainConfig = field(default_factory=TrainConfig)
    w2s: W2SConfig = field(default_factory=W2SConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)


def _cross(cfg: Config) -> None:
    """Rules the field types cannot say (FieldError)."""
    for pair in cfg.models.pairs:
        if len(pair) != 2 or not all(pair):
            raise FieldError("[models].pairs", f"each entry must be [weak, strong] (two model names), got {pair!r}")


SCHEMA = Schema(Config, renamed=RENAMED, cross=_cross)


def config_from_dict(raw: dict[str, Any], base_dir: str | Path | None = None, source: str = "config") -> Config:
    """Build and validate a Config from a parsed TOML dict (UserError ``source: [section].field: ...``).

    A relative ``[data].options.path`` is made absolute against ``base_dir`` (the config file's
    folder), or against the working directory when ``base_dir`` is None.
    """
    cfg = SCHEMA.from_dict(raw, source)
    opts = cfg.data.options
    if isinstance(opts.get("path"), str) and opts["path"]:
        path = Path(opts["path"]).expanduser()
        path = (Path(base_dir) if base_dir is not None else Path.cwd()) / path if not path.is_absolute() else path
        data = dataclasses.replace(cfg.data, options={**opts, "path": str(path.resolve())})
        cfg = dataclasses.replace(cfg, data=data)
    return cfg


def load_config(path: str | Path) -> Config:
    """Read a TOML config file (UserError naming the file on a missing file, a syntax error or a bad field)."""
    path = Path(path)
    return config_from_dict(core.read_toml(path), base_dir=path.resolve().parent, source=str(path))


def validate(cfg: Config) -> None:
    """Check values (UserError); model and data set names are checked when the run starts."""
    SCHEMA.validate(cfg)


def normalize_noise(nz: dict[str, Any]) -> dict[str, Any]:
    """A noise entry as units and records carry it: ``{kind, rate, alpha}`` (``rate`` 0 for ``none``, ``alpha``
    the shrink ``factor`` for ``shrink`` and None otherwise); UserError for an invalid entry."""
    try:
        t = NOISE.checked(nz, "[w2s].noise")
    except FieldError as err:
        raise UserError(f"config: {err}") from None
    return {"kind": t["kind"], "rate": t.get("rate", 0.0), "alpha": t.get("factor")}


def to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass config (or part) as plain JSON-able dicts."""
    return core.plain(cfg)


def stage_key(*parts: Any) -> str:
    """A 16-hex-digit key of JSON-serialisable parts (``runfolder.config_hash``): equal inputs, equal keys."""
    return config_hash({"parts": list(parts)})


def numbers_hash(cfg: Config) -> str:
    """Hash of every field that can change a number: the config without ``[runtime]``
    (:func:`revkl_core.config.numbers_hash`)."""
    return core.numbers_hash(cfg)


def to_toml(cfg: Config) -> str:
    """The resolved config as TOML (:func:`revkl_core.config.to_toml`); :func:`load_config` reads it back equal."""
    return core.to_toml(cfg)
