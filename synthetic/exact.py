"""Exact ("certified") strong fits through ``bounds.solvers.fit``, batched across tasks.

The features built by a :class:`synthetic.heads.HeadClass` are handed to its ``bounds.classes``
class (``HeadClass.model_class``); predictions on other splits reuse the fitted parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from bounds.solvers import fit

#: Losses the certified solvers accept (of those the simulator trains with).
EXACT_LOSSES = ("forward_kl", "reverse_kl", "ce", "rce")


@dataclass
class ExactFit:
    """Fitted natural parameters (A, alpha or W), the predictions on every requested split (B, n, k), and the solver's state."""

    params: np.ndarray
    pred: dict[str, torch.Tensor]
    objective: np.ndarray
    certificate: np.ndarray
    converged: np.ndarray
    iterations: int


def fit_exact(head_class: Any, feats: dict[str, torch.Tensor], target: torch.Tensor, loss: str, k: int, tol: float, seed: int = 0) -> ExactFit:
    """Fit ``head_class`` (a HeadClass with a certified solver) on ``feats["transfer"]`` to ``target`` (B, n, k)
    with ``loss``; predict on every split in ``feats``."""
    if loss not in EXACT_LOSSES:
        raise ValueError(f"loss: no certified solver for {loss!r}; exact losses: {', '.join(EXACT_LOSSES)}")
    train = head_class.model_class(feats["transfer"], k)
    if train is None:
        raise ValueError(f"head_class: no certified solver for {head_class.name!r}")
    res = fit(train, target.detach().numpy(), loss, tol=tol, seed=seed)
    params = res.theta if res.theta is not None else res.params
    pred = {}
    for split, f in feats.items():
        p = res.pred if split == "transfer" else head_class.model_class(f, k).predict(params)
        pred[split] = torch.as_tensor(np.clip(p, 0.0, None) / np.clip(p, 0.0, None).sum(-1, keepdims=True))
    return ExactFit(np.asarray(res.params), pred, res.objective, res.certificate, res.converged, int(res.iterations))
