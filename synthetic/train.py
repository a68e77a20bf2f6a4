r"""Mini-batch training of a batched head with any loss of ``bounds.LOSSES``, as practitioners train.

One Adam step updates B tasks at once: the objective is the sum over tasks of each task's mean
loss, so each task's gradient is exactly its own (Adam is elementwise). Early stopping is per
task: after every epoch the validation loss (against weak labels) is computed, each task keeps
the parameters of its best epoch, and training ends when every task has gone ``patience``
epochs without improving by more than ``tol`` (or at ``max_epochs``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bounds import Categorical, forward_kl, get_loss, reverse_kl
from synthetic.heads import Head, Params


def per_example_loss(loss: str, strong_log_probs: torch.Tensor, weak: Categorical) -> torch.Tensor:
    """Loss (B, n) of the strong log-probabilities against the weak labels, from ``bounds``.

    ``symmetric`` is (forward KL + reverse KL) / 2; every other name is looked up in ``bounds.LOSSES``.
    """
    strong = Categorical(strong_log_probs, "strong")
    if loss == "symmetric":
        return 0.5 * (forward_kl(strong, weak) + reverse_kl(strong, weak))
    return get_loss(loss)(strong, weak)


def weak_categorical(probs: torch.Tensor) -> Categorical:
    """Weak labels (B, n, k) as a Categorical (validated probabilities)."""
    return Categorical.from_probs(probs, name="weak labels")


@dataclass
class SGDFit:
    """Result of :func:`fit_sgd`: best parameters per task, epochs run (B,), final train objective (B,)."""

    params: Params
    epochs: torch.Tensor
    objective: torch.Tensor
    converged: torch.Tensor


def fit_sgd(
    head: Head,
    params: Params,
    feats: torch.Tensor,
    target: torch.Tensor,
    loss: str,
    *,
    lr: float,
    batch_size: int,
    max_epochs: int,
    g: torch.Generator,
    val_feats: torch.Tensor | None = None,
    val_target: torch.Tensor | None = None,
    patience: int = 5,
    tol: float = 1e-6,
) -> SGDFit:
    """Train ``params`` (modified copies are returned) on (feats, target) with Adam.

    Without validation data, every task trains for ``max_epochs`` epochs and the last
    parameters are kept. ``batch_size >= n`` gives full-batch training.
    """
    params = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    opt = torch.optim.Adam(list(params.values()), lr=lr)
    W = weak_categorical(target)
    B, n = feats.shape[0], feats.shape[1]
    bs = min(batch_size, n)
    use_val = val_feats is not None and val_target is not None
    if use_val:
        Wv = weak_categorical(val_target)
        best = {k: v.detach().clone() for k, v in params.items()}
        best_val = torch.full((B,), float("inf"), dtype=feats.dtype)
        bad = torch.zeros(B, dtype=torch.long)
    epochs = torch.full((B,), max_epochs, dtype=torch.long)
    stopped = torch.zeros(B, dtype=torch.bool)
    for epoch in range(1, max_epochs + 1):
        order = torch.randperm(n, generator=g) if bs < n else torch.arange(n)
        for start in range(0, n - bs + 1, bs):
            idx = order[start:start + bs]
            logp = head.log_probs(params, feats.index_select(1, idx))
            Wb = Categorical(W.log_probs.index_select(1, idx), "weak labels")
            obj = per_example_loss(loss, logp, Wb).mean(-1).sum()
            opt.zero_grad(set_to_none=True)
            obj.backward()
            opt.step()
        if not use_val:
            continue
        with torch.no_grad():
            val = per_example_loss(loss, head.log_probs(params, val_feats), Wv).mean(-1)
            improved = (val < best_val - tol) & ~stopped
            for k, v in params.items():
                mask = improved.view(-1, *([1] * (v.dim() - 1)))
                best[k] = torch.where(mask, v.detach(), best[k])
            best_val = torch.where(improved, val, best_val)
            bad = torch.where(improved, torch.zeros_like(bad), bad + 1)
            newly = (bad >= patience) & ~stopped
            epochs[newly] = epoch
            stopped |= newly
        if bool(stopped.all()):
            break
    final = best if use_val else {k: v.detach() for k, v in params.items()}
    with torch.no_grad():
        objective = per_example_loss(loss, head.log_probs(final, feats), W).mean(-1)
    return SGDFit(final, epochs, objective, stopped if use_val else torch.ones(B, dtype=torch.bool))
