r"""Test-set metrics, all computed with ``bounds`` divergences.

With F* the one-hot ground truth: accuracy; Err(F) = E KL(F* || F) (the test cross-entropy);
gain = Err(F_w) - Err(F_sw); misfits E KL(F_w || F_sw) (forward) and E KL(F_sw || F_w) (reverse);
PGR = (acc_sw - acc_w) / (acc_ceiling - acc_w).
"""

from __future__ import annotations

import torch

from bounds import kl, misfit
from llm_experiments.losses import distribution, ground_truth


def accuracy(logits: torch.Tensor, labels: torch.Tensor, task: str) -> float:
    """Pairs: fraction with sign(z) matching the label (z = 0 counts as class 0); classify: argmax."""
    pred = (logits > 0).long() if task == "pairs" else logits.argmax(-1)
    return float((pred == labels.long()).double().mean())


def err(logits: torch.Tensor, labels: torch.Tensor, task: str, num_classes: int) -> float:
    """Err(F) = E_x KL(F*(x) || F(x)) in nats."""
    return float(kl(ground_truth(labels, num_classes), distribution(logits.double(), task), reduction="mean"))


def misfits(strong_logits: torch.Tensor, weak_logits: torch.Tensor, task: str) -> dict[str, float]:
    """E KL(F_w || F_sw) and E KL(F_sw || F_w) on the test part, nats."""
    s, w = distribution(strong_logits.double(), task), distribution(weak_logits.double(), task)
    return {"misfit_forward": float(misfit(s, w, "forward", reduction="mean")),
            "misfit_reverse": float(misfit(s, w, "reverse", reduction="mean"))}


def agreement(strong_logits: torch.Tensor, weak_logits: torch.Tensor, task: str) -> float:
    """Fraction of examples where the strong and the weak model predict the same class."""
    if task == "pairs":
        return float(((strong_logits > 0) == (weak_logits > 0)).double().mean())
    return float((strong_logits.argmax(-1) == weak_logits.argmax(-1)).double().mean())
