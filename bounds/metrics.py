"""Weak-to-strong summary measures shared by the simulator and the language-model pipeline."""

from __future__ import annotations

#: Below this the ceiling and the weak accuracy count as equal and PGR is undefined.
PGR_MIN_GAP = 1e-12


def pgr(acc_strong: float, acc_weak: float, acc_ceiling: float) -> float | None:
    r"""Performance gap recovered, :math:`(acc_{sw} - acc_w)/(acc_{ceiling} - acc_w)`; None when the gap is ~0."""
    gap = acc_ceiling - acc_weak
    return None if abs(gap) < PGR_MIN_GAP else (acc_strong - acc_weak) / gap
