"""Config parsing: any invalid value of a field gives one line naming that field; valid configs load; TOML round-trips."""

from __future__ import annotations

import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revkl_core.runfolder import UserError
from synthetic.config import config_from_dict, dump_toml, load_config
from tests.synthetic.conftest import tiny_dict

ROOT = Path(__file__).resolve().parents[2]


def _with(path: str, value: Any) -> dict:
    """tiny_dict with the field at ``path`` ("data.k", "weak.noise", "tasks") set to ``value``."""
    raw = tiny_dict()
    *sections, key = path.split(".")
    node = raw
    for s in sections:
        node = node.setdefault(s, {})
    node[key] = value
    return raw


def _error(raw: dict) -> str:
    with pytest.raises(UserError) as err:
        config_from_dict(raw)
    text = str(err.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize(
    "over, message",
    [
        ({"losses": ["forward_kl", "hinge"]}, "losses: unknown value 'hinge'"),
        ({"weak": {"noise": [{"type": "swap_top", "rate": -0.1}]}}, "weak.noise.rate (type 'swap_top') must be a finite number >= 0 and <= 0.5, got -0.1"),
        ({"weak": {"noise": [{"type": "shrink_all", "rate": 1.5}]}}, "weak.noise.rate (type 'shrink_all')"),
        ({"weak": {"noise": [{"type": "gaussian", "rate": 0.1}]}}, "weak.noise.type: unknown value 'gaussian'"),
        ({"data": {"k": 1}}, "data.k must be an integer >= 2, got 1"),
        ({"data": {"head_scale": math.inf}}, "data.head_scale must be a finite number > 0, got inf"),
        ({"representation": {"weak_dim": 5}}, "representation.weak_dim must be an integer in [1, 4], got 5"),
        ({"head_classes": ["transformer"]}, "head_classes: unknown value 'transformer'"),
        ({"methods": ["adam"]}, "methods: unknown value 'adam'"),
        ({"K": [0]}, "K must be an integer >= 1"),
        ({"K": 2}, "K must be a list, got 2"),
        ({"tasks": 0}, "tasks must be an integer >= 1"),
        ({"representation": {"deltas": [-1.0]}}, "representation.deltas must be a finite number >= 0"),
        ({"sgd": {"lr": 0.0}}, "sgd.lr must be a finite number > 0"),
        ({"sgd": {"dtype": "float16"}}, "sgd.dtype: unknown value 'float16'; known: float32, float64"),
        ({"colour": "red"}, "unknown field(s) ['colour']"),
        ({"data": 3}, "[data]: expected a table of fields"),
    ],
)
def test_bad_config_rejected(over: dict, message: str) -> None:
    raw = tiny_dict()
    for key, value in over.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) and isinstance(raw.get(key), dict) else value
    assert message in _error(raw)


@pytest.mark.parametrize("path, old, new", [("weak.noise", [{"type": "flip", "rate": 0.2}], "swap_top"),
                                            ("weak.noise", [{"type": "shrink", "rate": 0.5}], "shrink_all"),
                                            ("losses", ["forward_kl", "symmetric"], "symmetric_kl")])
def test_old_names_say_the_new_name(path: str, old: Any, new: str) -> None:
    assert f"was renamed '{new}'" in _error(_with(path, old))


# -- property tests: any invalid value of a field -> one line naming that field ---------------------

_not_int = st.one_of(st.text(max_size=3), st.booleans(), st.floats(allow_nan=True), st.lists(st.integers(), max_size=2))
_not_real = st.one_of(st.text(max_size=3), st.booleans(), st.just(math.inf), st.just(-math.inf), st.just(math.nan),
                      st.lists(st.floats(), max_size=2))


def _int_fields() -> list[tuple[str, int]]:
    top = [("tasks", 1), ("chunk", 1), ("seed", 0), ("threads", 1)]
    data = [(f"data.{f}", 1) for f in ("d", "m", "hidden", "n_weak_train", "n_transfer", "n_val", "n_test", "mixture_heads")]
    rest = [("data.k", 2), ("representation.weak_dim", 1), ("representation.pretrain_samples", 1),
            ("representation.pretrain_steps", 1), ("weak.steps", 1), ("sgd.batch_size", 1), ("sgd.max_epochs", 1), ("sgd.patience", 1)]
    return top + data + rest


def _positive_reals() -> list[str]:
    return ["data.feature_temperature", "data.head_scale", "data.dirichlet", "exact_tol", "weak.lr", "sgd.lr"]


@st.composite
def invalid_field(draw: st.DrawFn) -> tuple[str, Any]:
    """A (field, value) pair whose value that field must refuse."""
    kind = draw(st.sampled_from(["int", "real", "nonneg", "choice", "list", "noise"]))
    if kind == "int":
        field, lo = draw(st.sampled_from(_int_fields()))
        return field, draw(st.one_of(_not_int, st.integers(max_value=lo - 1)))
    if kind == "real":
        return draw(st.sampled_from(_positive_reals())), draw(st.one_of(_not_real, st.floats(max_value=0.0)))
    if kind == "nonneg":
        field = draw(st.sampled_from(["representation.weak_noise", "sgd.tol"]))
        return field, draw(st.one_of(_not_real, st.floats(max_value=-1e-9, allow_infinity=False)))
    if kind == "choice":
        field = draw(st.sampled_from(["representation.kind", "weak.labels", "sgd.dtype", "name"]))
        return field, draw(st.one_of(st.integers(), st.sampled_from(["", "x", "Hard"])))
    if kind == "list":
        field = draw(st.sampled_from(["head_classes", "K", "losses", "methods", "representation.deltas"]))
        bad = {"head_classes": st.text(max_size=4), "K": st.integers(max_value=0), "losses": st.sampled_from(["kl", "CE"]),
               "methods": st.text(max_size=3), "representation.deltas": st.floats(max_value=-1e-9)}[field]
        return field, draw(st.one_of(st.just([]), st.lists(bad, min_size=1, max_size=3), st.integers()))
    rate = draw(st.one_of(st.floats(0.5000001, 10), st.floats(-10, -1e-9), st.just(math.nan)))
    return "weak.noise", [{"type": "swap_top", "rate": rate}]


@given(invalid_field())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_invalid_value_names_its_field(case: tuple[str, Any]) -> None:
    field, value = case
    if field == "name" and isinstance(value, str) and value:
        return  # any non-empty string is a valid name
    assert field in _error(_with(field, value))


@st.composite
def valid_config(draw: st.DrawFn) -> dict:
    raw = tiny_dict()
    m = draw(st.integers(1, 6))
    raw["data"] = {**raw["data"], "m": m, "k": draw(st.integers(2, 5)), "head_scale": draw(st.floats(1e-3, 1e3)),
                   "feature_temperature": draw(st.floats(1e-3, 10))}
    raw["representation"] = {**raw["representation"], "weak_dim": draw(st.integers(1, m)),
                             "deltas": draw(st.lists(st.floats(0, 5), min_size=1, max_size=3))}
    raw["head_classes"] = draw(st.lists(st.sampled_from(["stochastic_matrix", "mixture", "softmax_linear", "softmax_mixture"]),
                                        min_size=1, max_size=4, unique=True))
    raw["losses"] = draw(st.lists(st.sampled_from(["forward_kl", "reverse_kl", "ce", "rce", "symmetric_kl"]), min_size=1, unique=True))
    noise = st.one_of(st.builds(lambda r: {"type": "swap_top", "rate": r}, st.floats(0, 0.5)),
                      st.builds(lambda r: {"type": "shrink_all", "rate": r}, st.floats(0, 1)),
                      st.just({"type": "none", "rate": 0.0}))
    raw["weak"] = {**raw["weak"], "noise": draw(st.lists(noise, min_size=1, max_size=3))}
    raw["threads"] = draw(st.integers(1, 64))
    return raw


@given(valid_config())
@settings(max_examples=100, deadline=None)
def test_valid_configs_load_and_round_trip(raw: dict) -> None:
    cfg = config_from_dict(raw)
    import tomllib

    assert config_from_dict(tomllib.loads(dump_toml(cfg))) == cfg


def test_threads_are_left_out_of_the_hash() -> None:
    cfg = config_from_dict(tiny_dict())
    assert replace(cfg, threads=7).hash() == cfg.hash()
    assert replace(cfg, seed=cfg.seed + 1).hash() != cfg.hash()


def test_toml_round_trip(tmp_path: Path) -> None:
    cfg = config_from_dict(tiny_dict())
    path = tmp_path / "c.toml"
    path.write_text(dump_toml(cfg))
    again = load_config(path)
    assert again == cfg and again.hash() == cfg.hash()


def test_shipped_configs_load() -> None:
    quick = load_config(ROOT / "synthetic/configs/quick.toml")
    paper = load_config(ROOT / "synthetic/configs/paper.toml")
    assert set(quick.losses) >= {"forward_kl", "reverse_kl", "ce", "rce"}
    assert paper.tasks >= 200 and set(paper.head_classes) == {"stochastic_matrix", "mixture", "softmax_linear", "softmax_mixture"}
    assert max(rate for kind, rate in paper.weak.noise if kind == "swap_top") == 0.5


@pytest.mark.parametrize("text, message", [('losses = ["forward_kl", "hinge"]\n', "losses: unknown value 'hinge'"),
                                           ("[data]\nhead_scale = inf\n", "data.head_scale must be a finite number > 0, got inf"),
                                           ("[data]\nm = 3\n[representation]\nweak_dim = 4\n", "representation.weak_dim")])
def test_cli_rejects_bad_config(tmp_path: Path, text: str, message: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "revkl", "synthetic", "run", "--config", str(bad), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()  # nothing written
