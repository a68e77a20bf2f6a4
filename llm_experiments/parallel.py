"""The processes of a run: one, or W under ``accelerate launch`` (data-parallel).

A single CPU process uses plain PyTorch (no ``Accelerator``); otherwise the process holds one
``Accelerator`` (:func:`accelerator`), which owns the process group and bf16 autocast. Decisions that
steer collective work are rank 0's (:func:`agree`); rank 0 alone writes files (:func:`is_main`).
"""

from __future__ import annotations

import os
from typing import Any

import torch


def accelerator() -> Any:
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


def distributed() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside ``accelerate launch``."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1
    acc = accelerator()  # joins the process group
    return acc.process_index, acc.num_processes


def is_main() -> bool:
    """True on rank 0 (the process that writes the run folder)."""
    return int(os.environ.get("RANK", "0")) == 0


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
