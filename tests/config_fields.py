"""Every field of a config, and another valid value for it: the generator behind the key tests.

The fields come from ``dataclasses.fields`` of the config class (a section is a field whose type is a
dataclass), so a field added later is covered the day it is added. :func:`changed` edits one field of a
resolved TOML-shaped config dict to the first candidate of :func:`alternatives` that differs and that ``valid``
accepts; a field no candidate fits makes the test fail with a message saying where to add one.
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from types import ModuleType
from typing import Any, Callable, Iterator

#: The section whose fields say how a run goes, never what it computes.
RUNTIME = "runtime"


def config_fields(cls: type) -> list[tuple[str, str]]:
    """``(section, field)`` for every field of a config class; section ``""`` for a top-level field."""
    out = []
    for f in dataclasses.fields(cls):
        tp = typing.get_type_hints(cls)[f.name]
        if dataclasses.is_dataclass(tp):
            out += [(f.name, g.name) for g in dataclasses.fields(tp)]
        else:
            out.append(("", f.name))
    return out


def words(*sources: ModuleType | dict | tuple) -> list[str]:
    """The vocabulary a string field may take: the strings of a module's tuple and dict constants, and the
    keys of registries (dicts) or items of tuples passed directly."""
    out: list[str] = []
    for src in sources:
        values = [v for k, v in vars(src).items() if k.isupper()] if isinstance(src, ModuleType) else [src]
        for v in values:
            if isinstance(v, (tuple, list, dict)):
                out += [w for w in v if isinstance(w, str)]
    return list(dict.fromkeys(out))


def alternatives(value: Any, vocabulary: list[str]) -> Iterator[Any]:
    """Candidate replacements of a TOML value, nearest first (the caller keeps the first valid one that differs)."""
    if isinstance(value, bool):
        yield not value
    elif isinstance(value, int):
        yield from (value + 1, value + 2, 2 * value)
    elif isinstance(value, float):
        yield from (value / 2, 2 * value, value + 0.5, 0.5, 1.0)
    elif isinstance(value, str):
        yield from (f"{value}-changed", *vocabulary)
    elif isinstance(value, list):
        if len(value) > 1:
            yield value[:-1]
        if value and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            yield [*value, max(value) + 1]
        yield from ([*value, w] for w in vocabulary)


def with_value(raw: dict[str, Any], section: str, name: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``raw`` with ``[section].name = value``."""
    out = copy.deepcopy(raw)
    (out.setdefault(section, {}) if section else out)[name] = value
    return out


def changed(raw: dict[str, Any], section: str, name: str, vocabulary: list[str],
            valid: Callable[[dict[str, Any]], Any], overrides: dict[tuple[str, str], Any]) -> tuple[dict[str, Any], Any]:
    """``(raw with the field changed, the config ``valid`` built from it)``. ``raw`` is a resolved config as TOML
    (every field present); the new value is the field's override, else the first alternative that ``valid``
    accepts (it returns None for an invalid config) and that changes the config. An override is a value, or a
    function of the current value."""
    base, current = valid(raw), (raw[section] if section else raw)[name]
    over = overrides.get((section, name))
    candidates = alternatives(current, vocabulary) if over is None else [over(current) if callable(over) else over]
    for value in candidates:
        if value == current:
            continue
        new = with_value(raw, section, name, value)
        cfg = valid(new)
        if cfg is not None and cfg != base:
            return new, cfg
    raise AssertionError(f"[{section}].{name}: no valid alternative to {current!r}; add one to the test's ALTERNATIVES")
