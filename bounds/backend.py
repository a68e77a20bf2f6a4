"""One set of array operations for NumPy and PyTorch, so every divergence has one implementation.

`ops(x)` returns the namespace that matches the array type of `x`. Only the handful of
primitives the divergences need are here; each has the same semantics in both back ends.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Union

import numpy as np
import scipy.special as sps

try:  # torch is a hard dependency, but keep numpy-only use working if it is broken
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover
    torch = None  # type: ignore[assignment]

Array = Union[np.ndarray, "torch.Tensor"]


def _np_logsigmoid(z: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -z)


NUMPY = SimpleNamespace(
    name="numpy",
    log=np.log,
    exp=np.exp,
    expm1=np.expm1,
    clip=np.clip,
    log_softmax=lambda x: sps.log_softmax(x, axis=-1),
    logsigmoid=_np_logsigmoid,
    logaddexp=np.logaddexp,
    where=np.where,
    sum=lambda x: np.sum(x, axis=-1),
    stack=lambda xs: np.stack(xs, axis=-1),
    abs=np.abs,
    zeros_like=np.zeros_like,
    full_like=np.full_like,
    isnan=np.isnan,
    isfinite=np.isfinite,
    any=lambda x: bool(np.any(x)),
    max=lambda x: float(np.max(x)) if np.size(x) else 0.0,
    min=lambda x: float(np.min(x)) if np.size(x) else 0.0,
)

if torch is not None:

    def _t_upcast(x: "torch.Tensor") -> "torch.Tensor":
        # Half precision logits are computed in float32: log-space arithmetic in bf16 loses
        # everything past 3 significant digits, and the loss is reduced in fp32 anyway.
        if not torch.is_floating_point(x):
            return x.to(torch.get_default_dtype())
        if x.dtype in (torch.float16, torch.bfloat16):
            return x.float()
        return x

    TORCH = SimpleNamespace(
        name="torch",
        log=torch.log,
        exp=torch.exp,
        expm1=torch.expm1,
        clip=torch.clamp,
        log_softmax=lambda x: torch.log_softmax(x, dim=-1),
        logsigmoid=F.logsigmoid,
        logaddexp=torch.logaddexp,
        where=torch.where,
        sum=lambda x: torch.sum(x, dim=-1),
        stack=lambda xs: torch.stack(xs, dim=-1),
        abs=torch.abs,
        zeros_like=torch.zeros_like,
        full_like=torch.full_like,
        isnan=torch.isnan,
        isfinite=torch.isfinite,
        any=lambda x: bool(torch.any(x).item()),
        max=lambda x: float(torch.max(x).item()) if x.numel() else 0.0,
        min=lambda x: float(torch.min(x).item()) if x.numel() else 0.0,
    )


def is_torch(x: Any) -> bool:
    return torch is not None and isinstance(x, torch.Tensor)


def ops(x: Any) -> SimpleNamespace:
    """The operation namespace for `x`: TORCH for tensors, NUMPY for anything array-like."""
    return TORCH if is_torch(x) else NUMPY


def as_array(x: Any) -> Array:
    """Tensors pass through (half precision upcast to float32); everything else becomes a float ndarray."""
    if is_torch(x):
        return _t_upcast(x)
    a = np.asarray(x)
    if a.dtype.kind in "iub":
        a = a.astype(np.float64)
    return a
