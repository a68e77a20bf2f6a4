"""The layers contract: imports point one way, and no module imports itself back.

revkl_core (ground floor) -> bounds -> synthetic | llm_experiments -> figures -> revkl (CLI, reproduce).
A module may import its own package and the floors below; siblings (synthetic, llm_experiments) do not
import each other. Every import statement counts, module-level or inside a function, because a local
import is still a dependency (it only defers it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLOOR = {"revkl_core": 0, "bounds": 1, "synthetic": 2, "llm_experiments": 2, "figures": 3, "revkl": 4}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in FLOOR:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Our modules that ``name`` imports (``from pkg import mod`` resolves to ``pkg.mod`` when that is a module)."""
    found: set[str] = set()
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")[: len(name.split(".")) - node.level + (1 if is_pkg else 0)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: _imports(name, path, set(mods)) for name, path in mods.items()}


def test_imports_point_down_the_floors():
    up = []
    for mod, deps in _graph().items():
        pkg = mod.split(".")[0]
        for dep in deps:
            dpkg = dep.split(".")[0]
            if dpkg != pkg and FLOOR[dpkg] >= FLOOR[pkg]:
                up.append(f"{mod} -> {dep}")
    assert not up, "imports up or sideways: " + ", ".join(sorted(up))


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    cycles: list[str] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append(" -> ".join(stack[stack.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles: " + "; ".join(cycles)


def test_the_ground_floor_imports_only_outside_packages():
    graph = _graph()
    assert {d for m, ds in graph.items() if m.startswith("revkl_core") for d in ds if not d.startswith("revkl_core")} == set()


def test_the_contract_sees_imports():  # the graph is not vacuous: known edges are found
    graph = _graph()
    assert "revkl_core.runfolder" in graph["bounds.verify"]
    assert "bounds" in graph["synthetic.heads"] or "bounds.classes" in graph["synthetic.heads"]
