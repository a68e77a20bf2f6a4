r"""A user's theorem for `revkl bounds verify --theorem docs/examples/bretagnolle_huber.py:BH`.

**Statement** (a Bretagnolle–Huber form of T1). If F_w, F_sw >= gamma > 0 componentwise, then

    |Err(F_sw) - Err(F_w)| <= (1/gamma) * sqrt(1 - exp(-M_f)),   M_f = E KL(F_w || F_sw).

**Why it holds.** As in T1: Delta = E sum_i F*_i log(F_w,i / F_sw,i), and log is (1/gamma)-Lipschitz on
[gamma, 1], so |Delta| <= (1/gamma) E max_i |F_w,i - F_sw,i| <= (1/gamma) E TV(F_w, F_sw) (for two distributions
the largest entrywise difference is at most TV: the positive and the negative parts of p - q each sum to TV).
Bretagnolle–Huber: TV(p, q) <= sqrt(1 - exp(-KL(p || q))). The function phi(m) = sqrt(1 - e^{-m}) is concave
and increasing (sqrt of the concave increasing 1 - e^{-m}), so by Jensen E phi(KL_j) <= phi(E KL_j) = phi(M_f).
Unlike T1's sqrt(M_f / 2) / gamma it never exceeds 1/gamma; it is the smaller of the two once M_f > ~1.6, and
for small M_f it is sqrt(2) times T1 (phi(m) ~ sqrt(m)), so its constant is not sharp there.

The object below is all `revkl bounds verify --theorem` needs: hypotheses, both sides with their rounding, the
instance families (T1's), and exact sides in interval arithmetic (`exact`) with which checks the floats flag are
re-decided.
"""

from __future__ import annotations

import numpy as np
from mpmath import iv

from bounds.quantities import gap_estimate, monotone_error
from bounds.rigorous import Exact, Row
from bounds.theorems import H_FLOOR, UNIVERSAL_FAMILIES, Instances, Sides, Theorem

EPS = float(np.finfo(np.float64).eps)


def phi(m: np.ndarray) -> np.ndarray:
    """sqrt(1 - e^{-m}), computed as sqrt(-expm1(-m)) (accurate for small m)."""
    return np.sqrt(-np.expm1(-m))


def sides(inst: Instances) -> Sides:
    """|gap| and phi(M_f) / gamma; rounding: the gap's, the spread of the bound over M_f's error, a few ulp."""
    M, eM = inst.kl_estimate(inst.fw, inst.fsw)
    d, ed = gap_estimate(inst)
    gamma = inst.floor()
    bound = phi(M) / gamma
    rounding = ed + monotone_error(phi, M, eM) / gamma + 8 * EPS * bound
    return Sides(np.abs(d), bound, np.zeros_like(d), rounding, {"gap": d, "misfit": M, "gamma": gamma})


def exact(inst: Instances, i: int) -> Exact:
    """The same sides of instance i in interval arithmetic (bounds.rigorous.Row: exact rows, outward rounding)."""
    r = Row(inst, i)
    d = r.kl(r.fstar, r.fsw) - r.kl(r.fstar, r.fw)
    M = r.kl(r.fw, r.fsw)
    return Exact(abs(d), iv.sqrt(1 - iv.exp(-M)) / iv.mpf(float(inst.floor()[i])), iv.mpf(0))


BH = Theorem(
    "BH", "Bretagnolle-Huber form of T1 (a user's theorem)",
    r"$|\mathrm{Err}(F_{sw})-\mathrm{Err}(F_w)| \le \frac{1}{\gamma}\sqrt{1-e^{-\mathbb{E}\,\mathrm{KL}(F_w\|F_{sw})}}$",
    "upper", (H_FLOOR,), sides, UNIVERSAL_FAMILIES, ("|gap|", "bound"), sharpness=True, exact=exact,
)
