r"""Per-task measurements: errors, accuracies, misfits, gain, PGR and the theorem checks.

All divergences come from ``bounds`` (``kl``, ``misfit``), averaged per task over its samples.

Theorem checks run ``bounds.theorems`` on the transfer set (the empirical distribution the
strong head was fitted on), with the weak labels the strong head saw as F_w: T4 (reverse KL on a
probability-convex class, certified, F* in the class), T5 (forward KL on softmax-linear), T6 (T4
for approximate fits and non-realizable classes), and the universal bounds T1-T3.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bounds import Categorical, kl
from bounds.metrics import pgr
from bounds.theorems import THEOREMS, Instances

#: Results checked per record (the non-theorems of bounds.theorems are refuted elsewhere, not checked here).
CHECKED = ("T1", "T2", "T3", "T4", "T5", "T6")


def cat(p: torch.Tensor, name: str) -> Categorical:
    """Probabilities (B, n, k) as a validated Categorical."""
    return Categorical.from_probs(p, name=name, atol=1e-5)


def mean_kl(p: torch.Tensor, q: torch.Tensor, names: tuple[str, str] = ("p", "q")) -> torch.Tensor:
    """E_x KL(p(x) || q(x)) per task: (B,)."""
    return kl(cat(p, names[0]), cat(q, names[1])).mean(-1)


def accuracy(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Fraction of samples where argmax pred = argmax F*: (B,)."""
    return (pred.argmax(-1) == truth.argmax(-1)).to(pred.dtype).mean(-1)


def transfer_metrics(
    truth: dict[str, torch.Tensor],
    weak_test: torch.Tensor,
    labels_train: torch.Tensor,
    sw: dict[str, torch.Tensor],
    ceiling: dict[str, torch.Tensor],
    direction: str,
) -> list[dict[str, float]]:
    """The record fields of every task (one dict per task) that do not depend on certificates.

    ``truth``, ``sw``, ``ceiling`` map "transfer" and "test" to (B, n, k) probabilities;
    ``labels_train`` are the (possibly noisy) weak labels on the transfer set.
    """
    T, Tt = truth["transfer"], truth["test"]
    err_w = mean_kl(Tt, weak_test, ("truth", "weak"))
    err_sw = mean_kl(Tt, sw["test"], ("truth", "strong"))
    err_ceiling = mean_kl(Tt, ceiling["test"], ("truth", "ceiling"))
    acc_w, acc_sw, acc_c = accuracy(weak_test, Tt), accuracy(sw["test"], Tt), accuracy(ceiling["test"], Tt)
    mf = mean_kl(weak_test, sw["test"], ("weak", "strong"))
    mr = mean_kl(sw["test"], weak_test, ("strong", "weak"))
    err_labels_tr = mean_kl(T, labels_train, ("truth", "weak labels"))
    err_sw_tr = mean_kl(T, sw["transfer"], ("truth", "strong"))
    mf_tr = mean_kl(labels_train, sw["transfer"], ("weak labels", "strong"))
    mr_tr = mean_kl(sw["transfer"], labels_train, ("strong", "weak labels"))
    epsilon = mean_kl(T, ceiling["transfer"], ("truth", "ceiling"))
    pick = {"forward": (mf, mf_tr), "reverse": (mr, mr_tr), "symmetric": ((mf + mr) / 2, (mf_tr + mr_tr) / 2)}[direction]
    out = []
    for b in range(T.shape[0]):
        rec = {
            "err_w": err_w[b], "err_sw": err_sw[b], "err_ceiling": err_ceiling[b],
            "acc_w": acc_w[b], "acc_sw": acc_sw[b], "acc_ceiling": acc_c[b],
            "misfit_forward": mf[b], "misfit_reverse": mr[b], "misfit": pick[0][b],
            "err_labels_train": err_labels_tr[b], "err_sw_train": err_sw_tr[b], "misfit_train": pick[1][b],
            "epsilon": epsilon[b],
        }
        rec = {k: float(v) for k, v in rec.items()}
        rec["gain"] = rec["err_w"] - rec["err_sw"]
        rec["pgr"] = pgr(rec["acc_sw"], rec["acc_w"], rec["acc_ceiling"])
        out.append(rec)
    return out


def theorem_checks(inst: Instances, *, model_kind: str) -> tuple[list[list[dict[str, Any]]], list[float], list[float]]:
    """Every result of ``CHECKED`` whose hypotheses hold, plus T4 always, per instance.

    Returns (checks per instance, T4 slack per instance, T4 allowance per instance). Each check is
    {name, statement, lhs, rhs, slack, tolerance, hypotheses_met, holds} with ``slack = rhs - lhs``
    and ``tolerance`` = certificate allowance + rounding, as ``bounds.theorems`` computes them.
    T4's allowance is the certificate only on probability-convex classes (where it is the
    Frank-Wolfe gap that bounds T4's residual); elsewhere it is the rounding tolerance alone.
    """
    B = inst.batch
    checks: list[list[dict[str, Any]]] = [[] for _ in range(B)]
    t4_slack, t4_tol = [0.0] * B, [0.0] * B
    with np.errstate(invalid="ignore"):  # inf - inf where a divergent fit makes both sides infinite
        _collect(inst, model_kind, checks, t4_slack, t4_tol)
    return checks, t4_slack, t4_tol


def _collect(inst: Instances, model_kind: str, checks: list[list[dict[str, Any]]], t4_slack: list[float], t4_tol: list[float]) -> None:
    """Fill ``checks``, ``t4_slack`` and ``t4_tol`` in place (see :func:`theorem_checks`)."""
    for name in CHECKED:
        thm = THEOREMS[name]
        res = thm.check(inst)
        met, holds, slack, tol = res.hypotheses_met, res.holds, res.slack, res.allowance + res.tol
        for b in range(inst.batch):
            if name == "T4":
                t4_slack[b] = float(slack[b])
                t4_tol[b] = float(tol[b]) if model_kind == "probability-convex" else float(res.tol[b])
            if met[b] or name == "T4":
                checks[b].append({"name": name, "statement": thm.statement, "lhs": float(res.lhs[b]), "rhs": float(res.rhs[b]),
                                  "slack": float(slack[b]), "tolerance": float(tol[b]), "hypotheses_met": bool(met[b]),
                                  "holds": bool(holds[b])})
