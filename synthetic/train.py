r"""Mini-batch training of a batched head with any loss of ``bounds.LOSSES``, as practitioners train.

One Adam step updates B tasks at once: the objective is the sum over tasks of each task's mean
loss, so each task's gradient is exactly its own (Adam is elementwise). Early stopping is per
task: after every epoch the validation loss (against weak labels) is computed, each task keeps
the parameters of its best epoch, and training ends when every task has gone ``patience``
epochs without improving by more than ``tol`` (or at ``max_epochs``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch

from bounds import Categorical, get_loss
from synthetic.heads import Head, Params


def per_example_loss(loss: str, strong_log_probs: torch.Tensor, weak: Categorical) -> torch.Tensor:
    """Loss (B, n) of the strong log-probabilities against the weak labels: ``bounds.LOSSES[loss]``."""
    return get_loss(loss)(Categorical(strong_log_probs, "strong"), weak)


#: Elements (n x k per task) of one task chunk in whole-data passes: small enough to stay in cache.
CHUNK_ELEMENTS = 2**17


def _task_chunks(B: int, per_task: int) -> list[slice]:
    """Slices of the task axis for whole-data passes (validation of labels, final objective).

    Tasks are independent, so a chunked pass gives exactly the values of one pass over all tasks;
    it only keeps the temporaries in cache instead of allocating and faulting in full-size ones.
    """
    c = max(1, CHUNK_ELEMENTS // max(per_task, 1))
    return [slice(s, min(s + c, B)) for s in range(0, B, c)]


def weak_categorical(probs: torch.Tensor) -> Categorical:
    """Weak labels (B, n, k) as a Categorical (validated probabilities), validated task chunk by task chunk."""
    chunks = _task_chunks(probs.shape[0], probs[0].numel()) if probs.dim() == 3 else [slice(None)]
    if len(chunks) == 1:
        return Categorical.from_probs(probs, name="weak labels")
    return Categorical(torch.cat([Categorical.from_probs(probs[c], name="weak labels").log_probs for c in chunks]),
                       "weak labels")


def objective_per_task(head: Head, params: Params, feats: torch.Tensor, weak: Categorical, loss: str) -> torch.Tensor:
    """Each task's mean loss (B,) on (feats, weak), in the precision of ``params`` and ``feats``."""
    lp = weak.log_probs
    out = [per_example_loss(loss, head.log_probs({k: v[c] for k, v in params.items()}, feats[c]),
                            Categorical(lp[c], weak.name)).mean(-1)
           for c in _task_chunks(lp.shape[0], lp[0].numel())]
    return torch.cat(out)


@dataclass
class SGDFit:
    """Result of :func:`fit_sgd`: best parameters per task, epochs run (B,), final train objective (B,)."""

    params: Params
    epochs: torch.Tensor
    objective: torch.Tensor
    converged: torch.Tensor


def _log_probs_cm(head: Head, params: Params, feats_sm: torch.Tensor) -> torch.Tensor:
    """Class-major log-probabilities (B, k, n) of sample-major features (n, B, ...)."""
    fn = getattr(head, "log_probs_cm", None)
    if fn is not None:
        return fn(params, feats_sm)
    return head.log_probs(params, feats_sm.movedim(0, 1)).transpose(1, 2)


def _class_major(log_probs: torch.Tensor) -> torch.Tensor:
    """(B, n, k) log-probabilities with class-major memory (a (B, n, k) view of a (B, k, n) tensor)."""
    return log_probs.transpose(1, 2).contiguous().transpose(1, 2)


class _Batches:
    """The training data in the loop's memory layout, and one epoch of its mini-batches.

    ``batch_size < n``: features sample-major (n, B, ...) so that a mini-batch of indices is one
    contiguous gather into a reused buffer, weak log-probabilities of a batch class-major (B, k, bs);
    each epoch draws a permutation from ``g`` and runs its ``n // bs`` full batches (the last
    partial one is dropped). ``batch_size >= n``: one full batch in the plain (B, n, k) layout.
    """

    def __init__(self, feats: torch.Tensor, W: Categorical, batch_size: int, dt: torch.dtype) -> None:
        self.n = feats.shape[1]
        self.bs = min(batch_size, self.n)
        self.nb = self.n // self.bs
        if self.bs < self.n:
            self.xs = feats.movedim(1, 0).to(dt, memory_format=torch.contiguous_format)  # (n, B, ...)
            self.ws = W.log_probs.to(dt).movedim(1, 0).contiguous()  # (n, B, k)
            # reused mini-batch buffer: the graph that reads it is freed by backward() before the next gather
            self.xb = torch.empty((self.bs,) + tuple(self.xs.shape[1:]), dtype=dt)
        else:  # full batch (the weak supervisor's fit): no gathers
            self.full_x, self.full_w = feats.to(dt), Categorical(W.log_probs.to(dt), "weak labels")

    def epoch(self, head: Head, params: Params, g: torch.Generator) -> Iterator[tuple[torch.Tensor, Categorical]]:
        """(strong log-probabilities (B, bs, k), weak labels of the batch) of every batch of one epoch."""
        if self.bs >= self.n:
            for _ in range(self.nb):
                yield head.log_probs(params, self.full_x), self.full_w
            return
        order = torch.randperm(self.n, generator=g)
        for j in range(self.nb):
            idx = order[j * self.bs:(j + 1) * self.bs]
            torch.index_select(self.xs, 0, idx, out=self.xb)
            logp = _log_probs_cm(head, params, self.xb).transpose(1, 2)
            # weak log-probs of the batch, class-major (B, k, bs) in memory like the strong ones
            yield logp, Categorical(self.ws.index_select(0, idx).permute(1, 2, 0).contiguous().transpose(1, 2),
                                    "weak labels")


class _EarlyStop:
    """Per-task early stopping on the validation loss L_v (against weak labels).

    After epoch e a task improves when L_v < best - ``tol``; it keeps the parameters of its best
    epoch and stops (``epochs`` = e) after ``patience`` epochs in a row without improving.
    """

    def __init__(self, params: Params, val_feats: torch.Tensor, val_target: torch.Tensor, max_epochs: int,
                 patience: int, tol: float, dt: torch.dtype) -> None:
        B = val_feats.shape[0]
        self.W = Categorical(_class_major(weak_categorical(val_target).log_probs.to(dt)), "weak labels")
        self.xs = val_feats.to(dt).movedim(1, 0).contiguous()
        self.best = {k: v.detach().clone() for k, v in params.items()}
        self.best_val = torch.full((B,), float("inf"), dtype=dt)
        self.bad = torch.zeros(B, dtype=torch.long)
        self.epochs = torch.full((B,), max_epochs, dtype=torch.long)
        self.stopped = torch.zeros(B, dtype=torch.bool)
        self.patience, self.tol = patience, tol

    @torch.no_grad()
    def update(self, head: Head, params: Params, loss: str, epoch: int) -> bool:
        """Score ``params`` after ``epoch``; True when every task has stopped."""
        val = per_example_loss(loss, _log_probs_cm(head, params, self.xs).transpose(1, 2), self.W).mean(-1)
        improved = (val < self.best_val - self.tol) & ~self.stopped
        for name, v in params.items():
            mask = improved.view(-1, *([1] * (v.dim() - 1)))
            self.best[name] = torch.where(mask, v.detach(), self.best[name])
        self.best_val = torch.where(improved, val, self.best_val)
        self.bad = torch.where(improved, torch.zeros_like(self.bad), self.bad + 1)
        newly = (self.bad >= self.patience) & ~self.stopped
        self.epochs[newly] = epoch
        self.stopped |= newly
        return bool(self.stopped.all())


def _adam_step(opt: torch.optim.Optimizer, objective: torch.Tensor) -> None:
    """One optimiser step on ``objective`` (the sum over tasks of each task's mean batch loss)."""
    opt.zero_grad(set_to_none=True)
    objective.backward()
    opt.step()


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
    dtype: torch.dtype | None = None,
) -> SGDFit:
    """Train ``params`` (modified copies are returned) on (feats, target) with Adam.

    Without validation data, every task trains for ``max_epochs`` epochs and the last
    parameters are kept. ``batch_size >= n`` gives full-batch training.

    ``dtype`` is the arithmetic of the training loop (default: that of ``feats``); float32
    halves the memory traffic of every step. The targets are validated once, in their own
    precision; the returned parameters have the dtype of ``params`` and the returned
    ``objective`` is computed in that precision on the original features and targets.

    Layout (speed only, the values are those of ``head.log_probs``): :class:`_Batches`; the
    strong and weak log-probabilities of a step are class-major (B, k, bs) in memory, seen as
    (B, bs, k) by the ``bounds`` loss (see :class:`synthetic.heads.Head`).
    """
    out_dtype = {k: v.dtype for k, v in params.items()}
    dt = dtype or feats.dtype
    params = {k: v.detach().to(dt).clone().requires_grad_(True) for k, v in params.items()}
    opt = torch.optim.Adam(list(params.values()), lr=lr)
    W = weak_categorical(target)  # validated once: the loop only slices its log-probabilities
    batches = _Batches(feats, W, batch_size, dt)
    stop = None
    if val_feats is not None and val_target is not None:
        stop = _EarlyStop(params, val_feats, val_target, max_epochs, patience, tol, dt)
    for epoch in range(1, max_epochs + 1):
        for logp, Wb in batches.epoch(head, params, g):
            _adam_step(opt, per_example_loss(loss, logp, Wb).mean(-1).sum())
        if stop is not None and stop.update(head, params, loss, epoch):
            break
    final = stop.best if stop is not None else {name: v.detach() for name, v in params.items()}
    final = {name: v.to(out_dtype[name]) for name, v in final.items()}
    with torch.no_grad():
        objective = objective_per_task(head, final, feats, W, loss)
    B = feats.shape[0]
    if stop is None:
        return SGDFit(final, torch.full((B,), max_epochs, dtype=torch.long), objective, torch.ones(B, dtype=torch.bool))
    return SGDFit(final, stop.epochs, objective, stop.stopped)
