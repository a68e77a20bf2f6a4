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
* :func:`verdict`: three outcomes. **holds** when the claimed direction is significant after
  correction, **not reproduced** when the opposite direction is, **inconclusive** otherwise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    half = float(_st.t.ppf(0.5 + conf / 2, x.size - 1)) * sd / math.sqrt(x.size)
    return Interval(mean, mean - half, mean + half, int(x.size), sd, conf)


@dataclass(frozen=True)
class Paired:
    """``a`` vs ``b`` over matched units: d = a - b."""

    n: int
    mean_diff: float
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
    return Paired(int(d.size), iv.mean, iv.lo, iv.hi, wins, int(d.size) - wins - losses, losses,
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


def adjust(comparisons: Sequence[Paired]) -> list[Paired]:
    """The comparisons with ``p_adjusted`` set by Holm across all of them (one claim's family)."""
    adj = holm([c.p_t for c in comparisons])
    return [Paired(**{**asdict(c), "p_adjusted": q}) for c, q in zip(comparisons, adj)]


def verdict(comparison: Paired, claimed_sign: int = 1, alpha: float = ALPHA) -> str:
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
