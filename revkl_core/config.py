"""The one config mechanism: TOML -> frozen dataclasses, checked from their annotations and field rules.

A package declares its config as frozen dataclasses (the root holds top-level fields and one
dataclass-typed field per ``[section]``), attaches bounds and choices to fields with :func:`setting`
and reads files through a :class:`Schema`. The rules, the same in every package:

* an unknown key is refused, naming the closest known one; a renamed key (``Schema.renamed``) is
  refused with a pointer to its new place; an empty file or a missing required field or section is
  refused;
* types come from the annotations: ``int`` (a bool is not an int), ``float`` (an int is accepted; the
  value must be finite), ``bool``, ``str``, ``list[T]`` / ``tuple[T, ...]`` (each element checked),
  ``dict[str, T]``, ``X | None``, and dataclass sections;
* ranges and choices are field metadata (:class:`Rule`: ``ge``/``gt``/``le``/``lt``, ``choices`` with
  renamed values, ``nonempty``); a rule on a list applies to each element;
* a list field never holds the same entry twice (n would silently double);
* lists of tables (weak-label noise) parse through an :class:`Entries` codec; :class:`NoiseVocabulary`
  is the one noise codec: ``{kind = ..., rate = ...}``, with the shrink factor named ``factor``.

Every mistake is one line ``FILE: [section].field: message`` (``FILE: field: message`` at the top
level) raised as :class:`~revkl_core.runfolder.UserError`. The config hash (:func:`numbers_hash`)
leaves out the ``[runtime]`` section, whose fields never change a number; :func:`to_toml` writes a
config with the one TOML writer, :func:`revkl_core.runfolder.dumps_toml`, and reads back equal.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import math
import tomllib
import types
import typing
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Protocol

from revkl_core.runfolder import UserError, _toml_value, canonical_json, config_hash, dumps_toml

#: The section of fields that say where and how fast a run goes, never what it computes (not hashed).
RUNTIME_SECTION = "runtime"
#: Keys of a noise entry that were renamed, in either package: ``type`` -> ``kind``, ``alpha`` -> ``factor``.
NOISE_RENAMED = {"type": "kind", "alpha": "factor"}

Bound = float | Callable[[], float] | None


class FieldError(Exception):
    """A bad value at ``where`` (``[section].field``); the loader adds the file and raises UserError."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where, self.message = where, message


def where(section: str, name: str = "") -> str:
    """``[section].name``, ``[section]`` or, at the top level, ``name``."""
    if not section:
        return name
    return f"[{section}].{name}" if name else f"[{section}]"


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known name, else ``""``."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6) if isinstance(word, str) else []
    return f" (did you mean {close[0]!r}?)" if close else ""


def shown(value: Any) -> str:
    """A value as it is written in TOML (``{kind = "flip", rate = 0.1}``), for messages."""
    try:
        return _toml_value(value, "")
    except TypeError:
        return repr(value)


# -- field rules -----------------------------------------------------------------------------------------


class Entries(Protocol):
    """How a list of tables parses: ``parse(raw, where)`` gives the stored value, ``dump`` the table back."""

    def parse(self, raw: Any, at: str) -> Any: ...

    def dump(self, value: Any) -> Any: ...


@dataclass(frozen=True)
class Rule:
    """Bounds and choices of a field (of each element, for a list). Callables are looked up when checked,
    so a bound or a registry from a heavier package is imported only then."""

    ge: Bound = None
    gt: Bound = None
    le: Bound = None
    lt: Bound = None
    choices: tuple[str, ...] | Callable[[], Iterable[str]] | None = None
    renamed: Mapping[str, str] = field(default_factory=dict)  # old value -> new value (choice fields)
    nonempty: bool = False  # a list or a string must not be empty
    why: str = ""  # appended to a range error: the reason for the bound
    entries: Entries | None = None  # a list of tables, parsed by this codec

    def bounds(self) -> tuple[float | None, float | None, bool, bool]:
        """(lower, upper, lower open, upper open)."""
        val = [b() if callable(b) else b for b in (self.ge, self.gt, self.le, self.lt)]
        return (val[1] if val[1] is not None else val[0], val[3] if val[3] is not None else val[2],
                val[1] is not None, val[3] is not None)

    def interval(self) -> str:
        """The range as text: ``in [0, 0.5]``, ``> 0``, ``>= 1``."""
        lo, hi, lo_open, hi_open = self.bounds()
        if lo is not None and hi is not None:
            return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        if lo is not None:
            return f"{'>' if lo_open else '>='} {lo:g}"
        return f"{'<' if hi_open else '<='} {hi:g}" if hi is not None else ""


def setting(default: Any = MISSING, **rule: Any) -> Any:
    """A dataclass field with a :class:`Rule` (keyword arguments) in its metadata; a list or dict default
    is copied for each instance. Without ``default`` the field is required."""
    meta = {"rule": Rule(**rule)}
    if isinstance(default, (list, dict)):
        return field(default_factory=functools.partial(copy.deepcopy, default), metadata=meta)
    return field(default=default, metadata=meta)


def _rule(f: dataclasses.Field) -> Rule:
    return f.metadata.get("rule", Rule())


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_section(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _is_list(tp: Any) -> bool:
    return typing.get_origin(tp) in (list, tuple)


def _element(tp: Any) -> Any:
    args = typing.get_args(tp)
    return args[0] if args else Any


# -- types -------------------------------------------------------------------------------------------------

_SCALARS: dict[Any, tuple[str, str, Callable[[Any], bool]]] = {
    int: ("an integer", "integers", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    float: ("a finite number", "finite numbers",
            lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)),
    bool: ("true or false", "booleans", lambda v: isinstance(v, bool)),
    str: ("a string", "strings", lambda v: isinstance(v, str)),
}
_PLURAL = {one: many for one, many, _ in _SCALARS.values()}


def _type_ok(value: Any, tp: Any) -> str | None:
    """None when ``value`` has type ``tp``, else what was expected (``an integer``)."""
    if tp is Any:
        return None
    if tp in _SCALARS:
        name, _, ok = _SCALARS[tp]
        return None if ok(value) else name
    if tp is type(None):
        return None if value is None else "nothing"
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        fails = [_type_ok(value, arg) for arg in typing.get_args(tp)]
        return None if None in fails else " or ".join(f for f in fails if f != "nothing")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return "a list"
        inner = [_type_ok(v, _element(tp)) for v in value]
        return next((f"a list of {_PLURAL.get(f, f)}" for f in inner if f), None)
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            return "a table"
        vt = typing.get_args(tp)[1] if typing.get_args(tp) else Any
        return next((f"a table of {_PLURAL.get(f, f)}" for f in (_type_ok(v, vt) for v in value.values()) if f), None)
    if _is_section(tp):
        return None if isinstance(value, tp) else "a table"
    return None if isinstance(value, tp) else getattr(tp, "__name__", str(tp))


# -- checking a built config ---------------------------------------------------------------------------------


def _check_rule(value: Any, rule: Rule, at: str, each: str = "") -> None:
    """Range and choice of one scalar (``each`` says it is one element of a list)."""
    lo, hi, lo_open, hi_open = rule.bounds()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low = lo is not None and (value <= lo if lo_open else value < lo)
        high = hi is not None and (value >= hi if hi_open else value > hi)
        if low or high:
            why = f" ({rule.why})" if rule.why else ""
            raise FieldError(at, f"{each}must be {rule.interval()}, got {value!r}{why}")
    if rule.choices is not None:
        known = tuple(rule.choices() if callable(rule.choices) else rule.choices)
        if value in rule.renamed and rule.renamed[value] in known:
            raise FieldError(at, f"{value!r} was renamed {rule.renamed[value]!r}; use the new name")
        if value not in known:
            raise FieldError(at, f"unknown value {value!r}; known: {', '.join(known)}{did_you_mean(value, known)}")
    if rule.nonempty and isinstance(value, str) and not value:
        raise FieldError(at, f"{each}must not be empty")


def _check_list(values: Any, rule: Rule, at: str) -> None:
    """Non-empty when required, each element's rule, no entry twice."""
    if rule.nonempty and not values:
        raise FieldError(at, "must not be empty")
    seen: set[str] = set()
    for v in values:
        if rule.entries:  # re-parse what would be written: a config built in Python gets the same checks
            v = rule.entries.dump(rule.entries.parse(_dump_entry(rule.entries, v, at), at))
        else:
            _check_rule(v, dataclasses.replace(rule, nonempty=False), at, "each entry ")
        if canonical_json(v) in seen:
            raise FieldError(at, f"{shown(v)} is listed twice; each entry must be distinct")
        seen.add(canonical_json(v))


def _dump_entry(entries: Entries, value: Any, at: str) -> Any:
    try:
        return entries.dump(value)
    except (TypeError, ValueError, KeyError, IndexError):
        raise FieldError(at, f"not a valid entry: {value!r}") from None


def check(obj: Any, section: str = "") -> None:
    """Check every field of a built config (types, rules, duplicates), sections recursively; FieldError."""
    hints = _hints(type(obj))
    for f in dataclasses.fields(obj):
        value, tp, rule, at = getattr(obj, f.name), hints[f.name], _rule(f), where(section, f.name)
        if _is_section(tp):
            child = f"{section}.{f.name}" if section else f.name
            if not isinstance(value, tp):
                raise FieldError(where(child), f"expected a table of fields, got {value!r}")
            check(value, child)
            continue
        expected = _type_ok(value, list[Any] if rule.entries else tp)
        if expected:
            raise FieldError(at, f"expected {expected}, got {plain(value)!r}")
        if _is_list(tp):
            _check_list(value, rule, at)
        else:
            _check_rule(value, rule, at)


# -- building from TOML ------------------------------------------------------------------------------------


def _required(f: dataclasses.Field) -> bool:
    return f.default is MISSING and f.default_factory is MISSING  # type: ignore[misc]


def build(cls: type, raw: Any, renamed: Mapping[str, str], section: str = "") -> Any:
    """``cls`` from the table ``raw``: unknown, renamed and missing keys refused; lists become the annotated
    container; sections built recursively. Values are checked afterwards by :func:`check`."""
    if not isinstance(raw, dict):
        raise FieldError(where(section) or "config", f"expected a table of fields, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = _hints(cls)
    for key in raw:
        path = f"{section}.{key}" if section else key
        if path in renamed:
            raise FieldError(where(section, key), f"was renamed {renamed[path]}; use the new name")
        if key not in fields:
            sections = [n for n in fields if _is_section(hints[n])]
            known = ", ".join([n for n in fields if n not in sections] + [f"[{s}]" for s in sections])
            raise FieldError(where(section, key), f"unknown field; known: {known}{did_you_mean(key, fields)}")
    for name, f in fields.items():
        if _required(f) and name not in raw:
            if _is_section(hints[name]):
                raise FieldError(where(name), "this section is required")
            raise FieldError(where(section, name), "is required")
    return cls(**{k: _convert(v, hints[k], _rule(fields[k]), renamed, section, k) for k, v in raw.items()})


def _convert(value: Any, tp: Any, rule: Rule, renamed: Mapping[str, str], section: str, name: str) -> Any:
    if _is_section(tp):
        return build(tp, value, renamed, f"{section}.{name}" if section else name)
    if not _is_list(tp):
        return value
    at = where(section, name)
    if not isinstance(value, list):
        raise FieldError(at, f"expected a list, got {value!r}")
    items = [rule.entries.parse(v, at) if rule.entries else _nested(v, _element(tp)) for v in value]
    return typing.get_origin(tp)(items)


def _nested(value: Any, tp: Any) -> Any:
    """A list inside a list (``pairs = [["a", "b"]]``) becomes the annotated container too."""
    return typing.get_origin(tp)(_nested(v, _element(tp)) for v in value) if _is_list(tp) and isinstance(value, list) \
        else value


# -- the schema of one package -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schema:
    """A package's config: its root dataclass, the keys it renamed (``"section.field"`` or ``"field"`` ->
    where it lives now) and the rules that tie fields together (``cross``: raises FieldError)."""

    root: type
    renamed: Mapping[str, str] = field(default_factory=dict)
    cross: Callable[[Any], None] | None = None

    def validate(self, cfg: Any, source: str = "config") -> None:
        """Every check of a built config; UserError ``source: [section].field: message``."""
        try:
            check(cfg)
            if self.cross is not None:
                self.cross(cfg)
        except FieldError as err:
            raise UserError(f"{source}: {err}") from None

    def from_dict(self, raw: Any, source: str = "config") -> Any:
        """Build and validate a config from a parsed TOML table (UserError naming ``source`` and the field)."""
        if isinstance(raw, dict) and not raw:
            need = ", ".join(f.name for f in dataclasses.fields(self.root) if _required(f))
            raise UserError(f"{source}: the config is empty; it needs at least: {need}")
        try:
            cfg = build(self.root, raw, self.renamed)
        except FieldError as err:
            raise UserError(f"{source}: {err}") from None
        self.validate(cfg, source)
        return cfg

    def load(self, path: str | Path) -> Any:
        """Read and validate a TOML config file."""
        return self.from_dict(read_toml(path), str(path))


def read_toml(path: str | Path) -> dict[str, Any]:
    """The parsed TOML of a config file; UserError naming the file when it is missing, unreadable or not TOML."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: " + ("not a file" if path.exists() else "no such config file"))
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{path}: not valid TOML ({str(err).splitlines()[0]})") from None
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not UTF-8 (byte offset {err.start})") from None
    except OSError as err:
        raise UserError(f"{path}: cannot read the config ({err.strerror})") from None


# -- writing and hashing -------------------------------------------------------------------------------------


def plain(obj: Any) -> Any:
    """A config (or section) as plain dicts and lists: what is hashed and keyed."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    return obj


def _tables(obj: Any) -> dict[str, Any]:
    """Like :func:`plain`, with lists of tables written back through their codec."""
    out = {}
    for f in dataclasses.fields(obj):
        value, entries = getattr(obj, f.name), _rule(f).entries
        out[f.name] = _tables(value) if _is_section(type(value)) else \
            [entries.dump(v) for v in value] if entries else plain(value)
    return out


def to_toml(cfg: Any) -> str:
    """The resolved config as TOML (:func:`revkl_core.runfolder.dumps_toml`); its schema reads it back equal."""
    return dumps_toml(_tables(cfg))


def numbers_hash(cfg: Any) -> str:
    """The config hash: a 16-hex-digit hash of every field that can change a number (all but ``[runtime]``)."""
    return config_hash(plain(cfg), runtime=(RUNTIME_SECTION,))


# -- weak-label noise: the one vocabulary --------------------------------------------------------------------


@dataclass(frozen=True)
class NoiseVocabulary:
    """Noise entries ``{kind = ..., <number> = ...}``: ``kinds`` maps each kind to the numbers it needs, each
    with its closed interval (``rate`` the fraction or probability of corrupted labels, ``factor`` a shrink
    factor). A kind takes exactly its numbers: a missing one, an extra one (``{kind = "none", rate = 0.3}``)
    or an old key (:data:`NOISE_RENAMED`, ``renamed_numbers``) is refused. ``store`` / ``table`` convert
    between the checked table ``{"kind": k, number: float}`` and what the package keeps in its config."""

    kinds: Mapping[str, Mapping[str, tuple[float, float]]]
    renamed_kinds: Mapping[str, str] = field(default_factory=dict)
    renamed_numbers: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (kind, old key) -> new key
    store: Callable[[dict[str, Any]], Any] = dict
    table: Callable[[Any], dict[str, Any]] = dict

    def parse(self, raw: Any, at: str) -> Any:
        """The stored form of one entry, checked (FieldError at ``at``, naming the entry)."""
        return self.store(self.checked(raw, at))

    def dump(self, value: Any) -> dict[str, Any]:
        return self.table(value)

    def checked(self, raw: Any, at: str) -> dict[str, Any]:
        """``{"kind": k, number: float, ...}`` of one raw entry, or FieldError."""
        if not isinstance(raw, dict):
            raise FieldError(at, f"each entry must be a table {{kind = ..., rate = ...}}, got {shown(raw)}")
        entry = f"(in {shown(raw)})"
        for old, new in NOISE_RENAMED.items():
            if old in raw:
                raise FieldError(f"{at}.{old}", f"was renamed {new!r}; use the new name {entry}")
        if "kind" not in raw:
            raise FieldError(at, f"each entry needs a kind, one of {', '.join(self.kinds)} {entry}")
        kind = raw["kind"]
        _check_rule(kind, Rule(choices=tuple(self.kinds), renamed=self.renamed_kinds), f"{at}.kind")
        numbers = self.kinds[kind]
        for key in raw:
            if key == "kind" or key in numbers:
                continue
            if (kind, key) in self.renamed_numbers:
                raise FieldError(f"{at}.{key}", f"for kind {kind!r} this number is now named "
                                                f"{self.renamed_numbers[(kind, key)]!r} {entry}")
            every = {n for nums in self.kinds.values() for n in nums}
            if key in every:
                raise FieldError(f"{at}.{key}", f"kind {kind!r} takes no {key} {entry}")
            raise FieldError(f"{at}.{key}", f"unknown key; known: kind, {', '.join(sorted(every))}"
                                            f"{did_you_mean(key, ['kind', *every])} {entry}")
        out: dict[str, Any] = {"kind": kind}
        for name, (lo, hi) in numbers.items():
            if name not in raw:
                raise FieldError(at, f"kind {kind!r} needs {name} (in [{lo:g}, {hi:g}]) {entry}")
            expected = _type_ok(raw[name], float)
            if expected:
                raise FieldError(f"{at}.{name}", f"expected {expected}, got {raw[name]!r} {entry}")
            try:
                _check_rule(raw[name], Rule(ge=lo, le=hi), f"{at}.{name}")
            except FieldError as err:
                raise FieldError(err.where, f"{err.message} {entry}") from None
            out[name] = float(raw[name])
        return out
