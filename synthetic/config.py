"""Study configuration: a TOML file read into frozen dataclasses by :mod:`revkl_core.config`.

A study is the product of its axes: head classes (with K for softmax mixtures) x weak-label
noise (kind and its number) x strong-representation quality (delta, or pre-training tasks); each
combination is a *setting* with ``tasks`` transfer tasks, run for every loss and method.
Field rules (ranges, choices) sit on the fields below; the rules between fields in :func:`_cross`.
``name`` is required, so an empty file is refused instead of running the default study.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from revkl_core import config as core
from revkl_core.config import FieldError, NoiseVocabulary, Schema, setting

#: Weak-label noise kinds and the number each takes, with its interval (see :mod:`synthetic.weak`):
#: ``swap_top`` a probability ``rate``, ``shrink_all`` a shrink ``factor`` (1 = no noise).
#: Named apart from llm_experiments' ``flip`` (rolls the logits of an exact fraction) and ``shrink``
#: (shrinks an exact fraction), which are different procedures.
NOISE_KINDS: dict[str, dict[str, tuple[float, float]]] = {
    "none": {}, "swap_top": {"rate": (0.0, 0.5)}, "shrink_all": {"factor": (0.0, 1.0)}}
#: Kind -> the interval of its one number (``none``: 0), as :func:`synthetic.weak.add_noise` checks it.
NOISE_TYPES: dict[str, tuple[float, float]] = {k: next(iter(v.values()), (0.0, 0.0)) for k, v in NOISE_KINDS.items()}
#: Values this simulator used before; a config using them gets a one-line error naming the new one.
RENAMED = {"flip": "swap_top", "shrink": "shrink_all", "symmetric": "symmetric_kl"}
METHODS = ("exact", "sgd")
SGD_DTYPES = ("float32", "float64")
REPRESENTATIONS = ("controlled", "pretrained")
#: Largest ``sgd.tol``: an improvement threshold above 0.1 nats per epoch stops training after
#: ``patience`` epochs whatever it learns.
SGD_TOL_MAX = 0.1


def _losses() -> tuple[str, ...]:
    from bounds import LOSSES

    return tuple(LOSSES)


def _head_classes() -> tuple[str, ...]:
    """The registry :data:`synthetic.heads.HEAD_CLASSES` (which imports nothing of this module: no cycle)."""
    from synthetic.heads import HEAD_CLASSES

    return tuple(HEAD_CLASSES)


def _certified() -> float:
    """``bounds.theorems.CERTIFIED``: the largest certificate a fit may have and still count as certified."""
    from bounds.theorems import CERTIFIED

    return CERTIFIED


def _noise_tuple(table: dict[str, Any]) -> tuple[str, float]:
    """A checked noise table as the simulator keeps it: (kind, its number or 0)."""
    return table["kind"], next((float(v) for k, v in table.items() if k != "kind"), 0.0)


def _noise_table(value: tuple[str, float]) -> dict[str, Any]:
    """(kind, number) back to its TOML table; a ``none`` with a nonzero number keeps it as ``rate``, to be refused."""
    kind, number = value
    name = next(iter(NOISE_KINDS.get(kind, {})), "rate")
    return {"kind": kind} if kind == "none" and number == 0 else {"kind": kind, name: number}


NOISE = NoiseVocabulary(NOISE_KINDS, renamed_kinds=RENAMED, renamed_numbers={("shrink_all", "rate"): "factor"},
                        store=_noise_tuple, table=_noise_table)


@dataclass(frozen=True)
class DataConfig:
    """Sizes of the generative setting. x ~ N(0, I_d); h*(x) in R^m; k classes."""

    d: int = setting(16, ge=1)
    m: int = setting(8, ge=1)
    k: int = setting(3, ge=2)
    hidden: int = setting(32, ge=1)
    n_weak_train: int = setting(200, ge=1)
    n_transfer: int = setting(400, ge=1)
    n_val: int = setting(200, ge=1)
    n_test: int = setting(1000, ge=1)
    feature_temperature: float = setting(0.5, gt=0)  # simplex features phi = softmax(h / T)
    head_scale: float = setting(3.0, gt=0)  # scale of random softmax heads: larger -> more confident F*
    dirichlet: float = setting(0.3, gt=0)  # concentration of the columns of A* (stochastic_matrix truth)
    mixture_heads: int = setting(4, ge=1)  # L fixed heads of the mixture class


@dataclass(frozen=True)
class RepresentationConfig:
    """How strong and weak representations are made.

    controlled: h_s = h* + delta * g(x) (g a random MLP scaled to unit RMS);
    h_w = the first ``weak_dim`` (<= data.m) coordinates of a random rotation of h*, plus ``weak_noise`` * g'(x).
    pretrained: a deep MLP (strong) and a shallow one (weak) trained on ``pretrain_tasks``
    softmax tasks on top of h* (Charikar et al., 2024); ``delta`` is not used.
    """

    kind: str = setting("controlled", choices=REPRESENTATIONS)
    deltas: tuple[float, ...] = setting((0.0,), ge=0, nonempty=True)
    weak_dim: int = setting(4, ge=1)
    weak_noise: float = setting(0.5, ge=0)
    pretrain_tasks: tuple[int, ...] = setting((8,), ge=1)
    pretrain_samples: int = setting(2000, ge=1)
    pretrain_steps: int = setting(300, ge=1)


@dataclass(frozen=True)
class WeakConfig:
    """Weak supervisor: softmax-linear head on h_w fitted to ``n_weak_train`` truth samples.

    ``noise``: TOML entries ``{kind = "none"}``, ``{kind = "swap_top", rate = r}``, ``{kind = "shrink_all",
    factor = a}`` (:data:`NOISE_KINDS`), kept as (kind, number) pairs.
    """

    labels: str = setting("hard", choices=("hard", "soft"))  # hard: y ~ F*(x); soft: F*(x)
    noise: tuple[tuple[str, float], ...] = setting((("none", 0.0),), entries=NOISE, nonempty=True)
    steps: int = setting(300, ge=1)
    lr: float = setting(0.05, gt=0)


@dataclass(frozen=True)
class SGDConfig:
    """Mini-batch Adam, batched across tasks, early stopping on weak-labelled validation loss.

    ``tol``: the minimum validation improvement (nats) that resets patience, in [0, :data:`SGD_TOL_MAX`].
    """

    lr: float = setting(0.05, gt=0)
    batch_size: int = setting(64, ge=1)
    max_epochs: int = setting(50, ge=1)
    patience: int = setting(5, ge=1)
    tol: float = setting(1e-6, ge=0, le=SGD_TOL_MAX, why="nats of validation loss per epoch")
    dtype: str = setting("float32", choices=SGD_DTYPES)  # loop arithmetic; parameters, objectives, checks: float64


@dataclass(frozen=True)
class RuntimeConfig:
    """How fast a run goes, never what it computes: left out of the config hash."""

    threads: int = setting(1, ge=1)  # torch threads: the batched ops are small, so 1 avoids oversubscription


@dataclass(frozen=True)
class Config:
    """A study. ``exact_tol``: the certified solvers' tolerance, in (0, ``bounds.theorems.CERTIFIED``] so that a
    fit they call converged has a certificate <= CERTIFIED, i.e. "certified" keeps its meaning."""

    name: str = setting(nonempty=True)
    seed: int = setting(0, ge=0)
    tasks: int = setting(20, ge=1)
    chunk: int = setting(50, ge=1)
    head_classes: tuple[str, ...] = setting(("stochastic_matrix", "softmax_linear"), choices=_head_classes,
                                            nonempty=True)
    K: tuple[int, ...] = setting((1, 2, 4), ge=1, nonempty=True)
    losses: tuple[str, ...] = setting(("forward_kl", "reverse_kl", "ce", "rce"), choices=_losses, renamed=RENAMED,
                                      nonempty=True)
    methods: tuple[str, ...] = setting(("exact", "sgd"), choices=METHODS, nonempty=True)
    exact_tol: float = setting(1e-10, gt=0, le=_certified,
                               why="at most bounds.theorems.CERTIFIED, so that a converged fit is a certified one")
    data: DataConfig = field(default_factory=DataConfig)
    representation: RepresentationConfig = field(default_factory=RepresentationConfig)
    weak: WeakConfig = field(default_factory=WeakConfig)
    sgd: SGDConfig = field(default_factory=SGDConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (lists for tuples), suitable for hashing."""
        return core.plain(self)

    def hash(self) -> str:
        """The config hash (:func:`revkl_core.config.numbers_hash`, without ``[runtime]``): a run folder
        belongs to exactly one config."""
        return core.numbers_hash(self)


def _cross(cfg: Config) -> None:
    """Rules between fields (FieldError)."""
    r = cfg.representation
    if r.weak_dim > cfg.data.m:  # h_w keeps weak_dim of the m coordinates of R h*
        raise FieldError("[representation].weak_dim", f"must be <= [data].m = {cfg.data.m}, got {r.weak_dim}")
    if r.kind == "pretrained" and not r.pretrain_tasks:
        raise FieldError("[representation].pretrain_tasks", "must not be empty when kind = \"pretrained\"")


SCHEMA = Schema(Config, renamed={"threads": "[runtime].threads"}, cross=_cross)


def config_from_dict(raw: dict[str, Any], source: str = "config") -> Config:
    """Build and validate a Config from a parsed TOML dict (UserError ``source: [section].field: ...``)."""
    return SCHEMA.from_dict(raw, source)


def load_config(path: str | Path) -> Config:
    """Read a TOML study config; raises UserError naming the file and the bad field."""
    return SCHEMA.load(path)


def validate(cfg: Config) -> None:
    """Check every field (type, range, known names, duplicates) and the rules between fields; UserError."""
    SCHEMA.validate(cfg)


def to_toml(cfg: Config) -> str:
    """The resolved config as TOML (:func:`revkl_core.config.to_toml`); :func:`load_config` reads it back equal."""
    return core.to_toml(cfg)


def loss_direction(loss: str) -> str:
    """The misfit direction a loss trains (``bounds.LOSS_DIRECTION``)."""
    from bounds import LOSS_DIRECTION

    return LOSS_DIRECTION[loss]
