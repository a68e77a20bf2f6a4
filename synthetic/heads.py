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
:data:`HEAD_CLASSES` is the registry of the classes a study names (one :class:`HeadClass` each).
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np
import torch

from bounds.classes import MixtureClass, SoftmaxLinearClass, StochasticMatrixClass
from synthetic.generators import DTYPE, Study, mixture_log_heads, simplex_features, softmax_head, with_bias
from synthetic.seeding import generator, stream_seed

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


class HeadClass:
    """One strong head class: the only place that knows what differs between classes.

    A class owns its truth family (``draw_truth`` one task's parameters, ``truth_probs`` F* on h*),
    its features (``features``), its SGD head (``head``), its certified solver (``model_class``,
    None when bounds.solvers has none), its own member at the truth's parameters (``member``),
    the simplex parameters of an SGD fit for the Frank-Wolfe certificate (``simplex_theta``) and
    whether it is convex in probability space (T4's hypothesis). The defaults below are those of the
    softmax heads: truth softmax(s W* [h*, 1] / sqrt m), features [h_s, 1], no certified solver.
    """

    name: str
    probability_convex: bool
    model_kind: str  # how bounds.theorems.Instances names the class
    takes_K = False  # K softmax components (softmax_mixture only)
    exact = False  # bounds.solvers fits it exactly (``model_class`` is not None)
    truth_family: str  # stream tag of the truth: classes sharing a family share their tasks' truth

    def label(self, K: int) -> str:
        return self.name + (f"(K={K})" if self.takes_K else "")

    def draw_truth(self, cfg: Study, m: int, seed: int) -> Params:
        """One task's truth parameters, from the task's own stream."""
        g = generator(seed, "truth", self.truth_family)
        return {"W": torch.randn(cfg.data.k, m + 1, generator=g, dtype=DTYPE)}

    def truth_probs(self, cfg: Study, m: int, params: Params, h: torch.Tensor) -> torch.Tensor:
        """F*(x) (B, n, k) from h*(x) (B, n, m)."""
        return softmax_head(params["W"], h, m, cfg.data.head_scale)

    def features(self, cfg: Study, m: int, params: Params, h: torch.Tensor) -> torch.Tensor:
        """What the strong head reads, sample axis 1: [h_s, 1] (B, n, m_s + 1) for softmax heads."""
        return with_bias(h)

    def head(self, cfg: Study, K: int) -> Head:
        return SoftmaxMixtureHead(cfg.data.k, K if self.takes_K else 1)

    def model_class(self, feats: torch.Tensor, k: int) -> Any:
        """The bounds.classes class on these features, or None without a certified solver."""
        return None

    def member(self, cfg: Study, m: int, params: Params, feats: torch.Tensor) -> torch.Tensor:
        """F_theta* (B, n, k): the truth's own parameters applied to the strong features."""
        return softmax_head(params["W"], feats[..., :-1], m, cfg.data.head_scale)

    def simplex_theta(self, params: Params) -> np.ndarray | None:
        """SGD parameters in bounds.classes' simplex-block layout (probability-convex classes only)."""
        return None

    def w_star(self, cfg: Study, m: int, params: Params) -> np.ndarray | None:
        """The truth's weights as a bounds.classes SoftmaxLinearClass parameter (T5), when in that class."""
        return None


class StochasticMatrix(HeadClass):
    """F = A phi_s, phi_s = softmax(h_s / T); truth A* phi*, columns of A* ~ Dirichlet(dirichlet)."""

    name, probability_convex, model_kind, truth_family = "stochastic_matrix", True, "probability-convex", "stochastic_matrix"
    exact = True

    def draw_truth(self, cfg: Study, m: int, seed: int) -> Params:
        rng = np.random.default_rng(stream_seed(seed, "truth", self.truth_family))
        cols = rng.dirichlet(np.full(cfg.data.k, cfg.data.dirichlet), size=m)  # (m, k): columns of A*
        return {"W": torch.as_tensor(cols.T.copy(), dtype=DTYPE)}

    def truth_probs(self, cfg: Study, m: int, params: Params, h: torch.Tensor) -> torch.Tensor:
        return simplex_features(h, cfg.data.feature_temperature) @ params["W"].transpose(1, 2)

    def features(self, cfg: Study, m: int, params: Params, h: torch.Tensor) -> torch.Tensor:
        return simplex_features(h, cfg.data.feature_temperature)

    def head(self, cfg: Study, K: int) -> Head:
        return StochasticMatrixHead(cfg.data.k)

    def model_class(self, feats: torch.Tensor, k: int) -> Any:
        return StochasticMatrixClass(feats.detach().numpy(), num_classes=k)

    def member(self, cfg: Study, m: int, params: Params, feats: torch.Tensor) -> torch.Tensor:
        return feats @ params["W"].transpose(1, 2)

    def simplex_theta(self, params: Params) -> np.ndarray | None:
        return torch.softmax(params["logits"], 1).transpose(1, 2).numpy()


class Mixture(HeadClass):
    """F = sum_l alpha_l softmax(s U_l [h_s, 1] / sqrt m) over the task's L fixed heads U_l; alpha* ~ Dirichlet(1)."""

    name, probability_convex, model_kind, truth_family = "mixture", True, "probability-convex", "mixture"
    exact = True

    def draw_truth(self, cfg: Study, m: int, seed: int) -> Params:
        g = generator(seed, "truth", self.truth_family)
        L = cfg.data.mixture_heads
        W = torch.randn(L, cfg.data.k, m + 1, generator=g, dtype=DTYPE)
        e = -torch.log(torch.rand(L, generator=g, dtype=DTYPE))
        return {"W": W, "alpha": e / e.sum()}  # Dirichlet(1) weights

    def truth_probs(self, cfg: Study, m: int, params: Params, h: torch.Tensor) -> torch.Tensor:
        heads = mixture_log_heads(params["W"], h, m, cfg.data.head_scale).exp()
        return torch.einsum("bl,blnk->bnk", params["alpha"], heads)

    def features(self, cfg: Study, m: int, params: Params, h: torch.Tensor) -> torch.Tensor:
        """log G_l(h_s) as (B, n, L, k) with the task's fixed heads U_l."""
        return mixture_log_heads(params["W"], h, m, cfg.data.head_scale).permute(0, 2, 1, 3).contiguous()

    def head(self, cfg: Study, K: int) -> Head:
        return MixtureHead()

    def model_class(self, feats: torch.Tensor, k: int) -> Any:
        return MixtureClass(np.exp(np.transpose(feats.detach().numpy(), (0, 2, 1, 3))))

    def member(self, cfg: Study, m: int, params: Params, feats: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bl,bnlk->bnk", params["alpha"], feats.exp())

    def simplex_theta(self, params: Params) -> np.ndarray | None:
        return torch.softmax(params["a"], -1)[:, None, :].numpy()


class SoftmaxLinear(HeadClass):
    """F = softmax(W [h_s, 1]); truth softmax(s W* [h*, 1] / sqrt m)."""

    name, probability_convex, model_kind, truth_family = "softmax_linear", False, "softmax-linear", "softmax"
    exact = True

    def model_class(self, feats: torch.Tensor, k: int) -> Any:
        return SoftmaxLinearClass(feats.detach().numpy(), num_classes=k)

    def w_star(self, cfg: Study, m: int, params: Params) -> np.ndarray | None:
        return (params["W"] * (cfg.data.head_scale / math.sqrt(m))).numpy()


class SoftmaxMixture(HeadClass):
    """F = sum_j pi_j softmax(W_j [h_s, 1]), K components (Mulgund & Pabbaraju, 2025); truth as softmax_linear."""

    name, probability_convex, model_kind, truth_family = "softmax_mixture", False, "softmax-mixture", "softmax"
    takes_K = True


#: The head classes by name: adding a class is one subclass here and one entry below.
HEAD_CLASSES: dict[str, HeadClass] = {c.name: c for c in (StochasticMatrix(), Mixture(), SoftmaxLinear(), SoftmaxMixture())}


def strong_features(cfg: Study, world: Any, head_class: HeadClass, tasks: Any, split: str) -> torch.Tensor:
    """What the strong head of ``head_class`` reads on ``split`` of ``tasks`` (sample axis 1)."""
    return head_class.features(cfg, world.m, tasks.truth_params, world.h_s(tasks.x[split]))
