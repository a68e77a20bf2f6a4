"""Random instances for every result, including adversarial near-boundary ones.

Each generator returns an :class:`~bounds.theorems.Instances` batch of one shape (B, n, k) whose
provenance fields (class kind, training loss, certificate, realizability) are filled from what
was actually constructed and solved, never asserted.

Families:
* ``extremal``: k = 2 (whatever k is asked for), F_w = (1/2 + a, 1/2 - a), F_sw = F_w -/+ t (1, -1), F* on the
  smaller class, tiny a and t: the limit in which every step of the T1/T2/T3 proofs is tight (log is
  (1/gamma)-Lipschitz near gamma, max_i |p_i - q_i| = TV for k = 2, Pinsker is exact to first order near
  uniform, Jensen is exact for identical rows), so gap / bound -> 1;
* ``dirichlet``: all distributions from Dirichlet(c), c drawn in [0.3, 5];
* ``near-boundary``: entries down to 1e-8 (Dirichlet(0.1) mixed with a tiny uniform floor);
* ``close``: F_sw a small multiplicative perturbation of F_w (small misfit, the regime of the bounds' constants);
* ``one-hot``: one-hot F* (the test cross-entropy case);
* for fitted instances: weak labels ``noisy`` (F* mixed with noise), ``independent`` or ``near-boundary``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import softmax

from bounds.classes import MixtureClass, SoftmaxLinearClass, StochasticMatrixClass, random_simplex_params
from bounds.quantities import Instances
from bounds.solvers import Fit, fit, frank_wolfe_gap, softmax_global_check, softmax_multistart

UNIVERSAL_FAMILIES = ("extremal", "dirichlet", "near-boundary", "close", "one-hot")
WEAK_FAMILIES = ("noisy", "independent", "near-boundary")


def sample_shape(rng: np.random.Generator, k_range: tuple[int, int] = (2, 10), n_max: int = 1000) -> tuple[int, int]:
    """k uniform in k_range, n log-uniform in [1, n_max]."""
    k = int(rng.integers(k_range[0], k_range[1] + 1))
    n = int(np.clip(np.round(np.exp(rng.uniform(0.0, np.log(n_max)))), 1, n_max))
    return k, n


def _dirichlet(rng: np.random.Generator, shape: tuple[int, ...], k: int, conc: float) -> np.ndarray:
    x = np.maximum(rng.standard_gamma(conc, size=shape + (k,)), 1e-300)  # small conc. can underflow to 0
    return x / x.sum(-1, keepdims=True)


def _floored(rng: np.random.Generator, shape: tuple[int, ...], k: int) -> np.ndarray:
    """Near-boundary distributions: Dirichlet(0.1) with a floor eps in [1e-8, 1e-3]."""
    eps = 10.0 ** rng.uniform(-8, -3, size=shape + (1,))
    return (1 - k * eps) * _dirichlet(rng, shape, k, 0.1) + eps


def extremal(rng: np.random.Generator, B: int, n: int) -> Instances:
    """The sharpness family (module docstring): n identical binary rows per instance."""
    a = 10.0 ** rng.uniform(-6, -2, size=(B, 1, 1))
    t = 10.0 ** rng.uniform(-8, -3, size=(B, 1, 1)) * rng.choice([-1.0, 1.0], size=(B, 1, 1))
    fw = np.concatenate([0.5 + a, 0.5 - a], axis=2)
    fsw = fw + t * np.array([-1.0, 1.0])
    fstar = np.broadcast_to(np.array([0.0, 1.0]), (B, n, 2))
    return Instances(fstar, np.broadcast_to(fw, (B, n, 2)), np.broadcast_to(fsw, (B, n, 2)), family="extremal")


def universal(rng: np.random.Generator, B: int, n: int, k: int, family: str) -> Instances:
    """Unstructured (F*, F_w, F_sw) for T1-T3: no class, no training."""
    if family == "extremal":
        return extremal(rng, B, n)
    shape = (B, n)
    c = float(rng.uniform(0.3, 5.0))
    fstar = _dirichlet(rng, shape, k, c)
    if family == "dirichlet":
        fw, fsw = _dirichlet(rng, shape, k, c), _dirichlet(rng, shape, k, c)
    elif family == "near-boundary":
        fw, fsw = _floored(rng, shape, k), _floored(rng, shape, k)
    elif family == "close":
        fw = _dirichlet(rng, shape, k, c)
        logits = np.log(fw) + rng.normal(scale=10.0 ** rng.uniform(-3, -0.5), size=shape + (k,))
        fsw = softmax(logits, axis=-1)
    elif family == "one-hot":
        fstar = np.eye(k)[rng.integers(0, k, size=shape)]
        fw, fsw = _dirichlet(rng, shape, k, c), _dirichlet(rng, shape, k, c)
    else:
        raise ValueError(f"unknown family {family!r}; known: {UNIVERSAL_FAMILIES}")
    return Instances(fstar, fw, fsw, family=family)


def convex_class(rng: np.random.Generator, B: int, n: int, k: int) -> StochasticMatrixClass | MixtureClass:
    """A probability-convex class: F = A h (h on a simplex of size m) or a mixture of L fixed heads."""
    if rng.random() < 0.6:
        m = int(rng.integers(2, 9))
        return StochasticMatrixClass(_dirichlet(rng, (B, n), m, float(rng.choice([0.2, 1.0, 3.0]))), k)
    L = int(rng.integers(2, 7))
    return MixtureClass(_dirichlet(rng, (B, L, n), k, float(rng.choice([0.3, 1.0, 3.0]))))


def truth_in_class(rng: np.random.Generator, model: StochasticMatrixClass | MixtureClass) -> tuple[np.ndarray, np.ndarray]:
    """theta* (Dirichlet, sometimes a vertex) and F* = F_theta*: realizable by construction."""
    theta = random_simplex_params(model, rng, concentration=float(rng.choice([0.3, 1.0])))
    if rng.random() < 0.3:  # vertices: the most extreme members of the class
        theta = np.eye(theta.shape[2])[theta.argmax(axis=2)]
    return theta, model.predict(theta)


def weak_labels(rng: np.random.Generator, fstar: np.ndarray, family: str) -> np.ndarray:
    """Strictly positive weak supervision of the given family."""
    B, n, k = fstar.shape
    if family == "noisy":
        lam = rng.uniform(0.2, 0.9, size=(B, 1, 1))
        return (1 - lam) * fstar + lam * _dirichlet(rng, (B, n), k, 1.0)
    if family == "independent":
        return _dirichlet(rng, (B, n), k, float(rng.uniform(0.3, 3.0)))
    if family == "near-boundary":
        return _floored(rng, (B, n), k)
    raise ValueError(f"unknown weak family {family!r}; known: {WEAK_FAMILIES}")


def fitted_convex(rng: np.random.Generator, B: int, n: int, k: int, family: str, loss: str) -> Instances:
    """Realizable probability-convex instances with F_sw the certified fit of ``loss`` to F_w."""
    model = convex_class(rng, B, n, k)
    theta, fstar = truth_in_class(rng, model)
    fw = weak_labels(rng, fstar, family)
    res = fit(model, fw, loss)
    resid = np.abs(fstar - model.predict(theta)).max((1, 2))
    return Instances(fstar, fw, res.pred, model_kind=model.kind, trained_with=loss, certificate=res.certificate,
                     fstar_class_residual=resid, family=f"{type(model).__name__}/{family}")


def approximate_or_misspecified(rng: np.random.Generator, B: int, n: int, k: int, family: str) -> Instances:
    """T6: a reverse-KL fit that is perturbed (approximate), misspecified (F* outside the class), or both."""
    model = convex_class(rng, B, n, k)
    mode = rng.choice(["approximate", "misspecified", "both"])
    if mode == "approximate":
        theta_star, fstar = truth_in_class(rng, model)
        fref = fstar
    else:
        fstar = _dirichlet(rng, (B, n), k, float(rng.uniform(0.5, 3.0)))
        fref = fit(model, fstar, "forward_kl").pred  # the member closest to F* in Err
    fw = weak_labels(rng, fstar if family == "noisy" else fref, family)
    exact = fit(model, fw, "reverse_kl")
    theta = exact.theta
    if mode != "misspecified":
        tau = 10.0 ** rng.uniform(-4, -1, size=(B, 1, 1))
        theta = (1 - tau) * theta + tau * random_simplex_params(model, rng)
    w = np.full((B, n), 1.0 / n)
    cert = np.maximum(frank_wolfe_gap(model, theta, fw, "reverse_kl", w), 0.0)
    return Instances(fstar, fw, model.predict(theta), model_kind=model.kind, trained_with="reverse_kl",
                     certificate=cert, fref=fref, family=f"{type(model).__name__}/{mode}/{family}")


#: Random starts of the global search behind a k > 2 reverse-loss softmax fit (:func:`search`): every instance
#: where T4 fails at the first fit gets :func:`search_starts` of them, the ``DEEP`` worst failures more.
MAX_STARTS, DEEP = 150, 4
#: The search's work per batch (half for all failing instances, half for the ``DEEP`` worst), in units of one
#: Newton iteration of one start: n k d (the products over the n samples) + P^3 / 24 (the P x P eigen-decomposition
#: and solve, P = (k - 1) d). 3e6 units cost `bounds verify --instances 2000` about 6 s (docs/theory.md).
SEARCH_BUDGET = 3e6


def search_starts(searched: int, n: int, k: int, d: int, at_least: int = 1) -> int:
    """Random starts for each of ``searched`` instances of one shape within half of ``SEARCH_BUDGET``, between
    ``at_least`` and ``MAX_STARTS``. Recorded per instance (``fit_starts``), so a small N is reported as such."""
    unit = n * k * d + ((k - 1) * d) ** 3 / 24
    return int(np.clip(0.5 * SEARCH_BUDGET // (max(searched, 1) * unit), at_least, MAX_STARTS))


def _t4_slack(fstar: np.ndarray, fw: np.ndarray, fsw: np.ndarray) -> np.ndarray:
    """Err(F_w) - E KL(F_sw || F_w) - Err(F_sw): T4's slack (negative where its inequality fails)."""
    inst = Instances(fstar, fw, fsw)
    return inst.err(fw) - inst.kl_mean(fsw, fw) - inst.err(fsw)


def search(rng: np.random.Generator, model: SoftmaxLinearClass, fstar: np.ndarray, fw: np.ndarray, loss: str,
           res: Fit) -> tuple[Fit, np.ndarray]:
    """The global search of :func:`fitted_softmax` for k > 2: (the best fit found, (B,) random starts behind it).
    Its random numbers come from generators spawned off ``rng``, which leaves ``rng``'s own stream (the instances
    drawn after this batch) as it would be without the search."""
    fails = _t4_slack(fstar, fw, res.pred) < 0
    _, n, k = fw.shape
    d = model.features.shape[2]
    first = search_starts(int(fails.sum()), n, k, d)
    res, starts = softmax_multistart(model, fw, loss, res, which=fails, starts=first, seed=rng.spawn(1)[0])
    slack = _t4_slack(fstar, fw, res.pred)
    deep = np.zeros(len(slack), bool)
    deep[np.argsort(np.where(fails, slack, np.inf))[:DEEP]] = True
    deep &= fails
    more = search_starts(int(deep.sum()), n, k, d, at_least=first) - first
    if deep.any() and more > 0:
        res, extra = softmax_multistart(model, fw, loss, res, which=deep, starts=more, seed=rng.spawn(1)[0])
        starts = starts + extra
    return res, starts


def fitted_softmax(rng: np.random.Generator, B: int, n: int, k: int, family: str, loss: str) -> Instances:
    """Realizable softmax-linear instances: features N(0, 1) plus a bias column, F* = softmax(W* h).

    Reverse-loss fits are non-convex: the fit records its smallest Hessian eigenvalue; for k = 2 whether a grid
    search refined by Newton finds no lower objective (:func:`bounds.solvers.softmax_global_check`: a certified
    global minimum), for k > 2 the best of N further random starts (:func:`bounds.solvers.softmax_multistart`)
    wherever T4's inequality fails at the first fit (there a counterexample is at stake; :func:`search`), N in
    ``fit_starts``.
    """
    d = int(rng.integers(1, 5)) + 1
    h = np.concatenate([rng.normal(size=(B, n, d - 1)), np.ones((B, n, 1))], axis=2)
    model = SoftmaxLinearClass(h, k)
    w_star = rng.normal(scale=float(rng.choice([0.5, 1.0, 2.0])), size=(B, k, d))
    fstar = model.predict(w_star)
    fw = weak_labels(rng, fstar, family)
    res = fit(model, fw, loss, max_iter=100, starts=2)
    glob, starts = None, None
    if loss in ("reverse_kl", "rce") and k == 2:
        glob = softmax_global_check(model, fw, loss, res)
    elif loss in ("reverse_kl", "rce"):
        res, starts = search(rng, model, fstar, fw, loss, res)
    resid = np.abs(fstar - model.predict(w_star)).max((1, 2))
    return Instances(fstar, fw, res.pred, model_kind=model.kind, trained_with=loss, certificate=res.certificate,
                     fstar_class_residual=resid, features=h, w_sw=res.params, w_star=w_star,
                     min_hessian_eig=res.min_hessian_eig, global_search=glob, fit_starts=starts, family=f"softmax/{family}")
