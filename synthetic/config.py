"""Study configuration: a TOML file read into frozen dataclasses, validated with clear messages.

A study is the product of its axes: head classes (with K for softmax mixtures) x weak-label
noise (type, rate) x strong-representation quality (delta, or pre-training tasks); each
combination is a *setting* with ``tasks`` transfer tasks, run for every loss and method.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import MISSING, asdict, dataclass, field
from pathlib import Path
from typing import Any

from revkl_core.runfolder import UserError, config_hash, dumps_toml

#: Weak-label noise types and the interval their ``rate`` lies in (see :mod:`synthetic.weak`).
#: Named apart from llm_experiments' ``flip`` (rolls the logits of an exact fraction) and ``shrink``
#: (shrinks an exact fraction), which are different procedures.
NOISE_TYPES: dict[str, tuple[float, float]] = {"none": (0.0, 0.0), "swap_top": (0.0, 0.5), "shrink_all": (0.0, 1.0)}
#: Names this simulator used before; a config using them gets a one-line error naming the new one.
RENAMED = {"flip": "swap_top", "shrink": "shrink_all", "symmetric": "symmetric_kl"}
METHODS = ("exact", "sgd")
SGD_DTYPES = ("float32", "float64")
REPRESENTATIONS = ("controlled", "pretrained")
#: Fields that say how fast a run goes, never what it computes: left out of the config hash.
RUNTIME_FIELDS = ("threads",)


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
    h_w = the first ``weak_dim`` (<= data.m) coordinates of a random rotation of h*, plus ``weak_noise`` * g'(x).
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
        """A short hash of every field but the runtime ones: a run folder belongs to exactly one config."""
        return config_hash(self.to_dict(), runtime=RUNTIME_FIELDS)


_SECTIONS = {"data": DataConfig, "representation": RepresentationConfig, "weak": WeakConfig, "sgd": SGDConfig}


def _build(cls: type, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise UserError(f"{where}: expected a table of fields, got {raw!r}")
    known = set(cls.__dataclass_fields__)
    unknown = set(raw) - known
    if unknown:
        raise UserError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(known)}")
    kwargs = {}
    for key, value in raw.items():
        name = key if where == "config" else f"{where.strip('[]')}.{key}"
        f = cls.__dataclass_fields__[key]
        listed = isinstance(f.default if f.default is not MISSING else f.default_factory(), tuple)
        if listed != isinstance(value, list):
            raise UserError(f"{name} must be {'a list' if listed else 'a single value'}, got {value!r}")
        if key == "noise":
            value = tuple(_noise_entry(v, name) for v in value)
        elif listed:
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def _noise_entry(v: Any, where: str) -> tuple[str, float]:
    if not isinstance(v, dict) or set(v) - {"type", "rate"}:
        raise UserError(f"{where}: entries must be {{type = ..., rate = ...}}, got {v!r}")
    kind, rate = v.get("type", "none"), v.get("rate", 0.0)
    if not isinstance(kind, str):
        raise UserError(f"{where}: type must be a string, got {kind!r}")
    if not isinstance(rate, (int, float)) or isinstance(rate, bool):
        raise UserError(f"{where}: rate must be a number, got {rate!r}")
    return (kind, float(rate))


def config_from_dict(raw: dict[str, Any]) -> Config:
    """Build and validate a Config from a parsed TOML dict (UserError naming the first bad field)."""
    top = {k: v for k, v in raw.items() if k not in _SECTIONS}
    sections = {k: _build(cls, raw.get(k, {}), f"[{k}]") for k, cls in _SECTIONS.items()}
    cfg = _build(Config, top, "config")
    cfg = Config(**{**{f: getattr(cfg, f) for f in Config.__dataclass_fields__}, **sections})
    validate(cfg)
    return cfg


def load_config(path: str | Path) -> Config:
    """Read a TOML study config; raises UserError naming the file or the bad field."""
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{path}: not valid TOML: {err}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot read the config ({err})") from None
    return config_from_dict(raw)


def dump_toml(cfg: Config) -> str:
    """The resolved config as TOML (:func:`revkl_core.runfolder.dumps_toml`; noise entries as inline tables)."""
    d = cfg.to_dict()
    d["weak"]["noise"] = [{"type": t, "rate": r} for t, r in d["weak"]["noise"]]
    return dumps_toml(d)


def loss_direction(loss: str) -> str:
    """The misfit direction a loss trains (``bounds.LOSS_DIRECTION``)."""
    from bounds import LOSS_DIRECTION

    return LOSS_DIRECTION[loss]


def _int(value: Any, name: str, minimum: int = 1, maximum: int | None = None) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= minimum and (maximum is None or value <= maximum)
    if not ok:
        bound = f"in [{minimum}, {maximum}]" if maximum is not None else f">= {minimum}"
        raise UserError(f"{name} must be an integer {bound}, got {value!r}")


def _real(value: Any, name: str, lo: float, hi: float = math.inf, lo_open: bool = False) -> None:
    """A finite number in [lo, hi] (or (lo, hi] when ``lo_open``)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and (value > lo if lo_open else value >= lo) and value <= hi
    if not ok:
        where = f"{'>' if lo_open else '>='} {lo:g}" + (f" and <= {hi:g}" if math.isfinite(hi) else "")
        raise UserError(f"{name} must be a finite number {where}, got {value!r}")


def _choice(value: Any, name: str, known: Any) -> None:
    if isinstance(value, str) and value in RENAMED and RENAMED[value] in known:
        raise UserError(f"{name}: {value!r} was renamed {RENAMED[value]!r}; use the new name")
    if not isinstance(value, str) or value not in known:
        raise UserError(f"{name}: unknown value {value!r}; known: {', '.join(known)}")


def _nonempty(values: tuple[Any, ...], name: str) -> None:
    if not values:
        raise UserError(f"{name} must not be empty")


def validate(cfg: Config) -> None:
    """Check every field (type, range, known names); raise UserError naming the first bad one."""
    from bounds import LOSSES
    from synthetic.heads import HEAD_CLASSES

    if not isinstance(cfg.name, str) or not cfg.name:
        raise UserError(f"name must be a non-empty string, got {cfg.name!r}")
    _int(cfg.tasks, "tasks")
    _int(cfg.chunk, "chunk")
    _int(cfg.seed, "seed", 0)
    _int(cfg.threads, "threads")
    d = cfg.data
    _int(d.k, "data.k", 2)
    for name in ("d", "m", "hidden", "n_weak_train", "n_transfer", "n_val", "n_test", "mixture_heads"):
        _int(getattr(d, name), f"data.{name}")
    for name in ("feature_temperature", "head_scale", "dirichlet"):
        _real(getattr(d, name), f"data.{name}", 0.0, lo_open=True)
    _nonempty(cfg.head_classes, "head_classes")
    for h in cfg.head_classes:
        _choice(h, "head_classes", tuple(HEAD_CLASSES))
    _nonempty(cfg.K, "K")
    for K in cfg.K:
        _int(K, "K")
    _nonempty(cfg.losses, "losses")
    for loss in cfg.losses:
        _choice(loss, "losses", tuple(LOSSES))
    _nonempty(cfg.methods, "methods")
    for m in cfg.methods:
        _choice(m, "methods", METHODS)
    _real(cfg.exact_tol, "exact_tol", 0.0, lo_open=True)
    r = cfg.representation
    _choice(r.kind, "representation.kind", REPRESENTATIONS)
    _nonempty(r.deltas, "representation.deltas")
    for delta in r.deltas:
        _real(delta, "representation.deltas", 0.0)
    if r.kind == "pretrained":
        _nonempty(r.pretrain_tasks, "representation.pretrain_tasks")
    for t in r.pretrain_tasks:
        _int(t, "representation.pretrain_tasks")
    _int(r.weak_dim, "representation.weak_dim", 1, d.m)  # h_w keeps weak_dim of the m coordinates of R h*
    _real(r.weak_noise, "representation.weak_noise", 0.0)
    _int(r.pretrain_samples, "representation.pretrain_samples")
    _int(r.pretrain_steps, "representation.pretrain_steps")
    w = cfg.weak
    _choice(w.labels, "weak.labels", ("hard", "soft"))
    _nonempty(w.noise, "weak.noise")
    for kind, rate in w.noise:
        _choice(kind, "weak.noise.type", tuple(NOISE_TYPES))
        lo, hi = NOISE_TYPES[kind]
        _real(rate, f"weak.noise.rate (type {kind!r})", lo, hi)
    _int(w.steps, "weak.steps")
    _real(w.lr, "weak.lr", 0.0, lo_open=True)
    s = cfg.sgd
    _real(s.lr, "sgd.lr", 0.0, lo_open=True)
    _int(s.batch_size, "sgd.batch_size")
    _int(s.max_epochs, "sgd.max_epochs")
    _int(s.patience, "sgd.patience")
    _real(s.tol, "sgd.tol", 0.0)
    _choice(s.dtype, "sgd.dtype", SGD_DTYPES)
