"""Exact ("certified") strong fits through ``bounds.solvers.fit``, batched across tasks.

The features built by :func:`synthetic.heads.strong_features` are handed to the classes of
``bounds.classes``: stochastic_matrix -> StochasticMatrixClass (features phi_s), mixture ->
MixtureClass (the fixed heads, axis order (B, L, n, k)), softmax_linear -> SoftmaxLinearClass
(features [h_s, 1]). Predictions on other splits reuse the fitted parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bounds.classes import MixtureClass, SoftmaxLinearClass, StochasticMatrixClass
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


def model_class(head_class: str, feats: torch.Tensor, k: int) -> StochasticMatrixClass | MixtureClass | SoftmaxLinearClass:
    """The bounds class for ``head_class`` on features shaped as synthetic.heads builds them."""
    f = feats.detach().numpy()
    if head_class == "stochastic_matrix":
        return StochasticMatrixClass(f, num_classes=k)
    if head_class == "mixture":
        return MixtureClass(np.exp(np.transpose(f, (0, 2, 1, 3))))
    if head_class == "softmax_linear":
        return SoftmaxLinearClass(f, num_classes=k)
    raise ValueError(f"head_class: no certified solver for {head_class!r}")


def fit_exact(head_class: str, feats: dict[str, torch.Tensor], target: torch.Tensor, loss: str, k: int, tol: float, seed: int = 0) -> ExactFit:
    """Fit on ``feats["transfer"]`` to ``target`` (B, n, k) with ``loss``; predict on every split in ``feats``."""
    if loss not in EXACT_LOSSES:
        raise ValueError(f"loss: no certified solver for {loss!r}; exact losses: {', '.join(EXACT_LOSSES)}")
    train = model_class(head_class, feats["transfer"], k)
    res = fit(train, target.detach().numpy(), loss, tol=tol, seed=seed)
    params = res.theta if res.theta is not None else res.params
    pred = {}
    for split, f in feats.items():
        p = res.pred if split == "transfer" else model_class(head_class, f, k).predict(params)
        pred[split] = torch.as_tensor(np.clip(p, 0.0, None) / np.clip(p, 0.0, None).sum(-1, keepdims=True))
    return ExactFit(np.asarray(res.params), pred, res.objective, res.certificate, res.converged, int(res.iterations))
