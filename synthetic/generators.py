r"""The generative setting with known truth.

Inputs :math:`x \sim \mathcal N(0, I_d)`. A ground-truth representation :math:`h^*: \mathbb R^d \to \mathbb R^m`
(a random two-layer tanh MLP, coordinates standardised on a reference sample). Tasks are random
heads on :math:`h^*`, of the form of the strong head class, so that the strong class contains
:math:`F^*` when the strong representation equals :math:`h^*` (each class of the registry
``synthetic.heads.HEAD_CLASSES`` draws its own truth):

* ``stochastic_matrix``: :math:`F^*(x) = A^* \varphi^*(x)`, :math:`\varphi^* = \mathrm{softmax}(h^*/T)`, columns of
  :math:`A^*` drawn from Dirichlet(``dirichlet``);
* ``mixture``: :math:`F^*(x) = \sum_l \alpha^*_l\,\mathrm{softmax}(s\,U_l [h^*(x), 1]/\sqrt m)`,
  :math:`\alpha^* \sim` Dirichlet(1), the L heads :math:`U_l` fixed per task (the class mixes the same
  heads applied to :math:`h_s`);
* ``softmax_linear`` and ``softmax_mixture``: :math:`F^*(x) = \mathrm{softmax}(s\,W^* [h^*(x), 1]/\sqrt m)`
  (in every K-mixture class, as its K = 1 member).

Strong and weak representations (a :class:`World`):

* controlled: :math:`h_s = h^* + \delta\,g(x)` (g a second random MLP, unit RMS per coordinate);
  :math:`h_w` = the first ``weak_dim`` coordinates of :math:`R h^*` (R a random rotation) plus
  ``weak_noise`` :math:`\cdot g'(x)`: lossy, so the weak supervisor cannot represent :math:`F^*`;
* pretrained: a deep MLP (strong, 3 hidden layers) and a shallow one (weak, 1 narrow hidden layer)
  trained with cross-entropy on ``pretrain_tasks`` random softmax tasks on :math:`h^*`
  (after Charikar et al., 2024); more tasks -> a better strong representation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import torch

from synthetic.seeding import generator

DTYPE = torch.float64
Features = Callable[[torch.Tensor], torch.Tensor]


class Study(Protocol):
    """What the generators and head classes read of a study config (a :class:`synthetic.config.Config`).

    Named here, not imported, because the config module validates names against the head-class
    registry, which imports this module: importing it back would close a cycle.
    """

    @property
    def seed(self) -> int: ...

    @property
    def data(self) -> Any: ...

    @property
    def representation(self) -> Any: ...


def random_mlp(d_in: int, d_out: int, hidden: int, g: torch.Generator, depth: int = 1) -> list[torch.Tensor]:
    """Weights of a tanh MLP with ``depth`` hidden layers, N(0, 1/fan_in) entries (biases as an extra column)."""
    dims = [d_in] + [hidden] * depth + [d_out]
    return [torch.randn(dims[i + 1], dims[i] + 1, generator=g, dtype=DTYPE) / math.sqrt(dims[i] + 1) for i in range(len(dims) - 1)]


def mlp_forward(weights: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Apply a tanh MLP (last layer linear) to x (..., d_in)."""
    h = x
    for i, w in enumerate(weights):
        h = with_bias(h) @ w.T
        if i < len(weights) - 1:
            h = torch.tanh(h)
    return h


def with_bias(h: torch.Tensor) -> torch.Tensor:
    """Append a constant-1 feature: [h, 1]."""
    return torch.cat([h, torch.ones(*h.shape[:-1], 1, dtype=h.dtype)], dim=-1)


def standardised(fn: Features, d: int, g: torch.Generator, n_ref: int = 4096) -> Features:
    """``fn`` with each output coordinate centred and scaled to unit variance on a fixed reference sample."""
    ref = fn(torch.randn(n_ref, d, generator=g, dtype=DTYPE))
    mu, sd = ref.mean(0), ref.std(0).clamp_min(1e-8)
    return lambda x: (fn(x) - mu) / sd


@dataclass
class World:
    """Shared maps of a study: truth ``h_star``, strong ``h_s`` and weak ``h_w`` representations."""

    d: int
    m: int
    h_star: Features
    h_s: Features
    h_w: Features
    m_s: int
    m_w: int


def ground_truth(cfg: Study) -> Features:
    """h*: the standardised random MLP of the study's seed."""
    d = cfg.data
    g = generator(cfg.seed, "h_star")
    w = random_mlp(d.d, d.m, d.hidden, g)
    return standardised(lambda x: mlp_forward(w, x), d.d, g)


def controlled_world(cfg: Study, delta: float) -> World:
    """h_s = h* + delta g(x); h_w = lossy projection of h* plus weak_noise g'(x)."""
    d, r = cfg.data, cfg.representation
    h_star = ground_truth(cfg)
    g = generator(cfg.seed, "controlled")
    pert = standardised(lambda x, w=random_mlp(d.d, d.m, d.hidden, g): mlp_forward(w, x), d.d, g)
    rot, _ = torch.linalg.qr(torch.randn(d.m, d.m, generator=g, dtype=DTYPE))
    m_w = r.weak_dim  # <= m (validated)
    wnoise = standardised(lambda x, w=random_mlp(d.d, m_w, d.hidden, g): mlp_forward(w, x), d.d, g)

    def h_s(x: torch.Tensor) -> torch.Tensor:
        return h_star(x) + delta * pert(x)

    def h_w(x: torch.Tensor) -> torch.Tensor:
        return (h_star(x) @ rot.T)[..., :m_w] + r.weak_noise * wnoise(x)

    return World(d.d, d.m, h_star, h_s, h_w, d.m, m_w)


def pretrained_world(cfg: Study, tasks: int) -> World:
    """Strong (deep) and weak (shallow) MLPs pre-trained on ``tasks`` softmax tasks on h*.

    Both are trained with Adam on the summed cross-entropy to soft targets
    softmax(s V_t [h*, 1] / sqrt m), t = 1..tasks, with one linear head per task; the features
    are the last hidden layer, standardised.
    """
    d, r = cfg.data, cfg.representation
    h_star = ground_truth(cfg)
    g = generator(cfg.seed, "pretrain", tasks)
    x = torch.randn(r.pretrain_samples, d.d, generator=g, dtype=DTYPE)
    heads = torch.randn(tasks, d.k, d.m + 1, generator=g, dtype=DTYPE) * d.head_scale / math.sqrt(d.m)
    target = torch.softmax(torch.einsum("np,tkp->tnk", with_bias(h_star(x)), heads), -1)

    def train(depth: int, width: int, out: int) -> Features:
        body = [w.clone().requires_grad_(True) for w in random_mlp(d.d, out, width, g, depth)]
        lin = (torch.randn(tasks, d.k, out + 1, generator=g, dtype=DTYPE) / math.sqrt(out + 1)).requires_grad_(True)
        opt = torch.optim.Adam(body + [lin], lr=1e-2)
        for _ in range(r.pretrain_steps):
            feats = torch.tanh(mlp_forward(body, x))
            logp = torch.log_softmax(torch.einsum("np,tkp->tnk", with_bias(feats), lin), -1)
            loss = -(target * logp).sum(-1).mean(-1).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        frozen = [w.detach() for w in body]
        return standardised(lambda z: torch.tanh(mlp_forward(frozen, z)), d.d, g)

    m_w = r.weak_dim
    return World(d.d, d.m, h_star, train(3, d.hidden, d.m), train(1, max(m_w, 2), m_w), d.m, m_w)


@dataclass
class TaskBatch:
    """B tasks of one head class: inputs of every split and the truth on them.

    ``x[split]`` (B, n_split, d) for split in weak_train, transfer, val, test;
    ``truth[split]`` (B, n, k) = F*(x); ``truth_params`` the head parameters (class specific).
    """

    seeds: list[int]
    x: dict[str, torch.Tensor]
    truth: dict[str, torch.Tensor]
    truth_params: dict[str, torch.Tensor]


def split_sizes(cfg: Study) -> dict[str, int]:
    d = cfg.data
    return {"weak_train": d.n_weak_train, "transfer": d.n_transfer, "val": d.n_val, "test": d.n_test}


def softmax_head(params: torch.Tensor, feats: torch.Tensor, m: int, scale: float) -> torch.Tensor:
    """softmax(s W [h, 1] / sqrt m) for W (B, k, m+1), feats (B, n, m) -> (B, n, k)."""
    return torch.softmax(torch.einsum("bnp,bkp->bnk", with_bias(feats), params) * (scale / math.sqrt(m)), -1)


def mixture_log_heads(U: torch.Tensor, feats: torch.Tensor, m: int, scale: float) -> torch.Tensor:
    """Log of the L fixed heads log_softmax(s U_l [h, 1] / sqrt m) for U (B, L, k, m+1) -> (B, L, n, k)."""
    return torch.log_softmax(torch.einsum("bnp,blkp->blnk", with_bias(feats), U) * (scale / math.sqrt(m)), -1)


def simplex_features(h: torch.Tensor, temperature: float) -> torch.Tensor:
    """phi = softmax(h / T): features in the simplex for the stochastic-matrix class."""
    return torch.softmax(h / temperature, -1)


def make_tasks(cfg: Study, world: World, head_class: Any, seeds: list[int]) -> TaskBatch:
    """Draw the inputs and the truth of tasks with the given seeds (one seed per task).

    ``head_class`` is a :class:`synthetic.heads.HeadClass`: it draws each task's truth parameters
    and computes F* from h*.
    """
    d = cfg.data
    xs: dict[str, list[torch.Tensor]] = {s: [] for s in split_sizes(cfg)}
    params: list[dict[str, torch.Tensor]] = []
    for seed in seeds:
        g = generator(seed, "inputs")
        for split, n in split_sizes(cfg).items():
            xs[split].append(torch.randn(n, d.d, generator=g, dtype=DTYPE))
        params.append(head_class.draw_truth(cfg, world.m, seed))
    x = {s: torch.stack(v) for s, v in xs.items()}
    truth_params = {key: torch.stack([p[key] for p in params]) for key in params[0]}
    truth = {s: head_class.truth_probs(cfg, world.m, truth_params, world.h_star(xv)) for s, xv in x.items()}
    return TaskBatch(list(seeds), x, truth, truth_params)
