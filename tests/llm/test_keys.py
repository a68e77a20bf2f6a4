"""Cache and unit keys by construction: every field of every config section, changed alone to another valid
value, changes exactly the keys it should (fields from ``dataclasses.fields``: a new field is covered at once).

The keys (``llm_experiments.config`` / ``units``):

* ``run``: ``numbers_hash``, the config a run folder holds (``--out`` refuses another once work finished);
* ``stages``: ``split_stage_key`` of the weak model and the ceiling, per pair and split, identified by
  (stage, model, the split's position in the plan), so drawing other splits counts as a change;
* ``units``: the keys of ``plan_units``, identified by (weak, strong, noise, loss, seed); a resumed run skips
  a unit whose key is in ``results.jsonl``, so a field left out of it would publish stale numbers;
* ``features``: ``features_key`` per model over one fixed text table (features are keyed by the texts).

:data:`CHANGES` says, per section, which keys a change must move: on every identity both plans share, the
key moves if the kind is listed and stays otherwise. The grid axes (:data:`AXES`) add or remove units
instead, and leave the keys of the units both plans share. The end-to-end test edits the learning rate of
a finished run's own ``config.toml`` and reruns it into the same folder: every unit is recomputed.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from llm_experiments import config as llm_config
from llm_experiments import results
from llm_experiments.config import Config, config_from_dict, numbers_hash, to_toml
from llm_experiments.datasets import DATASETS, check_dataset_name
from llm_experiments.models import MODELS, resolve
from llm_experiments.run import run
from llm_experiments.units import features_key, input_digests, plan_units, split_stage_key
from revkl_core.runfolder import UserError, dumps_toml
from tests.config_fields import RUNTIME, changed, config_fields, words

ALL = frozenset({"run", "stages", "units"})
#: What changing a field of each section must change ("" = the top level: ``name`` labels the run only).
CHANGES: dict[str, frozenset[str]] = {"": frozenset({"run"}), "data": ALL, "models": ALL, "train": ALL, "lora": ALL,
                                      "w2s": frozenset({"run", "units"}), RUNTIME: frozenset()}
#: The grid axes: a change adds or removes units; the units both plans share keep their keys.
AXES = {("w2s", "losses"), ("w2s", "seeds"), ("w2s", "noise")}
#: The fields a model's features depend on (besides the model and the texts).
FEATURES = {("data", "max_length"), ("models", "feature_bf16")}
#: Fields whose valid alternatives the generic rule cannot guess (free-form values).
ALTERNATIVES: dict[tuple[str, str], Any] = {
    ("runtime", "device"): "cpu", ("runtime", "assets_cache"): "/tmp/revkl-assets",
    ("lora", "target_modules"): ["c_attn"],  # GPT-2's attention projection
    ("data", "options"): lambda options: {**options, "num_classes": 3},  # the jsonl loader's other option
}
VOCABULARY = words(llm_config, DATASETS, MODELS)
FIELDS = config_fields(Config)
TEXTS = ["good good item", "bad item", "good bad item"]


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "d.jsonl"
    path.write_text("".join(json.dumps({"text": f"item {i} " + "good " * (i % 3), "label": int(i % 3 > 0)}) + "\n"
                            for i in range(60)))
    return path


def _base(data_file: Path, section: str) -> dict[str, Any]:
    """A resolved config as TOML (every field present): two of everything a list holds, so that dropping one
    leaves a valid config; LoRA fields are tried in ``lora`` mode, where they matter."""
    raw = {"name": "keys", "data": {"dataset": "jsonl", "gt": 16, "weak": 16, "test": 16, "max_length": 24,
                                    "options": {"path": str(data_file), "num_classes": 2}},
           "models": {"pairs": [["tiny-gpt2", "tiny-gpt2-wide"], ["bow", "tiny-gpt2-wide"]],
                      "mode": "lora" if section == "lora" else "last_layer"},
           "train": {"epochs": 2, "lr": 1e-2, "batch_size": 8},
           "w2s": {"losses": ["forward_kl", "reverse_kl"], "seeds": [0, 1],
                   "noise": [{"kind": "none"}, {"kind": "flip", "rate": 0.2}]},
           "runtime": {"progress": False}}
    return tomllib.loads(to_toml(config_from_dict(raw)))


def _valid(raw: dict[str, Any]) -> Config | None:
    """The config, or None when it is not valid (config rules, data set and model names)."""
    try:
        cfg = config_from_dict(raw)
        check_dataset_name(cfg.data)
        for pair in cfg.models.pairs:
            for name in pair:
                resolve(name)
    except (UserError, ValueError, OSError):
        return None
    return cfg


def _keys(cfg: Config) -> dict[str, dict[Any, str]]:
    """Every key of ``cfg`` by what it identifies (module docstring)."""
    digests = input_digests(cfg)
    units = plan_units(cfg, digests)
    splits = sorted({u.split_seed for u in units})
    stages = {(stage, model, i): split_stage_key(cfg, digests, stage, model, sp)
              for weak, strong in cfg.models.pairs for i, sp in enumerate(splits)
              for stage, model in (("weak", weak), ("ceiling", strong))}
    return {"run": {"": numbers_hash(cfg)}, "stages": stages,
            "units": {(u.weak, u.strong, json.dumps(u.noise, sort_keys=True), u.loss, u.seed): u.key for u in units},
            "features": {m: features_key(cfg, TEXTS, m, digests) for pair in cfg.models.pairs for m in pair}}


def _moved(old: dict[Any, str], new: dict[Any, str]) -> tuple[set[Any], set[Any]]:
    """(identities both have, those of them whose key differs)."""
    common = set(old) & set(new)
    return common, {i for i in common if old[i] != new[i]}


def test_every_section_is_classified() -> None:
    assert {section for section, _ in FIELDS} <= set(CHANGES), "a new config section: say in CHANGES what it keys"


@pytest.mark.parametrize("section, name", FIELDS, ids=[f"{s or 'top'}.{n}" for s, n in FIELDS])
def test_a_changed_field_changes_exactly_its_keys(section: str, name: str, data_file: Path) -> None:
    raw = _base(data_file, section)
    _, cfg = changed(raw, section, name, VOCABULARY, _valid, ALTERNATIVES)
    old, new = _keys(_valid(raw)), _keys(cfg)
    want = CHANGES[section]
    assert (old["run"] != new["run"]) == ("run" in want), f"run key of [{section}].{name}"
    for kind in ("stages", "units"):
        common, moved = _moved(old[kind], new[kind])
        assert common, f"no {kind} shared before and after changing [{section}].{name}"
        expect = common if kind in want and (section, name) not in AXES else set()
        assert moved == expect, f"[{section}].{name}: {len(moved)} of {len(common)} {kind} keys changed, expected {len(expect)}"
    if (section, name) in AXES:
        assert set(old["units"]) != set(new["units"]), f"[{section}].{name} should add or remove units"
    common, moved = _moved(old["features"], new["features"])
    assert common and moved == (common if (section, name) in FEATURES else set()), f"features key of [{section}].{name}"


def _edit(cfg_path: Path, section: str, name: str, value: Any) -> None:
    raw = tomllib.loads(cfg_path.read_text())
    raw[section][name] = value
    cfg_path.write_text(dumps_toml(raw))


def test_rerun_after_editing_the_learning_rate_recomputes_every_unit(tmp_path: Path) -> None:
    """Smoke config (tiny GPT-2s), reduced: edit the finished run's config.toml in place and run it again into
    the same folder. A runtime change resumes (nothing recomputed); a new learning rate recomputes every
    stage and unit instead of skipping them as done."""
    raw = tomllib.loads((Path(llm_config.__file__).parent / "configs" / "smoke.toml").read_text())
    raw["data"].update(gt=24, weak=24, test=24)
    raw["w2s"].update(losses=["forward_kl", "reverse_kl"], noise=[{"kind": "none"}])
    out = tmp_path / "run"
    first = run(config_from_dict(raw), out)
    n, cfg_path = first["n_units"], out / results.CONFIG_FILE
    stages = set(first["stages"])
    _edit(cfg_path, "runtime", "progress_interval", 7.0)
    assert run(cfg_path, out)["keys"] == first["keys"] and len(results.load_results(out)) == n
    _edit(cfg_path, "train", "lr", raw["train"]["lr"] / 2)
    second = run(cfg_path, out)
    recs = results.load_results(out)
    assert len(recs) == 2 * n and not set(second["keys"]) & set(first["keys"])
    assert {r["key"] for r in recs[n:]} == set(second["keys"])
    assert len(set(second["stages"]) - stages) == len(stages)  # a new weak model and ceiling per split
