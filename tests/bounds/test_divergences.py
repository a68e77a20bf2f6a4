"""Divergences and losses: identities, boundary conventions, gradients, bad input."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bounds import (
    LOSSES,
    Categorical,
    cross_entropy,
    entropy,
    forward_kl,
    get_loss,
    kl,
    reverse_cross_entropy,
    reverse_kl,
    total_variation,
)
from bounds.strategies import simplex_rows

pairs = st.integers(1, 6).flatmap(lambda n: st.integers(2, 10).flatmap(lambda k: st.tuples(simplex_rows(n, k), simplex_rows(n, k, 1e-4))))


@given(pairs)
def test_kl_identities(pq):
    p, q = pq
    d = kl(p, q)
    assert np.all(d >= -1e-12)
    np.testing.assert_allclose(kl(p, p), 0.0, atol=1e-12)
    np.testing.assert_allclose(cross_entropy(p, q), entropy(p) + d, rtol=1e-10, atol=1e-10)
    assert np.all(total_variation(p, q) <= np.sqrt(np.maximum(d, 0) / 2) + 1e-12)  # Pinsker


@given(pairs)
def test_losses_are_the_named_directions(pq):
    weak, strong = pq
    np.testing.assert_allclose(forward_kl(strong, weak), kl(weak, strong))
    np.testing.assert_allclose(reverse_kl(strong, weak), kl(strong, weak))
    # RCE = reverse KL + H(F_sw)
    np.testing.assert_allclose(reverse_cross_entropy(strong, weak), reverse_kl(strong, weak) + entropy(strong), rtol=1e-10, atol=1e-10)


@given(st.integers(2, 8).flatmap(lambda k: hnp.arrays(np.float64, (3, k), elements=st.floats(-30, 30))), st.integers(0, 10**6))
@settings(max_examples=100)  # a wiring check between back ends, not a theorem: fewer examples suffice
def test_numpy_and_torch_agree_from_logits(a, seed):
    b = np.random.default_rng(seed).normal(size=a.shape) * 5
    for name, loss in LOSSES.items():
        v_np = loss(Categorical.from_logits(a), Categorical.from_logits(b))
        v_t = loss(Categorical.from_logits(torch.tensor(a)), Categorical.from_logits(torch.tensor(b))).numpy()
        np.testing.assert_allclose(v_np, v_t, rtol=1e-9, atol=1e-9, err_msg=name)
        # The probability path gives the same value as the logit path.
        v_p = loss(Categorical.from_probs(np.exp(Categorical.from_logits(a).log_probs)), Categorical.from_logits(b))
        np.testing.assert_allclose(v_p, v_np, rtol=1e-7, atol=1e-9, err_msg=name)


def test_boundary_conventions():
    p = np.array([[0.0, 1.0]])
    q = np.array([[0.5, 0.5]])
    assert kl(p, q)[0] == pytest.approx(np.log(2))  # 0 log 0 = 0
    assert entropy(p)[0] == 0.0
    assert np.isinf(kl(q, p)[0])  # mass where the second argument has none
    assert np.isinf(reverse_kl(q, p)[0]) and np.isinf(reverse_cross_entropy(q, p)[0])
    smoothed = Categorical.from_probs(p).smoothed(1e-3)
    assert np.isfinite(reverse_kl(Categorical.from_probs(q), smoothed)[0])
    np.testing.assert_allclose(smoothed.probs, [[5e-4, 1 - 5e-4]])


def test_binary_logit_is_two_class_softmax():
    z = np.array([-3.0, 0.0, 2.5])
    two = Categorical.from_logits(np.stack([np.zeros_like(z), z], -1))
    np.testing.assert_allclose(Categorical.from_binary_logit(z).log_probs, two.log_probs)
    np.testing.assert_allclose(Categorical.from_binary_probs(1 / (1 + np.exp(-z))).log_probs, two.log_probs, atol=1e-12)


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("binary", [False, True])
def test_gradcheck_float64(name, binary):
    g = torch.Generator().manual_seed(0)
    shape = (5,) if binary else (5, 4)
    z = torch.randn(shape, generator=g, dtype=torch.float64, requires_grad=True)
    zw = torch.randn(shape, generator=g, dtype=torch.float64, requires_grad=True)
    make = Categorical.from_binary_logit if binary else Categorical.from_logits

    def f(a, b):
        return LOSSES[name](make(a), make(b), reduction="mean")

    assert torch.autograd.gradcheck(f, (z, zw))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("name", list(LOSSES))
def test_gradients_finite_for_huge_logits(name, dtype):
    z = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]], dtype=dtype, requires_grad=True)
    zw = torch.tensor([[-1e4, 1e4, 0.0], [1e4, 0.0, -1e4]], dtype=dtype)
    v = LOSSES[name](Categorical.from_logits(z), Categorical.from_logits(zw), reduction="mean")
    v.backward()
    assert torch.isfinite(v) and torch.isfinite(z.grad).all()


def test_binary_gradients_match_closed_forms():
    z = torch.linspace(-4, 4, 9, dtype=torch.float64, requires_grad=True)
    zw = torch.full_like(z, 0.7)
    s = torch.sigmoid(z.detach())
    expected = {"forward_kl": s - torch.sigmoid(zw), "ce": s - torch.sigmoid(zw),
                "reverse_kl": s * (1 - s) * (z.detach() - zw), "rce": -s * (1 - s) * zw}
    for name, want in expected.items():
        loss = LOSSES[name](Categorical.from_binary_logit(z), Categorical.from_binary_logit(zw), reduction="sum")
        (g,) = torch.autograd.grad(loss, z)
        torch.testing.assert_close(g, want)


def test_mean_reduces_over_examples_not_classes():
    p = np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]])
    q = np.array([[0.3, 0.3, 0.4], [0.1, 0.1, 0.8]])
    assert kl(p, q, reduction="mean") == pytest.approx(kl(p, q).sum() / 2)
    assert kl(p, q, reduction="mean", weights=[1.0, 3.0]) == pytest.approx((kl(p, q) * [1, 3]).sum() / 4)
    with pytest.raises(ValueError, match="reduction"):
        kl(p, q, reduction="batchmean")


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.array([[0.5, -0.2, 0.7]]), "non-negative"),
        (np.array([[np.nan, 0.5, 0.5]]), "NaN"),
        (np.array([[0.5, 0.2, 0.2]]), "sum to 1"),
        (np.array(0.3), "scalar"),
    ],
)
def test_bad_probabilities_name_the_argument(bad, message):
    with pytest.raises(ValueError, match=message) as err:
        kl(bad, np.array([[0.2, 0.3, 0.5]]))
    assert err.value.args[0].startswith("p:")
    with pytest.raises(ValueError, match="^weak:"):
        forward_kl(np.array([[0.2, 0.3, 0.5]]), bad)


def test_shape_mismatch_and_bad_logits():
    with pytest.raises(ValueError, match="shape mismatch.*strong.*weak"):
        reverse_kl(np.full((2, 3), 1 / 3), np.full((2, 4), 1 / 4))
    with pytest.raises(ValueError, match="shape mismatch"):
        kl(np.full((2, 3), 1 / 3), np.full((5, 3), 1 / 3))
    with pytest.raises(ValueError, match="logits: contains NaN"):
        Categorical.from_logits(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match=r"prob: probabilities must lie in \[0, 1\]"):
        Categorical.from_binary_probs(np.array([1.5]))
    with pytest.raises(ValueError, match="unknown loss"):
        get_loss("kl_forward")


@pytest.mark.parametrize("name", list(LOSSES))
def test_nan_propagates_when_validation_is_skipped(name):
    """Unvalidated NaN logits must poison the loss, not be masked as a zero-probability class."""
    z = torch.tensor([0.3, float("nan")])
    v = LOSSES[name](Categorical.from_binary_logit(z, validate=False), Categorical.from_binary_logit(torch.zeros(2)))
    assert torch.isfinite(v[0]) and torch.isnan(v[1])
    assert torch.isnan(entropy(Categorical.from_binary_logit(z, validate=False)))[1]


def test_accepted_rows_are_renormalised_and_kl_is_termwise_nonnegative():
    from bounds.divergences import check_probs

    p = np.array([[0.5, 0.5 + 5e-7], [0.2, 0.8 - 5e-7]])
    out = check_probs(p)
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=0, atol=1e-15)
    # Identical rows give exactly 0 (no rounding residue of either sign), near-equal rows a positive KL.
    q = np.random.default_rng(0).dirichlet(np.ones(6), 50)
    assert np.all(kl(q, q) == 0.0)
    r = q * np.exp(1e-9 * np.random.default_rng(1).normal(size=q.shape))
    assert np.all(kl(q, r / r.sum(-1, keepdims=True)) > 0)


def test_kl_closed_form_gradient_matches_autograd_of_the_plain_sum():
    """kl's training path (a closed-form backward) gives the value of the no-grad path and the gradient autograd
    gives for the plain sum p (log p - log q), also where p has an exact zero."""
    from bounds import kl

    g = torch.Generator().manual_seed(1)
    zp = torch.randn(6, 4, generator=g, dtype=torch.float64)
    zp[:, 0] = -torch.inf  # p_0 = 0 exactly
    zq = torch.randn(6, 4, generator=g, dtype=torch.float64)
    grads = []
    for plain in (False, True):
        a, b = zp.clone().requires_grad_(True), zq.clone().requires_grad_(True)
        P, Q = Categorical.from_logits(a), Categorical.from_logits(b)
        if plain:
            pos = P.probs > 0
            lp = torch.where(pos, P.log_probs, torch.zeros_like(P.log_probs))  # no -inf in the unused branch
            v = torch.where(pos, P.probs * (lp - Q.log_probs), torch.zeros_like(lp)).sum(-1)
        else:
            v = kl(P, Q)
            with torch.no_grad():
                torch.testing.assert_close(v, kl(Categorical.from_logits(zp), Categorical.from_logits(zq)), rtol=0, atol=0)
        (v * torch.arange(1.0, 7.0, dtype=torch.float64)).sum().backward()
        grads.append((a.grad[:, 1:], b.grad))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-12, atol=1e-14)
