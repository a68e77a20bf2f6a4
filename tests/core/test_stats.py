"""revkl_core.stats against scipy and known cases."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sst

from revkl_core import stats


def test_t_interval_on_three_seeds_has_the_student_width():
    iv = stats.t_interval([0.80, 0.82, 0.84])
    sd = 0.02
    assert iv.half_width == pytest.approx(4.302652729911275 * sd / math.sqrt(3))
    assert iv.half_width / (1.96 * sd / math.sqrt(3)) == pytest.approx(2.195, abs=1e-3)  # the normal one is 2.2x too narrow


def test_single_value_has_no_interval():
    iv = stats.t_interval([0.5])
    assert iv.mean == 0.5 and math.isnan(iv.lo) and math.isnan(iv.hi)


def test_sign_test_on_8_of_16_is_not_significant():
    assert stats.sign_test(8, 8) == 1.0
    assert stats.sign_test(13, 3) == pytest.approx(sst.binomtest(13, 16).pvalue)
    assert stats.sign_test(13, 3) < 0.05


def test_paired_counts_ties_and_matches_scipy():
    a = [0.9, 0.8, 0.7, 0.75, 0.6, 0.66]
    b = [0.85, 0.8, 0.6, 0.70, 0.61, 0.60]
    c = stats.paired(a, b)
    d = np.subtract(a, b)
    assert (c.wins, c.ties, c.losses) == (4, 1, 1)
    assert c.mean_diff == pytest.approx(d.mean())
    assert c.p_wilcoxon == pytest.approx(sst.wilcoxon(d[d != 0]).pvalue)
    assert c.p_t == pytest.approx(sst.ttest_rel(a, b).pvalue)
    lo, hi = sst.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=sst.sem(d))
    assert (c.lo, c.hi) == pytest.approx((lo, hi))


def test_holm_ordering_and_monotonicity():
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.5, 0.001]) == pytest.approx([0.5, 0.002])


@given(st.lists(st.floats(0, 1), min_size=1, max_size=12))
def test_holm_never_lowers_a_p_value_and_keeps_the_order(ps):
    adj = stats.holm(ps)
    assert all(q >= p - 1e-15 and q <= 1 for p, q in zip(ps, adj))
    order = np.argsort(ps, kind="stable")
    assert all(adj[order[i]] <= adj[order[i + 1]] + 1e-15 for i in range(len(ps) - 1))


def test_verdict_flips_to_inconclusive_inside_the_noise():
    rng = np.random.default_rng(0)
    base = rng.normal(0.8, 0.02, size=16)
    clear = stats.paired(base + 0.03 + rng.normal(0, 0.003, 16), base)
    d = np.array([0.021, -0.018, 0.015, -0.02, 0.03, -0.012, 0.008, -0.025, 0.017, -0.011, 0.026, -0.019, 0.01, -0.016, 0.022, -0.02])
    noisy = stats.paired(base + d, base)  # 8 wins, 8 losses, mean +0.0005: inside the noise
    assert noisy.mean_diff > 0 and noisy.p_sign == 1.0
    assert stats.verdict(clear) == stats.HOLDS
    assert stats.verdict(clear, claimed_sign=-1) == stats.NOT_REPRODUCED
    assert stats.verdict(noisy) == stats.INCONCLUSIVE


def test_verdicts_use_the_paired_t_test_and_agree_with_the_interval():
    """Five seeds that all agree: Wilcoxon's exact p cannot go below 2/32, the t-test's can; the verdict follows
    the t-test, so before correction it says "holds" exactly when the 95% t-interval excludes 0."""
    a, b = [0.90, 0.91, 0.93, 0.92, 0.905], [0.85, 0.87, 0.86, 0.88, 0.86]
    c = stats.paired(a, b)
    assert c.p_wilcoxon == pytest.approx(0.0625)
    assert c.p_t == pytest.approx(sst.ttest_rel(a, b).pvalue) and c.p_t < 0.05
    assert c.lo > 0 and stats.verdict(c) == stats.HOLDS
    wide = stats.paired([0.9, 0.8, 0.95, 0.7, 0.9], [0.85, 0.87, 0.86, 0.88, 0.86])
    assert (wide.lo < 0 < wide.hi) and stats.verdict(wide) == stats.INCONCLUSIVE


def test_a_repeated_identical_difference_is_no_evidence():
    c = stats.paired([0.9, 0.9, 0.9], [0.8, 0.8, 0.8])
    assert c.p_t == 1.0 and stats.verdict(c) == stats.INCONCLUSIVE


def test_adjust_applies_holm_to_the_family():
    fam = stats.adjust([stats.paired([1, 2, 3, 4, 5, 6, 7], [0] * 7), stats.paired([1, -1, 1, -1, 2, 0, 1], [0] * 7)])
    assert fam[0].p == pytest.approx(min(1, 2 * fam[0].p_t))
    assert fam[1].p >= fam[1].p_t


def test_combine_and_agreement():
    H, N, I = stats.HOLDS, stats.NOT_REPRODUCED, stats.INCONCLUSIVE
    assert stats.combine([H, H]) == H
    assert stats.combine([H, N]) == N
    assert stats.combine([H, I]) == I
    assert stats.combine([]) == I
    assert stats.agreement([H, H, I]) == "holds in 2 of 3 studies, inconclusive in 1"
