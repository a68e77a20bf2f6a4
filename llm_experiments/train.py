r"""Training and prediction: tokenisation, length-grouped batches, the optimiser loop, feature passes.

One loop (:func:`fit`) serves both modes: it asks a ``logits_fn(batch)`` for the outputs of a
batch of items, turns them into a distribution (``losses.distribution``), and minimises
``losses.objective`` against the batch's target distribution with AdamW, linear warmup then
cosine / linear decay, gradient accumulation and gradient clipping. On CUDA it autocasts to bf16,
on CPU it stays fp32.

Under ``accelerate launch`` (W processes) the run is data-parallel and computes what one process
computes: every process draws the same batches; process r takes the shard ``b[r::W]`` of each
batch b (n items, n_r in shard r) and scales its mean loss by ``n_r W / n``. DDP averages the
gradients over processes, so the step follows

.. math:: \frac1W \sum_r \frac{n_r W}{n} \nabla \bar L_r = \sum_r \frac{n_r}{n} \nabla \bar L_r = \nabla \bar L,

the gradient of the batch's mean loss, for a last batch of any size (a process with an empty
shard runs one item with weight 0, so that every process joins every all-reduce). Only the order
of float summation differs from one process. Forward passes without gradients
(:func:`encode_texts`) split the batches over the processes and gather the outputs.

A single CPU process uses plain
PyTorch (no ``Accelerator``); otherwise the process holds one ``Accelerator`` and releases each
finished run's model and optimiser with its supported ``free_memory()``.

Long loops log ``done/total, rate, ETA`` lines (:class:`revkl_core.progress.Meter`) when stderr
is not a terminal (a log file, a cluster job); on a terminal they show a progress bar.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from typing import Any, Callable

import numpy as np
import torch

from bounds import Categorical
from llm_experiments.config import TrainConfig
from llm_experiments.losses import distribution, objective
from revkl_core.progress import Meter
from revkl_core.runfolder import UserError

log = logging.getLogger("llm_experiments")


# -- tokenisation and batches ------------------------------------------------------------------------


def tokenize(tokenizer: Any, texts: list[str], max_length: int, model_name: str = "") -> list[list[int]]:
    """Token ids per text, truncated to ``max_length`` (side per tokenizer); the count truncated is logged."""
    if not texts:
        raise ValueError("tokenize: no texts")
    old = tokenizer.model_max_length
    tokenizer.model_max_length = int(1e30)  # measure full lengths without the tokenizer's own warning
    try:
        full = tokenizer(texts, truncation=False)["input_ids"]
    finally:
        tokenizer.model_max_length = old
    n_long = sum(len(ids) > max_length for ids in full)
    if n_long:
        side = getattr(tokenizer, "truncation_side", "right")
        log.warning("%s: %d of %d texts are longer than max_length=%d tokens; truncated (%s side)",
                    model_name or "tokenizer", n_long, len(texts), max_length, side)
        return tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    return full


def collate(ids: list[list[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad to the longest sequence in the batch (dynamic padding) -> (input_ids, attention_mask)."""
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, x in enumerate(ids):
        input_ids[i, : len(x)] = torch.as_tensor(x)
        mask[i, : len(x)] = 1
    return input_ids.to(device), mask.to(device)


def length_grouped_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator,
                           group: bool = True) -> list[np.ndarray]:
    """One epoch of batches: shuffle, sort within mega-batches of 50 batches by length, shuffle batches.

    Similar lengths share a batch, so dynamic padding wastes little; the order stays random.
    """
    perm = rng.permutation(len(lengths))
    if group:
        mega = 50 * batch_size
        perm = np.concatenate([c[np.argsort(-lengths[c], kind="stable")] for c in np.array_split(perm, max(1, math.ceil(len(perm) / mega)))])
    batches = [perm[i:i + batch_size] for i in range(0, len(perm), batch_size)]
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


def combine(outputs: torch.Tensor, items: torch.Tensor, task: str) -> torch.Tensor:
    """Per-text outputs (T, out) + item indices (B, m) -> logits: z = r(c) - r(r) for pairs, (B, k) else."""
    if task == "pairs":
        r = outputs[:, 0]
        return r[items[:, 0]] - r[items[:, 1]]
    return outputs[items[:, 0]]


# -- the optimiser loop ------------------------------------------------------------------------------


def lr_lambda(total_steps: int, cfg: TrainConfig) -> Callable[[int], float]:
    """Multiplier of the base lr at optimiser step s: linear warmup, then the schedule down to 0."""
    warm = int(cfg.warmup_frac * total_steps)

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if cfg.schedule == "constant":
            return 1.0
        progress = (step - warm) / max(1, total_steps - warm)
        return 0.5 * (1 + math.cos(math.pi * progress)) if cfg.schedule == "cosine" else max(0.0, 1 - progress)

    return f


def _accelerator() -> Any:
    """This process's one ``accelerate.Accelerator``, or None for a single CPU process (plain PyTorch).

    Under ``accelerate launch`` (WORLD_SIZE > 1) or on CUDA it is created once and reused: it
    owns the process group and bf16 autocast, and a second one per run is not supported.
    """
    global _ACC
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 and not torch.cuda.is_available():
        return None
    if _ACC is None:
        from accelerate import Accelerator, DistributedDataParallelKwargs

        # Buffers are constants here (cached features of a last-layer head, attention masks): DDP's
        # default re-broadcast of every buffer at every forward would copy the feature table each step.
        ddp = DistributedDataParallelKwargs(broadcast_buffers=False)
        _ACC = Accelerator(mixed_precision="bf16" if torch.cuda.is_available() else "no",
                           cpu=not torch.cuda.is_available(), kwargs_handlers=[ddp])
    return _ACC


_ACC: Any = None


def fit(module: torch.nn.Module, logits_fn: Callable[[torch.nn.Module, np.ndarray], torch.Tensor],
        targets: Categorical, lengths: np.ndarray, cfg: TrainConfig, *, seed: int, task: str, loss: str,
        aux_conf: float = 0.0, mirror_weight: float = 0.0, desc: str = "train", progress: bool = True,
        progress_interval: float = 30.0) -> dict[str, float]:
    """Train ``module`` on items 0..n-1 with ``targets`` (n items, k classes); returns train stats.

    ``logits_fn(module, batch_indices)`` returns the batch's logits (binary z or k logits).
    """
    acc = _accelerator()
    n = int(lengths.shape[0])
    if n == 0:
        raise ValueError(f"{desc}: no training examples")
    rng = np.random.default_rng([seed, 104729])
    torch.manual_seed(seed)  # dropout masks: the same seed gives the same run
    params = [p for p in module.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    per_epoch = math.ceil(n / cfg.batch_size)
    micro_total = max(1, math.ceil(cfg.epochs * per_epoch))
    total_steps = math.ceil(micro_total / cfg.grad_accum)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(total_steps, cfg))
    model, opt = acc.prepare(module, opt) if acc is not None else (module, opt)
    backward = acc.backward if acc is not None else torch.Tensor.backward
    clip = acc.clip_grad_norm_ if acc is not None else torch.nn.utils.clip_grad_norm_
    rank, world = (acc.process_index, acc.num_processes) if acc is not None else (0, 1)
    model.train()
    target_lp = targets.log_probs
    done, step, last_losses = 0, 0, []
    meter = Meter(desc, micro_total, "batches", show=progress, emit=log if progress else None, interval=progress_interval)
    while done < micro_total:
        batches = length_grouped_batches(lengths, cfg.batch_size, rng, cfg.group_by_length)
        last_losses = []
        for full in batches:
            if done >= micro_total:
                break
            boundary = (done + 1) % cfg.grad_accum == 0 or done + 1 == micro_total
            sync = acc.no_sync(model) if acc is not None and not boundary else contextlib.nullcontext()
            cast = acc.autocast() if acc is not None else contextlib.nullcontext()
            b = full[rank::world]
            weight = len(b) * world / len(full)  # the shard's share of the batch mean (module docstring)
            if len(b) == 0:
                b = full[:1]
            with sync, cast:
                logits = logits_fn(model, b).float()
                tgt = Categorical(target_lp[torch.as_tensor(b)].to(logits.device), name="weak labels")
                value = objective(distribution(logits, task, validate=False), tgt, loss, aux_conf=aux_conf,
                                  mirror_weight=mirror_weight) * weight
                backward(value / cfg.grad_accum)
            last_losses.append(float(value.detach()))  # the one host sync of the step
            if not math.isfinite(last_losses[-1]):
                raise UserError(f"{desc}: loss {loss!r} became {last_losses[-1]} at step {step}; "
                                 "check the labels (reverse losses need finite weak logits) and the learning rate")
            done += 1
            meter.update(1)
            if boundary:
                if cfg.max_grad_norm > 0:
                    clip(params, cfg.max_grad_norm)
                opt.step()
                sched.step()
                opt.zero_grad(set_to_none=True)
                step += 1
    meter.close()
    model.eval()
    if acc is not None:
        acc.free_memory()  # drops accelerate's references to this run's model and optimiser
    if world > 1 and last_losses:  # the batch losses: the mean over processes of the weighted shard losses
        last_losses = acc.reduce(torch.tensor(last_losses, device=acc.device), "mean").tolist()
    return {"train_loss": float(np.mean(last_losses)) if last_losses else float("nan"), "steps": step}


# -- forward passes without gradients ----------------------------------------------------------------


@torch.no_grad()
def encode_texts(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], ids: list[list[int]], pad_id: int,
                 batch_size: int, device: torch.device, desc: str = "encode", progress: bool = True,
                 bf16: bool = False, progress_interval: float = 30.0) -> torch.Tensor:
    """``fn(input_ids, mask)`` on every text, batched by similar length; rows in the input order (fp32, CPU).

    Under bf16 autocast on CUDA always, and on CPU when ``bf16`` is set. Data-parallel (W
    processes): process r runs the batches r, r + W, ...; the rows are gathered, so every process
    returns all of them.
    """
    order = np.argsort([-len(x) for x in ids], kind="stable")
    outs: list[torch.Tensor] = [None] * len(ids)  # type: ignore[list-item]
    if device.type == "cuda" or bf16:
        ctx: Any = torch.autocast(device.type, dtype=torch.bfloat16)
    else:
        ctx = contextlib.nullcontext()
    rank, world = distributed()
    meter = Meter(desc, len(ids), "texts", show=progress, emit=log if progress else None, interval=progress_interval)
    for start in range(0, len(ids), batch_size)[rank::world]:
        chunk = order[start:start + batch_size]
        with ctx:
            y = fn(*collate([ids[i] for i in chunk], pad_id, device)).float().cpu()
        for j, i in enumerate(chunk):
            outs[i] = y[j]
        meter.update(len(chunk))
    meter.close()
    if world > 1:
        mine = [(i, outs[i]) for i in range(len(ids)) if outs[i] is not None]
        parts: list[Any] = [None] * world
        torch.distributed.all_gather_object(parts, mine)
        for part in parts:
            for i, y in part:
                outs[i] = y
    return torch.stack(outs)


def distributed() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside ``accelerate launch``."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1
    acc = _accelerator()  # joins the process group
    return acc.process_index, acc.num_processes


def barrier() -> None:
    """Wait until every process gets here (nothing outside ``accelerate launch``)."""
    if distributed()[1] > 1:
        torch.distributed.barrier()


def agree(value: Any) -> Any:
    """Rank 0's ``value`` on every process (the value itself outside ``accelerate launch``).

    Decisions that steer collective work (run a stage or load it, run a unit or skip it) must be
    the same on every process, or one of them waits forever in an all-reduce.
    """
    if distributed()[1] == 1:
        return value
    box = [value]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]
