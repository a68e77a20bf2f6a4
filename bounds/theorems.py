r"""The paper's results as objects: a statement, checkable hypotheses, two sides, and ``check``.

Notation (docs/theory.md has the proofs): instances are batched, ``F*, F_w, F_sw`` have shape
(B, n, k), expectations are weighted means over the n samples,

* :math:`\mathrm{Err}(F) = \mathbb{E}\,\mathrm{KL}(F^\star \| F)`, gap :math:`\Delta = \mathrm{Err}(F_{sw}) - \mathrm{Err}(F_w)`,
* forward misfit :math:`M_f = \mathbb{E}\,\mathrm{KL}(F_w \| F_{sw})`, reverse misfit :math:`M_r = \mathbb{E}\,\mathrm{KL}(F_{sw} \| F_w)`.

Every theorem is checked in the form ``lhs <= rhs + allowance + tol`` where ``allowance`` is what
the solver's certificate permits (0 for results that involve no solver) and ``tol`` covers
floating-point rounding only. A reported violation is therefore one beyond the certificate.
Non-theorems are claims the project REFUTES: a counterexample is an instance where the claimed
inequality fails by more than ``COUNTEREXAMPLE_MARGIN`` while the solver certificate is below
``CERTIFIED``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from bounds.divergences import check_probs, kl

#: A solver result counts as an exact minimiser (for hypotheses and counterexamples) below this.
CERTIFIED = 1e-9
#: A counterexample must break the claimed inequality by at least this much.
COUNTEREXAMPLE_MARGIN = 1e-6


@dataclass
class Instances:
    """B instances of one shape, with the provenance that theorem hypotheses refer to.

    Only ``fstar``, ``fw`` and ``fsw`` are required; the rest says how ``fsw`` was obtained.
    """

    fstar: np.ndarray  # (B, n, k)
    fw: np.ndarray
    fsw: np.ndarray
    weights: np.ndarray | None = None  # (B, n), normalised on construction
    gamma: np.ndarray | None = None  # (B,) claimed floor on F_w, F_sw; default: their smallest entry
    model_kind: str | None = None  # "probability-convex" | "softmax-linear"
    trained_with: str | None = None  # loss that produced fsw: "reverse_kl", "forward_kl", "squared", ...
    certificate: np.ndarray | None = None  # (B,) Frank-Wolfe gap or gradient norm of that fit
    fstar_class_residual: np.ndarray | None = None  # (B,) max |F* - F_theta*| for a member theta* of the class
    fref: np.ndarray | None = None  # (B, n, k) a member F° of the class (T6 non-realizable case)
    features: np.ndarray | None = None  # (B, n, d) softmax-linear features
    w_sw: np.ndarray | None = None  # (B, k, d) softmax-linear parameters of F_sw
    w_star: np.ndarray | None = None  # (B, k, d) softmax-linear parameters of F*
    family: str = "custom"

    def __post_init__(self) -> None:
        for name in ("fstar", "fw", "fsw"):
            a = np.asarray(getattr(self, name), dtype=np.float64)
            if a.ndim == 2:
                a = a[None]
            if a.ndim != 3:
                raise ValueError(f"{name}: expected shape (n, k) or (B, n, k), got {a.shape}")
            setattr(self, name, check_probs(a, name=name))
        if not (self.fstar.shape == self.fw.shape == self.fsw.shape):
            raise ValueError(f"shape mismatch: fstar {self.fstar.shape}, fw {self.fw.shape}, fsw {self.fsw.shape}")
        B, n, _ = self.fstar.shape
        if n < 1:
            raise ValueError("fstar: needs at least one sample")
        w = np.full((B, n), 1.0) if self.weights is None else np.asarray(self.weights, dtype=np.float64).reshape(B, n)
        if np.any(w < 0) or np.any(~np.isfinite(w)) or np.any(w.sum(1) <= 0):
            raise ValueError("weights: must be finite, non-negative, with a positive sum")
        self.weights = w / w.sum(1, keepdims=True)
        if self.fref is not None:
            self.fref = check_probs(np.asarray(self.fref, dtype=np.float64).reshape(self.fstar.shape), name="fref")

    @property
    def batch(self) -> int:
        return self.fstar.shape[0]

    def mean(self, per_sample: np.ndarray) -> np.ndarray:
        """Weighted mean over samples: (B, n) -> (B,). Zero-weight samples contribute 0 even if infinite."""
        return np.where(self.weights > 0, per_sample * self.weights, 0.0).sum(axis=1)

    def err(self, F: np.ndarray) -> np.ndarray:
        return self.kl_mean(self.fstar, F)

    def kl_mean(self, p: np.ndarray, q: np.ndarray) -> np.ndarray:
        """E KL(p || q), with the rounding residue below 0 clipped (KL >= 0 exactly)."""
        return np.maximum(self.mean(kl(p, q)), 0.0)

    def floor(self) -> np.ndarray:
        """gamma: the claimed floor, or the smallest entry of F_w and F_sw (over positive-weight samples)."""
        if self.gamma is not None:
            return np.broadcast_to(np.asarray(self.gamma, dtype=np.float64), (self.batch,))
        m = np.minimum(self.fw, self.fsw).min(-1)
        return np.where(self.weights > 0, m, np.inf).min(1)


@dataclass(frozen=True)
class Hypothesis:
    name: str
    text: str
    test: Callable[[Instances], np.ndarray]  # (B,) bool


@dataclass
class CheckResult:
    """Per-instance outcome of one theorem: arrays of shape (B,)."""

    theorem: str
    lhs: np.ndarray
    rhs: np.ndarray
    allowance: np.ndarray
    hypotheses: dict[str, np.ndarray]
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def slack(self) -> np.ndarray:
        """rhs - lhs: how far the inequality holds (negative: it fails)."""
        return self.rhs - self.lhs

    @property
    def tol(self) -> np.ndarray:
        """Rounding allowance 1e-10 (1 + |lhs| + |rhs|); an infinite side gets none (inf must not excuse inf)."""
        scale = np.abs(self.lhs) + np.abs(self.rhs)
        return 1e-10 * (1.0 + np.where(np.isfinite(scale), scale, 0.0))

    @property
    def hypotheses_met(self) -> np.ndarray:
        met = np.ones_like(self.lhs, dtype=bool)
        for v in self.hypotheses.values():
            met &= v
        return met

    @property
    def violation(self) -> np.ndarray:
        """How far lhs exceeds rhs beyond the certificate allowance and rounding (0 if it holds)."""
        v = self.lhs - self.rhs - self.allowance - self.tol
        return np.where(np.isnan(v), np.inf, np.maximum(v, 0.0))

    @property
    def holds(self) -> np.ndarray:
        return self.violation == 0.0


class Theorem:
    """A result: LaTeX statement, hypotheses, and the two sides of its inequality."""

    kind = "theorem"

    def __init__(self, name: str, title: str, statement: str, hypotheses: tuple[Hypothesis, ...],
                 sides: Callable[[Instances], tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]]) -> None:
        self.name, self.title, self.statement = name, title, statement
        self.hypotheses = hypotheses
        self._sides = sides

    def hypotheses_hold(self, inst: Instances) -> dict[str, np.ndarray]:
        """Each hypothesis evaluated on every instance: name -> (B,) bool."""
        return {h.name: np.asarray(h.test(inst), dtype=bool).reshape(inst.batch) for h in self.hypotheses}

    def check(self, inst: Instances) -> CheckResult:
        """Evaluate hypotheses and both sides on every instance (a false hypothesis is reported, not raised).

        Sides that need provenance (a certificate, softmax parameters) require it to be present.
        """
        hyp = self.hypotheses_hold(inst)
        with np.errstate(divide="ignore", invalid="ignore"):
            lhs, rhs, allowance, extras = self._sides(inst)
        return CheckResult(self.name, lhs, rhs, allowance, hyp, extras)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}: {self.title})"


class NonTheorem(Theorem):
    """A plausible claim that is false: verification must find certified counterexamples."""

    kind = "non-theorem"

    def counterexamples(self, res: CheckResult, inst: Instances) -> np.ndarray:
        cert = np.zeros(inst.batch) if inst.certificate is None else inst.certificate
        return res.hypotheses_met & (res.lhs - res.rhs > COUNTEREXAMPLE_MARGIN) & (cert <= CERTIFIED)


# -- shared quantities ---------------------------------------------------------------------


def gap(inst: Instances) -> np.ndarray:
    """Err(F_sw) - Err(F_w)."""
    return inst.err(inst.fsw) - inst.err(inst.fw)


def forward_misfit(inst: Instances) -> np.ndarray:
    return inst.kl_mean(inst.fw, inst.fsw)


def reverse_misfit(inst: Instances) -> np.ndarray:
    return inst.kl_mean(inst.fsw, inst.fw)


def pinsker_constant(gamma: np.ndarray) -> np.ndarray:
    r""":math:`C(\gamma) = 1/(\gamma\sqrt2)`: Pinsker (TV <= sqrt(KL/2)) times the Lipschitz constant of log on [gamma, 1]."""
    return 1.0 / (gamma * np.sqrt(2.0))


def tv_envelope(m: np.ndarray) -> np.ndarray:
    r"""Concave increasing bound on TV from KL: :math:`\varphi(m) = \min(\sqrt{m/2}, \sqrt{1-e^{-m}})` (Pinsker, Bretagnolle-Huber)."""
    return np.minimum(np.sqrt(m / 2.0), np.sqrt(-np.expm1(-m)))


def sharp_lower_bound(misfit: np.ndarray, gamma_w: np.ndarray) -> np.ndarray:
    r"""T3's bound on the loss side: :math:`\Delta \ge -\log(1 + \varphi(M)/\gamma_w)`."""
    return -np.log1p(tv_envelope(misfit) / gamma_w)


# -- hypotheses ----------------------------------------------------------------------------


def _floor_positive(inst: Instances) -> np.ndarray:
    g = inst.floor()
    actual = np.where(inst.weights > 0, np.minimum(inst.fw, inst.fsw).min(-1), np.inf).min(1)
    return (g > 0) & (actual >= g * (1 - 1e-12))


def _weak_floor(inst: Instances) -> np.ndarray:
    return np.where(inst.weights > 0, inst.fw.min(-1), np.inf).min(1)


def _kind(kind: str) -> Callable[[Instances], np.ndarray]:
    return lambda inst: np.full(inst.batch, inst.model_kind == kind)


def _fstar_in_class(inst: Instances) -> np.ndarray:
    r = inst.fstar_class_residual
    return np.zeros(inst.batch, bool) if r is None else np.asarray(r) <= 1e-12


def _trained(loss: str, certified: bool = True) -> Callable[[Instances], np.ndarray]:
    def test(inst: Instances) -> np.ndarray:
        ok = np.full(inst.batch, inst.trained_with == loss)
        if certified:
            cert = inst.certificate
            ok &= np.zeros(inst.batch, bool) if cert is None else np.asarray(cert) <= CERTIFIED
        return ok

    return test


def _has_certificate(inst: Instances) -> np.ndarray:
    if inst.certificate is None:
        return np.zeros(inst.batch, bool)
    return np.isfinite(np.asarray(inst.certificate, dtype=np.float64))


def _has_fref(inst: Instances) -> np.ndarray:
    return np.full(inst.batch, inst.fref is not None)


def _has_softmax_params(inst: Instances) -> np.ndarray:
    return np.full(inst.batch, inst.features is not None and inst.w_sw is not None and inst.w_star is not None)


H_FLOOR = Hypothesis("floor", r"$F_w, F_{sw} \ge \gamma > 0$ componentwise", _floor_positive)
H_WEAK_FLOOR = Hypothesis("weak_floor", r"$F_w \ge \gamma_w > 0$ componentwise", lambda i: _weak_floor(i) > 0)
H_CONVEX = Hypothesis("prob_convex", "the strong class is convex in probability space", _kind("probability-convex"))
H_SOFTMAX = Hypothesis("softmax_linear", r"the strong class is $\{\mathrm{softmax}(W h)\}$", _kind("softmax-linear"))
H_REALIZABLE = Hypothesis("realizable", r"$F^\star$ lies in the strong class", _fstar_in_class)


# -- the results ---------------------------------------------------------------------------


def _t_universal(misfit_fn: Callable[[Instances], np.ndarray]):
    def sides(inst: Instances):
        M = misfit_fn(inst)
        C = pinsker_constant(inst.floor())
        d = gap(inst)
        bound = C * np.sqrt(M)
        return np.abs(d), bound, np.zeros_like(d), {"gap": d, "misfit": M, "gamma": inst.floor(), "constant": C}

    return sides


def _t3_sides(inst: Instances):
    d = gap(inst)
    gw = _weak_floor(inst)
    Mf, Mr = forward_misfit(inst), reverse_misfit(inst)
    Lf, Lr = sharp_lower_bound(Mf, gw), sharp_lower_bound(Mr, gw)
    C = pinsker_constant(inst.floor())
    # The lower sides of T1 and T2, for the tightness comparison.
    L1, L2 = -C * np.sqrt(Mf), -C * np.sqrt(Mr)
    extras = {"gap": d, "misfit": Mf, "misfit_reverse": Mr, "gamma": inst.floor(), "gamma_w": gw,
              "bound_forward": Lf, "bound_reverse": Lr, "t1_lower": L1, "t2_lower": L2}
    return -d, -np.maximum(Lf, Lr), np.zeros_like(d), extras


def _disagreement_sides(inst: Instances, with_slack: bool):
    e_sw, e_w = inst.err(inst.fsw), inst.err(inst.fw)
    Mr = reverse_misfit(inst)
    cert = np.zeros(inst.batch) if inst.certificate is None else np.asarray(inst.certificate, dtype=np.float64)
    extras = {"gap": e_sw - e_w, "misfit": Mr, "certificate": cert, "err_w": e_w, "err_sw": e_sw}
    if not with_slack:  # T4: the certificate is the allowance
        return e_sw, e_w - Mr, cert, extras
    # T6: Err(F_sw) <= Err(F_w) - M_r + g + E sum_i |F*_i - F°_i| |log(F_sw,i / F_w,i)|
    fref = inst.fstar if inst.fref is None else inst.fref
    logr = np.where(inst.fsw > 0, np.log(inst.fsw) - np.log(inst.fw), 0.0)
    delta = inst.mean((np.abs(inst.fstar - fref) * np.abs(logr)).sum(-1))
    extras.update({"realizability_term": delta, "eps": inst.err(fref)})
    return e_sw, e_w - Mr + cert + delta, np.zeros_like(e_sw), extras


def _t5_sides(inst: Instances):
    """E KL(F_sw||F*) = E KL(F_w||F*) - E KL(F_w||F_sw) up to <r, W_sw - W*>, r the moment residual."""
    lhs = inst.kl_mean(inst.fsw, inst.fstar)
    rhs = inst.kl_mean(inst.fw, inst.fstar) - forward_misfit(inst)
    if not _has_softmax_params(inst).all():  # the 'parameters' hypothesis fails: nothing to compare with
        nan = np.full(inst.batch, np.nan)
        return nan, nan, nan, {}
    r = np.einsum("bn,bnk,bnd->bkd", inst.weights, inst.fw - inst.fsw, inst.features)
    delta = inst.w_sw - inst.w_star
    delta = delta - delta.mean(axis=1, keepdims=True)  # softmax ignores a shared shift; sum_k r_k = 0
    allowance = np.sqrt((r**2).sum((1, 2))) * np.sqrt((delta**2).sum((1, 2)))
    extras = {"identity_residual": lhs - rhs, "moment_residual": np.sqrt((r**2).sum((1, 2))), "misfit": forward_misfit(inst)}
    # Identity: check |lhs - rhs| <= allowance, written as max(lhs - rhs, rhs - lhs) <= allowance.
    return np.abs(lhs - rhs), np.zeros_like(lhs), allowance, extras


def _t0_sides(inst: Instances):
    def sq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return inst.mean(((a - b) ** 2).sum(-1))

    cert = np.zeros(inst.batch) if inst.certificate is None else np.asarray(inst.certificate, dtype=np.float64)
    lhs = sq(inst.fsw, inst.fstar)
    misfit = sq(inst.fsw, inst.fw)
    return lhs, sq(inst.fw, inst.fstar) - misfit, cert, {"misfit": misfit, "gap": lhs - sq(inst.fw, inst.fstar), "certificate": cert}


def _nt_forward_sides(inst: Instances):
    e_sw, e_w = inst.err(inst.fsw), inst.err(inst.fw)
    Mf = forward_misfit(inst)
    return e_sw, e_w - Mf, np.zeros_like(e_sw), {"gap": e_sw - e_w, "misfit": Mf}


def _nt_softmax_sides(inst: Instances):
    lhs, rhs, _, extras = _disagreement_sides(inst, with_slack=False)
    return lhs, rhs, np.zeros_like(lhs), extras


T0 = Theorem(
    "T0", "squared-loss misfit-gain inequality (Charikar et al., 2024)",
    r"$\mathbb{E}\|F_{sw}-F^\star\|^2 \le \mathbb{E}\|F_w-F^\star\|^2 - \mathbb{E}\|F_{sw}-F_w\|^2$",
    (H_CONVEX, H_REALIZABLE, Hypothesis("squared_fit", "F_sw minimises E||F - F_w||^2 over the class (certified)", _trained("squared"))),
    _t0_sides,
)
T1 = Theorem(
    "T1", "universal two-sided bound, forward misfit",
    r"$|\mathrm{Err}(F_{sw})-\mathrm{Err}(F_w)| \le \frac{1}{\gamma\sqrt2}\sqrt{\mathbb{E}\,\mathrm{KL}(F_w\|F_{sw})}$",
    (H_FLOOR,), _t_universal(forward_misfit),
)
T2 = Theorem(
    "T2", "universal two-sided bound, reverse misfit",
    r"$|\mathrm{Err}(F_{sw})-\mathrm{Err}(F_w)| \le \frac{1}{\gamma\sqrt2}\sqrt{\mathbb{E}\,\mathrm{KL}(F_{sw}\|F_w)}$",
    (H_FLOOR,), _t_universal(reverse_misfit),
)
T3 = Theorem(
    "T3", "tighter lower bounds, both misfits",
    r"$\mathrm{Err}(F_{sw})-\mathrm{Err}(F_w) \ge -\log\!\big(1+\varphi(M)/\gamma_w\big)$, "
    r"$\varphi(M)=\min(\sqrt{M/2},\sqrt{1-e^{-M}})$, $M \in \{M_f, M_r\}$",
    (H_WEAK_FLOOR,), _t3_sides,
)
T4 = Theorem(
    "T4", "reverse-KL disagreement guarantee on probability-convex classes",
    r"$\mathrm{Err}(F_{sw}) \le \mathrm{Err}(F_w) - \mathbb{E}\,\mathrm{KL}(F_{sw}\|F_w)$",
    (H_CONVEX, H_REALIZABLE, Hypothesis("reverse_fit", r"$F_{sw}$ minimises $\mathbb{E}\,\mathrm{KL}(F\|F_w)$ over the class (certified)", _trained("reverse_kl"))),
    lambda inst: _disagreement_sides(inst, with_slack=False),
)
T5 = Theorem(
    "T5", "dual identity for forward KL on the softmax-linear class",
    r"$\mathbb{E}\,\mathrm{KL}(F_{sw}\|F^\star) = \mathbb{E}\,\mathrm{KL}(F_w\|F^\star) - \mathbb{E}\,\mathrm{KL}(F_w\|F_{sw})$",
    (H_SOFTMAX, H_REALIZABLE, Hypothesis("forward_fit", r"$F_{sw}$ minimises $\mathbb{E}\,\mathrm{KL}(F_w\|F)$ (certified)", _trained("forward_kl")),
     Hypothesis("parameters", "features, W_sw and W* are given", _has_softmax_params)),
    _t5_sides,
)
T6 = Theorem(
    "T6", "T4 for approximate minimisers and non-realizable classes",
    r"$\mathrm{Err}(F_{sw}) \le \mathrm{Err}(F_w) - \mathbb{E}\,\mathrm{KL}(F_{sw}\|F_w) + g + "
    r"\mathbb{E}\sum_i |F^\star_i - F^\circ_i|\,|\log(F_{sw,i}/F_{w,i})|$ for any $F^\circ$ in the class, $g$ the Frank-Wolfe gap",
    (H_CONVEX, Hypothesis("reverse_fit", "F_sw was fitted with reverse KL (any accuracy)", _trained("reverse_kl", certified=False)),
     Hypothesis("certificate", "the Frank-Wolfe gap g of F_sw is given", _has_certificate),
     Hypothesis("reference", "a member F° of the class is given", _has_fref)),
    lambda inst: _disagreement_sides(inst, with_slack=True),
)
NT_FORWARD = NonTheorem(
    "NT-forward-convex", "T4's inequality for FORWARD-KL training on a probability-convex class (false)",
    r"$\mathrm{Err}(F_{sw}) \le \mathrm{Err}(F_w) - \mathbb{E}\,\mathrm{KL}(F_w\|F_{sw})$ for $F_{sw}$ minimising forward KL",
    (H_CONVEX, H_REALIZABLE, Hypothesis("forward_fit", "F_sw minimises E KL(F_w||F) over the class (certified)", _trained("forward_kl"))),
    _nt_forward_sides,
)
NT_SOFTMAX = NonTheorem(
    "NT-reverse-softmax", "T4 for reverse-KL training on a softmax-linear class (false)",
    r"$\mathrm{Err}(F_{sw}) \le \mathrm{Err}(F_w) - \mathbb{E}\,\mathrm{KL}(F_{sw}\|F_w)$ for $F_{sw}$ a reverse-KL fit in $\{\mathrm{softmax}(Wh)\}$",
    (H_SOFTMAX, H_REALIZABLE, Hypothesis("reverse_fit", "F_sw is a certified stationary point of E KL(F||F_w)", _trained("reverse_kl"))),
    lambda inst: _nt_softmax_sides(inst),
)

THEOREMS: dict[str, Theorem] = {t.name: t for t in (T0, T1, T2, T3, T4, T5, T6, NT_FORWARD, NT_SOFTMAX)}


def applicable(inst: Instances) -> dict[str, CheckResult]:
    """Every result whose hypotheses all hold on every instance of ``inst``, checked."""
    out = {}
    for name, thm in THEOREMS.items():
        if thm.kind == "theorem" and all(v.all() for v in thm.hypotheses_hold(inst).values()):
            out[name] = thm.check(inst)
    return out
