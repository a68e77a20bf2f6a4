r"""The paper's results as objects: statement, hypotheses, sides, instance families, tightness summary.

Quantities and their notation are in :mod:`bounds.quantities` (``Instances``, Err, gap Δ, the
misfits M_f and M_r). Each result owns its **relation** between a left and a right side:

* ``upper``: lhs <= rhs (T0, T1, T2, T4, T6 and both non-theorems), slack = rhs - lhs;
* ``lower``: lhs >= rhs (T3: gap >= bound), slack = lhs - rhs;
* ``identity``: lhs = rhs (T5), slack = -|lhs - rhs|.

A check holds in floats when ``slack >= -(allowance + tol)``: ``allowance`` is what the solver's certificate
permits (0 for results that involve no solver) and ``tol`` a first-order model of the rounding error of
both sides, propagated through every nonlinear step from :mod:`bounds.quantities` (plus 4 ulp of each side).
That model is an estimate with generous constants, not a proven bound: a check the floats flag is decided
again in interval arithmetic (:func:`bounds.rigorous.confirm`) before it counts, and that is the proof.
Non-theorems are claims the project REFUTES: a counterexample (:func:`breaks`) is an instance where
the claimed inequality fails by more than ``COUNTEREXAMPLE_MARGIN`` beyond its allowance and rounding
while the solver certificate is below ``CERTIFIED``. Each result also names the instance families
``revkl bounds verify`` draws for it, summarises how tight it was on them (for bounds, the largest
ratio lhs / rhs reached: 1 means the constant cannot be improved on those instances), and prints itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

import numpy as np

from bounds import instances as fam
from bounds.quantities import (
    EPS,
    Instances,
    forward_misfit,
    gap,
    gap_estimate,
    monotone_error,
    reverse_misfit,
)

__all__ = ["CERTIFIED", "COUNTEREXAMPLE_MARGIN", "THEOREMS", "CheckResult", "Hypothesis", "Instances", "NonTheorem",
           "Sides", "Theorem", "applicable", "breaks", "fails_beyond", "fit_search", "forward_misfit", "gap", "pinsker_constant", "reverse_misfit",
           "sharp_lower_bound", "tv_envelope"]

#: A solver result counts as an exact minimiser (for hypotheses and counterexamples) below this.
CERTIFIED = 1e-9
#: A counterexample must break the claimed inequality by at least this much.
COUNTEREXAMPLE_MARGIN = 1e-6
RELATIONS = ("upper", "lower", "identity")


def breaks(res: "CheckResult", inst: Instances) -> np.ndarray:
    """Where the relation fails by more than ``COUNTEREXAMPLE_MARGIN`` beyond its allowance and rounding,
    on a certified fit (certificate <= ``CERTIFIED``): the one rule for a counterexample to a claim, used
    by :meth:`NonTheorem.counterexamples` (with its hypotheses met) and for theorems checked outside
    their hypotheses (``revkl llm theory``). (B,) bool."""
    cert = np.zeros(inst.batch) if inst.certificate is None else np.asarray(inst.certificate)
    return fails_beyond(res.slack, res.allowance, res.tol) & (cert <= CERTIFIED)


def fails_beyond(slack: float | np.ndarray, allowance: float | np.ndarray, tol: float | np.ndarray) -> np.bool_ | np.ndarray:
    r"""Whether a relation fails by more than ``COUNTEREXAMPLE_MARGIN`` beyond its allowance and rounding:
    :math:`-\mathrm{slack} - \mathrm{allowance} - \mathrm{tol} > \mathrm{COUNTEREXAMPLE\_MARGIN}`. The one
    counterexample rule on the numbers: :func:`breaks` adds the certificate to it, and a stored record
    (``revkl synthetic``'s ``t4_slack`` against its ``t4_tolerance``) is judged by it alone. Scalars or
    arrays; an undefined side (NaN) refutes nothing, an infinite error does."""
    with np.errstate(invalid="ignore"):
        return -np.asarray(slack, dtype=np.float64) - allowance - tol > COUNTEREXAMPLE_MARGIN


@dataclass(frozen=True)
class Hypothesis:
    name: str
    text: str
    test: Callable[[Instances], np.ndarray]  # (B,) bool


@dataclass
class Sides:
    """What a result's formula produces on a batch: both sides, the certificate allowance, the rounding-error estimate."""

    lhs: np.ndarray
    rhs: np.ndarray
    allowance: np.ndarray
    rounding: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class CheckResult:
    """Per-instance outcome of one result: arrays of shape (B,). ``relation`` says how lhs and rhs compare."""

    theorem: str
    lhs: np.ndarray
    rhs: np.ndarray
    allowance: np.ndarray
    hypotheses: dict[str, np.ndarray]
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    relation: str = "upper"
    rounding: np.ndarray | float = 0.0

    @property
    def slack(self) -> np.ndarray:
        """How far the relation holds (negative: it fails): rhs - lhs, lhs - rhs, or -|lhs - rhs|."""
        with np.errstate(invalid="ignore"):
            if self.relation == "upper":
                return self.rhs - self.lhs
            if self.relation == "lower":
                return self.lhs - self.rhs
            return -np.abs(self.lhs - self.rhs)

    @property
    def tol(self) -> np.ndarray:
        """Propagated rounding error plus 4 ulp of each side; an infinite side gets none (inf must not excuse inf)."""
        scale = np.abs(self.lhs) + np.abs(self.rhs)
        r = np.broadcast_to(np.asarray(self.rounding, dtype=np.float64), np.shape(self.lhs))
        return np.where(np.isfinite(r), r, 0.0) + 4 * EPS * np.where(np.isfinite(scale), scale, 0.0)

    @property
    def hypotheses_met(self) -> np.ndarray:
        met = np.ones_like(self.lhs, dtype=bool)
        for v in self.hypotheses.values():
            met &= v
        return met

    @property
    def violation(self) -> np.ndarray:
        """How far the relation fails beyond the certificate allowance and rounding (0 if it holds)."""
        with np.errstate(invalid="ignore"):
            v = -self.slack - self.allowance - self.tol
        return np.where(np.isnan(v), np.inf, np.maximum(v, 0.0))

    @property
    def holds(self) -> np.ndarray:
        return self.violation == 0.0

    @property
    def ratio(self) -> np.ndarray:
        """How close lhs comes to a bound: lhs / rhs (upper bounds with rhs > 0, lower bounds with rhs < 0), else NaN."""
        with np.errstate(divide="ignore", invalid="ignore"):
            ok = (self.rhs > 0) if self.relation == "upper" else (self.rhs < 0) if self.relation == "lower" else False
            return np.where(ok, self.lhs / self.rhs, np.nan)


Family = Callable[[np.random.Generator, int, int, int], Instances]
Summary = Callable[[dict[str, np.ndarray]], dict[str, Any]]


class Theorem:
    """A result: statement, hypotheses, the relation between two sides, its instance families and tightness summary.

    ``sides(inst) -> Sides``; ``families`` maps a family name to a generator ``(rng, B, n, k) -> Instances``
    (verify cycles through them batch by batch); ``summary`` adds result-specific tightness figures.
    ``sides_text`` names the two sides for printing. ``sharpness``: the bound carries a constant whose sharpness the
    largest ratio lhs / rhs reached measures (T1-T3); for the others the slack is the summary. ``trained_with``: the
    loss whose fit the result speaks about (None for results about any F_sw). ``exact``: ``(inst, i) ->
    bounds.rigorous.Exact``, the sides in interval arithmetic, with which float-flagged checks are re-decided (the
    project's results have theirs in ``bounds.rigorous.EXACT``; a user's theorem may bring its own).
    """

    kind = "theorem"

    def __init__(self, name: str, title: str, statement: str, relation: str, hypotheses: tuple[Hypothesis, ...],
                 sides: Callable[[Instances], Sides], families: dict[str, Family], sides_text: tuple[str, str],
                 summary: Summary | None = None, sharpness: bool = False, trained_with: str | None = None,
                 exact: Callable[[Instances, int], Any] | None = None) -> None:
        if relation not in RELATIONS:
            raise ValueError(f"relation must be one of {RELATIONS}, got {relation!r}")
        self.name, self.title, self.statement, self.relation = name, title, statement, relation
        self.hypotheses, self.families, self.sides_text = hypotheses, families, sides_text
        self._sides, self._summary, self.sharpness, self.trained_with = sides, summary, sharpness, trained_with
        self.exact = exact

    def hypotheses_hold(self, inst: Instances) -> dict[str, np.ndarray]:
        """Each hypothesis evaluated on every instance: name -> (B,) bool."""
        return {h.name: np.asarray(h.test(inst), dtype=bool).reshape(inst.batch) for h in self.hypotheses}

    def sides(self, inst: Instances) -> Sides:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return self._sides(inst)

    def check(self, inst: Instances) -> CheckResult:
        """Evaluate hypotheses and both sides on every instance (a false hypothesis is reported, not raised)."""
        s = self.sides(inst)
        return CheckResult(self.name, s.lhs, s.rhs, s.allowance, self.hypotheses_hold(inst), s.extras, self.relation, s.rounding)

    def with_sides(self, name: str, sides: Callable[[Instances], Sides]) -> "Theorem":
        """The same result with another formula (e.g. a deliberately wrong constant, to show a check can fail);
        its exact sides no longer mirror the formula, so it has none (floats decide)."""
        return type(self)(name, self.title, self.statement, self.relation, self.hypotheses, sides, self.families,
                          self.sides_text, self._summary, self.sharpness, self.trained_with)

    # -- tightness ----------------------------------------------------------------------------
    def tightness(self, cols: dict[str, np.ndarray]) -> dict[str, Any]:
        """Summary over the instances meeting the hypotheses; ``cols`` holds lhs, rhs, slack, ratio and the extras."""
        slack = cols["slack"]
        if slack.size == 0:
            return {}
        out: dict[str, Any] = {"median_slack": float(np.median(slack)), "min_slack": float(slack.min())}
        ratio = cols["ratio"][np.isfinite(cols["ratio"])]
        if self.sharpness and ratio.size:
            out["max_ratio"] = float(ratio.max())
            out["median_ratio"] = float(np.median(ratio))
        if self.relation == "identity":
            out["max_abs_residual"] = float(np.abs(cols["lhs"] - cols["rhs"]).max())
        if self._summary is not None:
            out.update(self._summary(cols))
        return out

    def describe(self, t: dict[str, Any]) -> str:
        """One line for the verify table."""
        if not t:
            return "no instance met the hypotheses"
        if "max_ratio" in t:
            side = "|gap|/bound" if self.relation == "upper" else "gap/bound"
            text = f"max {side} {t['max_ratio']:.8f}, median {t['median_ratio']:.3g}"
        elif "max_abs_residual" in t:
            text = f"max |residual| {t['max_abs_residual']:.2e}"
        else:
            text = f"min slack {t['min_slack']:.3g}, median {t['median_slack']:.3g}"
        extra = t.get("note")
        return f"{text}; {extra}" if extra else text

    def show(self, res: CheckResult, i: int = 0) -> str:
        """The relation on instance i, the way it is stated, e.g. ``|gap| 0.01 <= bound 0.3``."""
        sym = {"upper": "<=", "lower": ">=", "identity": "="}[self.relation]
        return f"{self.sides_text[0]} {res.lhs[i]:.6g} {sym} {self.sides_text[1]} {res.rhs[i]:.6g}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}: {self.title})"


class NonTheorem(Theorem):
    """A plausible claim that is false: verification must find certified counterexamples."""

    kind = "non-theorem"

    def counterexamples(self, res: CheckResult, inst: Instances) -> np.ndarray:
        return res.hypotheses_met & breaks(res, inst)

    def tightness(self, cols: dict[str, np.ndarray]) -> dict[str, Any]:
        slack = cols["slack"]
        if slack.size == 0:
            return {}
        out: dict[str, Any] = {"fraction_failing": float((slack < 0).mean()), "worst_failure": float(-slack.min())}
        if self._summary is not None:
            out.update(self._summary(cols))
        return out

    def describe(self, t: dict[str, Any]) -> str:
        if not t:
            return "no instance met the hypotheses"
        text = f"claim fails on {100 * t['fraction_failing']:.1f}%, worst by {t['worst_failure']:.3g} nats"
        return f"{text}; {t['note']}" if t.get("note") else text


# -- bounds and their rounding ---------------------------------------------------------------


def pinsker_constant(gamma: np.ndarray) -> np.ndarray:
    r""":math:`C(\gamma) = 1/(\gamma\sqrt2)`: Pinsker (TV <= sqrt(KL/2)) times the Lipschitz constant of log on [gamma, 1]."""
    return 1.0 / (gamma * np.sqrt(2.0))


def tv_envelope(m: np.ndarray) -> np.ndarray:
    r"""Concave increasing bound on TV from KL: :math:`\varphi(m) = \min(\sqrt{m/2}, \sqrt{1-e^{-m}})` (Pinsker, Bretagnolle-Huber)."""
    return np.minimum(np.sqrt(m / 2.0), np.sqrt(-np.expm1(-m)))


def sharp_lower_bound(misfit: np.ndarray, gamma_w: np.ndarray) -> np.ndarray:
    r"""T3's bound on the loss side: :math:`\Delta \ge -\log(1 + \varphi(M)/\gamma_w)`."""
    return -np.log1p(tv_envelope(misfit) / gamma_w)


def _relative(inst: Instances) -> float:
    """Relative error of a bound from gamma (a renormalised entry) and its few elementary operations."""
    return (inst.num_classes + 8) * EPS


def _certificate(inst: Instances) -> np.ndarray:
    return np.zeros(inst.batch) if inst.certificate is None else np.asarray(inst.certificate, dtype=np.float64)


# -- hypotheses ----------------------------------------------------------------------------


def _kind(kind: str) -> Callable[[Instances], np.ndarray]:
    return lambda inst: np.full(inst.batch, inst.model_kind == kind)


#: F* counts as in the class when a member lies within this of it entrywise (T4 adds the effect to its allowance).
REALIZABLE = 1e-9


def _fstar_in_class(inst: Instances) -> np.ndarray:
    r = inst.fstar_class_residual
    return np.zeros(inst.batch, bool) if r is None else np.asarray(r) <= REALIZABLE


def _trained(loss: str, certified: bool) -> Callable[[Instances], np.ndarray]:
    """Trained with ``loss``; with ``certified`` the certificate is <= CERTIFIED, else merely given and finite."""
    def test(inst: Instances) -> np.ndarray:
        ok = np.full(inst.batch, inst.trained_with == loss)
        if inst.certificate is None:
            return np.zeros(inst.batch, bool)
        cert = np.asarray(inst.certificate, dtype=np.float64)
        return ok & ((cert <= CERTIFIED) if certified else np.isfinite(cert))

    return test


def _has_fref(inst: Instances) -> np.ndarray:
    return np.full(inst.batch, inst.fref is not None)


def _has_softmax_params(inst: Instances) -> np.ndarray:
    return np.full(inst.batch, inst.features is not None and inst.w_sw is not None and inst.w_star is not None)


def _local_minimum(inst: Instances) -> np.ndarray:
    e = inst.min_hessian_eig
    return np.zeros(inst.batch, bool) if e is None else np.asarray(e) > 1e-10


def _global_k2(inst: Instances) -> np.ndarray:
    if inst.num_classes != 2:
        return np.ones(inst.batch, bool)
    g = inst.global_search
    return np.zeros(inst.batch, bool) if g is None else np.asarray(g, dtype=bool)


H_FLOOR = Hypothesis("floor", r"$F_w, F_{sw} \ge \gamma > 0$ componentwise", lambda i: i.floor() > 0)
H_WEAK_FLOOR = Hypothesis("weak_floor", r"$F_w \ge \gamma_w > 0$ componentwise", lambda i: i.weak_floor() > 0)
H_CONVEX = Hypothesis("prob_convex", "the strong class is convex in probability space", _kind("probability-convex"))
H_SOFTMAX = Hypothesis("softmax_linear", r"the strong class is $\{\mathrm{softmax}(W h)\}$", _kind("softmax-linear"))
H_REALIZABLE = Hypothesis("realizable", r"$F^\star$ lies in the strong class (a member within $10^{-9}$ entrywise)", _fstar_in_class)


# -- the results' formulas -------------------------------------------------------------------


def _t_universal(reverse: bool) -> Callable[[Instances], Sides]:
    def sides(inst: Instances) -> Sides:
        M, eM = inst.kl_estimate(inst.fsw, inst.fw) if reverse else inst.kl_estimate(inst.fw, inst.fsw)
        d, ed = gap_estimate(inst)
        C = pinsker_constant(inst.floor())
        bound = C * np.sqrt(M)
        rounding = ed + C * monotone_error(np.sqrt, M, eM) + _relative(inst) * bound
        return Sides(np.abs(d), bound, np.zeros_like(d), rounding, {"gap": d, "misfit": M, "gamma": inst.floor(), "constant": C})

    return sides


def _t3_sides(inst: Instances) -> Sides:
    d, ed = gap_estimate(inst)
    gw = inst.weak_floor()
    (Mf, eMf), (Mr, eMr) = inst.kl_estimate(inst.fw, inst.fsw), inst.kl_estimate(inst.fsw, inst.fw)
    Lf, Lr = sharp_lower_bound(Mf, gw), sharp_lower_bound(Mr, gw)
    bound = np.maximum(Lf, Lr)
    err_f = monotone_error(lambda m: sharp_lower_bound(m, gw), Mf, eMf)
    err_r = monotone_error(lambda m: sharp_lower_bound(m, gw), Mr, eMr)
    rounding = ed + np.maximum(err_f, err_r) + _relative(inst) * np.abs(bound)
    C = pinsker_constant(inst.floor())
    # The lower sides of T1 and T2, for the tightness comparison.
    extras = {"gap": d, "misfit": Mf, "misfit_reverse": Mr, "gamma": inst.floor(), "gamma_w": gw,
              "bound_forward": Lf, "bound_reverse": Lr, "t1_lower": -C * np.sqrt(Mf), "t2_lower": -C * np.sqrt(Mr)}
    return Sides(d, bound, np.zeros_like(d), rounding, extras)


def _disagreement_sides(inst: Instances, with_slack: bool) -> Sides:
    """T4 (certificate as allowance) and T6 (certificate and realizability term inside the bound)."""
    (e_sw, ee_sw), (e_w, ee_w) = inst.kl_estimate(inst.fstar, inst.fsw), inst.kl_estimate(inst.fstar, inst.fw)
    Mr, eMr = inst.kl_estimate(inst.fsw, inst.fw)
    cert = _certificate(inst)
    rounding = ee_sw + ee_w + eMr
    extras = {"gap": e_sw - e_w, "misfit": Mr, "certificate": cert, "err_w": e_w, "err_sw": e_sw}
    logs = np.where(inst.fsw > 0, np.abs(np.log(inst.fsw)) + np.abs(np.log(inst.fw)), 0.0)
    logr = np.where(inst.fsw > 0, np.log(inst.fsw) - np.log(inst.fw), 0.0)
    if not with_slack:
        # T4: the certificate g, plus T6's correction for a truth within the realizability residual r of the class
        # (F° the member nearest F*): allowance g + r E sum_i |log(F_sw,i/F_w,i)|.
        r = np.zeros(inst.batch) if inst.fstar_class_residual is None else np.asarray(inst.fstar_class_residual, dtype=np.float64)
        log_mass = inst.mean(np.abs(logr).sum(-1))
        extras["realizability_allowance"] = r * log_mass
        return Sides(e_sw, e_w - Mr, cert + r * log_mass, rounding, extras)
    # T6: Err(F_sw) <= Err(F_w) - M_r + g + E sum_i |F*_i - F°_i| |log(F_sw,i / F_w,i)|
    fref = inst.fstar if inst.fref is None else inst.fref
    w = np.abs(inst.fstar - fref)
    delta = inst.mean((w * np.abs(logr)).sum(-1))
    rounding = rounding + EPS * inst.mean((w * (2 * inst.num_classes + 8 + logs)).sum(-1))
    extras.update({"realizability_term": delta, "eps": inst.err(fref)})
    return Sides(e_sw, e_w - Mr + cert + delta, np.zeros_like(e_sw), rounding, extras)


def _t5_sides(inst: Instances) -> Sides:
    """E KL(F_sw||F*) = E KL(F_w||F*) - E KL(F_w||F_sw) up to <r, W_sw - W*>, r the moment residual."""
    (a, ea), (b, eb), (Mf, eMf) = (inst.kl_estimate(inst.fsw, inst.fstar), inst.kl_estimate(inst.fw, inst.fstar),
                                   inst.kl_estimate(inst.fw, inst.fsw))
    lhs, rhs, rounding = a, b - Mf, ea + eb + eMf
    if not _has_softmax_params(inst).all():  # the 'parameters' hypothesis fails: nothing to compare with
        nan = np.full(inst.batch, np.nan)
        return Sides(nan, nan, nan, nan, {})
    r = np.einsum("bn,bnk,bnd->bkd", inst.weights, inst.fw - inst.fsw, inst.features)
    delta = inst.w_sw - inst.w_star
    delta = delta - delta.mean(axis=1, keepdims=True)  # softmax ignores a shared shift; sum_k r_k = 0
    rnorm = np.sqrt((r**2).sum((1, 2)))
    allowance = rnorm * np.sqrt((delta**2).sum((1, 2)))
    extras = {"identity_residual": lhs - rhs, "moment_residual": rnorm, "misfit": Mf}
    return Sides(lhs, rhs, allowance, rounding, extras)


def _t0_sides(inst: Instances) -> Sides:
    k, n = inst.num_classes, inst.fstar.shape[1]

    def sq(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        v = inst.mean(((a - b) ** 2).sum(-1))
        return v, 8 * (k + n) * EPS * (np.sqrt(v) + v)

    cert = _certificate(inst)
    (lhs, e1), (ref, e2), (misfit, e3) = sq(inst.fsw, inst.fstar), sq(inst.fw, inst.fstar), sq(inst.fsw, inst.fw)
    # F* within r of a member F°: the proof's <F_w - F_sw, F_sw - F*> moves by at most 2 r E sum_i |F_w,i - F_sw,i|.
    r = np.zeros(inst.batch) if inst.fstar_class_residual is None else np.asarray(inst.fstar_class_residual, dtype=np.float64)
    allowance = cert + 2 * r * inst.mean(np.abs(inst.fw - inst.fsw).sum(-1))
    return Sides(lhs, ref - misfit, allowance, e1 + e2 + e3, {"misfit": misfit, "gap": lhs - ref, "certificate": cert})


def _nt_forward_sides(inst: Instances) -> Sides:
    (e_sw, e1), (e_w, e2), (Mf, e3) = (inst.kl_estimate(inst.fstar, inst.fsw), inst.kl_estimate(inst.fstar, inst.fw),
                                       inst.kl_estimate(inst.fw, inst.fsw))
    return Sides(e_sw, e_w - Mf, np.zeros_like(e_sw), e1 + e2 + e3, {"gap": e_sw - e_w, "misfit": Mf})


def fit_search(k: int | float, global_certified: bool | float, starts: int | float) -> str:
    """What kind of minimiser a softmax reverse-loss fit is: ``global (certified)`` (k = 2, the grid search of
    :func:`bounds.solvers.softmax_global_check` finds nothing lower) or ``best of N`` (k > 2: N random starts
    searched, :func:`bounds.instances.search`; N = 0 where no search ran)."""
    return "global (certified)" if k == 2 and global_certified else f"best of {int(starts)}"


def _nt_softmax_sides(inst: Instances) -> Sides:
    s = _disagreement_sides(inst, with_slack=False)
    extras = dict(s.extras)
    extras["global_certified"] = (np.zeros(inst.batch) if inst.global_search is None or inst.num_classes != 2
                                  else np.asarray(inst.global_search, dtype=np.float64))
    extras["fit_starts"] = np.zeros(inst.batch) if inst.fit_starts is None else np.asarray(inst.fit_starts, dtype=np.float64)
    return Sides(s.lhs, s.rhs, np.zeros_like(s.lhs), s.rounding, extras)


def _search_summary(cols: dict[str, np.ndarray]) -> dict[str, Any]:
    """Per counterexample (hypotheses met, failing beyond margin): which kind of minimiser its fit is (:func:`fit_search`)."""
    cx = fails_beyond(cols["slack"], cols["allowance"], cols["tol"])
    kinds: dict[str, int] = {}
    for k, g, n in zip(cols["k"][cx], cols["global_certified"][cx], cols["fit_starts"][cx]):
        kind = fit_search(k, g, n)
        kinds[kind] = kinds.get(kind, 0) + 1
    best_of = cols["fit_starts"][cx & (cols["k"] > 2)]
    out: dict[str, Any] = {"counterexample_fits": kinds}
    if best_of.size:
        out["min_starts"] = int(best_of.min())
    glob = kinds.get("global (certified)", 0)
    out["note"] = (f"fits: {glob} global (certified, k = 2), {int(cx.sum()) - glob} best of N random starts (k > 2"
                   + (f", N >= {out['min_starts']})" if best_of.size else ")"))
    return out


# -- result-specific tightness ------------------------------------------------------------------


def _t3_summary(cols: dict[str, np.ndarray]) -> dict[str, Any]:
    g = cols["gamma"]
    l3 = np.maximum(cols["bound_forward"], cols["bound_reverse"])
    l12 = np.maximum(cols["t1_lower"], cols["t2_lower"])
    tighter = l3 > l12 * (1 - 1e-12) + 1e-15
    small = g < 1 / math.e
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(l12 < 0, l3 / l12, np.nan)
    never_looser = bool(np.all(l3 >= l12 - 1e-12 * np.abs(l12)))
    frac = float(tighter.mean())
    return {
        "never_looser": never_looser,
        "fraction_strictly_tighter": frac,
        "fraction_strictly_tighter_gamma_below_1_over_e": float(tighter[small].mean()) if small.any() else None,
        "median_bound_ratio_t3_over_t1t2": float(np.nanmedian(ratio)) if np.isfinite(ratio).any() else None,
        "instances_gamma_below_1_over_e": int(small.sum()),
        "note": f"{'never looser than' if never_looser else 'LOOSER somewhere than'} T1/T2, strictly tighter on {100 * frac:.1f}%",
    }


def _certified_summary(cols: dict[str, np.ndarray]) -> dict[str, Any]:
    """Fits with a certificate above CERTIFIED are checked with it as allowance: counted and flagged."""
    cert = cols["certificate"]
    unconverged = int((cert > CERTIFIED).sum())
    out: dict[str, Any] = {"median_misfit": float(np.median(cols["misfit"])), "max_certificate": float(cert.max()),
                           "unconverged": unconverged}
    if unconverged:
        out["note"] = f"{unconverged} fits with certificate > {CERTIFIED:g} checked with it as allowance"
    return out


def _approximate_summary(cols: dict[str, np.ndarray]) -> dict[str, Any]:
    """T6 is about approximate fits: report the certificates and realizability terms, flag nothing."""
    return {"median_misfit": float(np.median(cols["misfit"])), "max_certificate": float(cols["certificate"].max()),
            "median_realizability_term": float(np.median(cols["realizability_term"]))}


def _t5_summary(cols: dict[str, np.ndarray]) -> dict[str, Any]:
    return {"max_moment_residual": float(cols["moment_residual"].max())}


# -- the results ---------------------------------------------------------------------------

def _fitted(loss: str) -> dict[str, Family]:
    return {f: partial(fam.fitted_convex, family=f, loss=loss) for f in fam.WEAK_FAMILIES}


def _softmax(loss: str) -> dict[str, Family]:
    return {f: partial(fam.fitted_softmax, family=f, loss=loss) for f in ("noisy", "independent")}


UNIVERSAL_FAMILIES: dict[str, Family] = {f: partial(fam.universal, family=f) for f in fam.UNIVERSAL_FAMILIES}

T0 = Theorem(
    "T0", "squared-loss misfit-gain inequality (Charikar et al., 2024)",
    r"$\mathbb{E}\|F_{sw}-F^\star\|^2 \le \mathbb{E}\|F_w-F^\star\|^2 - \mathbb{E}\|F_{sw}-F_w\|^2$",
    "upper",
    (H_CONVEX, H_REALIZABLE,
     Hypothesis("squared_fit", "F_sw is a squared-loss fit over the class with a Frank-Wolfe gap g (the allowance)", _trained("squared", False))),
    _t0_sides, _fitted("squared"), ("E|F_sw-F*|^2", "E|F_w-F*|^2 - E|F_sw-F_w|^2"), _certified_summary,
    trained_with="squared",
)
T1 = Theorem(
    "T1", "universal two-sided bound, forward misfit",
    r"$|\mathrm{Err}(F_{sw})-\mathrm{Err}(F_w)| \le \frac{1}{\gamma\sqrt2}\sqrt{\mathbb{E}\,\mathrm{KL}(F_w\|F_{sw})}$",
    "upper", (H_FLOOR,), _t_universal(reverse=False), UNIVERSAL_FAMILIES, ("|gap|", "bound"), sharpness=True,
)
T2 = Theorem(
    "T2", "universal two-sided bound, reverse misfit",
    r"$|\mathrm{Err}(F_{sw})-\mathrm{Err}(F_w)| \le \frac{1}{\gamma\sqrt2}\sqrt{\mathbb{E}\,\mathrm{KL}(F_{sw}\|F_w)}$",
    "upper", (H_FLOOR,), _t_universal(reverse=True), UNIVERSAL_FAMILIES, ("|gap|", "bound"), sharpness=True,
)
T3 = Theorem(
    "T3", "tighter lower bounds, both misfits (the project's bound; the paper's C2 is not recovered)",
    r"$\mathrm{Err}(F_{sw})-\mathrm{Err}(F_w) \ge -\log\!\big(1+\varphi(M)/\gamma_w\big)$, "
    r"$\varphi(M)=\min(\sqrt{M/2},\sqrt{1-e^{-M}})$, $M \in \{M_f, M_r\}$",
    "lower", (H_WEAK_FLOOR,), _t3_sides, UNIVERSAL_FAMILIES, ("gap", "bound"), _t3_summary, sharpness=True,
)
T4 = Theorem(
    "T4", "reverse-KL disagreement guarantee on probability-convex classes",
    r"$\mathrm{Err}(F_{sw}) \le \mathrm{Err}(F_w) - \mathbb{E}\,\mathrm{KL}(F_{sw}\|F_w)$",
    "upper",
    (H_CONVEX, H_REALIZABLE,
     Hypothesis("reverse_fit", r"$F_{sw}$ is a reverse-KL fit $\min \mathbb{E}\,\mathrm{KL}(F\|F_w)$ over the class with a "
                r"Frank-Wolfe gap $g$ (the allowance; $g \le 10^{-9}$: an exact minimiser)", _trained("reverse_kl", False))),
    lambda inst: _disagreement_sides(inst, with_slack=False), _fitted("reverse_kl"), ("Err(F_sw)", "Err(F_w) - M_r"),
    _certified_summary, trained_with="reverse_kl",
)
T5 = Theorem(
    "T5", "dual identity for forward KL on the softmax-linear class",
    r"$\mathbb{E}\,\mathrm{KL}(F_{sw}\|F^\star) = \mathbb{E}\,\mathrm{KL}(F_w\|F^\star) - \mathbb{E}\,\mathrm{KL}(F_w\|F_{sw})$",
    "identity",
    (H_SOFTMAX, H_REALIZABLE, Hypothesis("forward_fit", r"$F_{sw}$ minimises $\mathbb{E}\,\mathrm{KL}(F_w\|F)$ (certified)", _trained("forward_kl", True)),
     Hypothesis("parameters", "features, W_sw and W* are given", _has_softmax_params)),
    _t5_sides, _softmax("forward_kl"), ("E KL(F_sw||F*)", "E KL(F_w||F*) - M_f"), _t5_summary, trained_with="forward_kl",
)
T6 = Theorem(
    "T6", "T4 for approximate minimisers and non-realizable classes",
    r"$\mathrm{Err}(F_{sw}) \le \mathrm{Err}(F_w) - \mathbb{E}\,\mathrm{KL}(F_{sw}\|F_w) + g + "
    r"\mathbb{E}\sum_i |F^\star_i - F^\circ_i|\,|\log(F_{sw,i}/F_{w,i})|$ for any $F^\circ$ in the class, $g$ the Frank-Wolfe gap",
    "upper",
    (H_CONVEX, Hypothesis("reverse_fit", "F_sw was fitted with reverse KL (any accuracy), its Frank-Wolfe gap g given", _trained("reverse_kl", False)),
     Hypothesis("reference", "a member F° of the class is given", _has_fref)),
    lambda inst: _disagreement_sides(inst, with_slack=True),
    {f: partial(fam.approximate_or_misspecified, family=f) for f in fam.WEAK_FAMILIES},
    ("Err(F_sw)", "Err(F_w) - M_r + g + realizability term"), _approximate_summary, trained_with="reverse_kl",
)
NT_FORWARD = NonTheorem(
    "NT-forward-convex", "T4's inequality for FORWARD-KL training on a probability-convex class (false)",
    r"$\mathrm{Err}(F_{sw}) \le \mathrm{Err}(F_w) - \mathbb{E}\,\mathrm{KL}(F_w\|F_{sw})$ for $F_{sw}$ minimising forward KL",
    "upper",
    (H_CONVEX, H_REALIZABLE, Hypothesis("forward_fit", "F_sw minimises E KL(F_w||F) over the class (certified)", _trained("forward_kl", True))),
    _nt_forward_sides, _fitted("forward_kl"), ("Err(F_sw)", "Err(F_w) - M_f"), trained_with="forward_kl",
)
NT_SOFTMAX = NonTheorem(
    "NT-reverse-softmax", "T4 for reverse-KL training on a softmax-linear class (false)",
    r"$\mathrm{Err}(F_{sw}) \le \mathrm{Err}(F_w) - \mathbb{E}\,\mathrm{KL}(F_{sw}\|F_w)$ for $F_{sw}$ a reverse-KL fit in $\{\mathrm{softmax}(Wh)\}$",
    "upper",
    (H_SOFTMAX, H_REALIZABLE,
     Hypothesis("reverse_fit", "F_sw is a certified stationary point of E KL(F||F_w) (gradient norm <= 1e-9)", _trained("reverse_kl", True)),
     Hypothesis("local_minimum", "the Hessian at W_sw is positive definite (smallest eigenvalue > 1e-10)", _local_minimum),
     Hypothesis("global_k2", "for k = 2: no point of a grid search (refined by Newton) has a lower objective", _global_k2)),
    _nt_softmax_sides, _softmax("reverse_kl"), ("Err(F_sw)", "Err(F_w) - M_r"), _search_summary, trained_with="reverse_kl",
)

THEOREMS: dict[str, Theorem] = {t.name: t for t in (T0, T1, T2, T3, T4, T5, T6, NT_FORWARD, NT_SOFTMAX)}
#: Results that need the strong model class and how F_sw was trained (``bounds check --features``).
CLASS_RESULTS = ("T4", "T5", "T6")


def applicable(inst: Instances) -> dict[str, CheckResult]:
    """Every result whose hypotheses all hold on every instance of ``inst``, checked."""
    out = {}
    for name, thm in THEOREMS.items():
        if thm.kind == "theorem" and all(v.all() for v in thm.hypotheses_hold(inst).values()):
            out[name] = thm.check(inst)
    return out
