r"""`revkl bounds check`: every result that applies to a user's (F*, F_w, F_sw), as a function.

Without the strong model class only T1-T3 apply; T4-T6 are reported as not assessed, with T4's
residual Err(F_w) - M_r - Err(F_sw) printed as information. Given the class (features of the strong
model's frozen representation and which class: ``stochastic`` F = A h with h in the simplex,
``softmax`` F = softmax(W h), ``mixture`` F = sum_l alpha_l G_l), :func:`assess_class` measures the
hypotheses (realizability residual of F*, from the member F° closest to F* in Err, polished onto the
boundary by :func:`bounds.solvers.member`), checks T4-T6 at the user's own F_sw (:func:`assess_user_fsw`:
whether F_sw is a member, and its certificate: the Frank-Wolfe gap, i.e. its distance from the class
optimum), and, as a second labelled table, fits the exact minimiser of each loss to F_w over that class
with :mod:`bounds.solvers` and checks T4, T5 and T6 on the fit each is stated for.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from bounds.classes import MixtureClass, ModelClass, SoftmaxLinearClass, StochasticMatrixClass
from bounds.divergences import LOSS_DIRECTION
from bounds.quantities import Instances, forward_misfit, gap, reverse_misfit
from bounds.solvers import fit, frank_wolfe_gap, member, objective, softmax_gradient_norm
from bounds.rigorous import confirm
from bounds.theorems import CLASS_RESULTS, REALIZABLE, THEOREMS, CheckResult, applicable
from revkl_core.runfolder import UserError

CLASSES = ("stochastic", "softmax", "mixture")
FIT_ORDER = ("forward_kl", "ce", "reverse_kl", "rce")


def load_array(path: Path, name: str, ndim: int = 2) -> np.ndarray:
    """A float array from .npy or .csv (comma separated, no header); UserError naming the file on any problem."""
    where = f"{name}: {path}"
    if not path.exists():
        raise UserError(f"{name}: file not found: {path}")
    if path.is_dir():
        raise UserError(f"{where}: is a directory, expected a .npy or .csv file")
    if path.suffix == ".npy":
        try:
            a = np.load(path, allow_pickle=False)
        except EOFError:
            raise UserError(f"{where}: empty or truncated .npy file") from None
        except (ValueError, OSError, pickle.UnpicklingError) as err:
            reason = "holds Python objects, not numbers" if "allow_pickle" in str(err) else f"not a readable .npy file ({err})"
            raise UserError(f"{where}: {reason}") from None
        if not isinstance(a, np.ndarray) or a.dtype.kind not in "fiub":
            raise UserError(f"{where}: expected a numeric array, got dtype {getattr(a, 'dtype', type(a).__name__)}")
    elif path.suffix == ".csv":
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            line = raw[: err.start].count(b"\n") + 1
            raise UserError(f"{where}: not UTF-8 text (byte {err.start}, line {line})") from None
        if not text.strip():
            raise UserError(f"{where}: empty file")
        try:
            a = np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2)
        except ValueError as err:
            raise UserError(f"{where}: not a comma-separated table of numbers ({' '.join(str(err).split())})") from None
    else:
        raise UserError(f"{where}: expected a .npy or .csv file")
    if a.ndim != ndim or a.size == 0:
        raise UserError(f"{where}: expected a non-empty array with {ndim} dimensions, got shape {a.shape}")
    return a.astype(np.float64)


def model_class(kind: str, features: np.ndarray, k: int, n: int) -> ModelClass:
    """The strong class over ``features``: (n, m) simplex rows, (n, d) real features, or (L, n, k) heads."""
    if kind == "stochastic":
        if features.ndim != 2 or features.shape[0] != n:
            raise UserError(f"features: --class stochastic needs an n x m array with n = {n}, got shape {features.shape}")
        return StochasticMatrixClass(features, k)
    if kind == "softmax":
        if features.ndim != 2 or features.shape[0] != n:
            raise UserError(f"features: --class softmax needs an n x d array with n = {n}, got shape {features.shape}")
        return SoftmaxLinearClass(features, k)
    if kind == "mixture":
        if features.ndim != 3 or features.shape[1:] != (n, k):
            raise UserError(f"features: --class mixture needs an L x n x k array of heads (n = {n}, k = {k}), got shape {features.shape}")
        return MixtureClass(features)
    raise UserError(f"--class must be one of {', '.join(CLASSES)}, got {kind!r}")


def _result_entry(name: str, res: CheckResult, inst: Instances, i: int = 0) -> dict[str, Any]:
    """One result on instance i: both sides, slack, allowance, rounding tolerance, and the verdict.

    ``holds`` is the float decision, re-decided in interval arithmetic when the floats flag a violation
    (:func:`bounds.rigorous.confirm`); ``decided_by`` says which arithmetic decided it.
    """
    thm = THEOREMS[name]
    failed = [h for h, ok in res.hypotheses.items() if not ok[i]]
    holds, decided_by = bool(res.holds[i]), "float"
    if not holds:
        still, how = confirm(name, res, inst, np.eye(inst.batch, dtype=bool)[i])
        holds, decided_by = not bool(still[i]), next(iter(how)).split(":")[0]
    return {"title": thm.title, "relation": thm.relation, "lhs": float(res.lhs[i]), "rhs": float(res.rhs[i]),
            "slack": float(res.slack[i]), "allowance": float(res.allowance[i]), "tol": float(res.tol[i]),
            "holds": holds, "decided_by": decided_by, "hypotheses_failed": failed, "shown": thm.show(res, i)}


def verdict_text(r: dict[str, Any]) -> str:
    """The relation compared, with its terms, and what it came to; never "holds" beside a negative number.

    With its hypotheses met a result is judged on ``slack + allowance`` (the allowance is the certificate and
    realizability terms the theorem grants); with a hypothesis failed it does not apply, and the bare
    inequality is reported for information, without the allowance (which presumes the hypotheses).
    """
    if not np.isfinite(r["slack"]):
        return "sides not computable"
    if r["hypotheses_failed"]:
        bare = f"{r['shown']}: " + (f"met with slack {r['slack']:.3g}" if r["slack"] >= 0 else f"fails by {-r['slack']:.3g}")
        return f"does not apply (hypotheses failed: {', '.join(r['hypotheses_failed'])}); for information, {bare}"
    margin = r["slack"] + r["allowance"]
    shown = r["shown"] + (f" + allowance {r['allowance']:.3g}" if r["allowance"] else "")
    if not r["holds"]:
        return f"{shown}: VIOLATED by {-margin:.3g} (beyond the rounding tolerance {r['tol']:.2g}; {r['decided_by']})"
    if margin >= 0:
        return f"{shown}: holds with slack {margin:.3g}"
    return (f"{shown}: the sides agree within rounding (difference {-margin:.2g}, tolerance {r['tol']:.2g}); "
            f"not a violation ({r['decided_by']})")


def check_arrays(fstar: np.ndarray, fw: np.ndarray, fsw: np.ndarray, gamma: float | None = None,
                 features: np.ndarray | None = None, class_kind: str | None = None) -> dict[str, Any]:
    """The summary ``revkl bounds check`` prints (``--json`` prints it as is); UserError / ValueError for bad input."""
    if gamma is not None and not np.isfinite(gamma):
        raise UserError(f"--gamma: must be a finite number in (0, min probability], got {gamma}")
    inst = Instances(fstar, fw, fsw, gamma=None if gamma is None else np.array([gamma]))
    _, n, k = inst.fstar.shape
    with np.errstate(invalid="ignore"):  # inf - inf: undefined, reported as such
        t4_residual = float(inst.err(inst.fw)[0] - reverse_misfit(inst)[0] - inst.err(inst.fsw)[0])
    summary: dict[str, Any] = {
        "n": n, "k": k, "err_w": float(inst.err(inst.fw)[0]), "err_sw": float(inst.err(inst.fsw)[0]),
        "gap": float(gap(inst)[0]), "forward_misfit": float(forward_misfit(inst)[0]),
        "reverse_misfit": float(reverse_misfit(inst)[0]), "gamma": float(inst.floor()[0]),
        "bounds": {name: _result_entry(name, r, inst) for name, r in applicable(inst).items() if name not in CLASS_RESULTS},
        "t4_residual": t4_residual,
    }
    if features is None:
        summary["not_assessed"] = {name: "needs the model class (--features H.npy --class stochastic|softmax|mixture)"
                                   for name in CLASS_RESULTS}
    else:
        summary["class"] = assess_class(inst, model_class(class_kind or "", features, k, n))
    return summary


def assess_class(inst: Instances, model: ModelClass) -> dict[str, Any]:
    """T4-T6 at the user's F_sw (:func:`assess_user_fsw`), then the project's own fit of each loss over ``model``
    with T4-T6 checked on the fit each is stated for (module docstring)."""
    softmax = isinstance(model, SoftmaxLinearClass)
    ref, resid = member(model, inst.fstar)  # F°: the member closest to F* in Err (exact on the boundary too)
    out: dict[str, Any] = {"kind": model.kind, "realizability_residual": float(resid[0]),
                           "realizability_gap": float(inst.err(ref.pred)[0]), "user": assess_user_fsw(inst, model, ref, resid),
                           "fits": {}, "results": {}}
    fitted: dict[str, Instances] = {}
    for loss in FIT_ORDER:
        try:
            res = fit(model, inst.fw, loss)
        except ValueError as err:  # e.g. zeros in F_w make a reverse loss infinite everywhere
            out["fits"][loss] = {"error": str(err)}
            continue
        fi = Instances(inst.fstar, inst.fw, res.pred, model_kind=model.kind, trained_with=loss,
                       certificate=res.certificate, fstar_class_residual=resid, fref=ref.pred,
                       features=model.features if softmax else None, w_sw=res.params if softmax else None,
                       w_star=ref.params if softmax else None, min_hessian_eig=res.min_hessian_eig)
        fitted[loss] = fi
        direction = LOSS_DIRECTION[loss]
        misfit = forward_misfit(fi) if direction == "forward" else reverse_misfit(fi)
        out["fits"][loss] = {"certificate": float(res.certificate[0]), "certificate_kind": res.certificate_kind,
                             "converged": bool(res.converged[0]), "err_sw": float(fi.err(fi.fsw)[0]),
                             "gain": float(fi.err(fi.fw)[0] - fi.err(fi.fsw)[0]), "misfit": float(misfit[0]),
                             "misfit_direction": direction, "objective": float(res.objective[0])}
    for name in CLASS_RESULTS:
        thm = THEOREMS[name]
        if thm.trained_with not in fitted:
            out["results"][name] = {"title": thm.title, "error": f"no {thm.trained_with} fit: {out['fits'][thm.trained_with]['error']}"}
            continue
        entry = _result_entry(name, thm.check(fitted[thm.trained_with]), fitted[thm.trained_with])
        out["results"][name] = {"fit": thm.trained_with, **entry}
    return out


def assess_user_fsw(inst: Instances, model: ModelClass, ref: Any, resid: np.ndarray) -> dict[str, Any]:
    r"""T4-T6 at the user's own F_sw.

    Membership first: the member F_θ nearest F_sw (:func:`bounds.solvers.member`); F_sw counts as in the class
    when max|F_sw - F_θ| <= ``REALIZABLE`` (T4-T6 are statements about members, so otherwise they do not apply and
    the entries say why). On a probability-convex class the distance from the class optimum is the Frank-Wolfe gap
    g of :math:`G(F) = \mathbb{E}\,\mathrm{KL}(F\|F_w)` at θ (:func:`bounds.solvers.frank_wolfe_gap`, rounded up): any
    member is a reverse-KL fit with gap g, T4 allows g and T6 adds it (its approximation term), and
    :math:`G(F_{sw}) - G^\star \le g`. On the softmax-linear class T5 speaks about forward-KL fits: the certificate is
    the gradient norm of :math:`\mathbb{E}\,\mathrm{KL}(F_w\|F)` at F_sw's parameters.
    """
    near, dist = member(model, inst.fsw)
    out: dict[str, Any] = {"membership_residual": float(dist[0]), "member": bool(dist[0] <= REALIZABLE), "results": {}}
    if not out["member"]:
        why = (f"F_sw is not a member of the class (max|F_sw - F_θ| = {dist[0]:.3g} > {REALIZABLE:g} for the nearest "
               "member F_θ); T4-T6 are statements about members")
        out["results"] = {name: {"title": THEOREMS[name].title, "error": why} for name in CLASS_RESULTS}
        return out
    softmax = isinstance(model, SoftmaxLinearClass)
    w = inst.weights
    with np.errstate(divide="ignore", invalid="ignore"):
        if softmax:
            cert, trained = softmax_gradient_norm(model, near.params, inst.fw, "forward_kl", w), "forward_kl"
        else:
            cert, trained = np.maximum(frank_wolfe_gap(model, near.theta, inst.fw, "reverse_kl", w), 0.0), "reverse_kl"
        out["objective"] = float(objective(trained, inst.fsw, inst.fw, w)[0])
    out.update(certificate=float(cert[0]), certificate_of=trained)
    user = Instances(inst.fstar, inst.fw, inst.fsw, model_kind=model.kind, trained_with=trained, certificate=cert,
                     fstar_class_residual=resid, fref=ref.pred, features=model.features if softmax else None,
                     w_sw=near.params if softmax else None, w_star=ref.params if softmax else None)
    for name in CLASS_RESULTS:
        out["results"][name] = _result_entry(name, THEOREMS[name].check(user), user)
    return out


def exit_code(summary: dict[str, Any]) -> int:
    """1 if a result whose hypotheses all hold is violated, else 0."""
    c = summary.get("class") or {}
    entries = list(summary["bounds"].values()) + list(c.get("results", {}).values()) + list(c.get("user", {}).get("results", {}).values())
    return int(any("holds" in e and not e["hypotheses_failed"] and not e["holds"] for e in entries))


def format_summary(summary: dict[str, Any]) -> str:
    """The text ``revkl bounds check`` prints."""
    s = summary
    lines = [f"n={s['n']} k={s['k']}  Err(F_w)={s['err_w']:.6g}  Err(F_sw)={s['err_sw']:.6g}  gap={s['gap']:.6g}",
             f"misfit: forward {s['forward_misfit']:.6g}, reverse {s['reverse_misfit']:.6g};  gamma={s['gamma']:.3g}"]
    if not s["bounds"]:
        lines.append("T1-T3 do not apply (they need F_w, F_sw > 0)")
    for name, r in s["bounds"].items():
        lines.append(f"  {name} ({r['title']}): {verdict_text(r)}")
    for name, why in (s.get("not_assessed") or {}).items():
        lines.append(f"  {name}: not assessed: {why}")
    if "not_assessed" in s:
        lines.append(f"  information: T4's residual Err(F_w) - M_r - Err(F_sw) = {s['t4_residual']:.6g} on these arrays "
                     "(T4 guarantees >= 0 only for an exact reverse-KL fit over a probability-convex class containing F*)")
    c = s.get("class")
    if c:
        lines.append(f"model class: {c['kind']}; realizability: max|F* - F°| = {c['realizability_residual']:.3g}, "
                     f"Err(F°) = {c['realizability_gap']:.3g} (F° the member closest to F*)")
        lines += _user_lines(c["user"])
        lines.append("the project's own fits of each loss to F_w over the class (for comparison; not your F_sw):")
        lines.append(f"  {'fit':<11} {'certificate':>11} {'Err(F_sw)':>10} {'gain':>10} {'misfit':>10}")
        for loss, f in c["fits"].items():
            if "error" in f:
                lines.append(f"  {loss:<11} not fitted: {f['error']}")
            else:
                lines.append(f"  {loss:<11} {f['certificate']:>11.2e} {f['err_sw']:>10.4g} {f['gain']:>10.4g} {f['misfit']:>10.4g}")
        for name, r in c["results"].items():
            if "error" in r:
                lines.append(f"  {name} ({r['title']}): not assessed: {r['error']}")
                continue
            lines.append(f"  {name} on the {r['fit']} fit: {verdict_text(r)}")
    return "\n".join(lines)


def _user_lines(u: dict[str, Any]) -> list[str]:
    """The table of T4-T6 at the user's own F_sw."""
    if not u["member"]:
        lines = [f"your F_sw: not a member of the class (max|F_sw - F_θ| = {u['membership_residual']:.3g}, F_θ the nearest member)"]
    else:
        what = "Frank-Wolfe gap of E KL(F||F_w)" if u["certificate_of"] == "reverse_kl" else "gradient norm of E KL(F_w||F)"
        lines = [f"your F_sw: a member of the class (max|F_sw - F_θ| = {u['membership_residual']:.3g}); "
                 f"{what} at F_sw = {u['certificate']:.3g} (its distance from the class optimum; objective {u['objective']:.6g})"]
    for name, r in u["results"].items():
        lines.append(f"  {name} at your F_sw: " + (f"not assessed: {r['error']}" if "error" in r else verdict_text(r)))
    return lines
