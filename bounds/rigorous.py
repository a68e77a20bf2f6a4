r"""Deciding a check in rigorous interval arithmetic when floats cannot.

A check is first decided in floats (:class:`bounds.theorems.CheckResult`): it holds when
``slack >= -(allowance + tol)``, ``tol`` a first-order model of the rounding of both sides. That model
is an estimate, not a proof. So every check the floats flag as violated is decided again here, before it
may count: each side is enclosed in an interval computed with :mod:`mpmath.iv` at :data:`PREC` bits from
the exact input floats (a float is an exact rational). Every sum, product, quotient, log and sqrt is
rounded outward, so the true value of each side lies in its interval. Rows of F*, F_w and F_sw (and
F°) are renormalised in interval arithmetic, so the enclosures are of the distributions the arrays
stand for. Let :math:`s` be the enclosure of ``slack + allowance``. The outcome is then

* ``violated`` when :math:`\sup s < 0`: a proven violation;
* ``holds`` when :math:`\inf s \ge 0`: the float tolerance was too small, and the check holds;
* ``undecided`` when :math:`0 \in s`: the two sides agree to :data:`PREC` bits. This happens in an
  exact equality case. It is not a violation: a checker must never cry wolf.

Solver outputs (the certificate g, the realizability residual r) enter as the numbers given. The
Frank-Wolfe certificate is itself an upper bound on the gap of its inputs
(:func:`bounds.solvers.frank_wolfe_gap` adds a bound on its own rounding), which is what T4 and T6
need. T1-T4, T6 and T0 have exact sides here (:data:`EXACT`). T5, an identity whose allowance comes
from a softmax fit's moment residual, is decided in floats only, and its record says so.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
from mpmath import iv

from bounds.quantities import Instances
from bounds.theorems import CheckResult

#: Bits of the interval arithmetic: sides agreeing to 2^-160 relative are left undecided.
PREC = 160
#: Instances with more entries than this are left to the floats: the interval pass costs about 40 us a log.
MAX_ENTRIES = 200_000
OUTCOMES = ("holds", "violated", "undecided")

Interval = Any  # an mpmath.iv.mpf


@contextmanager
def precision(bits: int = PREC) -> Iterator[None]:
    """Interval arithmetic at ``bits`` bits inside the block (mpmath.iv's precision is global)."""
    old = iv.prec
    iv.prec = bits
    try:
        yield
    finally:
        iv.prec = old


@dataclass(frozen=True)
class Exact:
    """The enclosures of one instance's sides: ``lhs``, ``rhs`` and the allowance (``iv.mpf`` each)."""

    lhs: Interval
    rhs: Interval
    allowance: Interval


class Row:
    """One instance's arrays as exact intervals: rows renormalised, logs computed once per entry.

    The building block of exact sides, the project's (:data:`EXACT`) and a user's (``Theorem(..., exact=...)``):
    ``fstar``, ``fw``, ``fsw`` (and ``fref``) as lists of rows of intervals, ``kl(P, Q)``, ``mean``, ``sq``."""

    def __init__(self, inst: Instances, i: int) -> None:
        w = [iv.mpf(float(x)) for x in inst.weights[i]]
        total = sum(w, iv.mpf(0))
        self.w = [x / total for x in w]
        self.fstar, self.fw, self.fsw = (self._dist(a[i]) for a in (inst.fstar, inst.fw, inst.fsw))
        self.fref = self._dist(inst.fref[i]) if inst.fref is not None else None
        self._logs: dict[int, list[list[Interval]]] = {}

    @staticmethod
    def _dist(a: np.ndarray) -> list[list[Interval]]:
        rows = []
        for row in a:
            p = [iv.mpf(float(x)) for x in row]
            total = sum(p, iv.mpf(0))
            rows.append([x / total for x in p])
        return rows

    def log(self, F: list[list[Interval]]) -> list[list[Interval | None]]:
        """Entrywise log (None for an exact 0), cached per array."""
        key = id(F)
        if key not in self._logs:
            self._logs[key] = [[iv.log(x) if x.b > 0 else None for x in row] for row in F]
        return self._logs[key]

    def mean(self, per_sample: list[Interval]) -> Interval:
        return sum((w * v for w, v in zip(self.w, per_sample) if w.b > 0), iv.mpf(0))

    def kl(self, P: list[list[Interval]], Q: list[list[Interval]]) -> Interval:
        r""":math:`\mathbb{E}\,\mathrm{KL}(P\|Q) = \mathbb{E} \sum_i P_i (\log P_i - \log Q_i)`, 0 log 0 = 0."""
        lp, lq = self.log(P), self.log(Q)
        return self.mean([sum((pi * (ai - _log(bi)) for pi, ai, bi in zip(p, a, b) if ai is not None), iv.mpf(0))
                          for p, a, b in zip(P, lp, lq)])

    def abs_log_ratio(self, weight: list[list[Interval]] | None) -> Interval:
        r""":math:`\mathbb{E} \sum_i c_i |\log(F_{sw,i}/F_{w,i})|` over :math:`F_{sw,i} > 0`, with ``weight`` c (None: 1)."""
        ls, lw = self.log(self.fsw), self.log(self.fw)
        per = []
        for j, (a, b) in enumerate(zip(ls, lw)):
            terms = (abs(ai - _log(bi)) * (weight[j][c] if weight is not None else 1)
                     for c, (ai, bi) in enumerate(zip(a, b)) if ai is not None)
            per.append(sum(terms, iv.mpf(0)))
        return self.mean(per)

    def sq(self, P: list[list[Interval]], Q: list[list[Interval]]) -> Interval:
        return self.mean([sum(((a - b) ** 2 for a, b in zip(p, q)), iv.mpf(0)) for p, q in zip(P, Q)])


def _log(x: Interval | None) -> Interval:
    """A log that must exist: an exact 0 here makes a side infinite, which the floats decide exactly."""
    if x is None:
        raise ZeroDivisionError("log of an exact 0: the side is infinite")
    return x


def _min(x: Interval, y: Interval) -> Interval:
    return iv.mpf([min(x.a, y.a), min(x.b, y.b)])


def _max(x: Interval, y: Interval) -> Interval:
    return iv.mpf([max(x.a, y.a), max(x.b, y.b)])


def _scalar(x: np.ndarray | None, i: int) -> Interval:
    return iv.mpf(0) if x is None else iv.mpf(float(np.asarray(x, dtype=np.float64).reshape(-1)[i]))


def _floor(inst: Instances, i: int) -> Interval:
    return iv.mpf(float(inst.floor()[i]))


def _t_universal(reverse: bool) -> Callable[[Instances, int], Exact]:
    def exact(inst: Instances, i: int) -> Exact:
        r = Row(inst, i)
        d = r.kl(r.fstar, r.fsw) - r.kl(r.fstar, r.fw)
        M = r.kl(r.fsw, r.fw) if reverse else r.kl(r.fw, r.fsw)
        bound = iv.sqrt(M) / (_floor(inst, i) * iv.sqrt(2))
        return Exact(abs(d), bound, iv.mpf(0))

    return exact


def _t3(inst: Instances, i: int) -> Exact:
    r = Row(inst, i)
    d = r.kl(r.fstar, r.fsw) - r.kl(r.fstar, r.fw)
    gw = iv.mpf(float(inst.weak_floor()[i]))

    def bound(M: Interval) -> Interval:  # -log(1 + phi(M)/gamma_w), phi(M) = min(sqrt(M/2), sqrt(1 - e^-M))
        phi = _min(iv.sqrt(M / 2), iv.sqrt(1 - iv.exp(-M)))
        return -iv.log(1 + phi / gw)

    Lf, Lr = bound(r.kl(r.fw, r.fsw)), bound(r.kl(r.fsw, r.fw))
    return Exact(d, _max(Lf, Lr), iv.mpf(0))


def _t4(inst: Instances, i: int) -> Exact:
    r = Row(inst, i)
    res = _scalar(inst.fstar_class_residual, i)
    allowance = _scalar(inst.certificate, i) + res * r.abs_log_ratio(None)
    return Exact(r.kl(r.fstar, r.fsw), r.kl(r.fstar, r.fw) - r.kl(r.fsw, r.fw), allowance)


def _t6(inst: Instances, i: int) -> Exact:
    r = Row(inst, i)
    fref = r.fref if r.fref is not None else r.fstar
    weight = [[abs(a - b) for a, b in zip(p, q)] for p, q in zip(r.fstar, fref)]
    rhs = r.kl(r.fstar, r.fw) - r.kl(r.fsw, r.fw) + _scalar(inst.certificate, i) + r.abs_log_ratio(weight)
    return Exact(r.kl(r.fstar, r.fsw), rhs, iv.mpf(0))


def _t0(inst: Instances, i: int) -> Exact:
    r = Row(inst, i)
    res = _scalar(inst.fstar_class_residual, i)
    spread = r.mean([sum((abs(a - b) for a, b in zip(p, q)), iv.mpf(0)) for p, q in zip(r.fw, r.fsw)])
    allowance = _scalar(inst.certificate, i) + 2 * res * spread
    return Exact(r.sq(r.fsw, r.fstar), r.sq(r.fw, r.fstar) - r.sq(r.fsw, r.fw), allowance)


#: Results with exact sides: name -> (instances, index) -> Exact. Their formulas mirror bounds.theorems.
EXACT: dict[str, Callable[[Instances, int], Exact]] = {
    "T0": _t0, "T1": _t_universal(reverse=False), "T2": _t_universal(reverse=True), "T3": _t3, "T4": _t4, "T6": _t6,
}


def margin(relation: str, e: Exact) -> Interval:
    """The enclosure of ``slack + allowance`` (the check holds when it is >= 0)."""
    if relation == "upper":
        return e.rhs - e.lhs + e.allowance
    if relation == "lower":
        return e.lhs - e.rhs + e.allowance
    raise ValueError(f"no interval decision for relation {relation!r}")


def decide(name: str, relation: str, inst: Instances, i: int,
           exact: Callable[[Instances, int], Exact] | None = None) -> tuple[str, float] | None:
    """(``holds`` / ``violated`` / ``undecided``, the enclosure's midpoint) for instance i of result ``name``,
    or None when this module cannot decide it (no exact sides, a side not finite, or more than
    :data:`MAX_ENTRIES` entries): the floats decide. ``exact``: the result's own exact sides (a user's theorem),
    else :data:`EXACT` by name."""
    exact = exact or EXACT.get(name)
    if exact is None or inst.fstar.shape[1] * inst.fstar.shape[2] > MAX_ENTRIES:
        return None
    with precision():
        try:
            s = margin(relation, exact(inst, i))
        except (ValueError, ZeroDivisionError):  # a side that is not finite: inf and nan are exact, floats decide
            return None
        if not (np.isfinite(float(s.a)) and np.isfinite(float(s.b))):
            return None
        return ("violated" if s.b < 0 else "holds" if s.a >= 0 else "undecided"), float(s.mid)


#: The floats' margin may miss the exact one by this many times its own tolerance before the two are called
#: inconsistent: a formula in bounds.theorems and its mirror here disagree, which is a bug, never a pass.
CONSISTENT = 64.0


def confirm(name: str, res: CheckResult, inst: Instances, flagged: np.ndarray,
            exact: Callable[[Instances, int], Exact] | None = None) -> tuple[np.ndarray, dict[str, int]]:
    """Re-decide every float-flagged check (``flagged``, (B,) bool) with :func:`decide` (``exact`` as there).

    Returns the checks that still count as violations and how they were decided (the non-zero counts of
    ``interval: holds``, ``interval: undecided``, ``interval: violated``, ``float: violated`` where this
    module cannot decide, and ``inconsistent`` where the float margin is off the exact one by more than
    :data:`CONSISTENT` times its tolerance: those stay violations, since one of the two formulas is wrong).
    """
    out, counts = flagged.copy(), {}
    float_margin = res.slack + res.allowance
    for i in np.flatnonzero(flagged):
        got = decide(name, res.relation, inst, int(i), exact)
        if got is None:
            key = "float: violated"
        elif abs(float_margin[i] - got[1]) > CONSISTENT * res.tol[i] + 1e-300:
            key = "inconsistent"
        else:
            key = f"interval: {got[0]}"
        counts[key] = counts.get(key, 0) + 1
        out[i] = key in ("float: violated", "inconsistent", "interval: violated")
    return out, counts
