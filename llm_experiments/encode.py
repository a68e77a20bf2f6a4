"""Texts to model inputs: token ids, dynamically padded batches, and forward passes without gradients.

Long loops log ``done/total, rate, ETA`` lines (:class:`revkl_core.progress.Meter`) when stderr
is not a terminal (a log file, a cluster job); on a terminal they show a progress bar.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Callable

import numpy as np
import torch

from llm_experiments.parallel import distributed
from revkl_core.progress import Meter

log = logging.getLogger("llm_experiments")


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
