r"""One model (weak or strong) trained and scored on a study's texts: the adapter and the optimiser loop.

:class:`Trainer` turns a part's items into logits in the config's mode (a linear :class:`FeatureHead`
on cached features in last_layer mode; the backbone on token ids in full / lora mode) and trains
with :func:`fit`: it takes the logits of a batch of items, turns them into a distribution
(``losses.distribution``), and minimises ``losses.objective`` against the batch's target
distribution with AdamW, linear warmup then cosine / linear decay, gradient accumulation and
gradient clipping. On CUDA it autocasts to bf16, on CPU it stays fp32. An item's logits come from
the outputs of its texts (:func:`item_logits`): z = r(chosen) - r(rejected) for pairs, the k outputs
of its one text otherwise.

Under ``accelerate launch`` (W processes) the run is data-parallel and computes what one process
computes: every process draws the same batches; process r takes the shard ``b[r::W]`` of each
batch b (n items, n_r in shard r) and scales its mean loss by ``n_r W / n``. DDP averages the
gradients over processes, so the step follows

.. math:: \frac1W \sum_r \frac{n_r W}{n} \nabla \bar L_r = \sum_r \frac{n_r}{n} \nabla \bar L_r = \nabla \bar L,

the gradient of the batch's mean loss, for a last batch of any size (a process with an empty
shard runs one item with weight 0, so that every process joins every all-reduce). Only the order
of float summation differs from one process. A finished run's model and optimiser are released
with the ``Accelerator``'s supported ``free_memory()`` (``parallel.accelerator``).
"""

from __future__ import annotations

import contextlib
import logging
import math
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from bounds import Categorical
from llm_experiments.config import Config, TrainConfig
from llm_experiments.data import Part
from llm_experiments.encode import collate, encode_texts
from llm_experiments.losses import distribution, objective
from llm_experiments.models import load_scorer
from llm_experiments.parallel import accelerator
from llm_experiments.study import Study, model_features, progress_options, token_ids
from revkl_core.progress import Meter
from revkl_core.runfolder import UserError

log = logging.getLogger("llm_experiments")


def item_logits(outputs: torch.Tensor, items: torch.Tensor, task: str) -> torch.Tensor:
    """Per-text outputs (T, out) + item indices (B, m) -> logits: z = r(c) - r(r) for pairs, (B, k) else."""
    if task == "pairs":
        r = outputs[:, 0]
        return r[items[:, 0]] - r[items[:, 1]]
    return outputs[items[:, 0]]


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


def fit(module: torch.nn.Module, logits_fn: Callable[[torch.nn.Module, np.ndarray], torch.Tensor],
        targets: Categorical, lengths: np.ndarray, cfg: TrainConfig, *, seed: int, task: str, loss: str,
        aux_conf: float = 0.0, mirror_weight: float = 0.0, desc: str = "train", progress: bool = True,
        progress_interval: float = 30.0) -> dict[str, float]:
    """Train ``module`` on items 0..n-1 with ``targets`` (n items, k classes); returns train stats.

    ``logits_fn(module, batch_indices)`` returns the batch's logits (binary z or k logits).
    """
    acc = accelerator()
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


class FeatureHead(nn.Module):
    """Linear head on cached features: per-text outputs f(x) W^T + b, combined per item."""

    def __init__(self, features: torch.Tensor, out_dim: int, task: str, seed: int) -> None:
        super().__init__()
        self.register_buffer("features", features, persistent=False)
        self.task = task
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.head = nn.Linear(features.shape[1], out_dim)
        nn.init.zeros_(self.head.bias)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        uniq, inv = torch.unique(items, return_inverse=True)
        return item_logits(self.head(self.features[uniq]), inv, self.task)


class Trainer:
    """Trains and predicts one model (weak or strong) on a Study's texts, in the config's mode."""

    def __init__(self, cfg: Config, study: Study, model: str, run_dir: Path, device: torch.device,
                 digests: dict[str, str]) -> None:
        self.cfg, self.study, self.model, self.device = cfg, study, model, device
        self.out_dim = 1 if study.task == "pairs" else study.num_classes
        self._ids: list[list[int]] | None = None
        self._pad = 0
        self._progress = progress_options(cfg.runtime)
        self.features: torch.Tensor | None = None
        if cfg.models.mode == "last_layer":
            self.features, self.features_stage = model_features(cfg, study, model, run_dir, device, digests)

    def ids(self) -> list[list[int]]:
        """Token ids of every text of the study (tokenised once, on first use)."""
        if self._ids is None:
            self._ids, self._pad = token_ids(self.cfg, self.study, self.model)
        return self._ids

    def _module(self, seed: int) -> nn.Module:
        if self.features is not None:
            return FeatureHead(self.features, self.out_dim, self.study.task, seed)
        t = self.cfg.train
        return load_scorer(self.model, self.out_dim, seed=seed, mode=self.cfg.models.mode, lora=self.cfg.lora,
                           grad_checkpointing=t.grad_checkpointing, cache_dir=self.cfg.runtime.assets_cache)

    def _batch_logits(self, module: nn.Module, items: np.ndarray) -> torch.Tensor:
        dev = next(module.parameters()).device
        if self.features is not None:
            return module(torch.as_tensor(items, device=dev))
        uniq, inv = np.unique(items, return_inverse=True)
        ids = self.ids()
        out = module(*collate([ids[u] for u in uniq], self._pad, dev))
        return item_logits(out, torch.as_tensor(inv.reshape(items.shape), device=dev), self.study.task)

    def train(self, part: Part, targets: Categorical, *, seed: int, loss: str, desc: str,
              aux_conf: float = 0.0, mirror_weight: float = 0.0) -> tuple[nn.Module, dict[str, float]]:
        module = self._module(seed)
        if self.features is not None:
            lengths = np.ones(len(part), dtype=np.int64)
        else:
            ids = self.ids()
            lengths = np.asarray([max(len(ids[t]) for t in row) for row in part.items])
        stats = fit(module, lambda m, b: self._batch_logits(m, part.items[b]), targets, lengths, self.cfg.train,
                    seed=seed, task=self.study.task, loss=loss, aux_conf=aux_conf, mirror_weight=mirror_weight,
                    desc=desc, **self._progress)
        return module, stats

    @torch.no_grad()
    def predict(self, module: nn.Module, part: Part) -> torch.Tensor:
        """Logits on every item of ``part`` (float64, CPU); each text is scored once."""
        module.eval()
        if self.features is not None:
            bs = 4096
            return torch.cat([self._batch_logits(module, part.items[i:i + bs]).double().cpu()
                              for i in range(0, len(part), bs)])
        uniq, inv = np.unique(part.items, return_inverse=True)
        ids = self.ids()
        scorer = module.module if hasattr(module, "module") else module  # unwrap DDP for inference
        dev = next(scorer.parameters()).device
        out = encode_texts(lambda i, m: scorer(i, m), [ids[u] for u in uniq], self._pad, self.cfg.train.eval_batch_size,
                           dev, desc=f"predict {self.model}", bf16=self.cfg.models.feature_bf16, **self._progress)
        return item_logits(out.double(), torch.as_tensor(inv.reshape(part.items.shape)), self.study.task)

