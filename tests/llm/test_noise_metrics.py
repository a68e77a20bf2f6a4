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
    out = corrupt(z, "pairs", normalize_noise({"kind": "shrink", "rate": 0.5, "factor": 0.4}), seed=0)
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
    assert pgr(0.5, 0.64, 0.44) is None  # ceiling below weak: nothing to recover, not a ratio


# -- property tests: noise and config validation -----------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from llm_experiments.config import config_from_dict, load_config, to_toml  # noqa: E402
from revkl_core.runfolder import UserError  # noqa: E402

_rates = st.floats(0.0, 0.5, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 300), k=st.integers(2, 6), rate=_rates, seed=st.integers(0, 2**31 - 1),
       kind=st.sampled_from(["flip", "shrink"]), pairs=st.booleans())
def test_noise_rate_is_honoured_exactly_and_seeded(n: int, k: int, rate: float, seed: int, kind: str, pairs: bool) -> None:
    """Exactly round(rate * n) labels change (flip moves each argmax; shrink moves each off its value),
    the same seed gives the same labels, and the input is never modified."""
    gen = torch.Generator().manual_seed(seed % 1000)
    z = (torch.rand(n, generator=gen, dtype=torch.float64) * 4 + 0.5) if pairs else \
        torch.randn(n, k, generator=gen, dtype=torch.float64) * 3
    keep = z.clone()
    noise = normalize_noise({"kind": kind, "rate": rate, **({"factor": 0.3} if kind == "shrink" else {})})
    task = "pairs" if pairs else "classify"
    out = corrupt(z, task, noise, seed)
    assert torch.equal(z, keep) and torch.equal(out, corrupt(z, task, noise, seed))
    if pairs:
        changed = ~torch.isclose(out, z, rtol=0, atol=1e-12)
    elif kind == "flip":
        changed = out.argmax(-1) != z.argmax(-1)
        # a flip permutes each chosen row: its values stay, its argmax moves (ties are measure-zero here)
        torch.testing.assert_close(out.sort(-1).values, z.sort(-1).values)
    else:
        changed = ~torch.isclose(torch.softmax(out, -1), torch.softmax(z, -1), rtol=0, atol=1e-12).all(-1)
    assert int(changed.sum()) == int(round(rate * n))


@settings(max_examples=25, deadline=None)
@given(seed_a=st.integers(0, 10_000), seed_b=st.integers(0, 10_000))
def test_noise_seeds_choose_different_examples(seed_a: int, seed_b: int) -> None:
    z = torch.linspace(1, 3, 200, dtype=torch.float64)
    nz = normalize_noise({"kind": "flip", "rate": 0.25})
    same = torch.equal(corrupt(z, "pairs", nz, seed_a), corrupt(z, "pairs", nz, seed_b))
    assert same == (seed_a == seed_b)


def _raw(**w2s) -> dict:
    return {"name": "p", "data": {"dataset": "synthetic-pairs"}, "models": {"pairs": [["tiny-gpt2", "tiny-gpt2"]]},
            "w2s": {"losses": ["ce"], **w2s}}


@settings(max_examples=60, deadline=None)
@given(rate=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.text(max_size=3)),
       kind=st.sampled_from(["flip", "shrink"]))
def test_config_accepts_exactly_the_rates_in_range(rate, kind: str) -> None:
    valid = isinstance(rate, float) and 0 <= rate <= 0.5
    factor = {"factor": 0.5} if kind == "shrink" else {}
    if valid:
        cfg = config_from_dict(_raw(noise=[{"kind": kind, "rate": rate, **factor}]))
        assert normalize_noise(cfg.w2s.noise[0])["rate"] == rate
    else:
        with pytest.raises(UserError, match=r"^config: \[w2s\]\.noise\.rate: "):
            config_from_dict(_raw(noise=[{"kind": kind, "rate": rate, **factor}]))


@settings(max_examples=40, deadline=None)
@given(field=st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=12),
       section=st.sampled_from(["data", "models", "train", "w2s", "lora", "runtime"]))
def test_config_refuses_unknown_fields_by_name(field: str, section: str) -> None:
    raw = _raw()
    raw.setdefault(section, {})
    known = {"data": raw["data"], "models": raw["models"]}
    from llm_experiments import config as C

    cls = {"data": C.DataConfig, "models": C.ModelsConfig, "train": C.TrainConfig, "w2s": C.W2SConfig,
           "lora": C.LoraConfig, "runtime": C.RuntimeConfig}[section]
    if field in {f.name for f in C.dataclasses.fields(cls)} or f"{section}.{field}" in C.RENAMED:
        return
    raw[section] = {**known.get(section, raw[section]), field: 1}
    with pytest.raises(UserError, match=rf"^config: \[{section}\]\.{field}: unknown field; known: "):
        config_from_dict(raw)


@settings(max_examples=30, deadline=None)
@given(seeds=st.lists(st.integers(0, 1000), min_size=1, max_size=5, unique=True),
       losses=st.lists(st.sampled_from(["forward_kl", "reverse_kl", "ce", "rce"]), min_size=1, max_size=4, unique=True),
       rates=st.lists(_rates, min_size=1, max_size=3, unique=True), scope=st.sampled_from(["pipeline", "head"]),
       lr=st.floats(1e-6, 1.0), bf16=st.booleans())
def test_config_round_trips_through_toml(tmp_path_factory, seeds, losses, rates, scope, lr, bf16) -> None:
    raw = _raw(seeds=seeds, losses=losses, seed_scope=scope, noise=[{"kind": "flip", "rate": r} for r in rates])
    raw["train"] = {"lr": lr}
    raw["models"]["feature_bf16"] = bf16
    cfg = config_from_dict(raw)
    path = tmp_path_factory.mktemp("cfg") / "c.toml"
    path.write_text(to_toml(cfg))
    assert load_config(path) == cfg
