"""No false violations at tiny misfit: near-equal F_w, F_sw in float32 and float64, checked against mpmath."""

import mpmath
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import softmax

from bounds.divergences import kl
from bounds.quantities import Instances, gap_estimate
from bounds.theorems import T1, T2, T3, pinsker_constant, sharp_lower_bound


@st.composite
def near_equal(draw):
    """(F*, F_w, F_sw): F_sw a logit perturbation of size 1e-10..1e-4 of F_w (misfit ~1e-20..1e-8), or the same
    softmax computed two ways; in float32 or float64; k = 2..50."""
    k = draw(st.integers(2, 50))
    n = draw(st.integers(1, 4))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=draw(st.sampled_from([0.1, 1.0, 4.0])), size=(n, k))
    fw = softmax(z.astype(dtype), axis=-1)
    if draw(st.booleans()):
        e = np.exp(z.astype(dtype) - z.astype(dtype).max(-1, keepdims=True))  # the same softmax, computed another way
        fsw = e / e.sum(-1, keepdims=True)
    else:
        scale = 10.0 ** draw(st.floats(-10, -4))
        fsw = softmax((z + scale * rng.normal(size=(n, k))).astype(dtype), axis=-1)
    fstar = np.eye(k)[rng.integers(0, k, n)] if draw(st.booleans()) else rng.dirichlet(np.ones(k), n)
    return fstar, fw.astype(np.float64), fsw.astype(np.float64)


@given(near_equal())
@settings(max_examples=400, deadline=None)
def test_near_equal_pairs_give_no_false_violation(triple):
    inst = Instances(*triple)
    for thm in (T1, T2, T3):
        res = thm.check(inst)
        assert res.holds.all(), (thm.name, res.lhs, res.rhs, res.tol)


def test_kl_is_accurate_for_near_equal_rows():
    """The term-wise form keeps relative accuracy where the plain sum p log p - p log q cancels to noise."""
    mpmath.mp.dps = 60
    rng = np.random.default_rng(0)
    for scale in (1e-12, 1e-9, 1e-6):
        p = rng.dirichlet(np.ones(7))
        q = softmax(np.log(p) + scale * rng.normal(size=7))
        exact = _kl_exact(p, q)
        assert abs(float(kl(p, q)) - exact) <= 1e-3 * exact  # logs carry ~1e-16 absolute error against d ~ scale
        plain = float(np.sum(p * (np.log(p) - np.log(q))))
        if scale <= 1e-9:  # the plain sum is rounding noise of order 1e-17, orders of magnitude off
            assert abs(plain - exact) > 100 * abs(float(kl(p, q)) - exact)


def _normalised(row) -> list:
    s = mpmath.fsum(mpmath.mpf(float(x)) for x in row)
    return [mpmath.mpf(float(x)) / s for x in row]


def _kl_exact(p, q) -> float:
    P, Q = _normalised(p), _normalised(q)
    return float(mpmath.fsum(a * mpmath.log(a / b) for a, b in zip(P, Q) if a > 0))


@given(near_equal())
@settings(max_examples=40, deadline=None)
def test_values_and_error_bounds_agree_with_mpmath(triple):
    """On a sample, the exact (60-digit) misfits and gap lie within the computed error bounds, and every bound holds
    exactly, so the check's verdict is the exact one."""
    mpmath.mp.dps = 60
    inst = Instances(*triple)
    fstar, fw, fsw = (np.asarray(a, dtype=np.float64).reshape(inst.fstar.shape[1:]) for a in triple)
    n = fw.shape[0]
    Mf = sum(_kl_exact(fw[j], fsw[j]) for j in range(n)) / n
    Mr = sum(_kl_exact(fsw[j], fw[j]) for j in range(n)) / n
    D = sum(_kl_exact(fstar[j], fsw[j]) - _kl_exact(fstar[j], fw[j]) for j in range(n)) / n
    for (val, err), exact in ((inst.kl_estimate(inst.fw, inst.fsw), Mf), (inst.kl_estimate(inst.fsw, inst.fw), Mr),
                              (gap_estimate(inst), D)):
        assert abs(val[0] - exact) <= err[0] + 1e-300, (val[0], exact, err[0])
    gamma = float(min(min(_normalised(r)) for r in np.concatenate([fw, fsw])))
    gw = float(min(min(_normalised(r)) for r in fw))
    C = float(pinsker_constant(np.array(gamma)))
    assert abs(D) <= C * np.sqrt(Mf) * (1 + 1e-12) + 1e-300
    assert abs(D) <= C * np.sqrt(Mr) * (1 + 1e-12) + 1e-300
    assert D >= max(sharp_lower_bound(np.array(Mf), gw), sharp_lower_bound(np.array(Mr), gw)) * (1 + 1e-12)
