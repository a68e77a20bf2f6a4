"""Speed of the batched simulator against a per-task training loop (issue 3, "Speed").

Workload: 1,000 transfer tasks, d = 32 strong features (plus bias), k = 5 classes, n = 2,000
weak-labelled examples per task; a softmax-linear head trained with forward KL on soft weak labels.

* baseline: the way reference notebooks do it: for each task, an ``nn.Linear`` head, Adam,
  mini-batches of 64, a fixed number of epochs (measured on ``--baseline-tasks`` tasks and scaled
  to all tasks, since the loop's cost is linear in the number of tasks);
* batched: :func:`synthetic.train.fit_sgd` training all tasks at once with the same optimiser,
  mini-batch size, number of steps (31 full mini-batches per epoch) and epochs; the check is that
  every timed task ends within ``--tol`` of the baseline's final objective or below it (the same
  final tolerance).

Both loops use the same loss (``bounds.forward_kl``), validate the weak labels once (not per
step), train in the same arithmetic (``--dtype``, float32 by default, as such loops do) and run on
one torch thread (the CI machine has two cores shared with other work; two OpenMP threads on
those cores slow both loops down by an order of magnitude). Final objectives are measured in float64 for both. Prints the wall
times, the speed ratio measured in this run, and the share of tasks where the batched fit
reaches the baseline's final objective within ``--tol``.
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from bounds import Categorical, forward_kl
from synthetic.heads import SoftmaxMixtureHead
from synthetic.seeding import generator
from synthetic.train import fit_sgd


def make_problem(tasks: int, n: int, d: int, k: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Features [x, 1] (tasks, n, d + 1) and soft weak labels: a noisy softmax-linear teacher per task."""
    g = generator(seed, "bench")
    x = torch.randn(tasks, n, d, generator=g, dtype=torch.float64)
    feats = torch.cat([x, torch.ones(tasks, n, 1, dtype=torch.float64)], -1)
    W = torch.randn(tasks, k, d + 1, generator=g, dtype=torch.float64) * (2.0 / math.sqrt(d))
    noise = 0.5 * torch.randn(tasks, n, k, generator=g, dtype=torch.float64)
    return feats, torch.softmax(torch.einsum("bnp,bkp->bnk", feats, W) + noise, -1)


def objective(feats: torch.Tensor, labels: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """Each task's final objective E KL(F_w || softmax(W [x, 1])), measured in float64 for both methods."""
    W = W.to(torch.float64)
    logp = torch.log_softmax(torch.bmm(feats, W.transpose(1, 2)), -1)
    return forward_kl(Categorical(logp), Categorical.from_probs(labels)).mean(-1)


def baseline(feats: torch.Tensor, labels: torch.Tensor, epochs: int, batch: int, lr: float, dtype: torch.dtype) -> torch.Tensor:
    """Per-task loop: nn.Linear + Adam + shuffled mini-batches; returns each task's trained weights (B, k, p).

    Like the batched path, the weak labels are validated once per task (not at every step) and
    the loop runs in ``dtype``; the loss is the same ``bounds.forward_kl``.
    """
    out = []
    for b in range(feats.shape[0]):
        torch.manual_seed(b)
        lin = torch.nn.Linear(feats.shape[-1], labels.shape[-1], bias=False, dtype=dtype)
        opt = torch.optim.Adam(lin.parameters(), lr=lr)
        X = feats[b].to(dtype)
        logq = Categorical.from_probs(labels[b]).log_probs.to(dtype)
        for _ in range(epochs):
            perm = torch.randperm(X.shape[0])
            for i in range(0, X.shape[0] - batch + 1, batch):
                idx = perm[i:i + batch]
                loss = forward_kl(Categorical(torch.log_softmax(lin(X[idx]), -1)), Categorical(logq[idx])).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
        out.append(lin.weight.detach())
    return torch.stack(out)


def batched(feats: torch.Tensor, labels: torch.Tensor, epochs: int, batch: int, lr: float, dtype: torch.dtype) -> torch.Tensor:
    """fit_sgd on all tasks at once (same optimiser, mini-batch size, epochs and dtype); each task's final objective."""
    head = SoftmaxMixtureHead(labels.shape[-1], 1)
    g = generator(0, "bench-init")
    fit = fit_sgd(head, head.init(feats.shape[0], feats, g), feats, labels, "forward_kl", lr=lr, batch_size=batch,
                  max_epochs=epochs, g=g, dtype=dtype)
    return fit.objective  # float64, on the float64 features and labels


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=1000)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--d", type=int, default=32)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=10, help="baseline epochs")
    ap.add_argument("--baseline-tasks", type=int, default=10, help="tasks the baseline is timed on")
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                    help="training arithmetic of both loops (objectives are measured in float64)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    dtype = getattr(torch, args.dtype)
    feats, labels = make_problem(args.tasks, args.n, args.d, args.k)

    nb = min(args.baseline_tasks, args.tasks)
    t0 = time.perf_counter()
    base_W = baseline(feats[:nb], labels[:nb], args.epochs, 64, 1e-2, dtype)
    t_base = (time.perf_counter() - t0) * args.tasks / nb
    base_obj = objective(feats[:nb], labels[:nb], base_W)

    t0 = time.perf_counter()
    obj = batched(feats, labels, args.epochs, 64, 1e-2, dtype)
    t_batched = time.perf_counter() - t0
    reached = float((obj[:nb] <= base_obj + args.tol).double().mean())
    print(f"workload: {args.tasks} tasks, d={args.d}, k={args.k}, n={args.n}, forward KL, softmax-linear head, "
          f"1 thread, {args.dtype} training")
    print(f"baseline (per-task nn.Linear + Adam, batch 64, {args.epochs} epochs): {t_base:.1f} s "
          f"(timed on {nb} tasks, scaled to {args.tasks})")
    print(f"batched simulator (fit_sgd, all tasks at once, batch 64, {args.epochs} epochs): {t_batched:.1f} s")
    print(f"speed ratio: {t_base / t_batched:.1f}x (target >= 50x); 1000-task time target <= 30 s: "
          f"{'met' if t_batched <= 30 else 'missed'}")
    print(f"batched objective <= baseline objective + {args.tol:g} on {reached:.0%} of the {nb} timed tasks "
          f"(mean objective batched {obj[:nb].mean():.4f}, baseline {base_obj.mean():.4f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
