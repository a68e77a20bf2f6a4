"""One config mechanism: the same bad input gets the same kind of one-line error in both packages.

Each case is one mistake applied to a valid synthetic config and to a valid llm config, written to a
TOML file and loaded; the message must be ``FILE: [section].field: <the same message>`` in both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import pytest

from llm_experiments import config as llm
from revkl_core import config as core
from revkl_core.runfolder import UserError, dumps_toml
from synthetic import config as syn


def _syn() -> dict[str, Any]:
    return {"name": "s", "losses": ["forward_kl", "reverse_kl"], "data": {"k": 3},
            "weak": {"noise": [{"kind": "none"}, {"kind": "swap_top", "rate": 0.2}]}}


def _llm() -> dict[str, Any]:
    return {"name": "l", "data": {"dataset": "synthetic-pairs", "gt": 8},
            "models": {"pairs": [["tiny-gpt2", "tiny-gpt2-wide"]]},
            "w2s": {"losses": ["forward_kl", "reverse_kl"], "noise": [{"kind": "none"}, {"kind": "flip", "rate": 0.2}]}}


#: Where each package keeps the fields a case edits: (section of the losses, section of the noise, an int field).
PLACES = {"synthetic": (_syn, "", "weak", ("data", "k")), "llm": (_llm, "w2s", "w2s", ("data", "gt"))}


def _at(raw: dict, section: str) -> dict:
    return raw.setdefault(section, {}) if section else raw


def _unknown(raw, losses, noise, num):
    _at(raw, num[0])["colour"] = 1
    return f"[{num[0]}].colour", "unknown field; known: "


def _duplicate_loss(raw, losses, noise, num):
    _at(raw, losses)["losses"] = ["reverse_kl", "forward_kl", "reverse_kl"]
    return core.where(losses, "losses"), '"reverse_kl" is listed twice; each entry must be distinct'


def _duplicate_noise(raw, losses, noise, num):
    _at(raw, noise)["noise"] = [{"kind": "none"}, {"kind": "none"}]
    return f"[{noise}].noise", '{kind = "none"} is listed twice; each entry must be distinct'


def _bool_for_int(raw, losses, noise, num):
    _at(raw, num[0])[num[1]] = True
    return f"[{num[0]}].{num[1]}", "expected an integer, got True"


def _text_for_int(raw, losses, noise, num):
    _at(raw, num[0])[num[1]] = "3"
    return f"[{num[0]}].{num[1]}", "expected an integer, got '3'"


def _string_for_list(raw, losses, noise, num):
    _at(raw, losses)["losses"] = "forward_kl"
    return core.where(losses, "losses"), "expected a list, got 'forward_kl'"


def _renamed_noise_key(raw, losses, noise, num):
    _at(raw, noise)["noise"] = [{"type": "none"}]
    return f"[{noise}].noise.type", "was renamed 'kind'; use the new name (in {type = \"none\"})"


def _rate_on_none(raw, losses, noise, num):
    _at(raw, noise)["noise"] = [{"kind": "none", "rate": 0.3}]
    return f"[{noise}].noise.rate", "kind 'none' takes no rate (in {kind = \"none\", rate = 0.3})"


def _unknown_loss(raw, losses, noise, num):
    _at(raw, losses)["losses"] = ["revers_kl"]
    return core.where(losses, "losses"), "unknown value 'revers_kl'; known: "


CASES: dict[str, Callable[..., tuple[str, str]]] = {
    "unknown key": _unknown, "duplicate loss": _duplicate_loss, "duplicate noise": _duplicate_noise,
    "bool for an int": _bool_for_int, "text for an int": _text_for_int, "text for a list": _string_for_list,
    "renamed noise key": _renamed_noise_key, "rate on none": _rate_on_none, "unknown loss": _unknown_loss}


def _load_error(package: str, raw: dict, path: Path) -> str:
    path.write_text(dumps_toml(raw))
    with pytest.raises(UserError) as err:
        (syn if package == "synthetic" else llm).load_config(path)
    return str(err.value)


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_same_mistake_gets_the_same_one_line_error_in_both_packages(tmp_path: Path, case: str) -> None:
    messages = {}
    for package, (base, losses, noise, num) in PLACES.items():
        raw = base()
        at, message = CASES[case](raw, losses, noise, num)
        path = tmp_path / f"{package}.toml"
        text = _load_error(package, raw, path)
        assert "\n" not in text and text.startswith(f"{path}: {at}: {message}"), text
        messages[package] = text.split(f"{at}: ", 1)[1]
    if case != "unknown key" and case != "unknown loss":  # the known names differ between the packages
        assert messages["synthetic"] == messages["llm"]


@pytest.mark.parametrize("package", sorted(PLACES))
def test_renamed_field_and_empty_file_in_both(tmp_path: Path, package: str) -> None:
    base = PLACES[package][0]
    raw = base()
    if package == "synthetic":
        raw["threads"] = 2
        at, new = "threads", "[runtime].threads"
    else:
        raw["w2s"]["symmetric"] = 0.2
        at, new = "[w2s].symmetric", "[w2s].mirror_weight"
    path = tmp_path / "c.toml"
    assert _load_error(package, raw, path) == f"{path}: {at}: was renamed {new}; use the new name"
    path.write_text("# empty\n")
    with pytest.raises(UserError, match=rf"^{re.escape(str(path))}: the config is empty; it needs at least: name"):
        (syn if package == "synthetic" else llm).load_config(path)


@pytest.mark.parametrize("package", sorted(PLACES))
def test_one_writer_and_one_hash_rule(tmp_path: Path, package: str) -> None:
    """to_toml reads back equal; the hash ignores [runtime] and nothing else."""
    mod = syn if package == "synthetic" else llm
    cfg = mod.config_from_dict(PLACES[package][0]())
    path = tmp_path / "c.toml"
    path.write_text(mod.to_toml(cfg))
    assert mod.load_config(path) == cfg
    other_runtime = replace(cfg, runtime=replace(cfg.runtime, threads=cfg.runtime.threads + 3))
    assert core.numbers_hash(other_runtime) == core.numbers_hash(cfg)
    assert core.numbers_hash(replace(cfg, name=cfg.name + "x")) != core.numbers_hash(cfg)


# -- the mechanism itself, on a small schema --------------------------------------------------------------


@dataclass(frozen=True)
class _Part:
    size: int = core.setting(2, ge=1, le=10)
    share: float = core.setting(0.5, gt=0, lt=1)
    tags: tuple[str, ...] = core.setting(("a",), choices=("a", "b", "c"), renamed={"old": "a"})
    label: str | None = None


@dataclass(frozen=True)
class _Root:
    name: str = core.setting(nonempty=True)
    flag: bool = False
    part: _Part = field(default_factory=_Part)


SCHEMA = core.Schema(_Root, renamed={"part.width": "[part].size"})


@pytest.mark.parametrize("raw, message", [
    ({"name": "x", "part": {"size": 0}}, "config: [part].size: must be in [1, 10], got 0"),
    ({"name": "x", "part": {"share": 1}}, "config: [part].share: must be in (0, 1), got 1"),
    ({"name": "x", "part": {"size": 2.0}}, "config: [part].size: expected an integer, got 2.0"),
    ({"name": "x", "flag": 1}, "config: flag: expected true or false, got 1"),
    ({"name": "x", "part": {"tags": ["old"]}}, "config: [part].tags: 'old' was renamed 'a'; use the new name"),
    ({"name": "x", "part": {"tags": ["d"]}}, "config: [part].tags: unknown value 'd'; known: a, b, c"),
    ({"name": "x", "part": {"tags": [1]}}, "config: [part].tags: expected a list of strings, got [1]"),
    ({"name": "x", "part": {"width": 3}}, "config: [part].width: was renamed [part].size; use the new name"),
    ({"name": "x", "part": {"sise": 3}}, "config: [part].sise: unknown field; known: size, share, tags, label "
                                         "(did you mean 'size'?)"),
    ({"name": "x", "part": {"label": 3}}, "config: [part].label: expected a string, got 3"),
    ({"name": "", "part": {}}, "config: name: must not be empty"),
    ({"part": {}}, "config: name: is required"),
    ({"name": "x", "part": []}, "config: [part]: expected a table of fields, got []"),
])
def test_each_rule_gives_one_line(raw: dict, message: str) -> None:
    with pytest.raises(UserError) as err:
        SCHEMA.from_dict(raw)
    assert str(err.value) == message


def test_ints_pass_as_floats_and_are_kept_as_written() -> None:
    """An int is accepted for a float field and kept as written (configs hash as they did), a bool is not."""
    raw = _llm()
    raw["train"] = {"epochs": 2}
    cfg = llm.config_from_dict(raw)
    assert cfg.train.epochs == 2 and isinstance(cfg.train.epochs, int)
    raw["train"] = {"epochs": True}
    with pytest.raises(UserError, match=r"^config: \[train\]\.epochs: expected a finite number, got True$"):
        llm.config_from_dict(raw)


def test_bad_files_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(UserError, match=rf"^{re.escape(str(bad))}: not valid TOML"):
        SCHEMA.load(bad)
    bad.write_bytes(b'name = "caf\xe9"\n')
    with pytest.raises(UserError, match=r"not UTF-8 \(byte offset 11\)"):
        SCHEMA.load(bad)
    with pytest.raises(UserError, match="no such config file"):
        SCHEMA.load(tmp_path / "absent.toml")


def test_the_default_list_is_not_shared_between_instances() -> None:
    a, b = llm.W2SConfig(), llm.W2SConfig()
    a.losses.append("ce")
    assert b.losses == ["forward_kl", "reverse_kl", "ce", "rce"]


def test_noise_vocabulary_is_one_in_both_packages() -> None:
    """Both packages name a noise entry's fields ``kind``, ``rate`` and ``factor`` and nothing else."""
    for kinds in (syn.NOISE_KINDS, llm.NOISE_NUMBERS):
        assert {n for numbers in kinds.values() for n in numbers} <= {"rate", "factor"}
        assert kinds["none"] == {}
    assert "factor" in syn.NOISE_KINDS["shrink_all"] and "factor" in llm.NOISE_NUMBERS["shrink"]
    assert core.NOISE_RENAMED == {"type": "kind", "alpha": "factor"}
