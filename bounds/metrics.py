"""Weak-to-strong summary measures shared by the simulator and the language-model pipeline."""

from __future__ import annotations

#: PGR is defined only when the ceiling beats the weak model by at least this (a gap of 0 or below has nothing
#: to recover: a ratio over it would be a number without meaning, e.g. 0.86 with the ceiling 20 points below).
PGR_MIN_GAP = 1e-12


def pgr(acc_strong: float, acc_weak: float, acc_ceiling: float) -> float | None:
    r"""Performance gap recovered, :math:`(acc_{sw} - acc_w)/(acc_{ceiling} - acc_w)`; None unless the ceiling is above
    the weak accuracy by :data:`PGR_MIN_GAP`."""
    gap = acc_ceiling - acc_weak
    return None if gap < PGR_MIN_GAP else (acc_strong - acc_weak) / gap
