r"""Theorem checks from ``bounds.theorems`` applied to the real models' test predictions.

The instance is the test part: F* one-hot from the ground-truth labels, F_w and F_sw the weak
and strong models' predicted distributions (pairs: (1 - sigma(z), sigma(z))), uniform weights.
T1 and T2 (two-sided bounds on |Err(F_sw) - Err(F_w)| from the forward / reverse misfit, with
gamma the smallest predicted probability) and T3 (lower bounds on the gap) hold for any
F_w, F_sw with positive entries, so they apply to trained networks as they are.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bounds.theorems import THEOREMS, Instances
from llm_experiments.losses import distribution

#: The universal results that need no hypothesis on how F_sw was trained.
CHECKED = ("T1", "T2", "T3")


def theorem_checks(strong_logits: torch.Tensor, weak_logits: torch.Tensor, labels: torch.Tensor, task: str,
                   num_classes: int, loss: str) -> dict[str, Any]:
    """``{name: {lhs, rhs, slack, hypotheses_met, holds, violation}}`` for each result in :data:`CHECKED`."""
    fstar = np.eye(num_classes)[labels.numpy().astype(np.int64)]
    fw = distribution(weak_logits.double(), task).probs.numpy()
    fsw = distribution(strong_logits.double(), task).probs.numpy()
    inst = Instances(fstar=fstar, fw=fw, fsw=fsw, trained_with=loss)
    out = {}
    for name in CHECKED:
        res = THEOREMS[name].check(inst)
        out[name] = {"lhs": float(res.lhs[0]), "rhs": float(res.rhs[0]), "slack": float(res.slack[0]),
                     "hypotheses_met": bool(res.hypotheses_met[0]), "holds": bool(res.holds[0]),
                     "violation": float(res.violation[0])}
    return out
