"""Exact (certified) and mini-batch fits agree on small problems; the batched SGD equals per-task SGD."""

from __future__ import annotations

import pytest
import torch

from synthetic.exact import fit_exact
from synthetic.generators import controlled_world, make_tasks
from synthetic.heads import make_head, strong_features
from synthetic.seeding import generator
from synthetic.train import fit_sgd, per_example_loss, weak_categorical
from synthetic.weak import fit_weak


@pytest.mark.parametrize("head_class", ["stochastic_matrix", "mixture", "softmax_linear"])
@pytest.mark.parametrize("loss", ["forward_kl", "reverse_kl"])
def test_exact_and_sgd_agree(tiny, head_class: str, loss: str) -> None:
    world = controlled_world(tiny, 0.0)
    tasks = make_tasks(tiny, world, head_class, [21, 22])
    labels = fit_weak(tiny, world, tasks)["transfer"]
    feats = {s: strong_features(tiny, world, head_class, tasks, s) for s in ("transfer", "test")}
    exact = fit_exact(head_class, feats, labels, loss, tiny.data.k, 1e-10)
    head = make_head(tiny, head_class)
    g = generator(0, "test")
    fit = fit_sgd(head, head.init(2, feats["transfer"], g), feats["transfer"], labels, loss,
                  lr=0.05, batch_size=10_000, max_epochs=1500, g=g)
    # The exact optimum is never beaten (beyond rounding), and full-batch Adam gets close to it.
    assert torch.all(fit.objective >= torch.as_tensor(exact.objective) - 1e-9)
    assert torch.all(fit.objective - torch.as_tensor(exact.objective) < 2e-3), (fit.objective, exact.objective)
    with torch.no_grad():
        pred = head.log_probs(fit.params, feats["test"]).exp()
    assert (pred - exact.pred["test"]).abs().max() < 0.1


def test_batched_equals_per_task(tiny) -> None:
    """Summing per-task mean losses makes one batched Adam run equal to B separate runs."""
    world = controlled_world(tiny, 0.0)
    tasks = make_tasks(tiny, world, "stochastic_matrix", [1, 2, 3])
    labels = fit_weak(tiny, world, tasks)["transfer"]
    feats = strong_features(tiny, world, "stochastic_matrix", tasks, "transfer")
    head = make_head(tiny, "stochastic_matrix")
    init = head.init(3, feats, generator(0))
    both = fit_sgd(head, init, feats, labels, "reverse_kl", lr=0.05, batch_size=16, max_epochs=3, g=generator(5))
    for b in range(3):
        one = fit_sgd(head, {k: v[b:b + 1] for k, v in init.items()}, feats[b:b + 1], labels[b:b + 1], "reverse_kl",
                      lr=0.05, batch_size=16, max_epochs=3, g=generator(5))
        assert torch.allclose(one.params["logits"][0], both.params["logits"][b], atol=1e-10)


def test_loss_comes_from_bounds() -> None:
    from bounds import reverse_kl

    p = torch.softmax(torch.randn(2, 5, 3, dtype=torch.float64), -1)
    q = torch.softmax(torch.randn(2, 5, 3, dtype=torch.float64), -1)
    W = weak_categorical(q)
    assert torch.allclose(per_example_loss("reverse_kl", p.log(), W), reverse_kl(p, q))
    sym = per_example_loss("symmetric", p.log(), W)
    assert torch.allclose(sym, 0.5 * (per_example_loss("forward_kl", p.log(), W) + per_example_loss("reverse_kl", p.log(), W)))
