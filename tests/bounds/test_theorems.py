"""Each theorem on instances built to break it; each non-theorem refuted by a found counterexample."""

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

from bounds.instances import approximate_or_misspecified, extremal, fitted_convex, fitted_softmax
from bounds.theorems import (
    COUNTEREXAMPLE_MARGIN,
    NT_FORWARD,
    NT_SOFTMAX,
    T0,
    T1,
    T2,
    T3,
    T4,
    T5,
    THEOREMS,
    Instances,
    Sides,
    applicable,
)
from bounds.strategies import instances, same_shape_triples, seeds


def _instances(triple):
    return Instances(*triple)


@given(same_shape_triples())
def test_universal_bounds_hold(triple):
    inst = _instances(triple)
    for thm in (T1, T2, T3):
        res = thm.check(inst)
        assert res.hypotheses_met.all()
        assert res.holds.all(), (thm.name, res.lhs, res.rhs)


@given(same_shape_triples())
def test_t3_is_never_looser_than_t1_t2(triple):
    res = T3.check(_instances(triple))
    l3 = np.maximum(res.extras["bound_forward"], res.extras["bound_reverse"])
    l12 = np.maximum(res.extras["t1_lower"], res.extras["t2_lower"])
    assert np.all(l3 >= l12 - 1e-12 * np.abs(l12))
    strictly = res.extras["misfit"] > 1e-8
    assert np.all(l3[strictly] > l12[strictly])


def test_a_tenfold_sharper_t1_is_refuted():
    """The check can fail: with C(gamma)/10 instead of C(gamma), a counterexample exists and is found."""
    def sides(inst):
        s = T1.sides(inst)
        return Sides(s.lhs, s.rhs / 10, s.allowance, s.rounding / 10, s.extras)

    wrong = T1.with_sides("T1/10", sides)
    triple = find(same_shape_triples(floor_exponent=(-1.5, -1.0)), lambda t: not wrong.check(_instances(t)).holds.all(),
                  settings=settings(max_examples=5000, database=None))
    assert not wrong.check(_instances(triple)).holds.all()
    assert T1.check(_instances(triple)).holds.all()


@pytest.mark.parametrize("thm", [T1, T2, T3], ids=["T1", "T2", "T3"])
def test_the_constant_is_sharp_one_percent_smaller_is_refuted(thm):
    """On the extremal family the ratio reaches 0.99, so a bound 1% tighter (rhs * 0.99) is violated there."""
    inst = extremal(np.random.default_rng(0), 64, 3)
    res = thm.check(inst)
    assert res.holds.all() and res.hypotheses_met.all()
    assert np.nanmax(res.ratio) >= 0.999
    wrong = thm.with_sides(thm.name + "*0.99", lambda i: (lambda s: Sides(s.lhs, 0.99 * s.rhs, s.allowance, s.rounding, s.extras))(thm.sides(i)))
    assert not wrong.check(inst).holds.all()


@pytest.mark.parametrize("name", ["T0", "T4", "T6"])
@given(seed=seeds, family=st.sampled_from(["noisy", "independent", "near-boundary"]))
@settings(max_examples=500)
def test_fitted_theorems_hold(name, seed, family):
    rng = np.random.default_rng(seed)
    k, n = int(rng.integers(2, 8)), int(rng.integers(1, 40))
    if name == "T6":
        inst = approximate_or_misspecified(rng, 2, n, k, family)
    else:
        inst = fitted_convex(rng, 2, n, k, family, {"T0": "squared", "T4": "reverse_kl"}[name])
    res = THEOREMS[name].check(inst)
    # The allowance is the solver's own certificate, so the inequality must hold on every instance,
    # including the rare degenerate ones whose certificate misses the 1e-9 "exact" threshold.
    assert res.holds.all(), (res.lhs, res.rhs, res.allowance)
    assert res.hypotheses["prob_convex"].all() and (name == "T6" or res.hypotheses["realizable"].all())


@given(seed=seeds)
@settings(max_examples=500)
def test_t5_dual_identity(seed):
    rng = np.random.default_rng(seed)
    inst = fitted_softmax(rng, 2, int(rng.integers(3, 40)), int(rng.integers(2, 6)), "noisy", "forward_kl")
    res = T5.check(inst)
    met = res.hypotheses_met
    assert met.any()
    assert res.holds[met].all()
    assert np.abs(res.extras["identity_residual"][met]).max() < 1e-8


def _certified_counterexample(thm, inst):
    return thm.counterexamples(thm.check(inst), inst).any()


def test_forward_kl_on_convex_class_is_refuted():
    def build(seed):
        rng = np.random.default_rng(seed)
        return fitted_convex(rng, 8, int(rng.integers(1, 20)), int(rng.integers(2, 6)), "noisy", "forward_kl")

    seed = find(seeds, lambda s: _certified_counterexample(NT_FORWARD, build(s)), settings=settings(max_examples=500, database=None))
    inst = build(seed)
    res = NT_FORWARD.check(inst)
    i = int(np.argmax(res.lhs - res.rhs))
    assert res.lhs[i] - res.rhs[i] > COUNTEREXAMPLE_MARGIN and inst.certificate[i] < 1e-9
    # The same instance satisfies T4 when trained with reverse KL instead: the loss is what matters.
    assert T4.check(fitted_convex(np.random.default_rng(seed), 8, inst.fstar.shape[1], inst.fstar.shape[2], "noisy", "reverse_kl")).holds.all()


def test_reverse_kl_on_softmax_class_is_refuted():
    def build(seed):
        rng = np.random.default_rng(seed)
        return fitted_softmax(rng, 4, int(rng.integers(5, 30)), int(rng.integers(2, 5)), "noisy", "reverse_kl")

    seed = find(seeds, lambda s: _certified_counterexample(NT_SOFTMAX, build(s)), settings=settings(max_examples=200, database=None))
    assert _certified_counterexample(NT_SOFTMAX, build(seed))


def test_hypotheses_are_checked_not_assumed():
    rng = np.random.default_rng(0)
    fwd = fitted_convex(rng, 2, 10, 3, "noisy", "forward_kl")
    assert not T4.check(fwd).hypotheses["reverse_fit"].any()
    assert T0.check(fwd).hypotheses_met.sum() == 0
    bare = Instances(fwd.fstar, fwd.fw, fwd.fsw)
    assert set(applicable(bare)) == {"T1", "T2", "T3"}
    zero = Instances(np.full((1, 2, 2), 0.5), np.array([[[1.0, 0.0], [0.5, 0.5]]]), np.full((1, 2, 2), 0.5))
    assert not T1.check(zero).hypotheses["floor"].any()


def test_every_family_meets_its_hypotheses():
    rng = np.random.default_rng(1)
    for name, thm in THEOREMS.items():
        for fam, gen in thm.families.items():
            assert thm.check(gen(rng, 4, 12, 3)).hypotheses_met.any(), (name, fam)


def test_instances_bad_input():
    good = np.full((3, 2), 0.5)
    with pytest.raises(ValueError, match="shape mismatch"):
        Instances(good, good, np.full((4, 2), 0.5))
    with pytest.raises(ValueError, match="fw: each row must sum to 1"):
        Instances(good, np.full((3, 2), 0.4), good)
    with pytest.raises(ValueError, match="fstar: expected shape"):
        Instances(np.full(3, 0.5), good, good)
    with pytest.raises(ValueError, match="weights"):
        Instances(good, good, good, weights=-np.ones(3))


def test_an_infinite_error_is_a_violation_not_excused_by_rounding():
    """F_sw with a zero where F* has mass: Err(F_sw) = inf, and T4's inequality must read as failed."""
    from bounds.theorems import CheckResult

    res = CheckResult("T4", lhs=np.array([np.inf, 1.0]), rhs=np.array([0.5, 1.0]), allowance=np.zeros(2), hypotheses={})
    assert np.all(np.isfinite(res.tol))
    assert res.holds.tolist() == [False, True]
    assert res.slack[0] < -res.tol[0]


def test_a_counterexample_breaks_beyond_allowance_and_margin_on_a_certified_fit():
    """bounds.theorems.breaks: failing within the certificate's allowance, by less than the margin, or on an
    uncertified fit is no counterexample."""
    from bounds.quantities import Instances
    from bounds.theorems import CERTIFIED, COUNTEREXAMPLE_MARGIN, CheckResult, breaks

    lhs = np.array([1.0, 1.0, 1.0, 1.0, np.inf, np.nan])
    rhs = lhs - np.array([1e-3, 1e-3, COUNTEREXAMPLE_MARGIN / 2, 1e-3, 0.0, 0.0])  # each fails, or is undefined
    rhs[4:] = 1.0
    res = CheckResult("T4", lhs=lhs, rhs=rhs, allowance=np.array([0.0, 2e-3, 0.0, 0.0, 0.0, 0.0]), hypotheses={})
    p = np.full((6, 1, 2), 0.5)
    cert = np.array([CERTIFIED / 10, CERTIFIED / 10, 0.0, 10 * CERTIFIED, 0.0, 0.0])
    assert breaks(res, Instances(fstar=p, fw=p, fsw=p, certificate=cert)).tolist() == [True, False, False, False, True, False]


def test_nt_softmax_needs_a_local_minimum_and_for_k2_the_global_search():
    rng = np.random.default_rng(5)
    inst = fitted_softmax(rng, 3, 20, 2, "noisy", "reverse_kl")
    assert inst.global_search is not None and inst.min_hessian_eig is not None
    res = NT_SOFTMAX.check(inst)
    assert np.array_equal(res.hypotheses["local_minimum"], inst.min_hessian_eig > 1e-10)
    assert np.array_equal(res.hypotheses["global_k2"], inst.global_search)
    inst.min_hessian_eig = -np.ones(3)
    inst.global_search = np.array([True, False, True])
    res = NT_SOFTMAX.check(inst)
    assert not res.hypotheses["local_minimum"].any() and res.hypotheses["global_k2"].tolist() == [True, False, True]
    assert not NT_SOFTMAX.counterexamples(res, inst).any()


def test_unconverged_t4_fits_are_checked_with_the_certificate_and_counted():
    from bounds.verify import verify

    rng = np.random.default_rng(2)
    inst = fitted_convex(rng, 4, 10, 3, "noisy", "reverse_kl")
    inst.certificate = np.array([1e-6, 0.0, 1e-12, 1e-3])
    res = T4.check(inst)
    assert res.hypotheses_met.all() and np.array_equal(res.allowance >= inst.certificate, np.ones(4, bool))
    cols = {"slack": res.slack, "ratio": res.ratio, "lhs": res.lhs, "rhs": res.rhs, **res.extras}
    t = T4.tightness(cols)
    assert t["unconverged"] == 2 and "2 fits with certificate" in T4.describe(t)
    assert "unconverged" in verify(16, 0, results=["T4"], progress=False)["T4"]["tightness"]


def test_verify_reports_the_largest_ratio_reached():
    from bounds.verify import format_table, verify

    rep = verify(64, 0, results=["T1", "T2", "T3"], progress=False)
    for name in ("T1", "T2", "T3"):
        assert rep[name]["tightness"]["max_ratio"] >= 0.99 and rep[name]["relation"] == THEOREMS[name].relation
        assert rep[name]["families"] == {"extremal": 64}
    import re

    shown = [float(x) for x in re.findall(r"max (?:\|gap\||gap)/bound ([0-9.]+)", format_table(rep))]
    assert len(shown) == 3 and min(shown) >= 0.99


@given(instances("T4"))
@settings(max_examples=20, deadline=None)
def test_t4_holds_on_the_families_drawn_by_the_exported_strategy(inst):
    """bounds.strategies.instances draws what `revkl bounds verify` draws for a result."""
    res = T4.check(inst)
    assert res.hypotheses_met.all() and res.holds.all()
