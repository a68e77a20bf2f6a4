"""The generative setting: shapes, determinism under a seed, realizability at delta = 0, label noise."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic.generators import controlled_world, make_tasks, pretrained_world
from synthetic.heads import HEAD_CLASSES, strong_features
from synthetic.seeding import generator
from synthetic.weak import add_noise, fit_weak


def test_shapes_and_simplex(tiny) -> None:
    world = controlled_world(tiny, 0.0)
    d = tiny.data
    for head in ("stochastic_matrix", "mixture", "softmax_linear"):
        tasks = make_tasks(tiny, world, HEAD_CLASSES[head], [11, 12, 13])
        assert tasks.x["transfer"].shape == (3, d.n_transfer, d.d)
        for split, n in (("weak_train", d.n_weak_train), ("transfer", d.n_transfer), ("val", d.n_val), ("test", d.n_test)):
            F = tasks.truth[split]
            assert F.shape == (3, n, d.k)
            assert torch.all(F >= 0) and torch.allclose(F.sum(-1), torch.ones(3, n, dtype=F.dtype))
        feats = strong_features(tiny, world, HEAD_CLASSES[head], tasks, "test")
        logp = HEAD_CLASSES[head].head(tiny, 1).log_probs(HEAD_CLASSES[head].head(tiny, 1).init(3, feats, generator(0)), feats)
        assert logp.shape == (3, d.n_test, d.k)
    weak = fit_weak(tiny, world, make_tasks(tiny, world, HEAD_CLASSES["softmax_linear"], [11, 12, 13]))
    assert weak["test"].shape == (3, d.n_test, d.k)


def test_deterministic(tiny) -> None:
    a = make_tasks(tiny, controlled_world(tiny, 0.3), HEAD_CLASSES["mixture"], [5, 6])
    b = make_tasks(tiny, controlled_world(tiny, 0.3), HEAD_CLASSES["mixture"], [5, 6])
    assert torch.equal(a.truth["test"], b.truth["test"])
    assert torch.equal(controlled_world(tiny, 0.3).h_w(a.x["val"]), controlled_world(tiny, 0.3).h_w(b.x["val"]))
    c = make_tasks(tiny, controlled_world(tiny, 0.3), HEAD_CLASSES["mixture"], [5, 7])
    assert torch.equal(a.truth["test"][0], c.truth["test"][0]) and not torch.equal(a.truth["test"][1], c.truth["test"][1])


def test_truth_in_class_iff_delta_zero(tiny) -> None:
    for delta, realizable in ((0.0, True), (0.5, False)):
        world = controlled_world(tiny, delta)
        for head in HEAD_CLASSES:  # every class of the registry contains its own truth at delta = 0
            hc = HEAD_CLASSES[head]
            tasks = make_tasks(tiny, world, hc, [1, 2])
            member = hc.member(tiny, world.m, tasks.truth_params, strong_features(tiny, world, hc, tasks, "transfer"))
            residual = (member - tasks.truth["transfer"]).abs().max().item()
            assert (residual < 1e-12) == realizable, (head, delta, residual)


def test_pretrained_world_runs(tiny) -> None:
    from dataclasses import replace

    cfg = replace(tiny, representation=replace(tiny.representation, kind="pretrained", pretrain_tasks=(2,), pretrain_steps=20,
                                                 pretrain_samples=100))
    world = pretrained_world(cfg, 2)
    x = torch.randn(5, cfg.data.d, dtype=torch.float64)
    assert world.h_s(x).shape == (5, world.m_s) and world.h_w(x).shape == (5, world.m_w)


def test_swap_top_noise() -> None:
    g = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(3, 4000, 4, generator=g, dtype=torch.float64), -1)
    noisy = add_noise(p, "swap_top", 0.3, [1, 2, 3], "transfer")
    changed = (noisy != p).any(-1).double().mean().item()
    assert abs(changed - 0.3) < 0.03
    assert torch.allclose(noisy.sum(-1), p.sum(-1))
    assert torch.equal(noisy.sort(-1).values, p.sort(-1).values)  # a swap of two entries
    more = add_noise(p, "swap_top", 0.5, [1, 2, 3], "transfer")
    assert torch.all((noisy != p).any(-1) <= (more != p).any(-1))  # coupled across rates
    q = torch.softmax(torch.randn(1, 500, 2, generator=g, dtype=torch.float64), -1)
    flipped = add_noise(q, "swap_top", 0.5, [0], "t")
    mask = (flipped != q).any(-1)
    assert mask.any() and torch.allclose(flipped[mask], 1.0 - q[mask])  # binary: p -> 1 - p


def test_shrink_all_noise() -> None:
    q = torch.tensor([[[0.2, 0.8], [0.9, 0.1]]], dtype=torch.float64)
    out = add_noise(q, "shrink_all", 0.5, [0], "t")
    assert torch.allclose(out[..., 1], 0.5 + 0.5 * (q[..., 1] - 0.5))
    assert torch.allclose(add_noise(q, "shrink_all", 0.0, [0], "t"), torch.full_like(q, 0.5))


@given(rate=st.floats(0.0, 0.5), k=st.integers(2, 6), seed=st.integers(0, 2**31))
@settings(max_examples=60, deadline=None)
def test_swap_top_honours_its_rate_and_seed(rate: float, k: int, seed: int) -> None:
    n = 4000
    p = torch.softmax(torch.randn(1, n, k, generator=torch.Generator().manual_seed(seed), dtype=torch.float64), -1)
    noisy = add_noise(p, "swap_top", rate, [seed], "transfer")
    assert torch.equal(noisy, add_noise(p, "swap_top", rate, [seed], "transfer"))  # same seed, same labels
    changed = (noisy != p).any(-1).double().mean().item()
    assert abs(changed - rate) <= 5 * (rate * (1 - rate) / n) ** 0.5 + 1e-12  # Binomial(n, rate) / n, 5 sd
    assert torch.equal(noisy.sort(-1).values, p.sort(-1).values)  # a swap of two entries, nothing else


@given(alpha=st.floats(0.0, 1.0), k=st.integers(2, 6))
@settings(max_examples=60, deadline=None)
def test_shrink_all_is_the_affine_map(alpha: float, k: int) -> None:
    p = torch.softmax(torch.randn(2, 50, k, generator=torch.Generator().manual_seed(k), dtype=torch.float64), -1)
    torch.testing.assert_close(add_noise(p, "shrink_all", alpha, [0, 1], "t"), 1 / k + alpha * (p - 1 / k), rtol=1e-12, atol=1e-12)


def test_registry_classes_are_consistent(tiny) -> None:
    world = controlled_world(tiny, 0.0)
    for name, hc in HEAD_CLASSES.items():
        assert hc.name == name
        tasks = make_tasks(tiny, world, hc, [1, 2])
        feats = strong_features(tiny, world, hc, tasks, "transfer")
        assert (hc.model_class(feats, tiny.data.k) is not None) == hc.exact, name
        assert hc.probability_convex == (hc.model_kind == "probability-convex"), name
