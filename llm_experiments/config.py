"""The run config: TOML in, validated dataclasses out, and the hashes that key cached stages.

A config has the sections ``[data]``, ``[models]``, ``[train]``, ``[w2s]``, ``[lora]``,
``[runtime]`` and a top-level ``name``; every field and its default is listed on the
dataclasses below (docs/llm.md shows a full example). Unknown keys are errors, so a typo
never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from revkl_core.runfolder import UserError, config_hash, dumps_toml

MODES = ("full", "last_layer", "lora")
SCHEDULES = ("cosine", "linear", "constant")
NOISE_KINDS = ("none", "flip", "shrink")
SEED_SCOPES = ("pipeline", "head")
#: Old field names and what replaced them (a config using one gets a one-line error naming the new one).
RENAMED = {("w2s", "symmetric"): "mirror_weight"}


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

    dataset: str
    seed: int = 0
    gt: int = 4000
    weak: int = 4000
    test: int = 4000
    max_length: int = 512
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelsConfig:
    """Weak -> strong pairs (registry names or local paths) and the fine-tuning mode.

    ``feature_bf16``: run the frozen backbones' forward passes (features, predictions) under
    bf16 autocast on CPU too (on CUDA they always autocast to bf16). Faster on CPUs with bf16
    matrix units, but it changes the numbers, so it is part of the features' cache key.
    """

    pairs: list[list[str]]
    mode: str = "full"
    feature_bf16: bool = False


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser and schedule, shared by the weak, ceiling and weak-to-strong stages.

    In ``last_layer`` mode these train the linear head on cached features.
    The learning rate warms up linearly over ``warmup_frac`` of the steps, then follows
    ``schedule`` down to 0 (cosine or linear) or stays (constant).
    """

    epochs: float = 1.0
    lr: float = 1e-5
    batch_size: int = 16
    grad_accum: int = 1
    warmup_frac: float = 0.05
    schedule: str = "cosine"
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    grad_checkpointing: bool = False
    group_by_length: bool = True
    eval_batch_size: int = 64


@dataclass(frozen=True)
class W2SConfig:
    """The weak-to-strong grid: losses x seeds x noise settings.

    ``noise``: list of ``{kind, rate, alpha}``; ``kind`` in none/flip/shrink, ``rate`` the
    corrupted fraction in [0, 0.5], ``alpha`` in [0, 1] the shrink factor (shrink only).
    ``aux_conf``: weight of Burns et al.'s auxiliary confidence loss; ``mirror_weight``: weight
    of the mirrored loss (forward <-> reverse); both 0 by default.
    ``seed_scope``: what a seed varies. ``"pipeline"`` (default): seed s re-draws the data split
    (split seed ``[data].seed + s``) and retrains the weak model and the ceiling on it, so the
    spread over seeds includes the split and the weak model; ``"head"``: one fixed split
    (``[data].seed``), one weak model and ceiling, and the seed varies only the strong model's
    initialisation and batch order.
    """

    losses: list[str] = field(default_factory=lambda: ["forward_kl", "reverse_kl", "ce", "rce"])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    noise: list[dict[str, Any]] = field(default_factory=lambda: [{"kind": "none", "rate": 0.0}])
    aux_conf: float = 0.0
    mirror_weight: float = 0.0
    seed_scope: str = "pipeline"


@dataclass(frozen=True)
class LoraConfig:
    """LoRA adapters (``mode = "lora"``); empty ``target_modules`` lets peft pick per architecture."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RuntimeConfig:
    """Where things run; none of these change the numbers (they are not hashed)."""

    device: str = "auto"
    feature_batch_size: int = 64
    assets_cache: str = ""
    progress: bool = True
    progress_interval: float = 30.0  # seconds between progress lines when stderr is not a terminal
    threads: int = 0  # torch CPU threads; 0 keeps torch's default (1 avoids oversubscription on a busy machine)


@dataclass(frozen=True)
class Config:
    name: str
    data: DataConfig
    models: ModelsConfig
    train: TrainConfig = field(default_factory=TrainConfig)
    w2s: W2SConfig = field(default_factory=W2SConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)


_SECTIONS = {"data": DataConfig, "models": ModelsConfig, "train": TrainConfig, "w2s": W2SConfig,
             "lora": LoraConfig, "runtime": RuntimeConfig}


def _build(cls: type, raw: dict[str, Any], section: str) -> Any:
    if not isinstance(raw, dict):
        raise UserError(f"config [{section}]: expected a table, got {type(raw).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    for (sec, old), new in RENAMED.items():
        if sec == section and old in raw:
            raise UserError(f"config [{section}]: field {old!r} was renamed to {new!r}")
    unknown = sorted(set(raw) - known)
    if unknown:
        raise UserError(f"config [{section}]: unknown field(s) {unknown}; known: {sorted(known)}")
    required = [f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]  # type: ignore[misc]
    missing = [r for r in required if r not in raw]
    if missing:
        raise UserError(f"config [{section}]: missing field(s) {missing}")
    _check_types(cls, raw, section)
    return cls(**raw)


def _check_types(cls: type, raw: dict[str, Any], section: str) -> None:
    """Each given value has its field's type (bool is not a number; ints pass as floats; floats are finite)."""
    for f in dataclasses.fields(cls):
        if f.name not in raw:
            continue
        v, t = raw[f.name], str(f.type)
        ok = {"int": isinstance(v, int) and not isinstance(v, bool),
              "float": isinstance(v, (int, float)) and not isinstance(v, bool),
              "bool": isinstance(v, bool), "str": isinstance(v, str)}.get(t, True)
        if t.startswith("list") and not isinstance(v, list) or t.startswith("dict") and not isinstance(v, dict):
            ok = False
        if not ok or t == "float" and not math.isfinite(v):
            raise UserError(f"config [{section}].{f.name}: expected {'a finite ' if t == 'float' else ''}{t}, got {v!r}")


def config_from_dict(raw: dict[str, Any], base_dir: str | Path | None = None) -> Config:
    """Build and validate a Config from a parsed TOML dict (UserError naming the field).

    A relative ``[data].options.path`` is made absolute against ``base_dir`` (the config file's
    folder), or against the working directory when ``base_dir`` is None.
    """
    raw = dict(raw)
    name = raw.pop("name", None)
    if not isinstance(name, str) or not name:
        raise UserError("config: top-level field 'name' (a non-empty string) is required")
    unknown = sorted(set(raw) - set(_SECTIONS))
    if unknown:
        raise UserError(f"config: unknown section(s) {unknown}; known: {sorted(_SECTIONS)}")
    for required in ("data", "models"):
        if required not in raw:
            raise UserError(f"config: section [{required}] is required")
    parts = {sec: _build(cls, raw[sec], sec) for sec, cls in _SECTIONS.items() if sec in raw}
    opts = parts["data"].options
    if isinstance(opts.get("path"), str) and opts["path"]:
        path = Path(opts["path"]).expanduser()
        path = (Path(base_dir) if base_dir is not None else Path.cwd()) / path if not path.is_absolute() else path
        parts["data"] = dataclasses.replace(parts["data"], options={**opts, "path": str(path.resolve())})
    cfg = Config(name=name, **parts)
    validate(cfg)
    return cfg


def load_config(path: str | Path) -> Config:
    """Read a TOML config file (UserError naming the file on a missing file or a syntax error)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config: {path} is not a file" if path.exists() else f"config: file {path} does not exist")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"config: {path}: invalid TOML ({str(err).splitlines()[0]})") from None
    except UnicodeDecodeError as err:
        raise UserError(f"config: {path}: not UTF-8 (byte offset {err.start})") from None
    return config_from_dict(raw, base_dir=path.resolve().parent)


def validate(cfg: Config) -> None:
    """Check values (UserError); model and data set names are checked when the run starts."""
    from bounds import LOSS_DIRECTION

    # The pipeline measures the misfit in a loss's own direction and mirrors it (mirror_weight): forward or reverse.
    losses = sorted(name for name, direction in LOSS_DIRECTION.items() if direction in ("forward", "reverse"))
    d, t, w = cfg.data, cfg.train, cfg.w2s
    for part in ("gt", "weak", "test"):
        if getattr(d, part) < 1:
            raise UserError(f"config [data]: {part} must be >= 1, got {getattr(d, part)}")
    if d.max_length < 2:
        raise UserError(f"config [data]: max_length must be >= 2, got {d.max_length}")
    if not cfg.models.pairs or any(not isinstance(p, list) or len(p) != 2 or not all(isinstance(m, str) and m for m in p)
                                   for p in cfg.models.pairs):
        raise UserError(f"config [models]: pairs must be a non-empty list of [weak, strong], got {cfg.models.pairs!r}")
    if cfg.models.mode not in MODES:
        raise UserError(f"config [models]: mode must be one of {MODES}, got {cfg.models.mode!r}")
    if t.schedule not in SCHEDULES:
        raise UserError(f"config [train]: schedule must be one of {SCHEDULES}, got {t.schedule!r}")
    for f_name in ("weight_decay", "max_grad_norm"):
        if getattr(t, f_name) < 0:
            raise UserError(f"config [train]: {f_name} must be >= 0, got {getattr(t, f_name)}")
    for f_name in ("epochs", "lr"):
        if getattr(t, f_name) <= 0:
            raise UserError(f"config [train]: {f_name} must be > 0, got {getattr(t, f_name)}")
    for f_name in ("batch_size", "grad_accum", "eval_batch_size"):
        if getattr(t, f_name) < 1:
            raise UserError(f"config [train]: {f_name} must be >= 1, got {getattr(t, f_name)}")
    if not 0 <= t.warmup_frac < 1:
        raise UserError(f"config [train]: warmup_frac must lie in [0, 1), got {t.warmup_frac}")
    if not w.losses or not w.seeds:
        raise UserError("config [w2s]: losses and seeds must be non-empty lists")
    for loss in w.losses:
        if loss not in losses:
            raise UserError(f"config [w2s]: unknown loss {loss!r}; known losses: {', '.join(losses)}")
    for f_name in ("aux_conf", "mirror_weight"):
        if not 0 <= getattr(w, f_name) <= 1:
            raise UserError(f"config [w2s]: {f_name} must lie in [0, 1], got {getattr(w, f_name)}")
    if w.seed_scope not in SEED_SCOPES:
        raise UserError(f"config [w2s]: seed_scope must be one of {SEED_SCOPES}, got {w.seed_scope!r}")
    if len(set(w.seeds)) != len(w.seeds) or any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in w.seeds):
        raise UserError(f"config [w2s]: seeds must be distinct non-negative integers, got {w.seeds}")
    if len(set(w.losses)) != len(w.losses):
        raise UserError(f"config [w2s]: losses must be distinct, got {w.losses}")
    noises = [normalize_noise(nz) for nz in w.noise]
    if not noises or len({str(sorted(n.items())) for n in noises}) != len(noises):
        raise UserError(f"config [w2s]: noise must be a non-empty list of distinct settings, got {w.noise}")
    for f_name in ("feature_batch_size",):
        if getattr(cfg.runtime, f_name) < 1:
            raise UserError(f"config [runtime]: {f_name} must be >= 1, got {getattr(cfg.runtime, f_name)}")
    if not cfg.runtime.progress_interval > 0:
        raise UserError(f"config [runtime]: progress_interval must be > 0 seconds, got {cfg.runtime.progress_interval}")
    if cfg.runtime.threads < 0:
        raise UserError(f"config [runtime]: threads must be >= 0 (0: torch's default), got {cfg.runtime.threads}")


def normalize_noise(nz: dict[str, Any]) -> dict[str, Any]:
    """``{kind, rate, alpha}`` with defaults filled and ranges checked."""
    if not isinstance(nz, dict):
        raise UserError(f"config [w2s].noise: each setting must be a table {{kind, rate, alpha}}, got {nz!r}")
    unknown = sorted(set(nz) - {"kind", "rate", "alpha"})
    if unknown:
        raise UserError(f"config [w2s].noise: unknown field(s) {unknown} in {nz!r}")
    kind = nz.get("kind", "none")
    if kind not in NOISE_KINDS:
        raise UserError(f"config [w2s].noise: kind must be one of {NOISE_KINDS}, got {kind!r}")
    rate, alpha = nz.get("rate", 0.0), nz.get("alpha", 0.0)
    for f_name, v in (("rate", rate), ("alpha", alpha)):
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            raise UserError(f"config [w2s].noise: {f_name} must be a finite number, got {v!r}")
    rate, alpha = float(rate), float(alpha)
    if not 0 <= rate <= 0.5:
        raise UserError(f"config [w2s].noise: rate must lie in [0, 0.5], got {rate}")
    if not 0 <= alpha <= 1:
        raise UserError(f"config [w2s].noise: alpha must lie in [0, 1], got {alpha}")
    if kind == "none":
        return {"kind": "none", "rate": 0.0, "alpha": None}
    return {"kind": kind, "rate": rate, "alpha": alpha if kind == "shrink" else None}


def to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass config (or part) as plain JSON-able dicts."""
    return dataclasses.asdict(cfg)


def stage_key(*parts: Any) -> str:
    """A 16-hex-digit key of JSON-serialisable parts (``runfolder.config_hash``): equal inputs, equal keys."""
    return config_hash({"parts": list(parts)})


def numbers_hash(cfg: Config) -> str:
    """Hash of every field that can change a number: the config without ``[runtime]``."""
    return config_hash(to_dict(cfg), runtime=("runtime",))


def to_toml(cfg: Config) -> str:
    """The resolved config as TOML (``runfolder.dumps_toml``); :func:`load_config` reads it back equal."""
    return dumps_toml(to_dict(cfg))
