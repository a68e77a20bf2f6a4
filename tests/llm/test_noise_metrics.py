import numpy as np
import pytest
import torch

from bounds.metrics import pgr
from llm_experiments import metrics
from llm_experiments.config import normalize_noise
from llm_experiments.noise import corrupt


def test_flip_pairs_negates_exactly_rate_fraction() -> None:
    z = torch.linspace(0.5, 5, 200, dtype=torch.float64)
    out = corrupt(z, "pairs", normalize_noise({"kind": "flip", "rate": 0.3}), seed=1)
    assert int((out < 0).sum()) == 60
    torch.testing.assert_close(out.abs(), z)
    assert torch.equal(out, corrupt(z, "pairs", normalize_noise({"kind": "flip", "rate": 0.3}), seed=1))


def test_flip_classify_moves_argmax() -> None:
    z = torch.randn(100, 4, dtype=torch.float64)
    out = corrupt(z, "classify", normalize_noise({"kind": "flip", "rate": 0.5}), seed=0)
    changed = out.argmax(-1) != z.argmax(-1)
    assert int(changed.sum()) == 50
    torch.testing.assert_close(out.sort(-1).values, z.sort(-1).values)


def test_shrink_is_affine_towards_uniform() -> None:
    z = torch.randn(100, dtype=torch.float64) * 3
    out = corrupt(z, "pairs", normalize_noise({"kind": "shrink", "rate": 0.5, "alpha": 0.4}), seed=0)
    p, p2 = torch.sigmoid(z), torch.sigmoid(out)
    moved = ~torch.isclose(p, p2)
    torch.testing.assert_close(p2[moved], 0.5 + 0.4 * (p[moved] - 0.5))
    assert int(moved.sum()) == 50


def test_bad_noise_rejected() -> None:
    with pytest.raises(ValueError, match="rate"):
        normalize_noise({"kind": "flip", "rate": 0.7})
    with pytest.raises(ValueError, match="kind"):
        normalize_noise({"kind": "gaussian"})


def test_metrics_agree_with_definitions() -> None:
    rng = np.random.default_rng(0)
    z = torch.as_tensor(rng.normal(size=500))
    zw = torch.as_tensor(rng.normal(size=500))
    y = torch.ones(500, dtype=torch.long)
    assert metrics.accuracy(z, y, "pairs") == pytest.approx(float((z > 0).double().mean()))
    # Err with one-hot F* at class 1 is -log sigma(z)
    assert metrics.err(z, y, "pairs", 2) == pytest.approx(float(-torch.nn.functional.logsigmoid(z).mean()))
    m = metrics.misfits(z, zw, "pairs")
    s, w = torch.sigmoid(z), torch.sigmoid(zw)
    fwd = (w * torch.log(w / s) + (1 - w) * torch.log((1 - w) / (1 - s))).mean()
    assert m["misfit_forward"] == pytest.approx(float(fwd))
    assert pgr(0.8, 0.6, 1.0) == pytest.approx(0.5)
    assert pgr(0.8, 0.6, 0.6) is None
