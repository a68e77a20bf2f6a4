"""Certified solvers: closed forms, an independent scipy solve, certificates, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from bounds.classes import MixtureClass, SoftmaxLinearClass, StochasticMatrixClass
from bounds.instances import convex_class, truth_in_class, weak_labels
from bounds.solvers import fit, frank_wolfe_gap, objective

# The toy family (t/2, 1 - t, t/2) is the mixture of the heads (1/2, 0, 1/2) and (0, 1, 0).
TOY_HEADS = np.array([[[[0.5, 0.0, 0.5]]], [[[0.0, 1.0, 0.0]]]])[None, :, 0]  # (1, 2, 1, 3)


@given(st.floats(0.01, 0.98), st.floats(0.01, 0.98))
@settings(max_examples=200)
def test_toy_family_closed_forms(a, b):
    q0, q2 = a * (1 - b), (1 - a) * (1 - b)
    q = np.array([[[q0, b, q2]]])
    model = MixtureClass(TOY_HEADS)
    fwd = fit(model, q, "forward_kl")
    rev = fit(model, q, "reverse_kl")
    assert fwd.params[0, 0] == pytest.approx(q0 + q2, abs=1e-8)
    r = 2 * np.sqrt(q0 * q2)
    assert rev.params[0, 0] == pytest.approx(r / (r + b), abs=1e-8)
    assert fwd.certificate[0] <= 1e-9 and rev.certificate[0] <= 1e-9


@pytest.mark.parametrize("loss", ["reverse_kl", "forward_kl", "squared"])
@pytest.mark.parametrize("seed", range(4))
def test_matches_independent_scipy_solve(loss, seed):
    rng = np.random.default_rng(seed)
    model = convex_class(rng, 1, 12, 3)
    _, fstar = truth_in_class(rng, model)
    fw = weak_labels(rng, fstar, "noisy")
    ours = fit(model, fw, loss)
    nb, bs = model.blocks
    loss_fn = {"reverse_kl": lambda F: np.sum(F * np.log(F / fw[0])),
               "forward_kl": lambda F: np.sum(fw[0] * np.log(fw[0] / F)),
               "squared": lambda F: np.sum((F - fw[0]) ** 2)}[loss]

    def f(x):
        F = model.predict(np.clip(x, 1e-12, None).reshape(1, nb, bs))[0]
        return loss_fn(F) / model.n

    cons = [{"type": "eq", "fun": lambda x, b=b: x.reshape(nb, bs)[b].sum() - 1} for b in range(nb)]
    ref = minimize(f, np.full(nb * bs, 1 / bs), method="SLSQP", bounds=[(0, 1)] * (nb * bs), constraints=cons,
                   options={"ftol": 1e-14, "maxiter": 1000})
    assert ours.objective[0] <= ref.fun + 1e-9  # at least as good as SLSQP
    assert ours.objective[0] >= ref.fun - 1e-6  # and SLSQP is not far off: the same problem was solved


@given(st.integers(0, 2**31), st.sampled_from(["reverse_kl", "forward_kl", "squared"]))
@settings(max_examples=60)
def test_certificate_is_tiny_and_bounds_suboptimality(seed, loss):
    rng = np.random.default_rng(seed)
    k, n = int(rng.integers(2, 8)), int(rng.integers(1, 60))
    model = convex_class(rng, 4, n, k)
    _, fstar = truth_in_class(rng, model)
    fw = weak_labels(rng, fstar, str(rng.choice(["noisy", "independent", "near-boundary"])))
    res = fit(model, fw, loss)
    assert res.converged.all(), res.certificate
    # Any feasible point is no better than the optimum minus the certificate (convexity).
    theta = rng.dirichlet(np.ones(model.blocks[1]), size=(4, model.blocks[0]))
    other = objective(loss, model.predict(theta), fw, np.full((4, n), 1 / n))
    assert np.all(other >= res.objective - res.certificate - 1e-12)


def test_frank_wolfe_gap_detects_a_bad_point():
    rng = np.random.default_rng(3)
    model = StochasticMatrixClass(rng.dirichlet(np.ones(4), size=(1, 30)), 3)
    fw = rng.dirichlet(np.ones(3), size=(1, 30))
    good = fit(model, fw, "reverse_kl")
    bad_theta = 0.5 * good.theta + 0.5 * rng.dirichlet(np.ones(3), size=(1, 4))
    w = np.full((1, 30), 1 / 30)
    assert frank_wolfe_gap(model, bad_theta, fw, "reverse_kl", w)[0] > 1e-4
    assert good.certificate[0] < 1e-9


@pytest.mark.parametrize("seed, loss", [(7616, "forward_kl"), (504, "squared")])
def test_degenerate_problems_found_by_hypothesis_converge(seed, loss):
    """Cases the property tests once found (single samples, weak labels with ~1e-7 entries): the
    interior point method stalls at 1e-9 to 1e-5, and the pairwise Frank-Wolfe polish must finish."""
    rng = np.random.default_rng(seed)
    k, n = int(rng.integers(2, 8)), int(rng.integers(1, 60 if loss == "forward_kl" else 40))
    model = convex_class(rng, 4 if loss == "forward_kl" else 2, n, k)
    _, fstar = truth_in_class(rng, model)
    family = str(rng.choice(["noisy", "independent", "near-boundary"])) if loss == "forward_kl" else "near-boundary"
    fw = weak_labels(rng, fstar, family)
    assert n == 1 and family == "near-boundary"
    assert fit(model, fw, loss).converged.all()


def test_rce_on_convex_class_is_the_best_vertex():
    rng = np.random.default_rng(0)
    G = rng.dirichlet(np.ones(4), size=(1, 5, 20))
    fw = rng.dirichlet(np.ones(4), size=(1, 20))
    res = fit(MixtureClass(G), fw, "rce")
    vertex_values = [np.mean(-(G[0, l] * np.log(fw[0])).sum(-1)) for l in range(5)]
    assert res.objective[0] == pytest.approx(min(vertex_values))


def test_softmax_forward_fit_matches_moments_and_scipy():
    rng = np.random.default_rng(1)
    h = np.concatenate([rng.normal(size=(1, 40, 2)), np.ones((1, 40, 1))], axis=2)
    model = SoftmaxLinearClass(h, 3)
    fw = rng.dirichlet(np.ones(3), size=(1, 40))
    res = fit(model, fw, "forward_kl")
    moments = np.einsum("nk,nd->kd", fw[0] - res.pred[0], h[0]) / 40
    assert np.abs(moments).max() < 1e-10

    def f(x):
        return objective("forward_kl", model.predict(x.reshape(1, 3, 3)), fw, np.full((1, 40), 1 / 40))[0]

    ref = minimize(f, np.zeros(9), method="BFGS", options={"gtol": 1e-10})
    assert res.objective[0] == pytest.approx(ref.fun, abs=1e-9)


def test_softmax_reverse_fit_is_a_certified_local_minimum():
    rng = np.random.default_rng(2)
    h = rng.normal(size=(3, 30, 3))
    fw = rng.dirichlet(np.ones(4), size=(3, 30))
    res = fit(SoftmaxLinearClass(h, 4), fw, "reverse_kl")
    assert res.converged.all() and (res.min_hessian_eig > 0).all()


def test_bad_input():
    rng = np.random.default_rng(0)
    model = StochasticMatrixClass(rng.dirichlet(np.ones(3), size=(1, 5)), 2)
    with pytest.raises(ValueError, match="target: shape"):
        fit(model, np.full((1, 5, 3), 1 / 3), "reverse_kl")
    with pytest.raises(ValueError, match="unknown loss"):
        fit(model, np.full((1, 5, 2), 0.5), "hinge")
    with pytest.raises(ValueError, match="target: has zero probabilities"):
        fit(model, np.tile([1.0, 0.0], (1, 5, 1)), "reverse_kl")
    with pytest.raises(ValueError, match="target: each row must sum to 1"):
        fit(model, np.full((1, 5, 2), 0.6), "forward_kl")
    with pytest.raises(ValueError, match="features"):
        StochasticMatrixClass(np.full((1, 5, 3), 0.5), 2)
    with pytest.raises(ValueError, match="weights"):
        fit(model, np.full((1, 5, 2), 0.5), "squared", weights=np.ones(4))


@given(st.integers(0, 2**32 - 1))
@settings(max_examples=50)
def test_solver_closed_forms_agree_with_bounds_losses(seed):
    """bounds.solvers.pointwise keeps its own closed forms (it needs derivatives); their values are bounds.LOSSES'."""
    from bounds import LOSSES
    from bounds.solvers import FIT_LOSSES, pointwise

    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 8))
    F, T = rng.dirichlet(np.ones(k) * 0.7, 5), rng.dirichlet(np.ones(k) * 0.7, 5)
    assert {"reverse_kl", "forward_kl", "ce", "rce"} <= set(FIT_LOSSES)
    for loss, fn in LOSSES.items():
        if loss not in FIT_LOSSES:  # symmetric_kl: trained by SGD only
            continue
        np.testing.assert_allclose(pointwise(loss, F, T)[0].sum(-1), fn(F, T), rtol=1e-10, atol=1e-13, err_msg=loss)


def _k2_instance(seed: int, n: int = 25):
    rng = np.random.default_rng(seed)
    h = np.concatenate([rng.normal(size=(1, n, 1)), np.ones((1, n, 1))], axis=2)
    model = SoftmaxLinearClass(h, 2)
    fw = rng.dirichlet([0.4, 0.4], (1, n))
    return model, fw


def test_global_check_accepts_the_global_minimum_and_rejects_a_local_one():
    """k = 2: the certified fit passes the grid search; a point that is not the global minimum is caught."""
    from bounds.solvers import softmax_global_check

    model, fw = _k2_instance(3)
    res = fit(model, fw, "reverse_kl")
    assert res.converged[0] and res.min_hessian_eig[0] > 0
    assert softmax_global_check(model, fw, "reverse_kl", res)[0]
    # A worse point (the start W = 0, not stationary) must not pass as a global minimum.
    worse = type(res)(**{**res.__dict__, "params": np.zeros_like(res.params)})
    assert not softmax_global_check(model, fw, "reverse_kl", worse)[0]
