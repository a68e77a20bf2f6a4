"""The simulator's run key by construction: every field of every section (from ``dataclasses.fields``), changed
alone to another valid value. A run folder holds one config: its chunks are resumed by id
(``synthetic.run.plan``) under the config hash in ``config.toml``, so every field but the ``[runtime]`` ones
must change ``Config.hash`` (and ``prepare_run_dir`` then refuses the folder), and a runtime field changes
neither the hash nor the chunks (the run resumes)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from revkl_core.runfolder import UserError
from synthetic import config as synthetic_config
from synthetic.config import Config, config_from_dict, to_toml
from synthetic.run import plan, prepare_run_dir
from tests.config_fields import RUNTIME, changed, config_fields, words
from tests.synthetic.conftest import tiny_dict

FIELDS = config_fields(Config)
VOCABULARY = words(synthetic_config)
#: Fields whose valid alternatives the generic rule cannot guess.
ALTERNATIVES: dict[tuple[str, str], Any] = {("weak", "labels"): "soft"}


def _valid(raw: dict[str, Any]) -> Config | None:
    try:
        return config_from_dict(raw)
    except UserError:
        return None


def test_runtime_section_exists() -> None:
    assert any(section == RUNTIME for section, _ in FIELDS)


@pytest.mark.parametrize("section, name", FIELDS, ids=[f"{s or 'top'}.{n}" for s, n in FIELDS])
def test_every_field_but_runtime_changes_the_run_key(section: str, name: str, tmp_path: Path) -> None:
    base = config_from_dict(tiny_dict())
    raw = tomllib.loads(to_toml(base))
    _, cfg = changed(raw, section, name, VOCABULARY, _valid, ALTERNATIVES)
    out = prepare_run_dir(base, tmp_path / "run")
    if section == RUNTIME:
        assert cfg.hash() == base.hash() and [c.id for c in plan(cfg)] == [c.id for c in plan(base)]
        assert prepare_run_dir(cfg, out) == out  # resumes
    else:
        assert cfg.hash() != base.hash(), f"[{section}].{name} is not in the config hash"
        with pytest.raises(UserError, match="different config"):
            prepare_run_dir(cfg, out)
