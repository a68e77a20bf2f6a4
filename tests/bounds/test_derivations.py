"""Tests for bounds.derivations: every derivation verifies symbolically, every derived expression
agrees with an independent numerical computation (bounds.divergences, torch autograd, scipy
optimisation and quadrature), and wrong claims are rejected."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch
from scipy import integrate, optimize, stats

from bounds import derivations as der
from bounds.divergences import LOSSES, Categorical, cross_entropy, entropy, kl, reverse_cross_entropy, reverse_kl
from bounds.divergences import forward_kl as forward_kl_loss

RNG_SEED = 20250217


@pytest.fixture(scope="module")
def built() -> dict[str, der.Derivation]:
    """Each registered derivation, built once for the module."""
    return {name: build() for name, build in der.DERIVATIONS.items()}


def _simplex(rng: np.random.Generator, k: int, size: int | None = None) -> np.ndarray:
    """Dirichlet(1, ..., 1) points, kept away from the boundary so logs are well conditioned."""
    p = rng.dirichlet(np.ones(k), size=size) + 1e-3
    return p / p.sum(axis=-1, keepdims=True)


# -- symbolic verification --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(der.DERIVATIONS))
def test_each_derivation_verifies(built: dict[str, der.Derivation], name: str) -> None:
    d = built[name]
    assert d.name == name
    assert d.residuals, "a derivation must have something to verify"
    d.verify()


def test_verify_all_reports_every_derivation() -> None:
    assert der.verify_all() == {name: True for name in der.DERIVATIONS}


@pytest.mark.parametrize("k", [2, 5])
def test_k_class_derivations_verify_for_other_k(k: int) -> None:
    for build in (der.ce_decomposition, der.rce_decomposition, der.t4_first_order):
        build(k).verify()


# -- numerical agreement ----------------------------------------------------------------------


def _lambdify_at(d: der.Derivation, key: str, values: dict[str, np.ndarray]) -> np.ndarray:
    names = list(values)
    return d.lambdify(key, names)(*values.values())


@pytest.mark.parametrize("k", [3, 5])
def test_ce_decomposition_matches_divergences(k: int) -> None:
    rng = np.random.default_rng(RNG_SEED + k)
    d = der.ce_decomposition(k)
    p, q = _simplex(rng, k, 50), _simplex(rng, k, 50)
    values = {f"p_{i}": p[:, i] for i in range(k)} | {f"q_{i}": q[:, i] for i in range(k)}
    np.testing.assert_allclose(_lambdify_at(d, "ce", values), cross_entropy(p, q), rtol=1e-10)
    np.testing.assert_allclose(_lambdify_at(d, "entropy", values), entropy(p), rtol=1e-10)
    np.testing.assert_allclose(_lambdify_at(d, "kl", values), kl(p, q), rtol=1e-10, atol=1e-12)
    u, v = rng.normal(0, 3, 50), rng.normal(0, 3, 50)
    P, Q = Categorical.from_binary_logit(u), Categorical.from_binary_logit(v)
    logits = {"u": u, "v": v}
    np.testing.assert_allclose(_lambdify_at(d, "ce_binary", logits), cross_entropy(P, Q), rtol=1e-9)
    np.testing.assert_allclose(_lambdify_at(d, "entropy_binary", logits), entropy(P), rtol=1e-9)
    np.testing.assert_allclose(_lambdify_at(d, "kl_binary", logits), kl(P, Q), rtol=1e-8, atol=1e-12)


def test_rce_decomposition_matches_divergences(built: dict[str, der.Derivation]) -> None:
    rng = np.random.default_rng(RNG_SEED)
    d = built["rce_decomposition"]
    s, w = _simplex(rng, 3, 50), _simplex(rng, 3, 50)
    values = {f"s_{i}": s[:, i] for i in range(3)} | {f"w_{i}": w[:, i] for i in range(3)}
    np.testing.assert_allclose(_lambdify_at(d, "rce", values), reverse_cross_entropy(s, w), rtol=1e-10)
    np.testing.assert_allclose(_lambdify_at(d, "reverse_kl", values), reverse_kl(s, w), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_lambdify_at(d, "strong_entropy", values), entropy(s), rtol=1e-10)
    z, zw = rng.normal(0, 3, 50), rng.normal(0, 3, 50)
    S, W = Categorical.from_binary_logit(z), Categorical.from_binary_logit(zw)
    logits = {"z": z, "z_w": zw}
    np.testing.assert_allclose(_lambdify_at(d, "rce_binary", logits), reverse_cross_entropy(S, W), rtol=1e-9)
    np.testing.assert_allclose(_lambdify_at(d, "reverse_kl_binary", logits), reverse_kl(S, W), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("loss", ["forward_kl", "ce", "reverse_kl", "rce"])
def test_binary_gradients_match_autograd(built: dict[str, der.Derivation], loss: str) -> None:
    rng = np.random.default_rng(RNG_SEED)
    d = built["binary_gradients"]
    z_np, zw_np = rng.normal(0, 3, 200), rng.normal(0, 3, 200)
    z = torch.tensor(z_np, dtype=torch.float64, requires_grad=True)
    zw = torch.tensor(zw_np, dtype=torch.float64)
    value = LOSSES[loss](Categorical.from_binary_logit(z), Categorical.from_binary_logit(zw), reduction="sum")
    (autograd,) = torch.autograd.grad(value, z)
    logits = {"z": z_np, "z_w": zw_np}
    for key in (f"grad_{loss}", f"claimed_{loss}"):
        np.testing.assert_allclose(_lambdify_at(d, key, logits), autograd.numpy(), rtol=1e-8, atol=1e-12, err_msg=key)


def test_reverse_gradients_vanish_where_strong_model_is_confident(built: dict[str, der.Derivation]) -> None:
    """Zero forcing in one dimension: at |z| large the reverse gradients vanish, the forward one does not."""
    d = built["binary_gradients"]
    z, zw = np.array([30.0, -30.0]), np.array([-1.0, 1.0])
    forward = d.lambdify("grad_forward_kl", ["z", "z_w"])(z, zw)
    reverse = d.lambdify("grad_reverse_kl", ["z", "z_w"])(z, zw)
    assert np.all(np.abs(forward) > 0.5)
    assert np.all(np.abs(reverse) < 1e-10)


def _t4_values(F: np.ndarray, Fs: np.ndarray, W: np.ndarray) -> dict[str, np.ndarray]:
    k = F.shape[-1]
    return (
        {f"F_{i}": F[..., i] for i in range(k)}
        | {f"Fstar_{i}": Fs[..., i] for i in range(k)}
        | {f"W_{i}": W[..., i] for i in range(k)}
    )


@pytest.mark.parametrize("k", [3, 4])
def test_t4_first_order_matches_finite_differences_and_divergences(k: int) -> None:
    rng = np.random.default_rng(RNG_SEED + k)
    d = der.t4_first_order(k)
    F, Fs, W = (_simplex(rng, k, 40) for _ in range(3))
    values = _t4_values(F, Fs, W)
    h = 1e-6
    finite_difference = (kl(F + h * (Fs - F), W) - kl(F - h * (Fs - F), W)) / (2 * h)
    for key in ("directional_derivative", "claimed_directional_derivative", "slack"):
        np.testing.assert_allclose(_lambdify_at(d, key, values), finite_difference, rtol=1e-6, atol=1e-8, err_msg=key)
    np.testing.assert_allclose(_lambdify_at(d, "cross_term", values), kl(Fs, W) - kl(Fs, F), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_lambdify_at(d, "err_F", values), kl(Fs, F), rtol=1e-10, atol=1e-12)


def test_t4_inequality_holds_at_a_reverse_kl_projection() -> None:
    """F = argmin over the segment [F*, G] of KL(F || W): derivative towards F* >= 0, hence Err(F) <= Err(W) - KL(F||W)."""
    rng = np.random.default_rng(RNG_SEED)
    d = der.t4_first_order(3)
    slack_fn = d.lambdify("slack", list(_t4_values(np.zeros(3), np.zeros(3), np.zeros(3))))
    for _ in range(20):
        Fs, G, W = (_simplex(rng, 3) for _ in range(3))
        res = optimize.minimize_scalar(
            lambda a: float(kl(a * Fs + (1 - a) * G, W)), bounds=(0, 1), method="bounded", options={"xatol": 1e-12}
        )
        F = res.x * Fs + (1 - res.x) * G
        slack = slack_fn(*_t4_values(F, Fs, W).values())
        assert slack >= -1e-7
        np.testing.assert_allclose(slack, float(kl(Fs, W) - kl(F, W) - kl(Fs, F)), atol=1e-12)


def _toy_family(t: float) -> np.ndarray:
    return np.array([t / 2, 1 - t, t / 2])


@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_toy_argmins_match_numerical_minimisation(built: dict[str, der.Derivation], direction: str) -> None:
    rng = np.random.default_rng(RNG_SEED)
    d = built["toy_argmins"]
    loss = forward_kl_loss if direction == "forward" else reverse_kl  # (strong = f_t, weak = q)
    argmin = d.lambdify(f"argmin_{direction}", ["q_0", "q_1", "q_2"])
    for q in _simplex(rng, 3, 15):
        res = optimize.minimize_scalar(
            lambda t: float(loss(_toy_family(t), q)), bounds=(1e-9, 1 - 1e-9), method="bounded", options={"xatol": 1e-12}
        )
        assert argmin(*q) == pytest.approx(res.x, abs=1e-6)


def test_toy_argmins_reproduce_the_design_note_example(built: dict[str, der.Derivation]) -> None:
    d = built["toy_argmins"]
    q = (0.1, 0.7, 0.2)
    assert d.lambdify("argmin_forward", ["q_0", "q_1", "q_2"])(*q) == pytest.approx(0.3, abs=1e-12)
    assert d.lambdify("argmin_reverse", ["q_0", "q_1", "q_2"])(*q) == pytest.approx(0.2878, abs=1e-4)


def _mixture_pdf(x: float | np.ndarray, pi: float, m1: float, s1: float, m2: float, s2: float) -> float | np.ndarray:
    return pi * stats.norm.pdf(x, m1, s1) + (1 - pi) * stats.norm.pdf(x, m2, s2)


@pytest.mark.parametrize("params", [(0.3, -1.0, 0.5, 2.0, 1.0), (0.8, 0.0, 2.0, 0.5, 0.3), (0.5, -3.0, 1.0, 3.0, 1.0)])
def test_gaussian_moment_match_matches_quadrature(params: tuple[float, ...]) -> None:
    mu, sigma = der.gaussian_moment_match(*params)
    mean, _ = integrate.quad(lambda x: x * _mixture_pdf(x, *params), -np.inf, np.inf)
    second, _ = integrate.quad(lambda x: x * x * _mixture_pdf(x, *params), -np.inf, np.inf)
    assert mu == pytest.approx(mean, abs=1e-8)
    assert sigma == pytest.approx(np.sqrt(second - mean**2), rel=1e-8)


def test_gaussian_moment_match_minimises_the_forward_kl() -> None:
    """Minimise E_p[-log N(x; mu, sigma^2)] (Simpson's rule on a fine grid) over (mu, log sigma) and compare."""
    params = (0.3, -1.0, 0.5, 2.0, 1.0)

    grid = np.linspace(-30.0, 30.0, 60001)
    density = _mixture_pdf(grid, *params)

    def cross_entropy_to_normal(theta: np.ndarray) -> float:
        mu, log_sigma = theta
        return float(integrate.simpson(-stats.norm.logpdf(grid, mu, np.exp(log_sigma)) * density, x=grid))

    res = optimize.minimize(
        cross_entropy_to_normal, x0=np.array([0.0, 0.0]), method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-12}
    )
    mu, sigma = der.gaussian_moment_match(*params)
    assert res.x[0] == pytest.approx(mu, abs=1e-5)
    assert np.exp(res.x[1]) == pytest.approx(sigma, rel=1e-5)


def test_gaussian_moment_match_broadcasts_and_validates() -> None:
    mu, sigma = der.gaussian_moment_match(np.array([0.0, 1.0]), 1.0, 2.0, 3.0, 4.0)
    np.testing.assert_allclose(mu, [3.0, 1.0])
    np.testing.assert_allclose(sigma, [4.0, 2.0])
    with pytest.raises(ValueError, match="pi"):
        der.gaussian_moment_match(1.5, 0.0, 1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="s2"):
        der.gaussian_moment_match(0.5, 0.0, 1.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="m1"):
        der.gaussian_moment_match(0.5, np.nan, 1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="broadcast"):
        der.gaussian_moment_match(np.full(2, 0.5), 0.0, np.ones(3), 0.0, 1.0)
    mu, sigma = der.gaussian_moment_match(0.5, 0.0, np.array([1.0, 2.0]), 0.0, 1.0)  # mu does not depend on s1
    assert mu.shape == sigma.shape == (2,)


# -- wrong claims are rejected ----------------------------------------------------------------


def test_nonzero_residual_raises_naming_it() -> None:
    a, b = sp.symbols("a b", positive=True)
    residuals = {"fine": sp.log(a * b) - sp.log(a) - sp.log(b), "wrong": sp.log(a * b) - sp.log(a)}
    bad = der.Derivation("bad", "", {"a": a, "b": b}, {}, residuals)
    with pytest.raises(AssertionError, match="'wrong'"):
        bad.verify()


def test_wrong_general_sum_identity_fails() -> None:
    """The general-K check is not vacuous: CE = H + KL(q || p) (arguments swapped) must not reduce to 0."""
    i, K = sp.Symbol("i", integer=True), sp.Symbol("K", integer=True, positive=True)
    P, Q = sp.IndexedBase("p", positive=True), sp.IndexedBase("q", positive=True)

    def total(e: sp.Expr) -> sp.Expr:
        return sp.Sum(e, (i, 1, K))

    residual = total(-P[i] * sp.log(Q[i])) - total(-P[i] * sp.log(P[i])) - total(P[i] * sp.log(Q[i] / P[i]))
    assert der.reduce_expression(residual) != 0


def test_log_rules_are_not_forced_without_positivity() -> None:
    """log(xy) = log x + log y is false for negative reals: it must not reduce to 0 for real symbols."""
    x, y = sp.symbols("x y", real=True)
    assert der.reduce_expression(sp.log(x * y) - sp.log(x) - sp.log(y)) != 0
    with pytest.raises(AssertionError, match="split"):
        der.Derivation("unsound", "", {}, {}, {"split": sp.log(x * y) - sp.log(x) - sp.log(y)}).verify()


def test_wrong_gradient_and_argmin_claims_fail(built: dict[str, der.Derivation]) -> None:
    grads = built["binary_gradients"]
    z, zw = grads.symbols["z"], grads.symbols["z_w"]
    sig, q = 1 / (1 + sp.exp(-z)), 1 / (1 + sp.exp(-zw))
    wrong = {
        "forward_sign": grads.expressions["grad_forward_kl"] - (q - sig),
        "reverse_without_sigma_prime": grads.expressions["grad_reverse_kl"] - (z - zw),
        "rce_as_forward": grads.expressions["grad_rce"] - (sig - q),
    }
    toy = built["toy_argmins"]
    q0, q1, q2 = (toy.symbols[f"q_{i}"] for i in range(3))
    wrong["reverse_argmin_arithmetic_mean"] = toy.expressions["argmin_reverse"] - (q0 + q2) / (q0 + q1 + q2)
    for key, residual in wrong.items():
        with pytest.raises(AssertionError, match=key):
            der.Derivation("wrong", "", {}, {}, {key: residual}).verify()


def test_positive_check_rejects_sign_indefinite_expressions() -> None:
    a, b = sp.symbols("a b", positive=True)
    with pytest.raises(AssertionError, match="'difference'"):
        der.Derivation("bad", "", {}, {}, {"ok": sp.S.Zero}, {"difference": a - b}).verify()
    der.Derivation("good", "", {}, {}, {"ok": sp.S.Zero}, {"sum": a * b + (a - b) ** 2}).verify()


def test_verify_all_reports_a_failing_derivation(monkeypatch: pytest.MonkeyPatch) -> None:
    a = sp.Symbol("a", positive=True)
    broken = lambda: der.Derivation("broken", "", {}, {}, {"r": a})  # noqa: E731
    monkeypatch.setattr(der, "DERIVATIONS", {"broken": broken, "ce_decomposition": der.ce_decomposition})
    assert der.verify_all() == {"broken": False, "ce_decomposition": True}


def test_derivation_rejects_bad_construction() -> None:
    with pytest.raises(ValueError, match="residuals"):
        der.Derivation("empty", "", {}, {}, {})
    with pytest.raises(ValueError, match="not a sympy expression"):
        der.Derivation("numeric", "", {}, {}, {"r": 0.0})
    with pytest.raises(ValueError, match="k"):
        der.ce_decomposition(1)
    d = der.ce_decomposition()
    with pytest.raises(ValueError, match="unknown expression"):
        d.lambdify("nope", ["p_0"])
    with pytest.raises(ValueError, match="unknown symbols"):
        d.lambdify("ce", ["x"])
