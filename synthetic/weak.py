r"""The weak supervisor and the noise applied to its labels.

The weak model is a softmax-linear head on :math:`[h_w(x), 1]` fitted with cross-entropy
(full-batch Adam, ``weak.steps`` steps) to ``n_weak_train`` ground-truth samples: hard labels
:math:`y \sim F^*(x)` (one-hot) or the soft :math:`F^*(x)`. Its soft predictions
:math:`F_w(x)` label the disjoint transfer and validation sets.

Noise on those labels (named apart from llm_experiments' ``flip`` and ``shrink``, which corrupt an
exact fraction of examples and roll the logits: different procedures):

* ``swap_top`` at rate :math:`\rho`: each example independently, with probability :math:`\rho`, gets
  the probabilities of its top class and of a uniformly chosen other class swapped (binary:
  :math:`p \leftarrow 1 - p`). Coupled across rates: one uniform draw per example decides, so a
  larger rate swaps a superset of examples;
* ``shrink_all`` with factor :math:`\alpha`: :math:`p \leftarrow 1/k + \alpha (p - 1/k)` on every
  example (binary: :math:`p \leftarrow 0.5 + \alpha (p - 0.5)`).
"""

from __future__ import annotations

import torch

from bounds import Categorical
from synthetic.config import NOISE_TYPES, Config
from synthetic.generators import DTYPE, TaskBatch, World, with_bias
from synthetic.heads import SoftmaxMixtureHead
from synthetic.seeding import generator
from synthetic.train import fit_sgd


def hard_labels(truth: torch.Tensor, seeds: list[int]) -> torch.Tensor:
    """One-hot samples y ~ F*(x), one stream per task: (B, n, k)."""
    out = []
    for b, seed in enumerate(seeds):
        y = torch.multinomial(truth[b], 1, generator=generator(seed, "hard_labels")).squeeze(-1)
        out.append(torch.nn.functional.one_hot(y, truth.shape[-1]).to(DTYPE))
    return torch.stack(out)


def fit_weak(cfg: Config, world: World, tasks: TaskBatch) -> dict[str, torch.Tensor]:
    """Fit the weak supervisor of each task; return F_w (B, n, k) on transfer, val and test."""
    w = cfg.weak
    head = SoftmaxMixtureHead(cfg.data.k, 1)
    feats = {s: with_bias(world.h_w(x)) for s, x in tasks.x.items()}
    truth = tasks.truth["weak_train"]
    target = truth if w.labels == "soft" else hard_labels(truth, tasks.seeds)
    g = generator(tasks.seeds[0], "weak_fit")
    params = head.init(len(tasks.seeds), feats["weak_train"], g)
    fit = fit_sgd(head, params, feats["weak_train"], target, "ce", lr=w.lr, batch_size=target.shape[1], max_epochs=w.steps, g=g)
    with torch.no_grad():
        return {s: head.log_probs(fit.params, feats[s]).exp() for s in ("transfer", "val", "test")}


def add_noise(probs: torch.Tensor, kind: str, rate: float, seeds: list[int], split: str) -> torch.Tensor:
    """Weak labels (B, n, k) after ``swap_top`` (rate in [0, 0.5]) or ``shrink_all`` (alpha in [0, 1]) noise."""
    if kind not in NOISE_TYPES or not NOISE_TYPES[kind][0] <= rate <= NOISE_TYPES[kind][1]:
        raise ValueError(f"noise: type {kind!r} with rate {rate!r} is not one of {NOISE_TYPES} (type: [lo, hi])")
    if kind == "none":
        return probs
    if kind == "shrink_all":
        return Categorical.from_probs(probs, name="weak labels").smoothed(1.0 - rate).probs  # 1/k + alpha (p - 1/k)
    k = probs.shape[-1]
    out = probs.clone()
    B, n, _ = probs.shape
    for b, seed in enumerate(seeds):
        g = generator(seed, "flip", split)  # the stream's historical name: same draws as before the rename
        u = torch.rand(n, generator=g, dtype=DTYPE)
        shift = torch.randint(1, k, (n,), generator=g)
        top = probs[b].argmax(-1)
        other = (top + shift) % k
        rows = torch.nonzero(u < rate).squeeze(-1)
        p_top, p_other = probs[b, rows, top[rows]], probs[b, rows, other[rows]]
        out[b, rows, top[rows]] = p_other
        out[b, rows, other[rows]] = p_top
    return out
