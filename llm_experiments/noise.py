r"""Weak-label noise: corrupt a seeded fraction ``rate`` of the weak labels.

* ``flip``: the chosen labels point elsewhere. Pairs: z_w -> -z_w (q -> 1 - q); k classes:
  the logits are rolled by a random offset in 1..k-1, so the argmax moves to another class.
* ``shrink``: :math:`p \leftarrow 1/k + \alpha (p - 1/k)` (for pairs 0.5 + alpha (p - 0.5)),
  which is exactly ``bounds.Categorical.smoothed(1 - alpha)``, computed in log space.

Labels go in and come out as logits (binary z for pairs, k logits for classify).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bounds import Categorical


def corrupt(logits: torch.Tensor, task: str, noise: dict[str, Any], seed: int) -> torch.Tensor:
    """Noisy copy of weak ``logits`` (float64); ``noise`` = normalised ``{kind, rate, alpha}``."""
    if noise["kind"] == "none" or noise["rate"] == 0:
        return logits.clone()
    n = logits.shape[0]
    rng = np.random.default_rng([seed, 7919])
    idx = torch.as_tensor(rng.choice(n, size=int(round(noise["rate"] * n)), replace=False), dtype=torch.long)
    out = logits.clone().to(torch.float64)
    sel = out[idx]
    if noise["kind"] == "flip":
        if task == "pairs":
            out[idx] = -sel
        else:
            k = sel.shape[-1]
            shifts = torch.as_tensor(rng.integers(1, k, size=len(idx)))
            cols = (torch.arange(k).unsqueeze(0) - shifts.unsqueeze(1)) % k
            out[idx] = torch.gather(sel, 1, cols)
    elif noise["kind"] == "shrink":
        dist = Categorical.from_binary_logit(sel) if task == "pairs" else Categorical.from_logits(sel)
        lp = dist.smoothed(1.0 - noise["alpha"]).log_probs
        out[idx] = lp[..., 1] - lp[..., 0] if task == "pairs" else lp
    else:
        raise ValueError(f"noise kind must be 'none', 'flip' or 'shrink', got {noise['kind']!r}")
    return out
