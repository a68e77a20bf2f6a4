"""Exact (certified) and mini-batch fits agree on small problems; the batched SGD equals per-task SGD."""

from __future__ import annotations

import pytest
import torch

from synthetic.exact import fit_exact
from synthetic.generators import controlled_world, make_tasks
from synthetic.heads import HEAD_CLASSES, strong_features
from synthetic.seeding import generator
from synthetic.train import fit_sgd, per_example_loss, weak_categorical
from synthetic.weak import fit_weak


@pytest.mark.parametrize("head_class", ["stochastic_matrix", "mixture", "softmax_linear"])
@pytest.mark.parametrize("loss", ["forward_kl", "reverse_kl"])
def test_exact_and_sgd_agree(tiny, head_class: str, loss: str) -> None:
    world = controlled_world(tiny, 0.0)
    tasks = make_tasks(tiny, world, HEAD_CLASSES[head_class], [21, 22])
    labels = fit_weak(tiny, world, tasks)["transfer"]
    feats = {s: strong_features(tiny, world, HEAD_CLASSES[head_class], tasks, s) for s in ("transfer", "test")}
    exact = fit_exact(HEAD_CLASSES[head_class], feats, labels, loss, tiny.data.k, 1e-10)
    head = HEAD_CLASSES[head_class].head(tiny, 1)
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
    tasks = make_tasks(tiny, world, HEAD_CLASSES["stochastic_matrix"], [1, 2, 3])
    labels = fit_weak(tiny, world, tasks)["transfer"]
    feats = strong_features(tiny, world, HEAD_CLASSES["stochastic_matrix"], tasks, "transfer")
    head = HEAD_CLASSES["stochastic_matrix"].head(tiny, 1)
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
    sym = per_example_loss("symmetric_kl", p.log(), W)
    assert torch.allclose(sym, 0.5 * (per_example_loss("forward_kl", p.log(), W) + per_example_loss("reverse_kl", p.log(), W)))


@pytest.mark.parametrize("head_class, K", [("stochastic_matrix", 1), ("mixture", 1), ("softmax_linear", 1), ("softmax_mixture", 3)])
def test_training_layout_gives_the_same_log_probs(tiny, head_class: str, K: int) -> None:
    """log_probs_cm (sample-major features in, class-major log-probs out) is log_probs, transposed."""
    world = controlled_world(tiny, 0.0)
    tasks = make_tasks(tiny, world, HEAD_CLASSES[head_class], [4, 5, 6])
    feats = strong_features(tiny, world, HEAD_CLASSES[head_class], tasks, "transfer")
    head = HEAD_CLASSES[head_class].head(tiny, K)
    params = head.init(3, feats, generator(1))
    params = {k: v + 0.3 * torch.randn(v.shape, generator=generator(2), dtype=v.dtype) for k, v in params.items()}
    cm = head.log_probs_cm(params, feats.movedim(1, 0).contiguous())
    assert cm.shape == (3, tiny.data.k, feats.shape[1])
    assert torch.allclose(cm.transpose(1, 2), head.log_probs(params, feats), atol=1e-12)


@pytest.mark.parametrize("loss", ["forward_kl", "reverse_kl", "rce", "symmetric_kl"])
def test_float32_training_matches_float64(tiny, loss: str) -> None:
    """float32 arithmetic in the loop: same early-stopping epochs, objectives within 1e-6, float64 results."""
    world = controlled_world(tiny, 0.0)
    tasks = make_tasks(tiny, world, HEAD_CLASSES["softmax_mixture"], [7, 8, 9])
    weak = fit_weak(tiny, world, tasks)
    feats = {s: strong_features(tiny, world, HEAD_CLASSES["softmax_mixture"], tasks, s) for s in ("transfer", "val")}
    head = HEAD_CLASSES["softmax_mixture"].head(tiny, 2)
    fits = {}
    for dt in (torch.float64, torch.float32):
        g = generator(0, "dtype")
        fits[dt] = fit_sgd(head, head.init(3, feats["transfer"], g), feats["transfer"], weak["transfer"], loss, lr=0.05,
                           batch_size=16, max_epochs=20, g=g, val_feats=feats["val"], val_target=weak["val"], patience=3,
                           dtype=dt)
    f64, f32 = fits[torch.float64], fits[torch.float32]
    assert all(v.dtype == torch.float64 for v in f32.params.values()) and f32.objective.dtype == torch.float64
    assert torch.equal(f64.epochs, f32.epochs)
    assert torch.allclose(f64.objective, f32.objective, atol=1e-6, rtol=0)
