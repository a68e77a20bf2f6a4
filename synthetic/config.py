"""Study configuration: a TOML file read into frozen dataclasses, validated with clear messages.

A study is the product of its axes: head classes (with K for softmax mixtures) x weak-label
noise (type, rate) x strong-representation quality (delta, or pre-training tasks); each
combination is a *setting* with ``tasks`` transfer tasks, run for every loss and method.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HEAD_CLASSES = ("stochastic_matrix", "mixture", "softmax_mixture", "softmax_linear")
#: Classes convex in probability space (T4 applies); the others are softmax heads.
PROBABILITY_CONVEX = {"stochastic_matrix": True, "mixture": True, "softmax_mixture": False, "softmax_linear": False}
#: Classes a certified solver of bounds.solvers fits exactly.
EXACT_CLASSES = ("stochastic_matrix", "mixture", "softmax_linear")
NOISE_TYPES = ("none", "flip", "shrink")
METHODS = ("exact", "sgd")
SGD_DTYPES = ("float32", "float64")
REPRESENTATIONS = ("controlled", "pretrained")
EXTRA_LOSSES = ("symmetric",)


@dataclass(frozen=True)
class DataConfig:
    """Sizes of the generative setting. x ~ N(0, I_d); h*(x) in R^m; k classes."""

    d: int = 16
    m: int = 8
    k: int = 3
    hidden: int = 32
    n_weak_train: int = 200
    n_transfer: int = 400
    n_val: int = 200
    n_test: int = 1000
    feature_temperature: float = 0.5  # simplex features phi = softmax(h / T)
    head_scale: float = 3.0  # scale of random softmax heads: larger -> more confident F*
    dirichlet: float = 0.3  # concentration of the columns of A* (stochastic_matrix truth)
    mixture_heads: int = 4  # L fixed heads of the mixture class


@dataclass(frozen=True)
class RepresentationConfig:
    """How strong and weak representations are made.

    controlled: h_s = h* + delta * g(x) (g a random MLP scaled to unit RMS);
    h_w = the first ``weak_dim`` coordinates of a random rotation of h*, plus ``weak_noise`` * g'(x).
    pretrained: a deep MLP (strong) and a shallow one (weak) trained on ``pretrain_tasks``
    softmax tasks on top of h* (Charikar et al., 2024); ``delta`` is not used.
    """

    kind: str = "controlled"
    deltas: tuple[float, ...] = (0.0,)
    weak_dim: int = 4
    weak_noise: float = 0.5
    pretrain_tasks: tuple[int, ...] = (8,)
    pretrain_samples: int = 2000
    pretrain_steps: int = 300


@dataclass(frozen=True)
class WeakConfig:
    """Weak supervisor: softmax-linear head on h_w fitted to ``n_weak_train`` truth samples."""

    labels: str = "hard"  # hard: y ~ F*(x); soft: F*(x)
    noise: tuple[tuple[str, float], ...] = (("none", 0.0),)
    steps: int = 300
    lr: float = 0.05


@dataclass(frozen=True)
class SGDConfig:
    """Mini-batch Adam, batched across tasks, early stopping on weak-labelled validation loss."""

    lr: float = 0.05
    batch_size: int = 64
    max_epochs: int = 50
    patience: int = 5
    tol: float = 1e-6  # minimum validation improvement that resets patience
    dtype: str = "float32"  # arithmetic of the training loop; parameters, objectives and checks stay float64


@dataclass(frozen=True)
class Config:
    name: str = "study"
    seed: int = 0
    tasks: int = 20
    chunk: int = 50
    head_classes: tuple[str, ...] = ("stochastic_matrix", "softmax_linear")
    K: tuple[int, ...] = (1, 2, 4)
    losses: tuple[str, ...] = ("forward_kl", "reverse_kl", "ce", "rce")
    methods: tuple[str, ...] = ("exact", "sgd")
    exact_tol: float = 1e-10
    threads: int = 1  # torch threads: the batched ops are small, so 1 avoids oversubscription
    data: DataConfig = field(default_factory=DataConfig)
    representation: RepresentationConfig = field(default_factory=RepresentationConfig)
    weak: WeakConfig = field(default_factory=WeakConfig)
    sgd: SGDConfig = field(default_factory=SGDConfig)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (lists for tuples), suitable for TOML and hashing."""
        return json.loads(json.dumps(asdict(self)))

    def hash(self) -> str:
        """A short hash of every field: a run folder belongs to exactly one config."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


_SECTIONS = {"data": DataConfig, "representation": RepresentationConfig, "weak": WeakConfig, "sgd": SGDConfig}


def _build(cls: type, raw: dict[str, Any], where: str) -> Any:
    known = set(cls.__dataclass_fields__)
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(known)}")
    kwargs = {}
    for key, value in raw.items():
        if key == "noise":
            value = tuple(_noise_entry(v, f"{where}.noise") for v in value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def _noise_entry(v: Any, where: str) -> tuple[str, float]:
    if isinstance(v, dict):
        if set(v) - {"type", "rate"}:
            raise ValueError(f"{where}: each entry takes 'type' and 'rate', got {sorted(v)}")
        return (str(v.get("type", "none")), float(v.get("rate", 0.0)))
    if isinstance(v, (list, tuple)) and len(v) == 2:
        return (str(v[0]), float(v[1]))
    raise ValueError(f"{where}: entries must be {{type = ..., rate = ...}}, got {v!r}")


def config_from_dict(raw: dict[str, Any]) -> Config:
    """Build and validate a Config from a parsed TOML dict."""
    top = {k: v for k, v in raw.items() if k not in _SECTIONS}
    sections = {k: _build(cls, raw.get(k, {}), f"[{k}]") for k, cls in _SECTIONS.items()}
    cfg = _build(Config, top, "config")
    cfg = Config(**{**{f: getattr(cfg, f) for f in Config.__dataclass_fields__}, **sections})
    validate(cfg)
    return cfg


def load_config(path: str | Path) -> Config:
    """Read a TOML study config; raises ValueError naming the bad field."""
    with open(path, "rb") as fh:
        try:
            raw = tomllib.load(fh)
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"{path}: not valid TOML: {err}") from None
    return config_from_dict(raw)


def dump_toml(cfg: Config) -> str:
    """The resolved config as TOML (values are ints, floats, strings, bools and lists only)."""

    def fmt(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            if v and isinstance(v[0], list):  # noise entries
                return "[" + ", ".join(f'{{type = {json.dumps(t)}, rate = {r!r}}}' for t, r in v) + "]"
            return "[" + ", ".join(fmt(x) for x in v) + "]"
        return repr(v)

    d = cfg.to_dict()
    lines = [f"{k} = {fmt(v)}" for k, v in d.items() if k not in _SECTIONS]
    for sec in _SECTIONS:
        lines.append(f"\n[{sec}]")
        lines.extend(f"{k} = {fmt(v)}" for k, v in d[sec].items())
    return "\n".join(lines) + "\n"


def loss_direction(loss: str) -> str:
    """The misfit direction a loss trains: bounds.LOSS_DIRECTION, plus 'symmetric' for the mix."""
    from bounds import LOSS_DIRECTION

    return "symmetric" if loss == "symmetric" else LOSS_DIRECTION[loss]


def _positive_int(value: Any, name: str, minimum: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def validate(cfg: Config) -> None:
    """Check every field; raise ValueError naming the first bad one."""
    from bounds import LOSSES

    _positive_int(cfg.tasks, "tasks")
    _positive_int(cfg.chunk, "chunk")
    _positive_int(cfg.seed, "seed", 0)
    _positive_int(cfg.threads, "threads")
    d = cfg.data
    _positive_int(d.k, "data.k", 2)
    for name in ("d", "m", "hidden", "n_weak_train", "n_transfer", "n_val", "n_test", "mixture_heads"):
        _positive_int(getattr(d, name), f"data.{name}")
    for name in ("feature_temperature", "head_scale", "dirichlet"):
        if not getattr(d, name) > 0:
            raise ValueError(f"data.{name} must be > 0, got {getattr(d, name)!r}")
    if not cfg.head_classes:
        raise ValueError("head_classes must not be empty")
    for h in cfg.head_classes:
        if h not in HEAD_CLASSES:
            raise ValueError(f"head_classes: unknown head class {h!r}; known: {', '.join(HEAD_CLASSES)}")
    for K in cfg.K:
        _positive_int(K, "K")
    if not cfg.losses:
        raise ValueError("losses must not be empty")
    for loss in cfg.losses:
        if loss not in LOSSES and loss not in EXTRA_LOSSES:
            raise ValueError(f"losses: unknown loss {loss!r}; known: {', '.join(sorted(LOSSES) + list(EXTRA_LOSSES))}")
    for m in cfg.methods:
        if m not in METHODS:
            raise ValueError(f"methods: unknown method {m!r}; known: {', '.join(METHODS)}")
    if not cfg.methods:
        raise ValueError("methods must not be empty")
    if not cfg.exact_tol > 0:
        raise ValueError(f"exact_tol must be > 0, got {cfg.exact_tol!r}")
    r = cfg.representation
    if r.kind not in REPRESENTATIONS:
        raise ValueError(f"representation.kind must be one of {REPRESENTATIONS}, got {r.kind!r}")
    for delta in r.deltas:
        if not isinstance(delta, (int, float)) or delta < 0:
            raise ValueError(f"representation.deltas must be >= 0, got {delta!r}")
    if r.kind == "pretrained" and not r.pretrain_tasks:
        raise ValueError("representation.pretrain_tasks must not be empty for kind = 'pretrained'")
    for t in r.pretrain_tasks:
        _positive_int(t, "representation.pretrain_tasks")
    _positive_int(r.weak_dim, "representation.weak_dim")
    if r.weak_noise < 0:
        raise ValueError(f"representation.weak_noise must be >= 0, got {r.weak_noise!r}")
    _positive_int(r.pretrain_samples, "representation.pretrain_samples")
    _positive_int(r.pretrain_steps, "representation.pretrain_steps")
    w = cfg.weak
    if w.labels not in ("hard", "soft"):
        raise ValueError(f"weak.labels must be 'hard' or 'soft', got {w.labels!r}")
    if not w.noise:
        raise ValueError("weak.noise must list at least one entry (use {type = \"none\", rate = 0.0})")
    for kind, rate in w.noise:
        if kind not in NOISE_TYPES:
            raise ValueError(f"weak.noise: unknown noise type {kind!r}; known: {', '.join(NOISE_TYPES)}")
        if kind == "flip" and not 0.0 <= rate <= 0.5:
            raise ValueError(f"weak.noise: flip rate must lie in [0, 0.5], got {rate!r}")
        if kind == "shrink" and not 0.0 <= rate <= 1.0:
            raise ValueError(f"weak.noise: shrink factor alpha must lie in [0, 1], got {rate!r}")
        if kind == "none" and rate != 0.0:
            raise ValueError(f"weak.noise: type 'none' takes rate 0, got {rate!r}")
    _positive_int(w.steps, "weak.steps")
    if not w.lr > 0:
        raise ValueError(f"weak.lr must be > 0, got {w.lr!r}")
    s = cfg.sgd
    if not s.lr > 0:
        raise ValueError(f"sgd.lr must be > 0, got {s.lr!r}")
    _positive_int(s.batch_size, "sgd.batch_size")
    _positive_int(s.max_epochs, "sgd.max_epochs")
    _positive_int(s.patience, "sgd.patience")
    if s.tol < 0:
        raise ValueError(f"sgd.tol must be >= 0, got {s.tol!r}")
    if s.dtype not in SGD_DTYPES:
        raise ValueError(f"sgd.dtype must be one of {', '.join(SGD_DTYPES)}, got {s.dtype!r}")
