r"""Strong head classes as batched torch models (for SGD), and the features each class reads.

Every head maps features with a leading task axis B and sample axis n (axis 1) to
log-probabilities (B, n, k); parameters are tensors with leading axis B, so one optimiser step
updates all tasks at once (Adam is elementwise: batching is exactly per-task training).

* :class:`StochasticMatrixHead`: :math:`F = A\varphi`, :math:`\varphi \in \Delta_m`, A column-stochastic
  (A = softmax of free logits over classes). Convex in probability space.
* :class:`MixtureHead`: :math:`F = \sum_l \alpha_l G_l` over L fixed heads, :math:`\alpha = \mathrm{softmax}(a)`.
  Convex in probability space.
* :class:`SoftmaxMixtureHead`: :math:`F = \sum_{j=1}^K \pi_j\,\mathrm{softmax}(W_j h)` (Mulgund & Pabbaraju, 2025);
  K = 1 is the plain softmax-linear head. Not convex in probability space.

``bounds.classes`` fits the first two and the K = 1 head exactly (see :mod:`synthetic.exact`).
"""

from __future__ import annotations

import math
from typing import Protocol

import torch

from synthetic.config import Config
from synthetic.generators import DTYPE, TaskBatch, World, mixture_log_heads, simplex_features, with_bias

Params = dict[str, torch.Tensor]


class Head(Protocol):
    """A batched head class: ``init`` parameters for B tasks, ``log_probs`` of features.

    ``log_probs_cm`` is the same map for the training loop's layout: features sample-major
    (n, B, ...) (a mini-batch is then one contiguous gather) and log-probabilities class-major
    (B, k, n) (so the softmax normalises over a non-innermost axis of size k, which torch does
    far faster on CPU than over an innermost axis of 3-5 classes). Same values as ``log_probs``.
    """

    def init(self, B: int, feats: torch.Tensor, g: torch.Generator) -> Params: ...

    def log_probs(self, params: Params, feats: torch.Tensor) -> torch.Tensor: ...

    def log_probs_cm(self, params: Params, feats_sm: torch.Tensor) -> torch.Tensor: ...


class StochasticMatrixHead:
    """F(x) = A phi(x); feats (B, n, m) rows in the simplex; params ``logits`` (B, k, m), A = softmax over k."""

    def __init__(self, k: int) -> None:
        self.k = k

    def init(self, B: int, feats: torch.Tensor, g: torch.Generator) -> Params:
        return {"logits": torch.zeros(B, self.k, feats.shape[-1], dtype=DTYPE)}

    def log_probs(self, params: Params, feats: torch.Tensor) -> torch.Tensor:
        A = torch.softmax(params["logits"], dim=1)
        return torch.log(torch.bmm(feats, A.transpose(1, 2)))

    def log_probs_cm(self, params: Params, feats_sm: torch.Tensor) -> torch.Tensor:
        A = torch.softmax(params["logits"], dim=1)
        return torch.log(torch.bmm(A, feats_sm.permute(1, 2, 0)))


class MixtureHead:
    """F(x) = sum_l alpha_l G_l(x); feats = log G (B, n, L, k); params ``a`` (B, L), alpha = softmax(a)."""

    def init(self, B: int, feats: torch.Tensor, g: torch.Generator) -> Params:
        return {"a": torch.zeros(B, feats.shape[2], dtype=DTYPE)}

    def log_probs(self, params: Params, feats: torch.Tensor) -> torch.Tensor:
        log_alpha = torch.log_softmax(params["a"], -1)[:, None, :, None]
        return torch.logsumexp(log_alpha + feats, dim=2)

    def log_probs_cm(self, params: Params, feats_sm: torch.Tensor) -> torch.Tensor:
        log_alpha = torch.log_softmax(params["a"], -1)[:, None, :, None]
        return torch.logsumexp(log_alpha + feats_sm.permute(1, 3, 2, 0), dim=2)


class SoftmaxMixtureHead:
    """F(x) = sum_j pi_j softmax(W_j h(x)); feats (B, n, p) (bias included); params ``W`` (B, K, k, p), ``c`` (B, K)."""

    def __init__(self, k: int, K: int, init_scale: float = 0.1) -> None:
        self.k, self.K, self.init_scale = k, K, init_scale

    def init(self, B: int, feats: torch.Tensor, g: torch.Generator) -> Params:
        p = feats.shape[-1]
        W = torch.randn(B, self.K, self.k, p, generator=g, dtype=DTYPE) * (self.init_scale / math.sqrt(p))
        return {"W": W, "c": torch.zeros(B, self.K, dtype=DTYPE)}

    def log_probs(self, params: Params, feats: torch.Tensor) -> torch.Tensor:
        if self.K == 1:  # plain softmax-linear: pi = 1
            return torch.log_softmax(torch.bmm(feats, params["W"][:, 0].transpose(1, 2)), -1)
        logits = torch.einsum("bnp,bjkp->bnjk", feats, params["W"])
        log_pi = torch.log_softmax(params["c"], -1)[:, None, :, None]
        return torch.logsumexp(log_pi + torch.log_softmax(logits, -1), dim=2)

    def log_probs_cm(self, params: Params, feats_sm: torch.Tensor) -> torch.Tensor:
        W = params["W"]
        B, K, k, p = W.shape
        logits = torch.bmm(W.reshape(B, K * k, p), feats_sm.permute(1, 2, 0))  # (B, K k, n): one batched matmul
        if K == 1:
            return torch.log_softmax(logits, 1)
        log_pi = torch.log_softmax(params["c"], -1)[:, :, None, None]
        return torch.logsumexp(log_pi + torch.log_softmax(logits.view(B, K, k, -1), 2), dim=1)


def make_head(cfg: Config, head_class: str, K: int = 1) -> Head:
    """The torch head of a class name (K only for softmax_mixture)."""
    k = cfg.data.k
    if head_class == "stochastic_matrix":
        return StochasticMatrixHead(k)
    if head_class == "mixture":
        return MixtureHead()
    if head_class == "softmax_linear":
        return SoftmaxMixtureHead(k, 1)
    if head_class == "softmax_mixture":
        return SoftmaxMixtureHead(k, K)
    raise ValueError(f"head_class: unknown head class {head_class!r}")


def strong_features(cfg: Config, world: World, head_class: str, tasks: TaskBatch, split: str) -> torch.Tensor:
    """What the strong head of ``head_class`` reads on ``split``, sample axis 1.

    stochastic_matrix: phi_s = softmax(h_s / T) (B, n, m); mixture: log G_l(h_s) as (B, n, L, k)
    with the task's fixed heads U_l; softmax heads: [h_s, 1] (B, n, m_s + 1).
    """
    h = world.h_s(tasks.x[split])
    if head_class == "stochastic_matrix":
        return simplex_features(h, cfg.data.feature_temperature)
    if head_class == "mixture":
        logG = mixture_log_heads(tasks.truth_params["W"], h, world.m, cfg.data.head_scale)
        return logG.permute(0, 2, 1, 3).contiguous()
    return with_bias(h)
