r"""Batches of (F*, F_w, F_sw) and the quantities the theorems are stated in, each with a rounding-error estimate.

Instances are batched: ``F*, F_w, F_sw`` have shape (B, n, k); expectations are weighted means
over the n samples. Rows are renormalised on construction, so the instance a check speaks about
is the given arrays with every row scaled to sum to 1.

* :math:`\mathrm{Err}(F) = \mathbb{E}\,\mathrm{KL}(F^\star \| F)`, gap :math:`\Delta = \mathrm{Err}(F_{sw}) - \mathrm{Err}(F_w)`,
* forward misfit :math:`M_f = \mathbb{E}\,\mathrm{KL}(F_w \| F_{sw})`, reverse misfit :math:`M_r = \mathbb{E}\,\mathrm{KL}(F_{sw} \| F_w)`.

Every quantity is returned as ``(value, error)`` where ``error`` estimates the floating-point error
of ``value`` (a first-order forward error analysis with generous constants, below: a model, not a
proven bound, since second-order terms are dropped). Theorems push these errors through their nonlinear
steps (a square root turns an error of 1e-16 in M into 1e-8 in :math:`\sqrt M`). A check that fails
by less than this estimate is not trusted either way: the checks the floats flag are decided again in
interval arithmetic (:mod:`bounds.rigorous`).

Error model for one row of KL, computed by :func:`bounds.divergences.kl` as
:math:`\sum_i p_i(e^{d_i} - 1 - d_i)` with :math:`d_i = \log q_i - \log p_i`: each log carries an
absolute error :math:`\le \epsilon(1 + |\log p_i|)`, renormalising a row perturbs it by
:math:`\le (k+2)\epsilon` relatively, and a change :math:`\delta` in :math:`d_i` moves the term by
:math:`|q_i - p_i|\,\delta`. Hence
:math:`e_{KL} = 4\epsilon\,[\sum_i |q_i - p_i|\,(k + 3 + |\log p_i| + |\log q_i|) + (k + 1)\,\mathrm{KL}]`;
a weighted mean of n such non-negative rows adds :math:`(n + 1)\epsilon` relative error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bounds.divergences import check_probs, kl

EPS = float(np.finfo(np.float64).eps)

Estimate = tuple[np.ndarray, np.ndarray]  # (value, rounding-error estimate), both (B,)


@dataclass
class Instances:
    """B instances of one shape, with the provenance that theorem hypotheses refer to.

    Only ``fstar``, ``fw`` and ``fsw`` are required; the rest says how ``fsw`` was obtained.
    """

    fstar: np.ndarray  # (B, n, k)
    fw: np.ndarray
    fsw: np.ndarray
    weights: np.ndarray | None = None  # (B, n), normalised on construction
    gamma: np.ndarray | None = None  # (B,) claimed floor on F_w, F_sw; default: their smallest entry
    model_kind: str | None = None  # "probability-convex" | "softmax-linear"
    trained_with: str | None = None  # loss that produced fsw: "reverse_kl", "forward_kl", "squared", ...
    certificate: np.ndarray | None = None  # (B,) Frank-Wolfe gap or gradient norm of that fit
    fstar_class_residual: np.ndarray | None = None  # (B,) max |F* - F_theta*| for a member theta* of the class
    fref: np.ndarray | None = None  # (B, n, k) a member F° of the class (T6 non-realizable case)
    features: np.ndarray | None = None  # (B, n, d) softmax-linear features
    w_sw: np.ndarray | None = None  # (B, k, d) softmax-linear parameters of F_sw
    w_star: np.ndarray | None = None  # (B, k, d) softmax-linear parameters of F*
    min_hessian_eig: np.ndarray | None = None  # (B,) softmax-linear: smallest Hessian eigenvalue at W_sw
    global_search: np.ndarray | None = None  # (B,) softmax-linear k = 2: no grid point beats F_sw (None: not run)
    fit_starts: np.ndarray | None = None  # (B,) softmax-linear k > 2: random starts of the search behind F_sw (0: none)
    family: str = "custom"

    def __post_init__(self) -> None:
        for name in ("fstar", "fw", "fsw"):
            a = np.asarray(getattr(self, name), dtype=np.float64)
            if a.ndim == 2:
                a = a[None]
            if a.ndim != 3:
                raise ValueError(f"{name}: expected shape (n, k) or (B, n, k), got {a.shape}")
            setattr(self, name, check_probs(a, name=name))
        if not (self.fstar.shape == self.fw.shape == self.fsw.shape):
            raise ValueError(f"shape mismatch: fstar {self.fstar.shape}, fw {self.fw.shape}, fsw {self.fsw.shape}")
        B, n, _ = self.fstar.shape
        if n < 1:
            raise ValueError("fstar: needs at least one sample")
        w = np.full((B, n), 1.0) if self.weights is None else np.asarray(self.weights, dtype=np.float64).reshape(B, n)
        if np.any(w < 0) or np.any(~np.isfinite(w)) or np.any(w.sum(1) <= 0):
            raise ValueError("weights: must be finite, non-negative, with a positive sum")
        self.weights = w / w.sum(1, keepdims=True)
        if self.fref is not None:
            self.fref = check_probs(np.asarray(self.fref, dtype=np.float64).reshape(self.fstar.shape), name="fref")
        if self.gamma is not None:
            g = np.broadcast_to(np.asarray(self.gamma, dtype=np.float64), (B,))
            actual = self.actual_floor()
            bad = ~((g > 0) & (g <= actual))  # NaN fails both comparisons
            if bad.any():
                i = int(np.argmax(bad))
                raise ValueError(f"gamma: must lie in (0, min probability of F_w and F_sw] = (0, {actual[i]:.6g}], got {g[i]:.6g}")
            self.gamma = g

    @property
    def batch(self) -> int:
        return self.fstar.shape[0]

    @property
    def num_classes(self) -> int:
        return self.fstar.shape[2]

    def mean(self, per_sample: np.ndarray) -> np.ndarray:
        """Weighted mean over samples: (B, n) -> (B,). Zero-weight samples contribute 0 even if infinite."""
        return np.where(self.weights > 0, per_sample * self.weights, 0.0).sum(axis=1)

    def kl_mean(self, p: np.ndarray, q: np.ndarray) -> np.ndarray:
        """E KL(p || q) (non-negative term by term, so never below 0)."""
        return self.mean(kl(p, q))

    def kl_estimate(self, p: np.ndarray, q: np.ndarray) -> Estimate:
        """E KL(p || q) and its rounding-error estimate (module docstring)."""
        k, n = p.shape[-1], p.shape[-2]
        row = kl(p, q)
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.where(p > 0, np.abs(np.log(p)), 0.0) + np.where(q > 0, np.abs(np.log(q)), 0.0)
            spread = (np.abs(q - p) * (k + 3 + logs)).sum(-1)
        row_err = 4 * EPS * (spread + (k + 1) * row)
        value = self.mean(row)
        err = self.mean(np.where(np.isfinite(row_err), row_err, 0.0)) + (n + 1) * EPS * np.where(np.isfinite(value), value, 0.0)
        return value, err

    def err(self, F: np.ndarray) -> np.ndarray:
        """Err(F) = E KL(F* || F)."""
        return self.kl_mean(self.fstar, F)

    def actual_floor(self) -> np.ndarray:
        """Smallest entry of F_w and F_sw over positive-weight samples."""
        m = np.minimum(self.fw, self.fsw).min(-1)
        return np.where(self.weights > 0, m, np.inf).min(1)

    def floor(self) -> np.ndarray:
        """gamma: the claimed floor (validated on construction), or the smallest entry of F_w and F_sw."""
        return self.actual_floor() if self.gamma is None else self.gamma

    def weak_floor(self) -> np.ndarray:
        """gamma_w: the smallest entry of F_w over positive-weight samples."""
        return np.where(self.weights > 0, self.fw.min(-1), np.inf).min(1)


def gap_estimate(inst: Instances) -> Estimate:
    """Err(F_sw) - Err(F_w) with its rounding-error estimate."""
    (a, ea), (b, eb) = inst.kl_estimate(inst.fstar, inst.fsw), inst.kl_estimate(inst.fstar, inst.fw)
    with np.errstate(invalid="ignore"):
        return a - b, ea + eb


def gap(inst: Instances) -> np.ndarray:
    """Err(F_sw) - Err(F_w)."""
    return gap_estimate(inst)[0]


def forward_misfit(inst: Instances) -> np.ndarray:
    """M_f = E KL(F_w || F_sw)."""
    return inst.kl_mean(inst.fw, inst.fsw)


def reverse_misfit(inst: Instances) -> np.ndarray:
    """M_r = E KL(F_sw || F_w)."""
    return inst.kl_mean(inst.fsw, inst.fw)


def monotone_error(f, x: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Error of f(x) for f monotone on [0, inf) when x >= 0 is known to within e: the spread of f over the interval."""
    with np.errstate(invalid="ignore", over="ignore"):
        spread = np.abs(f(x + e) - f(np.maximum(x - e, 0.0)))
    return np.where(np.isfinite(spread), spread, 0.0)
