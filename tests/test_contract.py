"""The user-error contract, for every subcommand of `revkl`: generated input ends either in exit 0 with valid
output, or in exit 2 with one line on stderr and nothing written. An internal error is a traceback, which
fails the test (``revkl.cli.main`` re-raises everything that is not a UserError).

Configs are mutated so that they are invalid by construction (a wrong type, an unknown or renamed key, a
duplicate list entry), so for them only exit 2 is accepted; arrays for `bounds check` may be valid or not.
``test_every_subcommand_is_driven`` fails when a subcommand is added without a generator here.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revkl.cli import build_parser, main
from revkl.cli_reference import walk
from revkl_core.runfolder import dumps_toml

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC_CONFIG = tomllib.loads((ROOT / "synthetic/configs/quick.toml").read_text())
LLM_CONFIG = tomllib.loads((ROOT / "llm_experiments/configs/smoke.toml").read_text())
DRIVEN: set[str] = set()  # every command a test below drives


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size if p.is_file() else -1, p.stat().st_mtime_ns)
            for p in root.rglob("*")}


def _contract(argv: list[str], root: Path, allowed: tuple[int, ...] = (0, 2)) -> tuple[int, str]:
    """Run ``revkl argv``; check exit code, the one-line error and that an error wrote nothing under ``root``."""
    DRIVEN.add(" ".join(["revkl", *[a for a in argv[:2] if not a.startswith("-")]][:3]))
    before = _snapshot(root)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    assert code in allowed, (argv, code, err.getvalue()[-500:])
    if code == 2:
        lines = err.getvalue().strip().splitlines()
        assert len(lines) == 1, (argv, lines)
        assert _snapshot(root) == before, (argv, "wrote something before refusing")
    return code, out.getvalue()


# -- paths a user may give where a folder or a file is expected ------------------------------------------


def _bad_place(root: Path, kind: str) -> Path:
    """A path that is not a usable run or results folder: missing, a file, empty, or holding garbage."""
    p = root / f"place-{kind}"
    if kind == "file":
        p.write_text("not a folder")
    elif kind == "empty":
        p.mkdir()
    elif kind == "garbage":
        p.mkdir()
        for name in ("summary.json", "results.jsonl", "bounds.json"):
            (p / name).write_text("{garbage")
    return p


PLACES = ("missing", "file", "empty", "garbage")


@pytest.mark.parametrize("kind", PLACES)
@pytest.mark.parametrize("command", [["synthetic", "report"], ["llm", "report"], ["llm", "theory"]])
def test_run_folder_commands_refuse_what_is_not_a_run_folder(command: list[str], kind: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        place = _bad_place(root, kind)
        _contract([*command, str(place)], root, allowed=(2,))


@pytest.mark.parametrize("kind", PLACES)
def test_figures_refuses_a_results_folder_without_results(kind: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        _contract(["figures", "--results", str(_bad_place(root, kind)), "--out", str(root / "figs"), "--no-toy"], root,
                  allowed=(2,))


# -- mutated configs ---------------------------------------------------------------------------------------


def _paths(cfg: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for k, v in cfg.items():
        out.append(prefix + (k,))
        if isinstance(v, dict):
            out += _paths(v, prefix + (k,))
    return out


def _wrong(value: Any) -> Any:
    """A value of another type than ``value``, never one the loader could accept."""
    if isinstance(value, bool):
        return "yes"
    if isinstance(value, (int, float)):
        return "x"
    if isinstance(value, str):
        return [1, 2]
    if isinstance(value, list):
        return "x"
    return 1


@st.composite
def invalid_configs(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    cfg = json.loads(json.dumps(base))
    path = draw(st.sampled_from(_paths(cfg)))
    parent = cfg
    for k in path[:-1]:
        parent = parent[k]
    key = path[-1]
    lists = isinstance(parent[key], list) and parent[key]
    kind = draw(st.sampled_from(["wrong type", "unknown key", "duplicate"] if lists else ["wrong type", "unknown key"]))
    if kind == "wrong type":
        parent[key] = _wrong(parent[key])
    elif kind == "unknown key":
        (parent[key] if isinstance(parent[key], dict) else parent)["no_such_field"] = 1
    else:
        parent[key] = [*parent[key], parent[key][0]]
    return cfg


@settings(max_examples=30)
@given(invalid_configs(SYNTHETIC_CONFIG))
def test_synthetic_run_refuses_every_invalid_config(cfg: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "c.toml").write_text(dumps_toml(cfg))
        _contract(["synthetic", "run", "--config", str(root / "c.toml"), "--out", str(root / "out"), "--quiet"], root,
                  allowed=(2,))


@settings(max_examples=30)
@given(invalid_configs(LLM_CONFIG), st.booleans())
def test_llm_run_refuses_every_invalid_config(cfg: dict[str, Any], dry_run: bool) -> None:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "c.toml").write_text(dumps_toml(cfg))
        argv = ["llm", "run", "--config", str(root / "c.toml"), *(["--dry-run"] if dry_run else ["--out", str(root / "o")])]
        _contract(argv, root, allowed=(2,))


# -- arrays for `bounds check` -------------------------------------------------------------------------------

_entries = st.one_of(st.floats(0, 1), st.sampled_from([0.0, 1.0, -0.1, 1.5, float("nan"), float("inf")]))


@st.composite
def arrays(draw: st.DrawFn, n: int, k: int) -> np.ndarray:
    kind = draw(st.sampled_from(["valid", "valid", "entries", "shape", "empty"]))
    if kind == "valid":
        return np.random.default_rng(draw(st.integers(0, 9))).dirichlet(np.ones(k), n)
    if kind == "entries":
        return np.array(draw(st.lists(st.lists(_entries, min_size=k, max_size=k), min_size=n, max_size=n)))
    if kind == "shape":
        return np.full((n, k + 1), 1.0 / (k + 1))
    return np.zeros((0, k))


def _write(root: Path, name: str, a: np.ndarray, form: str) -> Path:
    if form == "npy":
        np.save(root / f"{name}.npy", a)
        return root / f"{name}.npy"
    path = root / f"{name}.csv"
    path.write_text("\n".join(",".join(str(x) for x in row) for row in a) if form == "csv" else "1,a,\n\x00")
    return path


@settings(max_examples=60)
@given(st.integers(1, 4), st.integers(2, 3), st.data())
def test_bounds_check_on_generated_arrays(n: int, k: int, data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        argv = ["bounds", "check", "--json"]
        for name in ("fstar", "fw", "fsw"):
            form = data.draw(st.sampled_from(["npy", "csv", "csv", "junk"]))
            argv += [f"--{name}", str(_write(root, name, data.draw(arrays(n, k)), form))]
        gamma = data.draw(st.one_of(st.none(), st.sampled_from([0.0, -1.0, 1e-3, 0.5, 2.0, float("nan")])))
        if gamma is not None:
            argv += ["--gamma", str(gamma)]
        if data.draw(st.booleans()):
            kind = data.draw(st.sampled_from(["stochastic", "softmax", "mixture"]))
            feats = data.draw(arrays(n, data.draw(st.integers(1, 3))))
            argv += ["--features", str(_write(root, "h", feats, "npy")), "--class", kind]
        code, out = _contract(argv, root)
        if code == 0:
            json.loads(out, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))


@settings(max_examples=20)
@given(st.integers(-2, 3), st.integers(-2, 2), st.sampled_from(["T1", "t1", "T9", "NT-forward-convex", ""]),
       st.sampled_from(["none", "folder", "junk file", "under a file"]))
def test_bounds_verify_arguments(instances: int, seed: int, only: str, out: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        argv = ["bounds", "verify", "--instances", str(instances), "--seed", str(seed), "--no-progress"]
        if only:
            argv += ["--only", only]
        if out == "folder":
            argv += ["--out", str(root)]
        elif out == "junk file":
            (root / "x.npy").write_bytes(b"\x93NUMPY")
            argv += ["--out", str(root / "x.npy")]
        elif out == "under a file":
            (root / "f").write_text("x")
            argv += ["--out", str(root / "f" / "r.json")]
        _contract(argv, root)


def test_bounds_derive() -> None:
    with tempfile.TemporaryDirectory() as d:
        assert _contract(["bounds", "derive"], Path(d), allowed=(0,))[0] == 0


@settings(max_examples=15)
@given(st.sampled_from(["", " , ", "theory", "nope", "figures,nope", "llm:offline-sms-spam"]),
       st.sampled_from(["folder", "file"]), st.sampled_from(["folder", "file"]))
def test_reproduce_dry_run_arguments(only: str, out: str, figures: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "file").write_text("x")
        argv = ["reproduce", "--dry-run", "--only", only, "--out", str(root / ("file" if out == "file" else "res")),
                "--figures", str(root / ("file" if figures == "file" else "figs"))]
        _contract(argv, root)


def test_every_subcommand_is_driven() -> None:
    """Runs last in this file (pytest keeps file order): every leaf command was driven by a test above."""
    leaves = {path for path, parser in walk(build_parser())
              if not any(a.__class__.__name__ == "_SubParsersAction" for a in parser._actions)}
    assert leaves <= DRIVEN | {"revkl bounds derive"}, sorted(leaves - DRIVEN)
