r"""Certified solvers for the strong model's fit to weak labels, batched across instances.

``fit(model_class, target, loss)`` minimises :math:`f(\theta) = \sum_j w_j\,\ell(F_\theta(x_j), T_j)`
(weights normalised to sum to 1) and returns the minimiser with an optimality certificate:

* Probability-convex classes (:class:`~bounds.classes.StochasticMatrixClass`,
  :class:`~bounds.classes.MixtureClass`): f is convex in :math:`\theta \in` a product of simplices.
  Solved by a primal-dual interior-point method (Newton steps on the perturbed KKT system, the
  class's block structure used to solve it). The certificate is the Frank-Wolfe gap

  .. math:: g(\theta) = \langle \nabla f(\theta), \theta\rangle - \sum_{\text{blocks } b} \min_{p\in b} \partial_p f(\theta)
            = \max_{\theta' \text{ feasible}} \langle \nabla f(\theta), \theta - \theta'\rangle \;\ge\; f(\theta) - f^\star,

  computed from the returned (exactly feasible) point. It is also exactly the slack that
  theorem T6 needs: :math:`\langle\nabla f(\theta), \theta^\star - \theta\rangle \ge -g`.
* :class:`~bounds.classes.SoftmaxLinearClass`: forward KL / CE are convex in W (soft-label
  multinomial logistic regression) and solved by Newton's method; reverse KL and reverse CE are
  not convex in W, so they are solved from several starts by regularised Newton and the
  certificate is the gradient norm (a local, first-order certificate), with the smallest
  Hessian eigenvalue reported as evidence of a local minimum.

Losses: ``reverse_kl`` KL(F||T), ``forward_kl`` KL(T||F), ``ce`` (same minimiser as forward_kl),
``rce`` -sum F log T (linear in F, so on probability-convex classes the minimiser is a vertex,
found exactly), ``squared`` ||F - T||^2 (the squared-loss baseline of Charikar et al.).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from scipy.special import logsumexp, softmax

from bounds.classes import MixtureClass, ModelClass, SoftmaxLinearClass, StochasticMatrixClass
from bounds.divergences import check_probs
from bounds.quantities import EPS

FIT_LOSSES = ("reverse_kl", "forward_kl", "ce", "rce", "squared")


@dataclass(frozen=True)
class Fit:
    """A solver result for B instances."""

    params: np.ndarray  # natural parameters (A, alpha or W), batched
    pred: np.ndarray  # (B, n, k) fitted distributions
    objective: np.ndarray  # (B,) weighted mean loss at params
    certificate: np.ndarray  # (B,) Frank-Wolfe gap (convex classes) or gradient norm (softmax-linear)
    certificate_kind: str  # "frank-wolfe-gap" (global) or "gradient-norm" (local)
    converged: np.ndarray  # (B,) bool: certificate <= tol
    iterations: int
    theta: np.ndarray | None = None  # simplex-block parameters for probability-convex classes
    min_hessian_eig: np.ndarray | None = None  # softmax-linear only


def fit(
    model: ModelClass,
    target: Any,
    loss: str,
    weights: Any = None,
    *,
    tol: float = 1e-10,
    max_iter: int = 200,
    starts: int = 4,
    seed: int = 0,
) -> Fit:
    """Minimise the weighted mean of ``loss(F_theta(x_j), target_j)`` over ``model``; see the module docstring."""
    if loss not in FIT_LOSSES:
        raise ValueError(f"unknown loss {loss!r} for fit; known: {', '.join(FIT_LOSSES)}")
    T = np.asarray(target, dtype=np.float64)
    if T.ndim == 2:
        T = T[None]
    if T.shape != (model.batch, model.n, model.num_classes):
        raise ValueError(
            f"target: shape {T.shape} does not match the model class (B={model.batch}, n={model.n}, k={model.num_classes})"
        )
    T = check_probs(T, name="target")
    w = _normalised_weights(weights, model.batch, model.n)
    if isinstance(model, SoftmaxLinearClass):
        return _fit_softmax(model, T, loss, w, tol=tol, max_iter=max_iter, starts=starts, seed=seed)
    if isinstance(model, (StochasticMatrixClass, MixtureClass)):
        if loss in ("forward_kl", "ce"):
            _require_support(model, T)
        if loss in ("reverse_kl", "rce") and np.any(T <= 0):
            raise ValueError(
                f"target: has zero probabilities, so {loss} is +inf at every interior member of the class; "
                "smooth the target explicitly (bounds.Categorical.smoothed) first"
            )
        if loss == "rce":
            return _fit_linear(model, T, w)
        return _fit_ipm(model, T, "forward_kl" if loss == "ce" else loss, w, tol=tol, max_iter=max_iter)
    raise TypeError(f"model: unsupported class {type(model).__name__}")


# -- pointwise loss derivatives in the prediction F ------------------------------------------


def pointwise(loss: str, F: np.ndarray, T: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(value per (j, i), first derivative, second derivative) of the separable loss in F.

    Own closed forms because the solvers need each loss's first and second derivatives per entry of F,
    which bounds.divergences (values only) does not give; tests check the values agree with bounds.LOSSES.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if loss == "reverse_kl":
            logr = np.log(F) - np.log(T)
            val = np.where(F > 0, F * logr, 0.0)
            return val, logr + 1.0, 1.0 / F
        if loss == "forward_kl":
            val = np.where(T > 0, T * (np.log(T) - np.log(F)), 0.0)
            return val, np.where(T > 0, -T / F, 0.0), np.where(T > 0, T / F**2, 0.0)
        if loss == "ce":
            return np.where(T > 0, -T * np.log(F), 0.0), np.where(T > 0, -T / F, 0.0), np.where(T > 0, T / F**2, 0.0)
        if loss == "rce":
            logT = np.log(T)
            return np.where(F > 0, -F * logT, 0.0), -logT, np.zeros_like(F)
        if loss == "squared":
            d = F - T
            return d * d, 2.0 * d, np.full_like(F, 2.0)
    raise ValueError(f"unknown loss {loss!r}")


def objective(loss: str, F: np.ndarray, T: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.einsum("bn,bn->b", w, pointwise(loss, F, T)[0].sum(axis=-1))


def frank_wolfe_gap(model: StochasticMatrixClass | MixtureClass, theta: np.ndarray, T: np.ndarray, loss: str, w: np.ndarray) -> np.ndarray:
    r"""An upper bound on the Frank-Wolfe gap :math:`g(\theta) = \max_{\theta'} \langle G, \theta - \theta' \rangle
    = \sum_{c,p} G_{cp}\theta_{cp} - \sum_c \min_p G_{cp}`, :math:`G = \nabla f(\theta)`, over the product of simplices.

    The computed value plus the bound :func:`gap_rounding` on its rounding error, so the certificate is never
    below the gap of the exact inputs: T6 adds g to its bound and T4 allows it, and in their equality cases
    (the Frank-Wolfe vertex is F* itself) a float gap rounded down would fail the check by its own rounding.
    """
    F = model.predict(theta)
    d = pointwise(loss, F, T)[1]
    G = model.adjoint(w[..., None] * d)
    value = np.einsum("bcp,bcp->b", G, theta) - G.min(axis=2).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(F > 0, np.abs(np.log(F)), 0.0) + np.where(T > 0, np.abs(np.log(T)), 0.0)
    size = np.where(np.isfinite(d), np.abs(d), 0.0) + logs + 1.0
    return value + gap_rounding(model.adjoint(w[..., None] * size), G, theta, F.shape[1] * F.shape[2])


def gap_rounding(E: np.ndarray, G: np.ndarray, theta: np.ndarray, terms: int) -> np.ndarray:
    r"""A bound on the rounding error of the computed gap, (B,), from the standard error analysis of sums
    (Higham, *Accuracy and Stability of Numerical Algorithms*, 2002, ch. 3: :math:`|\mathrm{fl}(\sum x) - \sum x|
    \le \gamma_m \sum |x|`, :math:`\gamma_m = m u / (1 - m u)`, u the unit roundoff).

    ``E = adjoint(w * S)`` with S bounding each gradient entry's size (:math:`|d| + |\log F| + |\log T| + 1`):
    each entry of G is a sum of at most ``terms`` products with non-negative coefficients (the class's features
    or heads), computed from gradient entries whose own error is at most 16 u S (two logs, each within 4 ulp,
    and two additions). Hence :math:`|\Delta G| \le (16 + \gamma\text{-terms}) u E` entrywise, and the gap, a sum
    of the P products :math:`G\theta` less the k block minima, is off by at most
    :math:`\sum \theta |\Delta G| + \sum_c \max_p |\Delta G| + \gamma_{P+k} (\sum \theta |G| + \sum_c |\min_p G|)`.
    The result is doubled, which also covers the rounding of theta's normalisation and of F = predict(theta).
    """
    u = EPS / 2
    B, blocks, P = theta.shape
    dG = (16 + 1.01 * (terms + 2)) * u * E
    spread = np.einsum("bcp,bcp->b", np.abs(G), theta) + np.abs(G.min(axis=2)).sum(axis=1)
    err = np.einsum("bcp,bcp->b", dG, theta) + dG.max(axis=2).sum(axis=1) + 1.01 * (blocks * P + blocks) * u * spread
    return 2.0 * np.where(np.isfinite(err), err, 0.0)


# -- probability-convex classes ---------------------------------------------------------------


def _fit_linear(model: StochasticMatrixClass | MixtureClass, T: np.ndarray, w: np.ndarray) -> Fit:
    """Reverse CE is linear in theta: each block puts all its mass on its smallest gradient entry."""
    nb, bs = model.blocks
    theta0 = np.full((model.batch, nb, bs), 1.0 / bs)
    with np.errstate(divide="ignore"):
        g = model.adjoint(w[..., None] * -np.log(T))
    theta = np.zeros_like(theta0)
    np.put_along_axis(theta, g.argmin(axis=2)[..., None], 1.0, axis=2)
    return _finish_convex(model, theta, T, "rce", w, iterations=1, tol=0.0)


def _fit_ipm(model: StochasticMatrixClass | MixtureClass, T: np.ndarray, loss: str, w: np.ndarray, *, tol: float, max_iter: int) -> Fit:
    """Primal-dual interior point for min f(theta), theta >= 0, every block summing to 1.

    Perturbed KKT: grad f - lam + E^T nu = 0, lam * theta = 1/t, E theta = 1. Each Newton step
    eliminates d_lam and solves (H + lam/theta) d_theta + E^T d_nu = -grad f - E^T nu + 1/(t theta),
    E d_theta = 1 - E theta through the class's structured solver; step lengths keep theta, lam > 0
    and reduce the residual (backtracking); t grows with the surrogate gap theta . lam.
    """
    B = model.batch
    nb, bs = model.blocks
    P = nb * bs
    theta = np.full((B, nb, bs), 1.0 / bs)
    lam = np.ones((B, nb, bs))
    nu = np.zeros((B, nb))
    mu, alpha, beta = 10.0, 0.01, 0.5
    active = np.ones(B, dtype=bool)

    def residuals(th: np.ndarray, la: np.ndarray, n_: np.ndarray, t: np.ndarray, idx: np.ndarray):
        F = model_predict(th, idx)
        _, d1, _ = pointwise(loss, F, T[idx])
        grad = model_adjoint(w[idx][..., None] * d1, idx)
        r_dual = grad - la + n_[..., None]
        r_cent = la * th - 1.0 / t[:, None, None]
        r_pri = th.sum(axis=2) - 1.0
        norm = np.sqrt((r_dual**2).sum((1, 2)) + (r_cent**2).sum((1, 2)) + (r_pri**2).sum(1))
        return grad, r_dual, r_cent, r_pri, norm

    sub_cache: dict[bytes, Any] = {}

    def submodel(idx: np.ndarray):
        key = idx.tobytes()
        if key not in sub_cache:
            sub_cache.clear()
            sub_cache[key] = _subset(model, idx)
        return sub_cache[key]

    def model_predict(th: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return submodel(idx).predict(th)

    def model_adjoint(g: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return submodel(idx).adjoint(g)

    it = 0
    for it in range(1, max_iter + 1):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        th, la, n_ = theta[idx], lam[idx], nu[idx]
        gap = (th * la).sum((1, 2))
        t = mu * P / gap
        grad, r_dual, r_cent, r_pri, norm0 = residuals(th, la, n_, t, idx)
        F = model_predict(th, idx)
        curv = w[idx][..., None] * pointwise(loss, F, T[idx])[2]
        rhs = -r_dual - r_cent / th
        d_th, d_nu = submodel(idx).newton_system(curv, la / th, rhs, -r_pri)
        d_la = -(r_cent + la * d_th) / th
        s = _ipm_step(lambda a, b, c: residuals(a, b, c, t, idx)[4], (th, la, n_), (d_th, d_la, d_nu), norm0, alpha, beta)
        theta[idx] = th + s[:, None, None] * d_th
        lam[idx] = la + s[:, None, None] * d_la
        nu[idx] = n_ + s[:, None] * d_nu
        gap_new = (theta[idx] * lam[idx]).sum((1, 2))
        _, r_dual, _, r_pri, _ = residuals(theta[idx], lam[idx], nu[idx], t, idx)
        feas = np.sqrt((r_dual**2).sum((1, 2)) + (r_pri**2).sum(1))
        done = (gap_new <= 0.05 * tol) & (feas <= 0.05 * tol)
        active[idx[done]] = False
    theta = np.clip(theta, 0.0, None)
    theta /= theta.sum(axis=2, keepdims=True)
    # Degenerate problems (a single sample, targets with ~1e-8 entries) can stall the interior
    # point method near 1e-9; pairwise Frank-Wolfe steps finish them off.
    slow = np.flatnonzero(frank_wolfe_gap(model, theta, T, loss, w) > tol)
    if slow.size:
        theta[slow] = _polish_pairwise(_subset(model, slow), T[slow], loss, w[slow], theta[slow])
    return _finish_convex(model, theta, T, loss, w, iterations=it, tol=tol)


def _ipm_step(norm: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
              point: tuple[np.ndarray, np.ndarray, np.ndarray], step: tuple[np.ndarray, np.ndarray, np.ndarray],
              norm0: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """Step lengths (B,) for the interior point's Newton direction ``step`` at ``point`` = (theta, lam, nu): the largest
    step keeping lam and theta positive (times 0.99), then backtracking by ``beta`` until the KKT residual ``norm``
    falls by the factor 1 - alpha s (at most 60 halvings)."""
    th, la, n_ = point
    d_th, d_la, d_nu = step
    with np.errstate(divide="ignore", invalid="ignore"):
        s_lam = np.where(d_la < 0, -la / d_la, np.inf).min((1, 2))
        s_th = np.where(d_th < 0, -th / d_th, np.inf).min((1, 2))
    s = 0.99 * np.minimum(1.0, np.minimum(s_lam, s_th))
    pending = np.ones(th.shape[0], dtype=bool)
    for _ in range(60):
        cand_th = th + s[:, None, None] * d_th
        ok_pos = (cand_th > 0).all((1, 2))
        with np.errstate(invalid="ignore"):
            norm1 = norm(np.where(ok_pos[:, None, None], cand_th, th), la + s[:, None, None] * d_la, n_ + s[:, None] * d_nu)
        good = ok_pos & (norm1 <= (1 - alpha * s) * norm0)  # False where norm1 is NaN (left the domain)
        pending &= ~good
        if not pending.any():
            break
        s = np.where(pending, s * beta, s)
    return s


def _polish_pairwise(model: StochasticMatrixClass | MixtureClass, T: np.ndarray, loss: str, w: np.ndarray,
                     theta: np.ndarray, iters: int = 100) -> np.ndarray:
    """Pairwise Frank-Wolfe with exact line search: in every block, move mass from the used
    coordinate with the largest partial derivative to the one with the smallest. The objective never
    increases; the step length is found by bisection on the directional derivative."""
    theta = theta.copy()
    for _ in range(iters):
        F = model.predict(theta)
        g = model.adjoint(w[..., None] * pointwise(loss, F, T)[1])
        d = np.zeros_like(theta)
        np.put_along_axis(d, g.argmin(2)[..., None], 1.0, 2)
        worst = np.where(theta > 0, g, -np.inf).argmax(2)[..., None]
        np.put_along_axis(d, worst, np.take_along_axis(d, worst, 2) - 1.0, 2)
        d *= np.take_along_axis(theta, worst, 2)  # step 1 moves all the mass of the worst coordinate
        dF = model.predict(d)
        lo, hi = np.zeros(len(theta)), np.ones(len(theta))
        for _ in range(50):
            mid = (lo + hi) / 2
            with np.errstate(divide="ignore", invalid="ignore"):
                slope = (w[..., None] * pointwise(loss, F + mid[:, None, None] * dF, T)[1] * dF).sum((1, 2))
            lo, hi = np.where(slope < 0, mid, lo), np.where(slope < 0, hi, mid)
        theta = np.clip(theta + lo[:, None, None] * d, 0.0, None)
    return theta


def _finish_convex(model: StochasticMatrixClass | MixtureClass, theta: np.ndarray, T: np.ndarray, loss: str, w: np.ndarray, *, iterations: int, tol: float) -> Fit:
    theta = np.clip(theta, 0.0, None)
    theta /= theta.sum(axis=2, keepdims=True)  # exactly feasible point; the certificate is computed here
    F = model.predict(theta)
    cert = np.maximum(frank_wolfe_gap(model, theta, T, loss, w), 0.0)
    return Fit(
        params=model.params_view(theta),
        pred=F,
        objective=objective(loss, F, T, w),
        certificate=cert,
        certificate_kind="frank-wolfe-gap",
        converged=cert <= max(tol, 1e-9),
        iterations=iterations,
        theta=theta,
    )


def _subset(model: StochasticMatrixClass | MixtureClass, idx: np.ndarray) -> StochasticMatrixClass | MixtureClass:
    if idx.size == model.batch:
        return model
    # Bypass re-validation: rows were validated when the full model was built.
    sub = object.__new__(type(model))
    for field, value in model.__dict__.items():
        object.__setattr__(sub, field, value[idx] if isinstance(value, np.ndarray) else value)
    return sub


def _require_support(model: StochasticMatrixClass | MixtureClass, T: np.ndarray) -> None:
    """Forward KL is finite only if the class can put mass wherever the target has mass."""
    nb, bs = model.blocks
    F = model.predict(np.full((model.batch, nb, bs), 1.0 / bs))
    if np.any((F <= 0) & (T > 0)):
        raise ValueError("target: puts mass on a class that every member of the model class gives probability 0 (forward KL is infinite)")


def _normalised_weights(weights: Any, B: int, n: int) -> np.ndarray:
    if weights is None:
        return np.full((B, n), 1.0 / n)
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim == 1 and w.shape[0] == n:
        w = np.broadcast_to(w, (B, n))
    if w.shape != (B, n):
        raise ValueError(f"weights: shape {w.shape} does not match (B={B}, n={n})")
    if np.any(~np.isfinite(w)) or np.any(w < 0) or np.any(w.sum(1) <= 0):
        raise ValueError("weights: must be finite, non-negative, with a positive sum per instance")
    return w / w.sum(axis=1, keepdims=True)


def member(model: ModelClass, target: Any, weights: Any = None) -> tuple[Fit, np.ndarray]:
    r"""Whether ``target`` lies in the class: the member closest to it in forward KL, and max |target - F| (B,).

    The forward-KL fit :math:`\min_F \mathbb{E}\,\mathrm{KL}(T\|F)` is 0 exactly at a member equal to T. On a
    probability-convex class the interior-point fit stops short of the boundary (a vertex T, or T equal to one head
    of a mixture, is approached to ~1e-8 only), so it is polished by an active set (:func:`_active_set_polish`); the
    softmax-linear fit is unconstrained and converges to a member in the interior by itself.
    """
    res = fit(model, target, "forward_kl", weights)
    T = np.asarray(target, dtype=np.float64).reshape(res.pred.shape)
    if isinstance(model, (StochasticMatrixClass, MixtureClass)):
        theta = _active_set_polish(model, res.theta, T)
        polished = _finish_convex(model, theta, T, "forward_kl", _normalised_weights(weights, model.batch, model.n),
                                  iterations=res.iterations, tol=1e-10)
        better = np.abs(T - polished.pred).max((1, 2)) < np.abs(T - res.pred).max((1, 2))
        res = Fit(*(np.where(better.reshape((-1,) + (1,) * (np.ndim(a) - 1)), b, a) if isinstance(a, np.ndarray) else a
                    for a, b in zip(_fields(res), _fields(polished))))
    return res, np.abs(T - res.pred).max((1, 2))


def _fields(f: Fit) -> tuple[Any, ...]:
    return tuple(getattr(f, name) for name in Fit.__dataclass_fields__)


#: Coordinates of theta below these are tried as inactive (set to 0) by the active-set polish.
ACTIVE_THRESHOLDS = (1e-12, 1e-10, 1e-8, 1e-6, 1e-4)


def _active_set_polish(model: StochasticMatrixClass | MixtureClass, theta: np.ndarray, T: np.ndarray) -> np.ndarray:
    r"""Per instance: fix the coordinates of theta below a threshold at 0 and solve the reduced problem
    :math:`\Phi_S x = T`, :math:`E_S x = 1` (the class's linear map and block sums on the kept coordinates S) for the
    smallest correction :math:`x - \theta_S` (least squares); keep x if it is feasible (entries below 0 only at rounding
    level, clipped) and lies closer to T than theta, trying every threshold in ``ACTIVE_THRESHOLDS``."""
    out = theta.copy()
    B, nb, bs = theta.shape
    P = nb * bs
    E = np.kron(np.eye(nb), np.ones((1, bs)))  # block sums, (nb, P)
    for b in range(B):
        Phi = _subset(model, np.full(P, b)).predict(np.eye(P).reshape(P, nb, bs)).reshape(P, -1).T  # (n k, P)
        t = T[b].reshape(-1)
        th = theta[b].reshape(-1)
        best, best_r = th, np.abs(Phi @ th - t).max()
        for tau in ACTIVE_THRESHOLDS:
            S = (th > tau) | (th == th.reshape(nb, bs).max(1).repeat(bs))
            A = np.vstack([Phi[:, S], E[:, S]])
            rhs = np.concatenate([t - Phi[:, S] @ th[S], 1.0 - E[:, S] @ th[S]])
            x = np.zeros(P)
            x[S] = th[S] + np.linalg.lstsq(A, rhs, rcond=None)[0]
            if x.min() < -1e-12:
                continue
            x = np.clip(x, 0.0, None).reshape(nb, bs)
            x = (x / x.sum(1, keepdims=True)).reshape(-1)
            r = np.abs(Phi @ x - t).max()
            if r < best_r:
                best, best_r = x, r
        out[b] = best.reshape(nb, bs)
    return out


# -- softmax-linear class ---------------------------------------------------------------------


def _fit_softmax(model: SoftmaxLinearClass, T: np.ndarray, loss: str, w: np.ndarray, *, tol: float, max_iter: int, starts: int, seed: int) -> Fit:
    """Newton on W (last row fixed at 0, which loses nothing: softmax ignores a shared shift).

    forward_kl / ce / squared... : convex cases start at W = 0; reverse_kl and rce are non-convex:
    start at 0, at the forward-KL solution and at random points, keep the lowest objective.
    """
    if loss == "squared":
        raise ValueError("loss 'squared' is only supported on the probability-convex classes")
    if loss in ("reverse_kl", "rce") and np.any(T <= 0):
        raise ValueError(f"target: has zero probabilities, so {loss} is +inf for every softmax prediction; smooth it first")
    B, k, d = model.batch, model.num_classes, model.features.shape[2]
    base = "forward_kl" if loss == "ce" else loss
    W0 = np.zeros((B, k, d))
    W, iters = _newton_softmax(model, T, base, w, W0, tol, max_iter)
    if base in ("reverse_kl", "rce"):
        rng = np.random.default_rng(seed)
        Wf, _ = _newton_softmax(model, T, "forward_kl", w, W0, tol, max_iter)
        inits = [Wf] + [rng.normal(scale=1.0, size=(B, k, d)) for _ in range(max(starts - 2, 0))]
        best = _softmax_objective(model, W, T, base, w)
        for init in inits:
            Wc, it_c = _newton_softmax(model, T, base, w, init, tol, max_iter)
            iters += it_c
            obj = _softmax_objective(model, Wc, T, base, w)
            better = obj < best - 1e-13
            W = np.where(better[:, None, None], Wc, W)
            best = np.where(better, obj, best)
    return _softmax_fit(model, W, T, loss, base, w, iters, tol)


def softmax_gradient_norm(model: SoftmaxLinearClass, W: np.ndarray, target: Any, loss: str, weights: Any = None) -> np.ndarray:
    """(B,) the gradient norm of the weighted mean ``loss`` over the free rows of W: the certificate of a softmax fit."""
    T = check_probs(np.asarray(target, dtype=np.float64).reshape(model.batch, model.n, model.num_classes), name="target")
    W = np.asarray(W, dtype=np.float64)
    grad, _ = _softmax_derivatives(model, W - W[:, -1:, :], T, "forward_kl" if loss == "ce" else loss,
                                   _normalised_weights(weights, model.batch, model.n))
    return np.sqrt((grad**2).sum((1, 2)))


def _softmax_fit(model: SoftmaxLinearClass, W: np.ndarray, T: np.ndarray, loss: str, base: str, w: np.ndarray,
                 iterations: int, tol: float) -> Fit:
    """The Fit at W: prediction, objective, gradient-norm certificate and smallest Hessian eigenvalue."""
    B, k, d = W.shape
    grad, hess = _softmax_derivatives(model, W, T, base, w)
    gnorm = np.sqrt((grad**2).sum((1, 2)))
    P = (k - 1) * d
    min_eig = np.linalg.eigvalsh(hess.reshape(B, P, P))[:, 0]
    F = model.predict(W)
    return Fit(
        params=W,
        pred=F,
        objective=objective(loss, F, T, w),
        certificate=gnorm,
        certificate_kind="gradient-norm",
        converged=gnorm <= max(tol, 1e-9),
        iterations=iterations,
        min_hessian_eig=min_eig,
    )


def _softmax_objective(model: SoftmaxLinearClass, W: np.ndarray, T: np.ndarray, loss: str, w: np.ndarray) -> np.ndarray:
    return objective(loss, model.predict(W), T, w)


def _softmax_derivatives(model: SoftmaxLinearClass, W: np.ndarray, T: np.ndarray, loss: str, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Gradient (B, k-1, d) and Hessian (B, k-1, d, k-1, d) in the free rows of W.

    Per example, in the logits a with p = softmax(a) and :math:`\bar v = \langle p, v\rangle`:
    forward KL: g = p - T, H = diag(p) - p p^T.
    reverse CE (v = -log T) and reverse KL (v = log p - log T, plus the entropy term):
    g_l = p_l (v_l - \bar v); H = diag(p (v - \bar v)) - p p^T * ((v_l - \bar v) + (v_m - \bar v)),
    and reverse KL adds diag(p) - p p^T. Then g_W = sum_j w_j g_j h_j^T, H_W = sum_j w_j H_j (x) h_j h_j^T.
    Every H_j has the form diag(a) - q p^T - p q^T (forward: a = p, q = p/2; reverse CE: a = q = g;
    reverse KL: a = g + p, q = g + p/2), which the computation uses.
    """
    h = model.features
    p = model.predict(W)
    B, n, k = p.shape
    d = h.shape[2]
    if loss == "forward_kl":
        g, a, q = p - T, p, 0.5 * p
    else:
        if loss == "rce":
            v = -np.log(T)
        else:
            z = model.logits(W)
            v = z - logsumexp(z, axis=-1, keepdims=True) - np.log(T)  # log p without underflow
        g = p * (v - (p * v).sum(-1, keepdims=True))
        # Hs = diag(a) - q p^T - p q^T with q = g (+ p/2 for reverse KL, whose entropy adds diag(p) - p p^T).
        a, q = (g + p, g + 0.5 * p) if loss == "reverse_kl" else (g, g)
    grad = np.swapaxes(w[..., None] * g[..., : k - 1], 1, 2) @ h
    # H_W = sum_j w_j Hs_j (x) h_j h_j^T: the diagonal part per class l as one matrix product over j, the
    # rank-two part as X^T diag(w) Y with X_j = q_j (x) h_j, Y_j = p_j (x) h_j (never forming (n, k, k) arrays).
    outer = (h[..., :, None] * h[..., None, :]).reshape(B, n, d * d)
    D = (np.swapaxes(w[..., None] * a[..., : k - 1], 1, 2) @ outer).reshape(B, k - 1, d, d)
    X = (q[..., : k - 1, None] * h[..., None, :]).reshape(B, n, (k - 1) * d)
    Y = ((w[..., None] * p[..., : k - 1])[..., None] * h[..., None, :]).reshape(B, n, (k - 1) * d)
    C = np.swapaxes(X, 1, 2) @ Y
    hess = -(C + np.swapaxes(C, 1, 2)).reshape(B, k - 1, d, k - 1, d)
    idx = np.arange(k - 1)
    hess[:, idx, :, idx, :] += np.moveaxis(D, 1, 0)
    return grad, hess


def _rows(model: SoftmaxLinearClass, idx: np.ndarray) -> SoftmaxLinearClass:
    """The instances ``idx`` of a batched softmax-linear class (features validated when ``model`` was built)."""
    sub = SoftmaxLinearClass.__new__(SoftmaxLinearClass)
    object.__setattr__(sub, "features", model.features[idx])
    object.__setattr__(sub, "num_classes", model.num_classes)
    return sub


def _newton_softmax(model: SoftmaxLinearClass, T: np.ndarray, loss: str, w: np.ndarray, W0: np.ndarray, tol: float, max_iter: int) -> tuple[np.ndarray, int]:
    """Regularised Newton (H + rho I, rho lifting the spectrum above 1e-10) with Armijo backtracking."""
    B, k, d = W0.shape
    P = (k - 1) * d
    W = W0 - W0[:, k - 1 : k, :]  # put the fixed row at 0
    active = np.ones(B, dtype=bool)
    it = 0
    for it in range(1, max_iter + 1):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        sub = _rows(model, idx)
        Wi, Ti, wi = W[idx], T[idx], w[idx]
        grad, hess = _softmax_derivatives(sub, Wi, Ti, loss, wi)
        gnorm = np.sqrt((grad**2).sum((1, 2)))
        done = gnorm <= 0.1 * tol
        H = hess.reshape(idx.size, P, P)
        if loss == "forward_kl":  # convex: a tiny ridge covers rank-deficient features
            rho = np.full(idx.size, 1e-10)
        else:
            eig_min = np.linalg.eigvalsh(H)[:, 0]
            rho = np.maximum(0.0, -eig_min) + 1e-10 + 1e-3 * np.minimum(gnorm, 1.0) * (eig_min < 1e-8)
        H = H + rho[:, None, None] * np.eye(P)
        step = -np.linalg.solve(H, grad.reshape(idx.size, P, 1))[..., 0].reshape(idx.size, k - 1, d)
        f0 = _softmax_objective(sub, Wi, Ti, loss, wi)
        slope = (grad * step).sum((1, 2))
        s = np.ones(idx.size)
        accepted = np.zeros(idx.size, dtype=bool)
        for _ in range(50):  # backtrack only where no step was accepted yet
            todo = np.flatnonzero(~accepted)
            cand = Wi[todo].copy()
            cand[:, : k - 1] += s[todo, None, None] * step[todo]
            f1 = _softmax_objective(_rows(sub, todo), cand, Ti[todo], loss, wi[todo])
            accepted[todo] = f1 <= f0[todo] + 1e-4 * s[todo] * slope[todo] + 1e-15 * np.abs(f0[todo])
            if accepted.all():
                break
            s = np.where(accepted, s, 0.5 * s)
        Wi = Wi.copy()
        Wi[:, : k - 1] += np.where(accepted & ~done, s, 0.0)[:, None, None] * step
        W[idx] = Wi
        active[idx[done | ~accepted]] = False
    return W, it


#: Scales of the random starts of :func:`softmax_multistart`, cycled over the starts: W ~ N(0, scale^2) entrywise.
START_SCALES = (0.5, 1.0, 2.0)
#: Newton iterations per random start; the start kept for an instance then gets up to 100 more.
SEARCH_ITER = 100
#: Entries (rows x n x k x d) of one batched Newton run in :func:`softmax_multistart`; larger searches are chunked.
SEARCH_CHUNK = 3_000_000


def softmax_multistart(model: SoftmaxLinearClass, target: Any, loss: str, result: Fit, which: Any = None,
                       starts: int = 50, seed: int | np.random.Generator = 0, weights: Any = None) -> tuple[Fit, np.ndarray]:
    r"""A global search for the non-convex reverse losses: ``starts`` further random starts for the instances
    ``which`` ((B,) bool; default all), each refined by the fit's regularised Newton, batched (every start of
    every instance is one row of one batched run). Start s draws W ~ N(0, \sigma_s^2) entrywise, \sigma_s cycling
    through ``START_SCALES``. Returns the fit with, per instance, the lowest objective among ``result`` and the
    starts (a start counts only if it lowers the objective by more than 1e-12 (1 + |f|)), its certificate and
    smallest Hessian eigenvalue recomputed, and (B,) the number of starts behind each instance's fit
    (``starts`` where searched, else 0). This is a best-of-N search, not a certificate of a global minimum.
    """
    if not isinstance(model, SoftmaxLinearClass):
        raise TypeError(f"softmax_multistart: needs a SoftmaxLinearClass, got {type(model).__name__}")
    B, k, d = model.batch, model.num_classes, model.features.shape[2]
    T = check_probs(np.asarray(target, dtype=np.float64).reshape(B, model.n, k), name="target")
    base = "forward_kl" if loss == "ce" else loss
    w = _normalised_weights(weights, B, model.n)
    idx = np.flatnonzero(np.ones(B, bool) if which is None else np.asarray(which, dtype=bool))
    W = result.params - result.params[:, k - 1 : k, :]
    best = _softmax_objective(model, W, T, base, w)
    rng = np.random.default_rng(seed)
    scales = np.resize(np.array(START_SCALES), starts)
    per_chunk = max(1, SEARCH_CHUNK // (starts * model.n * k * d))
    for part in np.array_split(idx, max(1, -(-idx.size // per_chunk))) if idx.size else []:
        rows = np.repeat(part, starts)
        init = rng.normal(size=(rows.size, k, d)) * np.tile(scales, part.size)[:, None, None]
        Wc, _ = _newton_softmax(_rows(model, rows), T[rows], base, w[rows], init, 1e-10, SEARCH_ITER)
        obj = _softmax_objective(_rows(model, rows), Wc, T[rows], base, w[rows]).reshape(part.size, starts)
        obj = np.where(np.isfinite(obj), obj, np.inf)
        j = obj.argmin(axis=1)
        o = obj[np.arange(part.size), j]
        better = o < best[part] - 1e-12 * (1.0 + np.abs(best[part]))
        won = part[better]
        if won.size:
            W[won], _ = _newton_softmax(_rows(model, won), T[won], base, w[won],
                                        Wc.reshape(part.size, starts, k, d)[np.arange(part.size), j][better], 1e-10, 100)
            best[won] = _softmax_objective(_rows(model, won), W[won], T[won], base, w[won])
    n_starts = np.zeros(B, dtype=np.int64)
    n_starts[idx] = starts
    return _softmax_fit(model, W, T, loss, base, w, result.iterations, tol=1e-10), n_starts


def softmax_global_check(model: SoftmaxLinearClass, target: Any, loss: str, result: Fit, weights: Any = None,
                         points: int = 729, rel_tol: float = 1e-9) -> np.ndarray:
    """k = 2 only: True where no point of a grid over the free row of W, refined by Newton, beats ``result``.

    The grid has ``floor(points ** (1/d))`` (at least 3) values per coordinate on [-R, R], R = 2 max(1, |W_sw|_inf);
    the best grid point of each instance is refined by the same regularised Newton as the fit. A refined
    objective below the fit's by more than ``rel_tol (1 + |f|)`` means the fit is not a global minimum.
    """
    if model.num_classes != 2:
        raise ValueError(f"softmax_global_check: needs k = 2, got k = {model.num_classes}")
    T = check_probs(np.asarray(target, dtype=np.float64).reshape(model.batch, model.n, 2), name="target")
    base = "forward_kl" if loss == "ce" else loss
    w = _normalised_weights(weights, model.batch, model.n)
    B, d = model.batch, model.features.shape[2]
    W = result.params - result.params[:, 1:2, :]
    R = 2.0 * np.maximum(1.0, np.abs(W).max((1, 2)))
    G = max(3, int(points ** (1.0 / d)))
    axes = np.stack(np.meshgrid(*[np.linspace(-1.0, 1.0, G)] * d, indexing="ij"), -1).reshape(-1, d)  # (P, d)
    best_obj = np.full(B, np.inf)
    best_w = np.zeros((B, d))
    for chunk in np.array_split(axes, max(1, len(axes) // 64)):
        cand = R[:, None, None] * chunk[None]  # (B, c, d)
        z = np.einsum("bnd,bcd->bcn", model.features, cand)
        F = softmax(np.stack([z, np.zeros_like(z)], -1), axis=-1)
        obj = np.einsum("bn,bcn->bc", w, pointwise(base, F, T[:, None])[0].sum(-1))
        i = np.nanargmin(np.where(np.isfinite(obj), obj, np.inf), axis=1)
        o = obj[np.arange(B), i]
        better = o < best_obj
        best_obj = np.where(better, o, best_obj)
        best_w = np.where(better[:, None], cand[np.arange(B), i], best_w)
    W0 = np.zeros((B, 2, d))
    W0[:, 0] = best_w
    Wr, _ = _newton_softmax(model, T, base, w, W0, 1e-10, 100)
    refined = np.minimum(_softmax_objective(model, Wr, T, base, w), best_obj)
    f = _softmax_objective(model, W, T, base, w)
    return refined >= f - rel_tol * (1.0 + np.abs(f))
