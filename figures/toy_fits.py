r"""The two toy fits behind Figure 1: what forward and reverse KL keep of a weak teacher.

**Gaussian mixture.** The weak teacher is :math:`p = \sum_j w_j \mathcal N(\mu_j, \sigma_j^2)`;
the strong student is one Gaussian :math:`q = \mathcal N(m, s^2)`.

* Forward KL, :math:`\min_q \mathrm{KL}(p\,\|\,q)`, is moment matching (mass covering):
  :math:`m = \sum_j w_j \mu_j`, :math:`s^2 = \sum_j w_j(\sigma_j^2 + \mu_j^2) - m^2`.
* Reverse KL, :math:`\min_q \mathrm{KL}(q\,\|\,p)`, has no closed form; it is mode seeking. We
  minimise it numerically from several starts (one per component, plus the moment-matched fit)
  and keep every distinct local minimum.

Both divergences are evaluated with :func:`bounds.kl` on the densities discretised on a fine
uniform grid (built from log-densities through :meth:`bounds.Categorical.from_logits`, so tails
never underflow); for a grid step h the discretised KL differs from the integral by O(h^2) plus
the mass outside the grid, both far below the tolerances used here. The closed forms are also evaluated from the sympy
derivations in :mod:`bounds.derivations` (``gaussian_moment_match`` for two components,
``toy_argmins`` for the family (t/2, 1-t, t/2)), so the figure shows three agreeing answers.

**Categorical analogue.** A weak distribution :math:`q` on k classes is fitted within the family
that keeps class j with probability :math:`1-t` and spreads :math:`t` evenly over the others,
:math:`f_t = (t/(k-1), \dots, 1-t, \dots, t/(k-1))`. Setting the derivative in t to zero:

* forward KL, :math:`\mathrm{KL}(q\,\|\,f_t)`: :math:`t^* = 1 - q_j` (the arithmetic mass off class j);
* reverse KL, :math:`\mathrm{KL}(f_t\,\|\,q)`: :math:`t^* = (k-1)G / ((k-1)G + q_j)` with G the
  geometric mean of :math:`q_i, i \neq j` (so a near-empty class drags t down: zero forcing).

For q = (0.1, 0.7, 0.2), j = 1: forward t* = 0.3, reverse t* = 2 sqrt(0.02) / (2 sqrt(0.02) + 0.7) = 0.2878.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
from scipy import optimize
from scipy.special import logsumexp

from bounds import Categorical, forward_kl, kl, reverse_kl
from bounds.derivations import gaussian_moment_match, toy_argmins

#: The default weak teacher of Figure 1: two well-separated, unequal modes.
DEFAULT_MIXTURE = {"weights": (0.6, 0.4), "means": (-2.5, 2.5), "stds": (0.8, 1.0)}
#: The default categorical example (from the design notes).
DEFAULT_CATEGORICAL_Q: tuple[float, ...] = (0.1, 0.7, 0.2)


@dataclass(frozen=True)
class GaussianFit:
    """A single Gaussian N(mean, std^2) and the divergence it attains."""

    mean: float
    std: float
    objective: float


@dataclass
class MixtureFits:
    """Forward (closed form and numerical) and reverse (every local minimum found) fits of a mixture."""

    weights: list[float]
    means: list[float]
    stds: list[float]
    forward_closed_form: GaussianFit
    forward_numerical: GaussianFit
    forward_sympy: GaussianFit | None
    reverse_local_minima: list[GaussianFit]
    grid: dict[str, float] = field(default_factory=dict)

    @property
    def reverse_best(self) -> GaussianFit:
        """The global reverse-KL minimiser among the local minima found."""
        return min(self.reverse_local_minima, key=lambda f: f.objective)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["reverse_best"] = asdict(self.reverse_best)
        return d


@dataclass(frozen=True)
class CategoricalFits:
    """Forward and reverse fits of q in the family f_t keeping class ``kept``; numerical vs closed form."""

    q: list[float]
    kept: int
    forward_t: float
    forward_t_closed_form: float
    reverse_t: float
    reverse_t_closed_form: float
    forward_t_sympy: float | None
    reverse_t_sympy: float | None

    def family(self, t: float) -> np.ndarray:
        """The member f_t of the family."""
        return keep_one_family(t, len(self.q), self.kept)

    def to_dict(self) -> dict:
        return asdict(self)


def _check_mixture(weights: Sequence[float], means: Sequence[float], stds: Sequence[float]) -> tuple[np.ndarray, ...]:
    w, mu, sd = (np.asarray(v, dtype=float) for v in (weights, means, stds))
    if not (w.ndim == mu.ndim == sd.ndim == 1) or not (len(w) == len(mu) == len(sd)) or len(w) == 0:
        raise ValueError(f"weights, means, stds must be 1-D of one length, got lengths {len(w)}, {len(mu)}, {len(sd)}")
    if np.any(w < 0) or not np.isclose(w.sum(), 1.0):
        raise ValueError(f"weights must be non-negative and sum to 1, got {w.tolist()}")
    if np.any(sd <= 0):
        raise ValueError(f"stds must be positive, got {sd.tolist()}")
    return w, mu, sd


def moment_matching(weights: Sequence[float], means: Sequence[float], stds: Sequence[float]) -> tuple[float, float]:
    r"""Closed-form forward-KL fit of a Gaussian to a mixture: (m, s) with m = sum w mu, s^2 = sum w (sigma^2 + mu^2) - m^2."""
    w, mu, sd = _check_mixture(weights, means, stds)
    m = float(np.sum(w * mu))
    var = float(np.sum(w * (sd**2 + mu**2)) - m**2)
    return m, float(np.sqrt(var))


def _normal_logpdf(x: np.ndarray, mean: float, std: float) -> np.ndarray:
    return -0.5 * ((x - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)


def mixture_logpdf(x: np.ndarray, weights: Sequence[float], means: Sequence[float], stds: Sequence[float]) -> np.ndarray:
    """log of the mixture density at x, by log-sum-exp over components."""
    w, mu, sd = _check_mixture(weights, means, stds)
    comps = np.stack([np.log(wj) + _normal_logpdf(x, mj, sj) for wj, mj, sj in zip(w, mu, sd) if wj > 0])
    return logsumexp(comps, axis=0)


def gaussian_logpdf(x: np.ndarray, mean: float, std: float) -> np.ndarray:
    """log N(x; mean, std^2)."""
    return _normal_logpdf(x, mean, std)


def _grid_categorical(logpdf: np.ndarray, name: str) -> Categorical:
    # Uniform grid: the constant log h cancels in the normalisation.
    return Categorical.from_logits(logpdf, name=name)


def _hessian_2d(f, theta: np.ndarray, h: float = 1e-3) -> np.ndarray:
    """Central finite-difference Hessian of a function of two variables."""
    H = np.empty((2, 2))
    e = np.eye(2) * h
    for i in range(2):
        for j in range(2):
            H[i, j] = (f(theta + e[i] + e[j]) - f(theta + e[i] - e[j]) - f(theta - e[i] + e[j]) + f(theta - e[i] - e[j])) / (4 * h * h)
    return H


def fit_mixture(
    weights: Sequence[float] = DEFAULT_MIXTURE["weights"],
    means: Sequence[float] = DEFAULT_MIXTURE["means"],
    stds: Sequence[float] = DEFAULT_MIXTURE["stds"],
    grid_points: int = 8001,
    grid_sds: float = 8.0,
) -> MixtureFits:
    """Fit one Gaussian to the mixture under forward KL (closed form and numerically) and reverse KL (several starts).

    The grid spans every component's and the moment-matched Gaussian's mean +- ``grid_sds``
    standard deviations, so no candidate loses mass off the grid. Parameters are (mean, log std),
    minimised by BFGS. Reverse KL starts from each component, the moment-matched fit and the
    midpoints between neighbouring components; a stationary point is kept as a local minimum
    only if its finite-difference Hessian is positive definite, and minima closer than 1e-3 in
    (mean, log std) are merged.
    """
    w, mu, sd = _check_mixture(weights, means, stds)
    if grid_points < 101:
        raise ValueError(f"grid_points must be >= 101, got {grid_points}")
    m_cf, s_cf = moment_matching(w, mu, sd)
    lo = float(min(np.min(mu - grid_sds * sd), m_cf - grid_sds * s_cf))
    hi = float(max(np.max(mu + grid_sds * sd), m_cf + grid_sds * s_cf))
    x = np.linspace(lo, hi, grid_points)
    P = _grid_categorical(mixture_logpdf(x, w, mu, sd), "mixture")

    def student(theta: np.ndarray) -> Categorical:
        return _grid_categorical(gaussian_logpdf(x, float(theta[0]), float(np.exp(theta[1]))), "gaussian")

    def fwd(theta: np.ndarray) -> float:
        return float(kl(P, student(theta)))

    def rev(theta: np.ndarray) -> float:
        return float(kl(student(theta), P))

    opts = {"gtol": 1e-9}
    res_f = optimize.minimize(fwd, x0=np.array([0.5 * (lo + hi), np.log(np.max(sd))]), method="BFGS", options=opts)
    order = np.argsort(mu)
    starts = [(mj, np.log(sj)) for mj, sj in zip(mu, sd)] + [(m_cf, np.log(s_cf))]
    starts += [(0.5 * (mu[a] + mu[b]), np.log(max(sd[a], sd[b]))) for a, b in zip(order[:-1], order[1:])]
    minima: list[GaussianFit] = []
    for start in starts:
        r = optimize.minimize(rev, x0=np.array(start, dtype=float), method="BFGS", options=opts)
        if np.any(np.linalg.eigvalsh(_hessian_2d(rev, r.x)) <= 0):
            continue  # a saddle point, not a minimum
        cand = GaussianFit(float(r.x[0]), float(np.exp(r.x[1])), float(r.fun))
        if all(abs(cand.mean - f.mean) > 1e-3 or abs(np.log(cand.std / f.std)) > 1e-3 for f in minima):
            minima.append(cand)
    if not minima:
        raise RuntimeError("reverse-KL minimisation found no local minimum; widen the grid or change the mixture")
    minima.sort(key=lambda f: f.objective)
    sym = None
    if len(w) == 2:
        m_sym, s_sym = gaussian_moment_match(w[0], mu[0], sd[0], mu[1], sd[1])
        sym = GaussianFit(float(m_sym), float(s_sym), fwd(np.array([m_sym, np.log(s_sym)])))
    return MixtureFits(
        weights=w.tolist(),
        means=mu.tolist(),
        stds=sd.tolist(),
        forward_closed_form=GaussianFit(m_cf, s_cf, fwd(np.array([m_cf, np.log(s_cf)]))),
        forward_numerical=GaussianFit(float(res_f.x[0]), float(np.exp(res_f.x[1])), float(res_f.fun)),
        forward_sympy=sym,
        reverse_local_minima=minima,
        grid={"low": lo, "high": hi, "points": float(grid_points)},
    )


def keep_one_family(t: float | np.ndarray, k: int, kept: int) -> np.ndarray:
    """f_t: probability 1 - t on class ``kept`` and t/(k-1) on each other class (t in [0, 1]); t may be an array."""
    if k < 2:
        raise ValueError(f"k must be >= 2, got {k}")
    if not 0 <= kept < k:
        raise ValueError(f"kept must index one of the {k} classes, got {kept}")
    t = np.asarray(t, dtype=float)
    f = np.repeat((t / (k - 1))[..., None], k, axis=-1)
    f[..., kept] = 1.0 - t
    return f


def categorical_closed_forms(q: Sequence[float], kept: int) -> tuple[float, float]:
    """(forward t*, reverse t*) = (1 - q_j, (k-1)G / ((k-1)G + q_j)) with G the geometric mean of the other q_i."""
    qa = Categorical.from_probs(np.asarray(q, dtype=float), name="q").probs
    k = len(qa)
    if not 0 <= kept < k:
        raise ValueError(f"kept must index one of the {k} classes, got {kept}")
    others = np.delete(qa, kept)
    with np.errstate(divide="ignore"):
        g = float(np.exp(np.mean(np.log(others))))
    return float(1.0 - qa[kept]), float((k - 1) * g / ((k - 1) * g + qa[kept]))


def fit_categorical(q: Sequence[float] = DEFAULT_CATEGORICAL_Q, kept: int | None = None) -> CategoricalFits:
    """Minimise forward and reverse KL over the family f_t numerically; report them with the closed forms.

    ``kept`` defaults to the mode of q. The minimisation is a bounded scalar search on t in [0, 1]
    with tolerance 1e-10.
    """
    qa = Categorical.from_probs(np.asarray(q, dtype=float), name="q").probs
    k = len(qa)
    j = int(np.argmax(qa)) if kept is None else kept
    t_fwd_cf, t_rev_cf = categorical_closed_forms(qa, j)
    opts = {"xatol": 1e-10}

    def fwd(t: float) -> float:
        return float(forward_kl(keep_one_family(t, k, j), qa))

    def rev(t: float) -> float:
        return float(reverse_kl(keep_one_family(t, k, j), qa))

    rf = optimize.minimize_scalar(fwd, bounds=(1e-12, 1 - 1e-12), method="bounded", options=opts)
    rr = optimize.minimize_scalar(rev, bounds=(1e-12, 1 - 1e-12), method="bounded", options=opts)
    t_fwd_sym = t_rev_sym = None
    if k == 3 and j == 1:  # the family (t/2, 1-t, t/2) that bounds.derivations.toy_argmins solves
        d = toy_argmins()
        args = ["q_0", "q_1", "q_2"]
        t_fwd_sym = float(d.lambdify("argmin_forward", args)(*qa))
        t_rev_sym = float(d.lambdify("argmin_reverse", args)(*qa))
    return CategoricalFits(
        q=qa.tolist(),
        kept=j,
        forward_t=float(rf.x),
        forward_t_closed_form=t_fwd_cf,
        reverse_t=float(rr.x),
        reverse_t_closed_form=t_rev_cf,
        forward_t_sympy=t_fwd_sym,
        reverse_t_sympy=t_rev_sym,
    )
