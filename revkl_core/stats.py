r"""The statistics behind every interval and verdict in revkl (one implementation; scipy does the distributions).

* :func:`t_interval`: the mean of n values with its Student-t interval
  :math:`\bar x \pm t_{n-1,\,1-a/2}\, s/\sqrt n` (n = 3 gives :math:`t_{2,0.975} = 4.30`, 2.2x the normal 1.96).
* :func:`paired`: two methods compared over *matched* units (same task, pair, noise, seed):
  differences :math:`d_i = a_i - b_i`, their mean with a t-interval, the win/tie/loss count, and three
  two-sided p-values: the paired t-test (the one the verdicts use, so a verdict agrees with the interval
  shown: before correction, p < 0.05 exactly when the 95% t-interval excludes 0, except that zero spread
  counts as no evidence, p = 1), the Wilcoxon
  signed-rank test (zero differences dropped; its exact p cannot go below 2/2^n, 0.0625 for n = 5 seeds)
  and the exact sign test on wins vs losses (ties dropped), both reported as robustness checks.
* :func:`holm`: Holm's step-down adjustment of the p-values of the comparisons that feed one claim,
  :math:`\tilde p_{(i)} = \max_{j \le i} \min(1, (m - j + 1)\, p_{(j)})`.
* :func:`meta_analysis`: a random-effects meta-analysis of per-study effects (:class:`StudyEffect`,
  the study as the unit): DerSimonian-Laird :math:`\tau^2`, the Hartung-Knapp(-Sidik-Jonkman) t-interval
  on k - 1 degrees of freedom, Cochran's Q, :math:`I^2` and the prediction interval for a new study
  (the formulas are in :class:`Meta`).
* :func:`verdict`: three outcomes. **holds** when the claimed direction is significant after
  correction, **not reproduced** when the opposite direction is, **inconclusive** otherwise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Iterable, Protocol, Sequence, TypeVar

import numpy as np
from scipy import stats as _st

HOLDS, NOT_REPRODUCED, INCONCLUSIVE = "holds", "not reproduced", "inconclusive"
ALPHA = 0.05


@dataclass(frozen=True)
class Interval:
    """A mean with its two-sided ``conf`` t-interval over ``n`` values (``lo = hi = NaN`` when n = 1)."""

    mean: float
    lo: float
    hi: float
    n: int
    sd: float
    conf: float = 0.95

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2

    @property
    def se(self) -> float:
        """The standard error of the mean, :math:`s/\\sqrt n` (NaN when n = 1)."""
        return self.sd / math.sqrt(self.n)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _t_bounds(center: float, se: float, df: float, conf: float) -> tuple[float, float]:
    """:math:`c \\pm t_{df,\\,(1+conf)/2}\\, se`: the one place a Student-t interval is formed."""
    half = float(_st.t.ppf(0.5 + conf / 2, df)) * se
    return center - half, center + half


def _t_p(t: float, df: float) -> float:
    """Two-sided p-value of a t statistic on ``df`` degrees of freedom."""
    return float(2 * _st.t.sf(abs(t), df))


def t_interval(values: Iterable[float], conf: float = 0.95) -> Interval:
    """Mean and Student-t interval; NaN bounds for n = 1 (no spread can be estimated)."""
    x = np.asarray(list(values), dtype=float)
    if x.size == 0:
        raise ValueError("t_interval: no values")
    if np.isnan(x).any():
        raise ValueError("t_interval: NaN among the values")
    mean = float(x.mean())
    if x.size == 1:
        return Interval(mean, math.nan, math.nan, 1, math.nan, conf)
    sd = float(x.std(ddof=1))
    lo, hi = _t_bounds(mean, sd / math.sqrt(x.size), x.size - 1, conf)
    return Interval(mean, lo, hi, int(x.size), sd, conf)


@dataclass(frozen=True)
class Paired:
    """``a`` vs ``b`` over matched units: d = a - b; ``se`` = :math:`s_d/\\sqrt n` (NaN for one unit)."""

    n: int
    mean_diff: float
    se: float
    lo: float
    hi: float
    wins: int
    ties: int
    losses: int
    p_t: float
    p_sign: float
    p_wilcoxon: float
    conf: float = 0.95
    p_adjusted: float | None = field(default=None)

    @property
    def p(self) -> float:
        """The p-value the verdicts use: the paired t-test's, Holm-adjusted when set."""
        return self.p_t if self.p_adjusted is None else self.p_adjusted

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "p": self.p}


def sign_test(wins: int, losses: int) -> float:
    """Exact two-sided sign test of wins vs losses (ties already dropped); 1.0 when both are 0."""
    n = wins + losses
    return 1.0 if n == 0 else float(_st.binomtest(wins, n, 0.5).pvalue)


def paired(a: Sequence[float], b: Sequence[float], conf: float = 0.95) -> Paired:
    """Paired comparison of ``a`` and ``b`` (same length, element i of each from the same unit)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or x.size == 0:
        raise ValueError(f"paired: need two equal-length non-empty sequences, got {x.shape} and {y.shape}")
    d = x - y
    iv = t_interval(d, conf)
    wins, losses = int((d > 0).sum()), int((d < 0).sum())
    nonzero = d[d != 0]
    p_w = 1.0 if nonzero.size == 0 else float(_st.wilcoxon(nonzero, alternative="two-sided").pvalue)
    # No spread (n = 1, or every unit gave the same difference: one measurement repeated) is no evidence.
    p_t = 1.0 if d.size < 2 or iv.sd == 0 else float(_st.ttest_1samp(d, 0.0).pvalue)
    return Paired(int(d.size), iv.mean, iv.se, iv.lo, iv.hi, wins, int(d.size) - wins - losses, losses,
                  p_t, sign_test(wins, losses), p_w, conf)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order (monotone in the sorted order)."""
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj.tolist()


class Comparison(Protocol):
    """What a verdict reads: an effect (``mean_diff``, positive when a > b) and the p-value it uses."""

    @property
    def mean_diff(self) -> float: ...

    @property
    def p(self) -> float: ...


C = TypeVar("C", "Paired", "Meta")


def adjust(comparisons: Sequence[C]) -> list[C]:
    """The comparisons (:class:`Paired` or :class:`Meta`) with ``p_adjusted`` set by Holm across all of them
    from their unadjusted ``p_t`` (one claim's family)."""
    adj = holm([c.p_t for c in comparisons])
    return [replace(c, p_adjusted=q) for c, q in zip(comparisons, adj)]


def verdict(comparison: Comparison, claimed_sign: int = 1, alpha: float = ALPHA) -> str:
    """Three-outcome verdict of one comparison for the claim ``sign(mean a - b) == claimed_sign``."""
    if comparison.p >= alpha or comparison.mean_diff == 0:
        return INCONCLUSIVE
    return HOLDS if np.sign(comparison.mean_diff) == claimed_sign else NOT_REPRODUCED


def combine(verdicts: Sequence[str]) -> str:
    """A claim backed by several comparisons: holds when all hold, not reproduced when any is
    significantly against, inconclusive otherwise (an empty family is inconclusive)."""
    if verdicts and all(v == HOLDS for v in verdicts):
        return HOLDS
    if NOT_REPRODUCED in verdicts:
        return NOT_REPRODUCED
    return INCONCLUSIVE


def agreement(verdicts: Sequence[str]) -> str:
    """How many studies agree, e.g. ``"holds in 3 of 5 studies, not reproduced in 1, inconclusive in 1"``."""
    n = len(verdicts)
    counts = [(v, sum(1 for x in verdicts if x == v)) for v in (HOLDS, NOT_REPRODUCED, INCONCLUSIVE)]
    parts = [f"{v} in {c}" for v, c in counts if c]
    if not parts:
        return "no studies"
    parts[0] += f" of {n} stud{'y' if n == 1 else 'ies'}"
    return ", ".join(parts)


# -- random-effects meta-analysis: the study as the unit --------------------------------------------


@dataclass(frozen=True)
class StudyEffect:
    """One study's input to :func:`meta_analysis`: its effect ``mean_diff`` (the mean paired difference over
    its ``n`` matched units), the standard error ``se`` = :math:`s_d/\\sqrt n`, and its own interval
    ``lo, hi`` = :math:`\\bar d \\pm t_{n-1}\\, se` (the unit-level paired t-interval; NaN when n < 2)."""

    label: str
    mean_diff: float
    se: float
    n: int
    lo: float
    hi: float
    conf: float = 0.95

    @classmethod
    def of(cls, label: str, mean_diff: float, se: float, n: int, conf: float = 0.95) -> StudyEffect:
        """A study's effect with its own t-interval on n - 1 degrees of freedom."""
        lo, hi = _t_bounds(mean_diff, se, n - 1, conf) if n >= 2 and math.isfinite(se) else (math.nan, math.nan)
        return cls(label, float(mean_diff), float(se), int(n), lo, hi, conf)

    @classmethod
    def from_paired(cls, label: str, comparison: Paired) -> StudyEffect:
        """The study's unit-level paired comparison as a meta-analysis input (same mean, se and interval)."""
        return cls.of(label, comparison.mean_diff, comparison.se, comparison.n, comparison.conf)

    def unusable(self) -> str | None:
        """Why the study cannot be pooled (no within-study variance), or None.

        One unit gives no spread; zero spread over n >= 2 units (every unit gave the same difference,
        one measurement repeated) would give the study infinite weight, and :func:`paired` already
        counts it as no evidence. Such a study is left out of the pooling, with this reason, and never
        floored to a small positive se (that would let it dominate the pooled effect)."""
        if self.n < 2:
            return f"{self.n} unit{'' if self.n == 1 else 's'}: no within-study variance"
        if not (math.isfinite(self.se) and self.se > 0):
            return f"zero spread over {self.n} units: no within-study variance"
        return None


@dataclass(frozen=True)
class Meta:
    r"""A random-effects meta-analysis of k study effects :math:`y_i` with standard errors :math:`s_i`.

    * Fixed-effect weights :math:`w_i = 1/s_i^2`, :math:`\hat\mu_{FE} = \sum w_i y_i / \sum w_i`;
      Cochran's :math:`Q = \sum w_i (y_i - \hat\mu_{FE})^2` on k - 1 degrees of freedom.
    * DerSimonian-Laird (1986): :math:`\hat\tau^2 = \max\{0, (Q - (k-1)) / (\sum w_i - \sum w_i^2/\sum w_i)\}`.
    * Random-effects weights :math:`w_i^* = 1/(s_i^2 + \hat\tau^2)`, :math:`\hat\mu = \sum w_i^* y_i/\sum w_i^*`
      (``mean_diff``; ``weights`` are the :math:`w_i^*` normalised to sum to 1).
    * Hartung-Knapp (2001) / Sidik-Jonkman (2002): :math:`q = \sum w_i^*(y_i - \hat\mu)^2/(k-1)` and
      :math:`SE^2 = \max(q, 1)/\sum w_i^*`; interval :math:`\hat\mu \pm t_{k-1}\, SE`, and ``p_t`` the two-sided
      p of :math:`t = \hat\mu/SE` on k - 1 df. The floor :math:`\max(q, 1)` (Knapp & Hartung 2003's ad hoc
      variant; Röver, Knapp & Friede 2015; metafor ``test="adhoc"``) keeps the interval from being narrower
      than the DerSimonian-Laird one when the studies agree more closely than their own errors predict
      (:math:`q < 1`); without it, two studies with equal effects would get an interval of zero width.
      When :math:`q \ge 1` it is the plain Hartung-Knapp interval; ``hk_floor=False`` in :func:`meta_analysis`
      gives plain Hartung-Knapp (:math:`SE^2 = q/\sum w_i^*`) always.
    * :math:`I^2 = \max\{0, (Q - (k-1))/Q\}` (Higgins & Thompson 2002), 0 when Q = 0.
    * Prediction interval for the effect of a new study (Higgins, Thompson & Spiegelhalter 2009;
      Riley et al. 2011): :math:`\hat\mu \pm t_{k-2} \sqrt{\hat\tau^2 + SE^2}`; undefined (NaN) for k < 3.

    Special cases: k = 1, no pooling possible: the result is the study's own effect, its unit-level
    t-interval on n - 1 df and its paired t-test p (``df`` = n - 1), with ``tau2``, ``i2``, ``q`` and the
    prediction interval NaN; k = 0 (nothing usable): NaN effect and p = 1 (no evidence). Studies without
    within-study variance are in ``left_out`` with the reason (:meth:`StudyEffect.unusable`).
    """

    k: int
    mean_diff: float
    se: float
    lo: float
    hi: float
    df: int
    p_t: float
    tau2: float
    i2: float
    q: float
    pi_lo: float
    pi_hi: float
    method: str
    studies: tuple[StudyEffect, ...]
    weights: tuple[float, ...]
    left_out: tuple[tuple[str, str], ...] = ()
    conf: float = 0.95
    p_adjusted: float | None = None

    @property
    def p(self) -> float:
        """The p-value the verdicts use: the Hartung-Knapp t-test's, Holm-adjusted when set."""
        return self.p_t if self.p_adjusted is None else self.p_adjusted

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "p": self.p}


RANDOM_EFFECTS = "DerSimonian-Laird tau^2, Hartung-Knapp t-interval on k - 1 df"
HK_FLOOR = ", SE at least the DerSimonian-Laird SE"
SINGLE_STUDY = "one study, no pooling: its own paired t-interval on n - 1 df"
NO_STUDY = "no study with within-study variance"


def _random_effects(studies: Sequence[StudyEffect], left_out: tuple[tuple[str, str], ...], conf: float,
                    hk_floor: bool) -> Meta:
    """DerSimonian-Laird and Hartung-Knapp over k >= 2 usable studies (formulas in :class:`Meta`)."""
    y = np.array([s.mean_diff for s in studies])
    v = np.array([s.se for s in studies]) ** 2
    k = y.size
    w = 1 / v
    q_stat = float(np.sum(w * (y - np.sum(w * y) / np.sum(w)) ** 2))
    tau2 = max(0.0, (q_stat - (k - 1)) / float(np.sum(w) - np.sum(w**2) / np.sum(w)))
    ws = 1 / (v + tau2)
    mu = float(np.sum(ws * y) / np.sum(ws))
    q_hk = float(np.sum(ws * (y - mu) ** 2)) / (k - 1)
    se = math.sqrt((max(q_hk, 1.0) if hk_floor else q_hk) / float(np.sum(ws)))
    lo, hi = _t_bounds(mu, se, k - 1, conf)
    pi = _t_bounds(mu, math.sqrt(tau2 + se**2), k - 2, conf) if k >= 3 else (math.nan, math.nan)
    i2 = max(0.0, (q_stat - (k - 1)) / q_stat) if q_stat > 0 else 0.0
    p_t = _t_p(mu / se, k - 1) if se > 0 else 1.0  # plain HK on equal effects: zero width, no evidence (as paired)
    return Meta(k, mu, se, lo, hi, k - 1, p_t, tau2, i2, q_stat, *pi, RANDOM_EFFECTS + (HK_FLOOR if hk_floor else ""),
                tuple(studies), tuple(float(x) for x in ws / ws.sum()), left_out, conf)


def meta_analysis(studies: Sequence[StudyEffect], conf: float = 0.95, hk_floor: bool = True) -> Meta:
    """Random-effects meta-analysis of per-study effects, the study as the unit (:class:`Meta`).

    Studies without within-study variance are left out with the reason; one usable study is
    reported as itself (no pooling), none as no evidence."""
    labels = [s.label for s in studies]
    if len(set(labels)) != len(labels):
        raise ValueError(f"meta_analysis: study labels repeat: {labels}")
    left_out = tuple((s.label, why) for s in studies if (why := s.unusable()) is not None)
    usable = [s for s in studies if s.unusable() is None]
    nan = math.nan
    if not usable:
        return Meta(0, nan, nan, nan, nan, 0, 1.0, nan, nan, nan, nan, nan, NO_STUDY, (), (), left_out, conf)
    if len(usable) == 1:
        s = usable[0]
        return Meta(1, s.mean_diff, s.se, s.lo, s.hi, s.n - 1, _t_p(s.mean_diff / s.se, s.n - 1), nan, nan, nan, nan,
                    nan, SINGLE_STUDY, (s,), (1.0,), left_out, conf)
    return _random_effects(usable, left_out, conf, hk_floor)
