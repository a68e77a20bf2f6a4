"""The run config: TOML in, validated dataclasses out, and the hashes that key cached stages.

A config has the sections ``[data]``, ``[models]``, ``[train]``, ``[w2s]``, ``[lora]``,
``[runtime]`` and a top-level ``name``; every field and its default is listed on the
dataclasses below (docs/llm.md shows a full example). Unknown keys are errors, so a typo
never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODES = ("full", "last_layer", "lora")
SCHEDULES = ("cosine", "linear", "constant")
NOISE_KINDS = ("none", "flip", "shrink")


@dataclass(frozen=True)
class DataConfig:
    """Which data set, how big each part is, and how texts are tokenised.

    ``gt``/``weak``/``test``: sizes of the ground-truth, weak-labelled and test parts.
    ``options``: loader-specific settings (e.g. ``path`` for ``jsonl``, ``min_margin`` for
    ``movie-pairs``, ``subset`` for ``hh-rlhf``); each loader rejects keys it does not know.
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
    """Weak -> strong pairs (registry names or local paths) and the fine-tuning mode."""

    pairs: list[list[str]]
    mode: str = "full"


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
    ``aux_conf``: weight of Burns et al.'s auxiliary confidence loss; ``symmetric``: weight of
    the mirrored loss (forward <-> reverse); both 0 by default.
    """

    losses: list[str] = field(default_factory=lambda: ["forward_kl", "reverse_kl", "ce", "rce"])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    noise: list[dict[str, Any]] = field(default_factory=lambda: [{"kind": "none", "rate": 0.0}])
    aux_conf: float = 0.0
    symmetric: float = 0.0


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
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"config [{section}]: unknown field(s) {unknown}; known: {sorted(known)}")
    required = [f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]  # type: ignore[misc]
    missing = [r for r in required if r not in raw]
    if missing:
        raise ValueError(f"config [{section}]: missing field(s) {missing}")
    return cls(**raw)


def config_from_dict(raw: dict[str, Any]) -> Config:
    """Build and validate a Config from a parsed TOML dict."""
    raw = dict(raw)
    name = raw.pop("name", None)
    if not isinstance(name, str) or not name:
        raise ValueError("config: top-level field 'name' (a non-empty string) is required")
    unknown = sorted(set(raw) - set(_SECTIONS))
    if unknown:
        raise ValueError(f"config: unknown section(s) {unknown}; known: {sorted(_SECTIONS)}")
    for required in ("data", "models"):
        if required not in raw:
            raise ValueError(f"config: section [{required}] is required")
    parts = {sec: _build(cls, raw[sec], sec) for sec, cls in _SECTIONS.items() if sec in raw}
    cfg = Config(name=name, **parts)
    validate(cfg)
    return cfg


def load_config(path: str | Path) -> Config:
    """Read a TOML config file (ValueError naming the file on a syntax error)."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"config: file {path} does not exist")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"config: {path}: invalid TOML ({err})") from None
    return config_from_dict(raw)


def validate(cfg: Config) -> None:
    """Check values (names are checked against the registries when the run starts)."""
    from bounds import LOSSES

    d, t, w = cfg.data, cfg.train, cfg.w2s
    for part in ("gt", "weak", "test"):
        if getattr(d, part) < 1:
            raise ValueError(f"config [data]: {part} must be >= 1, got {getattr(d, part)}")
    if d.max_length < 2:
        raise ValueError(f"config [data]: max_length must be >= 2, got {d.max_length}")
    if not cfg.models.pairs or any(not isinstance(p, list) or len(p) != 2 for p in cfg.models.pairs):
        raise ValueError(f"config [models]: pairs must be a non-empty list of [weak, strong], got {cfg.models.pairs!r}")
    if cfg.models.mode not in MODES:
        raise ValueError(f"config [models]: mode must be one of {MODES}, got {cfg.models.mode!r}")
    if t.schedule not in SCHEDULES:
        raise ValueError(f"config [train]: schedule must be one of {SCHEDULES}, got {t.schedule!r}")
    for f_name in ("epochs", "lr"):
        if getattr(t, f_name) <= 0:
            raise ValueError(f"config [train]: {f_name} must be > 0, got {getattr(t, f_name)}")
    for f_name in ("batch_size", "grad_accum", "eval_batch_size"):
        if getattr(t, f_name) < 1:
            raise ValueError(f"config [train]: {f_name} must be >= 1, got {getattr(t, f_name)}")
    if not 0 <= t.warmup_frac < 1:
        raise ValueError(f"config [train]: warmup_frac must lie in [0, 1), got {t.warmup_frac}")
    if not w.losses or not w.seeds:
        raise ValueError("config [w2s]: losses and seeds must be non-empty lists")
    for loss in w.losses:
        if loss not in LOSSES:
            raise ValueError(f"config [w2s]: unknown loss {loss!r}; known losses: {', '.join(sorted(LOSSES))}")
    if not 0 <= w.aux_conf <= 1 or not 0 <= w.symmetric <= 1:
        raise ValueError(f"config [w2s]: aux_conf and symmetric must lie in [0, 1], got {w.aux_conf}, {w.symmetric}")
    for nz in w.noise:
        normalize_noise(nz)
    if cfg.runtime.threads < 0:
        raise ValueError(f"config [runtime]: threads must be >= 0 (0: torch's default), got {cfg.runtime.threads}")


def normalize_noise(nz: dict[str, Any]) -> dict[str, Any]:
    """``{kind, rate, alpha}`` with defaults filled and ranges checked."""
    unknown = sorted(set(nz) - {"kind", "rate", "alpha"})
    if unknown:
        raise ValueError(f"config [w2s].noise: unknown field(s) {unknown} in {nz!r}")
    kind = nz.get("kind", "none")
    if kind not in NOISE_KINDS:
        raise ValueError(f"config [w2s].noise: kind must be one of {NOISE_KINDS}, got {kind!r}")
    rate = float(nz.get("rate", 0.0))
    if not 0 <= rate <= 0.5:
        raise ValueError(f"config [w2s].noise: rate must lie in [0, 0.5], got {rate}")
    alpha = float(nz.get("alpha", 0.0))
    if not 0 <= alpha <= 1:
        raise ValueError(f"config [w2s].noise: alpha must lie in [0, 1], got {alpha}")
    if kind == "none":
        return {"kind": "none", "rate": 0.0, "alpha": None}
    return {"kind": kind, "rate": rate, "alpha": alpha if kind == "shrink" else None}


def to_dict(cfg: Any) -> dict[str, Any]:
    """A dataclass config (or part) as plain JSON-able dicts."""
    return dataclasses.asdict(cfg)


def stage_key(*parts: Any) -> str:
    """A 16-hex-digit hash of JSON-serialised parts: equal inputs give equal keys."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


# -- writing the resolved config back as TOML -------------------------------------------------


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if v is None:
        return '""'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items() if x is not None) + "}"
    raise ValueError(f"cannot write {type(v).__name__} to TOML")


def dumps_toml(cfg: Config) -> str:
    """The resolved config as TOML that :func:`load_config` reads back to an equal Config."""
    d = to_dict(cfg)
    lines = [f"name = {_toml_value(d.pop('name'))}"]
    for section, body in d.items():
        lines.append(f"\n[{section}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in body.items())
    return "\n".join(lines) + "\n"
