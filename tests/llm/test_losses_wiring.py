"""The training objective is bounds' losses, called the same way: values and gradients match."""

import pytest
import torch

import bounds
from llm_experiments.losses import MIRROR, distribution, objective


@pytest.mark.parametrize("loss", sorted(bounds.LOSSES))
@pytest.mark.parametrize("task", ["pairs", "classify"])
def test_objective_equals_bounds_value_and_gradient(loss: str, task: str) -> None:
    g = torch.Generator().manual_seed(hash((loss, task)) % 2**31)
    shape = (64,) if task == "pairs" else (64, 4)
    z = (3 * torch.randn(shape, generator=g, dtype=torch.float64)).requires_grad_(True)
    zw = 4 * torch.randn(shape, generator=g, dtype=torch.float64)
    ours = objective(distribution(z, task), distribution(zw, task), loss)
    (g_ours,) = torch.autograd.grad(ours, z)
    make = bounds.Categorical.from_binary_logit if task == "pairs" else bounds.Categorical.from_logits
    ref = bounds.get_loss(loss)(make(z), make(zw), reduction="mean")
    (g_ref,) = torch.autograd.grad(ref, z)
    torch.testing.assert_close(ours, ref, rtol=0, atol=0)
    torch.testing.assert_close(g_ours, g_ref, rtol=0, atol=0)


def test_binary_gradients_match_closed_forms() -> None:
    """DESIGN.md: d/dz forward KL = sigma(z) - q; reverse KL = s(1-s)(z - z_w); reverse CE = -s(1-s) z_w."""
    z = torch.linspace(-3, 3, 13, dtype=torch.float64).requires_grad_(True)
    zw = torch.linspace(2, -2, 13, dtype=torch.float64)
    s, q = torch.sigmoid(z.detach()), torch.sigmoid(zw)
    expect = {"forward_kl": s - q, "ce": s - q, "reverse_kl": s * (1 - s) * (z.detach() - zw), "rce": -s * (1 - s) * zw}
    for loss, want in expect.items():
        per = bounds.get_loss(loss)(distribution(z, "pairs"), distribution(zw, "pairs"))
        (grad,) = torch.autograd.grad(per.sum(), z)
        torch.testing.assert_close(grad, want, rtol=1e-10, atol=1e-12)


def test_reverse_losses_finite_for_saturated_weak_labels() -> None:
    z = torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    zw = torch.tensor([80.0, -80.0, 800.0], dtype=torch.float64)  # sigma(z_w) rounds to exactly 0 or 1
    for loss in ("reverse_kl", "rce"):
        v = objective(distribution(z, "pairs"), distribution(zw, "pairs"), loss)
        (grad,) = torch.autograd.grad(v, z)
        assert torch.isfinite(v) and torch.isfinite(grad).all()


def test_mirror_and_aux_mixes() -> None:
    z = torch.randn(32, 3, dtype=torch.float64)
    zw = torch.randn(32, 3, dtype=torch.float64)
    S, W = distribution(z, "classify"), distribution(zw, "classify")
    base = bounds.get_loss("reverse_kl")(S, W, reduction="mean")
    mirror = bounds.get_loss(MIRROR["reverse_kl"])(S, W, reduction="mean")
    torch.testing.assert_close(objective(S, W, "reverse_kl", mirror_weight=0.25), 0.75 * base + 0.25 * mirror)
    hard = torch.nn.functional.one_hot(z.argmax(-1), 3).double()
    conf = bounds.cross_entropy_loss(S, bounds.Categorical.from_probs(hard), reduction="mean")
    torch.testing.assert_close(objective(S, W, "reverse_kl", aux_conf=0.5), 0.5 * base + 0.5 * conf)


def test_training_stops_on_a_non_finite_loss() -> None:
    """The training step skips the per-step logit scan; a NaN logit must still stop it with a clear message."""
    import numpy as np
    import pytest

    from llm_experiments.config import TrainConfig
    from llm_experiments.losses import distribution
    from llm_experiments.trainer import fit

    head = torch.nn.Linear(2, 1)
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [float("nan"), 0.0]])
    target = distribution(torch.zeros(4), "pairs")
    cfg = TrainConfig(epochs=1, lr=1e-3, batch_size=4, warmup_frac=0.0, schedule="constant")
    with pytest.raises(ValueError, match="loss 'reverse_kl' became nan at step 0"):
        fit(head, lambda m, b: m(x[b]).squeeze(-1), target, np.ones(4), cfg, seed=0, task="pairs", loss="reverse_kl",
            progress=False)


def test_single_cpu_process_trains_without_an_accelerator(monkeypatch) -> None:
    """One CPU process uses plain PyTorch: no accelerate.Accelerator is created (none to reset by hand)."""
    import numpy as np

    from llm_experiments import parallel, trainer
    from llm_experiments.config import TrainConfig
    from llm_experiments.losses import distribution

    if torch.cuda.is_available():
        return
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(parallel, "_ACC", None)
    head = torch.nn.Linear(2, 1)
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.0]])
    cfg = TrainConfig(epochs=3, lr=1e-1, batch_size=2, warmup_frac=0.0, schedule="constant")
    before = head.weight.detach().clone()
    stats = trainer.fit(head, lambda m, b: m(x[b]).squeeze(-1), distribution(torch.full((4,), 2.0), "pairs"),
                        np.ones(4), cfg, seed=0, task="pairs", loss="forward_kl", progress=False)
    assert parallel._ACC is None and stats["steps"] == 6 and not torch.equal(before, head.weight)
