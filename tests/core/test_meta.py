"""revkl_core.stats.meta_analysis against published worked examples and the cases the scorecard meets.

Published numbers (DerSimonian-Laird tau^2, Hartung-Knapp interval):

* Raudenbush, S. W. (2009). Analyzing effect sizes: random-effects models. In Cooper, Hedges & Valentine
  (eds.), *The Handbook of Research Synthesis and Meta-Analysis* (2nd ed.), Table 16.3, p. 309: the 19
  teacher-expectancy studies of Raudenbush & Bryk (1985) (metafor's ``dat.raudenbush1985``), DL with the
  Knapp-Hartung method: tau^2 = 0.0259, mu = 0.0893, SE = 0.0636, t = 1.405, 95% CI [-0.0442, 0.2229];
  Cochran's Q = 35.8295 (p. 302). The same values are metafor's regression test
  ``tests/testthat/test_analysis_example_raudenbush2009.r`` (``rma(yi, vi, method="DL", test="knha")``).
* The BCG vaccine trials (Colditz et al. 1994; metafor's ``dat.bcg``), log risk ratios, DL:
  tau^2 = 0.3088, mu = -0.7141, I^2 = 92.1173%, Q = 152.2330, checked by metafor against Stata's
  ``metan`` (``tests/testthat/test_misc_metan_vs_rma.uni_with_dat.bcg.r``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sst

from revkl_core import stats
from revkl_core.stats import StudyEffect, meta_analysis

# dat.raudenbush1985: standardized mean differences and their sampling variances, as published (2 and 4 decimals).
RAUDENBUSH_YI = (0.03, 0.12, -0.14, 1.18, 0.26, -0.06, -0.02, -0.32, 0.27, 0.80, 0.54, 0.18, -0.02, 0.23, -0.18, -0.06,
                 0.30, 0.07, -0.07)
RAUDENBUSH_VI = (0.0156, 0.0216, 0.0279, 0.1391, 0.1362, 0.0106, 0.0106, 0.0484, 0.0269, 0.0630, 0.0912, 0.0497, 0.0835,
                 0.0841, 0.0253, 0.0279, 0.0193, 0.0088, 0.0303)
RAUDENBUSH_N = (416, 258, 144, 33, 33, 477, 746, 125, 149, 64, 44, 81, 48, 51, 159, 144, 320, 457, 132)  # n1i + n2i
# dat.bcg: TB cases and non-cases, vaccinated (tpos, tneg) and control (cpos, cneg).
BCG = ((4, 119, 11, 128), (6, 300, 29, 274), (3, 228, 11, 209), (62, 13536, 248, 12619), (33, 5036, 47, 5761),
       (180, 1361, 372, 1079), (8, 2537, 10, 619), (505, 87886, 499, 87892), (29, 7470, 45, 7232), (17, 1699, 65, 1600),
       (186, 50448, 141, 27197), (5, 2493, 3, 2338), (27, 16886, 29, 17825))
PUBLISHED = 1e-4  # the published values are rounded to 4 decimals


def _studies(y, se, n=None) -> list[StudyEffect]:
    n = n or [10] * len(y)
    return [StudyEffect.of(f"s{i}", yi, si, ni) for i, (yi, si, ni) in enumerate(zip(y, se, n))]


def test_raudenbush_2009_table_16_3_dl_knapp_hartung() -> None:
    studies = _studies(RAUDENBUSH_YI, np.sqrt(RAUDENBUSH_VI), RAUDENBUSH_N)
    m = meta_analysis(studies)
    assert (m.k, m.df) == (19, 18)
    assert m.tau2 == pytest.approx(0.0259, abs=PUBLISHED)
    assert m.mean_diff == pytest.approx(0.0893, abs=PUBLISHED)
    assert m.se == pytest.approx(0.0636, abs=PUBLISHED)
    assert m.mean_diff / m.se == pytest.approx(1.405, abs=1e-3)
    assert (m.lo, m.hi) == pytest.approx((-0.0442, 0.2229), abs=PUBLISHED)
    assert m.q == pytest.approx(35.8295, abs=PUBLISHED)
    assert m.p_t == pytest.approx(2 * sst.t.sf(1.405, 18), abs=1e-3)
    # Here q > 1, so the floor is inactive: plain Hartung-Knapp gives the same numbers.
    plain = meta_analysis(studies, hk_floor=False)
    assert (plain.se, plain.lo, plain.hi, plain.p_t) == pytest.approx((m.se, m.lo, m.hi, m.p_t))
    # I^2 and the prediction interval (Higgins et al. 2009: t on k - 2 df) from the published Q, mu, SE and tau^2.
    assert m.i2 == pytest.approx((35.8295 - 18) / 35.8295, abs=PUBLISHED)
    half = sst.t.ppf(0.975, 17) * math.sqrt(0.0259 + 0.0636**2)
    assert (m.pi_lo, m.pi_hi) == pytest.approx((0.0893 - half, 0.0893 + half), abs=1e-3)
    assert m.pi_lo < m.lo and m.hi < m.pi_hi


def test_bcg_vaccine_dersimonian_laird() -> None:
    y = [math.log((a / (a + b)) / (c / (c + d))) for a, b, c, d in BCG]
    v = [1 / a - 1 / (a + b) + 1 / c - 1 / (c + d) for a, b, c, d in BCG]
    m = meta_analysis(_studies(y, np.sqrt(v), [sum(t) for t in BCG]))
    assert m.tau2 == pytest.approx(0.3088, abs=PUBLISHED)
    assert m.mean_diff == pytest.approx(-0.7141, abs=PUBLISHED)
    assert 100 * m.i2 == pytest.approx(92.1173, abs=PUBLISHED)
    assert m.q == pytest.approx(152.2330, abs=PUBLISHED)
    assert sum(m.weights) == pytest.approx(1.0) and m.hi < 0 and m.p_t < 0.05


def test_identical_studies_give_tau2_zero_and_the_fixed_effect_answer() -> None:
    same = meta_analysis(_studies([2.0] * 4, [0.5] * 4))
    assert (same.tau2, same.i2, same.q) == (0.0, 0.0, 0.0)
    assert same.mean_diff == 2.0 and same.se == pytest.approx(0.5 / 2)  # fixed-effect SE: s / sqrt(k)
    assert (same.lo, same.hi) == pytest.approx((2 - sst.t.ppf(0.975, 3) * 0.25, 2 + sst.t.ppf(0.975, 3) * 0.25))
    # Effects that agree better than their errors predict (Q < k - 1): tau^2 = 0, the inverse-variance answer.
    y, se = np.array([1.0, 1.2, 0.9]), np.array([0.5, 0.3, 0.4])
    w = 1 / se**2
    m = meta_analysis(_studies(y, se))
    assert m.tau2 == 0.0 and m.i2 == 0.0
    assert m.mean_diff == pytest.approx(np.sum(w * y) / np.sum(w))
    assert m.se == pytest.approx(1 / math.sqrt(np.sum(w)))
    assert m.weights == pytest.approx(tuple(w / w.sum()))
    # Plain Hartung-Knapp would be narrower than the fixed-effect interval here, and of zero width on equal effects.
    assert meta_analysis(_studies(y, se), hk_floor=False).se < m.se
    flat = meta_analysis(_studies([2.0] * 4, [0.5] * 4), hk_floor=False)
    assert flat.se == 0.0 and flat.p_t == 1.0 and stats.verdict(flat) == stats.INCONCLUSIVE


def test_one_discordant_study_raises_tau2_and_widens_the_interval() -> None:
    agree = [1.0, 1.1, 0.9, 1.05]
    se = [0.2] * 5
    base = meta_analysis(_studies(agree + [1.0], se))
    assert base.tau2 == 0.0
    previous = base
    for outlier in (2.0, 3.0, 5.0):
        m = meta_analysis(_studies(agree + [outlier], se))
        assert m.tau2 > previous.tau2 and m.i2 > previous.i2 and m.q > previous.q
        assert m.hi - m.lo > previous.hi - previous.lo
        assert m.pi_hi - m.pi_lo > m.hi - m.lo  # a new study varies by tau^2 as well
        previous = m
    # Equal within-study errors: the weights stay equal, so mu is the plain mean whatever tau^2 is.
    assert previous.mean_diff == pytest.approx(np.mean(agree + [5.0]))
    # Unequal errors: tau^2 flattens the weights towards equal (the random-effects weights are less extreme).
    fe = meta_analysis(_studies([1.0, 1.0, 1.0, 4.0], [0.1, 0.1, 0.1, 0.5]))
    w_fe = np.array([100, 100, 100, 4.0]) / 304
    assert fe.tau2 > 0 and fe.weights[3] > w_fe[3]


def test_two_studies_have_no_prediction_interval() -> None:
    m = meta_analysis(_studies([1.0, 3.0], [0.3, 0.4]))
    assert (m.k, m.df) == (2, 1)
    assert math.isnan(m.pi_lo) and math.isnan(m.pi_hi)
    assert m.tau2 > 0 and 0 < m.i2 < 1
    assert (m.hi - m.lo) / 2 == pytest.approx(sst.t.ppf(0.975, 1) * m.se)  # t on 1 df: 12.7
    assert [s["label"] for s in m.to_dict()["studies"]] == ["s0", "s1"]  # the per-study inputs travel with the result


def test_one_study_is_reported_as_itself() -> None:
    a, b = [0.90, 0.91, 0.93, 0.92, 0.905], [0.85, 0.87, 0.86, 0.88, 0.86]
    c = stats.paired(a, b)
    m = meta_analysis([StudyEffect.from_paired("only", c)])
    assert (m.k, m.df, m.method) == (1, 4, stats.SINGLE_STUDY)
    assert (m.mean_diff, m.lo, m.hi) == pytest.approx((c.mean_diff, c.lo, c.hi))
    assert m.p_t == pytest.approx(c.p_t)
    assert all(math.isnan(x) for x in (m.tau2, m.i2, m.q, m.pi_lo, m.pi_hi))


def test_studies_without_within_study_variance_are_left_out_with_the_reason() -> None:
    one = StudyEffect.from_paired("one unit", stats.paired([0.9], [0.8]))
    flat = StudyEffect.from_paired("flat", stats.paired([0.9, 0.9, 0.9], [0.8, 0.8, 0.8]))
    good = _studies([1.0, 2.0, 1.5], [0.3, 0.3, 0.3])
    m = meta_analysis([one, flat, *good])
    assert m.k == 3 and [s.label for s in m.studies] == ["s0", "s1", "s2"]
    assert dict(m.left_out) == {"one unit": "1 unit: no within-study variance",
                                "flat": "zero spread over 3 units: no within-study variance"}
    none = meta_analysis([one, flat])
    assert (none.k, none.p_t, none.method) == (0, 1.0, stats.NO_STUDY) and math.isnan(none.mean_diff)
    assert stats.verdict(none) == stats.INCONCLUSIVE
    with pytest.raises(ValueError, match="repeat"):
        meta_analysis([good[0], good[0]])


def test_holm_and_verdicts_apply_to_meta_analyses() -> None:
    clear = meta_analysis(_studies([2.0, 2.5, 1.8, 2.2], [0.3, 0.3, 0.4, 0.3]))
    against = meta_analysis(_studies([-2.0, -2.5, -1.8], [0.3, 0.3, 0.4]))
    unclear = meta_analysis(_studies([2.0, -1.5, 0.5], [0.3, 0.3, 0.4]))
    fam = stats.adjust([clear, against, unclear])
    assert [m.p for m in fam] == pytest.approx(stats.holm([clear.p_t, against.p_t, unclear.p_t]))
    assert [stats.verdict(m) for m in fam] == [stats.HOLDS, stats.NOT_REPRODUCED, stats.INCONCLUSIVE]
    assert fam[0].studies == clear.studies and fam[0].to_dict()["p"] == fam[0].p_adjusted


@given(st.lists(st.tuples(st.floats(-5, 5), st.floats(0.05, 3)), min_size=2, max_size=12))
def test_the_verdict_agrees_with_the_interval(effects) -> None:
    """p < 0.05 exactly when the 95% interval excludes 0; the floored SE is never below plain HK's."""
    y, se = zip(*effects)
    m = meta_analysis(_studies(y, se))
    assert m.se >= meta_analysis(_studies(y, se), hk_floor=False).se
    assert m.lo <= m.mean_diff <= m.hi and m.tau2 >= 0 and 0 <= m.i2 < 1
    if abs(m.p_t - 0.05) > 1e-9:
        assert (m.p_t < 0.05) == (m.lo > 0 or m.hi < 0)

