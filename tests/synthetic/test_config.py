"""Config parsing: any invalid value of a field gives one line naming that field; valid configs load; TOML round-trips."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revkl_core.runfolder import UserError
from synthetic.config import RuntimeConfig, config_from_dict, load_config, to_toml, validate
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
        ({"losses": ["forward_kl", "hinge"]}, "config: losses: unknown value 'hinge'"),
        ({"weak": {"noise": [{"kind": "swap_top", "rate": -0.1}]}}, "[weak].noise.rate: must be in [0, 0.5], got -0.1"),
        ({"weak": {"noise": [{"kind": "shrink_all", "factor": 1.5}]}}, "[weak].noise.factor: must be in [0, 1], got 1.5"),
        ({"weak": {"noise": [{"kind": "gaussian", "rate": 0.1}]}}, "[weak].noise.kind: unknown value 'gaussian'"),
        ({"data": {"k": 1}}, "[data].k: must be >= 2, got 1"),
        ({"data": {"head_scale": math.inf}}, "[data].head_scale: expected a finite number, got inf"),
        ({"representation": {"weak_dim": 5}}, "[representation].weak_dim: must be <= [data].m = 4, got 5"),
        ({"head_classes": ["transformer"]}, "head_classes: unknown value 'transformer'"),
        ({"methods": ["adam"]}, "methods: unknown value 'adam'"),
        ({"K": [0]}, "K: each entry must be >= 1"),
        ({"K": 2}, "K: expected a list, got 2"),
        ({"tasks": 0}, "tasks: must be >= 1"),
        ({"representation": {"deltas": [-1.0]}}, "[representation].deltas: each entry must be >= 0"),
        ({"sgd": {"lr": 0.0}}, "[sgd].lr: must be > 0"),
        ({"sgd": {"dtype": "float16"}}, "[sgd].dtype: unknown value 'float16'; known: float32, float64"),
        ({"colour": "red"}, "colour: unknown field"),
        ({"data": 3}, "[data]: expected a table of fields"),
    ],
)
def test_bad_config_rejected(over: dict, message: str) -> None:
    raw = tiny_dict()
    for key, value in over.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) and isinstance(raw.get(key), dict) else value
    assert message in _error(raw)


@pytest.mark.parametrize("path, old, new", [("weak.noise", [{"kind": "flip", "rate": 0.2}], "'flip' was renamed 'swap_top'"),
                                            ("weak.noise", [{"kind": "shrink", "factor": 0.5}], "'shrink' was renamed 'shrink_all'"),
                                            ("weak.noise", [{"type": "swap_top", "rate": 0.2}], "[weak].noise.type: was renamed 'kind'"),
                                            ("weak.noise", [{"kind": "shrink_all", "rate": 0.5}],
                                             "[weak].noise.rate: for kind 'shrink_all' this number is now named 'factor'"),
                                            ("losses", ["forward_kl", "symmetric"], "'symmetric' was renamed 'symmetric_kl'"),
                                            ("threads", 2, "threads: was renamed [runtime].threads")])
def test_old_names_say_the_new_name(path: str, old: Any, new: str) -> None:
    assert new in _error(_with(path, old))


# -- issue 15: inputs that ran and gave a wrong or misleading result ------------------------------------

@pytest.mark.parametrize("path, value, shown", [
    ("losses", ["forward_kl", "reverse_kl", "forward_kl"], '"forward_kl"'),
    ("weak.noise", [{"kind": "swap_top", "rate": 0.2}, {"kind": "none"}, {"kind": "swap_top", "rate": 0.2}],
     '{kind = "swap_top", rate = 0.2}'),
    ("head_classes", ["mixture", "mixture"], '"mixture"'), ("K", [2, 4, 2], "2"), ("methods", ["sgd", "sgd"], '"sgd"'),
    ("representation.deltas", [0.0, 0.5, 0.0], "0.0"), ("representation.pretrain_tasks", [8, 8], "8")])
def test_duplicate_list_entries_are_refused(path: str, value: list, shown: str) -> None:
    """A repeated entry used to run (and be counted) twice, shrinking every interval: refused, naming it."""
    section, _, name = path.rpartition(".")
    where = f"[{section}].{name}" if section else name
    assert _error(_with(path, value)) == f"config: {where}: {shown} is listed twice; each entry must be distinct"


def test_every_list_field_refuses_duplicates() -> None:
    """No list field escapes the rule: each one, given its first valid entry twice, is refused."""
    cfg = config_from_dict(tiny_dict())
    lists = [(sec, f.name) for sec, obj in [("", cfg), *((s, getattr(cfg, s)) for s in ("data", "representation", "weak",
                                                                                             "sgd", "runtime"))]
             for f in fields(obj) if isinstance(getattr(obj, f.name), tuple)]
    assert len(lists) >= 7
    for sec, name in lists:
        raw = tiny_dict()
        entries = [{"kind": "none"}] if name == "noise" else list(getattr(getattr(cfg, sec) if sec else cfg, name))
        (raw.setdefault(sec, {}) if sec else raw)[name] = [entries[0], entries[0]]
        assert "is listed twice" in _error(raw), (sec, name)


@pytest.mark.parametrize("tol", [1e6, 1.0, 2e-9])
def test_exact_tolerance_above_the_certified_threshold_is_refused(tol: float) -> None:
    """The solvers call a fit converged when its certificate is <= max(exact_tol, 1e-9); above CERTIFIED such a
    fit would count as certified (certificates 0.39-0.86 reported "T4 certified on 8/8" at exact_tol = 1e6)."""
    from bounds.theorems import CERTIFIED

    assert "exact_tol: must be in (0, 1e-09]" in _error(tiny_dict(exact_tol=tol))
    assert config_from_dict(tiny_dict(exact_tol=CERTIFIED)).exact_tol == CERTIFIED


def test_sgd_tolerance_is_bounded() -> None:
    assert "[sgd].tol: must be in [0, 0.1], got 1000000.0" in _error(_with("sgd.tol", 1e6))


def test_empty_config_is_refused(tmp_path: Path) -> None:
    """An empty TOML ran a 320-record default study; now it is an error naming the file."""
    empty = tmp_path / "empty.toml"
    empty.write_text("# nothing yet\n")
    with pytest.raises(UserError, match=r"empty\.toml: the config is empty; it needs at least: name$"):
        load_config(empty)
    raw = tiny_dict()
    del raw["name"]
    assert _error(raw) == "config: name: is required"


@pytest.mark.parametrize("entry, message", [
    ({"kind": "swap_top"}, "[weak].noise: kind 'swap_top' needs rate (in [0, 0.5])"),
    ({"kind": "shrink_all"}, "[weak].noise: kind 'shrink_all' needs factor (in [0, 1])"),
    ({"kind": "none", "rate": 0.3}, "[weak].noise.rate: kind 'none' takes no rate"),
    ({"kind": "swap_top", "rate": 0.2, "factor": 0.5}, "[weak].noise.factor: kind 'swap_top' takes no factor"),
    ({"rate": 0.2}, "[weak].noise: each entry needs a kind"),
    (0.3, "[weak].noise: each entry must be a table")])
def test_noise_entries_take_exactly_their_numbers(entry: Any, message: str) -> None:
    """A missing number used to default to 0 and a stray one was dropped; both are refused now."""
    assert message in _error(_with("weak.noise", [entry]))


def test_a_config_built_in_python_gets_the_same_checks() -> None:
    cfg = config_from_dict(tiny_dict())
    for bad, message in [(replace(cfg, weak=replace(cfg.weak, noise=(("none", 0.3),))), "kind 'none' takes no rate"),
                         (replace(cfg, losses=("ce", "ce")), '"ce" is listed twice'),
                         (replace(cfg, exact_tol=1e6), "exact_tol: must be in"), (replace(cfg, tasks=True), "tasks: expected")]:
        with pytest.raises(UserError, match=re.escape(message)):
            validate(bad)


# -- property tests: any invalid value of a field -> one line naming that field ---------------------

_not_int = st.one_of(st.text(max_size=3), st.booleans(), st.floats(allow_nan=True), st.lists(st.integers(), max_size=2))
_not_real = st.one_of(st.text(max_size=3), st.booleans(), st.just(math.inf), st.just(-math.inf), st.just(math.nan),
                      st.lists(st.floats(), max_size=2))


def _int_fields() -> list[tuple[str, int]]:
    top = [("tasks", 1), ("chunk", 1), ("seed", 0), ("runtime.threads", 1)]
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
    return "weak.noise", [{"kind": "swap_top", "rate": rate}]


@given(invalid_field())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_invalid_value_names_its_field(case: tuple[str, Any]) -> None:
    field, value = case
    if field == "name" and isinstance(value, str) and value:
        return  # any non-empty string is a valid name
    section, _, name = field.rpartition(".")
    assert _error(_with(field, value)).startswith(f"config: [{section}].{name}" if section else f"config: {name}: ")


@st.composite
def valid_config(draw: st.DrawFn) -> dict:
    raw = tiny_dict()
    m = draw(st.integers(1, 6))
    raw["data"] = {**raw["data"], "m": m, "k": draw(st.integers(2, 5)), "head_scale": draw(st.floats(1e-3, 1e3)),
                   "feature_temperature": draw(st.floats(1e-3, 10))}
    raw["representation"] = {**raw["representation"], "weak_dim": draw(st.integers(1, m)),
                             "deltas": draw(st.lists(st.floats(0, 5), min_size=1, max_size=3, unique=True))}
    raw["head_classes"] = draw(st.lists(st.sampled_from(["stochastic_matrix", "mixture", "softmax_linear", "softmax_mixture"]),
                                        min_size=1, max_size=4, unique=True))
    raw["losses"] = draw(st.lists(st.sampled_from(["forward_kl", "reverse_kl", "ce", "rce", "symmetric_kl"]), min_size=1, unique=True))
    noise = st.one_of(st.builds(lambda r: {"kind": "swap_top", "rate": r}, st.floats(0, 0.5)),
                      st.builds(lambda r: {"kind": "shrink_all", "factor": r}, st.floats(0, 1)),
                      st.just({"kind": "none"}))
    raw["weak"] = {**raw["weak"], "noise": draw(st.lists(noise, min_size=1, max_size=3, unique_by=repr))}
    raw["runtime"] = {"threads": draw(st.integers(1, 64))}
    return raw


@given(valid_config())
@settings(max_examples=100, deadline=None)
def test_valid_configs_load_and_round_trip(raw: dict) -> None:
    cfg = config_from_dict(raw)
    import tomllib

    assert config_from_dict(tomllib.loads(to_toml(cfg))) == cfg


def test_runtime_is_left_out_of_the_hash() -> None:
    cfg = config_from_dict(tiny_dict())
    assert replace(cfg, runtime=RuntimeConfig(threads=7)).hash() == cfg.hash()
    assert replace(cfg, seed=cfg.seed + 1).hash() != cfg.hash()


def test_toml_round_trip(tmp_path: Path) -> None:
    cfg = config_from_dict(tiny_dict())
    path = tmp_path / "c.toml"
    path.write_text(to_toml(cfg))
    again = load_config(path)
    assert again == cfg and again.hash() == cfg.hash()


def test_shipped_configs_load() -> None:
    quick = load_config(ROOT / "synthetic/configs/quick.toml")
    paper = load_config(ROOT / "synthetic/configs/paper.toml")
    assert set(quick.losses) >= {"forward_kl", "reverse_kl", "ce", "rce"}
    assert paper.tasks >= 200 and set(paper.head_classes) == {"stochastic_matrix", "mixture", "softmax_linear", "softmax_mixture"}
    assert max(rate for kind, rate in paper.weak.noise if kind == "swap_top") == 0.5


@pytest.mark.parametrize("text, message", [('name = "x"\nlosses = ["forward_kl", "hinge"]\n', "bad.toml: losses: unknown value 'hinge'"),
                                           ('name = "x"\n[data]\nhead_scale = inf\n', "bad.toml: [data].head_scale: expected a finite number, got inf"),
                                           ('name = "x"\n[data]\nm = 3\n[representation]\nweak_dim = 4\n', "[representation].weak_dim"),
                                           ("", "bad.toml: the config is empty"),
                                           ('name = "x"\nlosses = ["ce", "ce"]\n', 'bad.toml: losses: "ce" is listed twice'),
                                           ('name = "x"\nexact_tol = 1e6\n', "bad.toml: exact_tol: must be in (0, 1e-09]")])
def test_cli_rejects_bad_config(tmp_path: Path, text: str, message: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "revkl", "synthetic", "run", "--config", str(bad), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()  # nothing written
