"""Find and read the result files figures/ draws from, through each package's own reader.

Layout of a results folder ``DIR`` (documented in docs/figures.md)::

    DIR/bounds.json          output of `revkl bounds verify --out DIR/bounds.json`
    DIR/synthetic/           one synthetic run folder (config.toml, results.jsonl, summary.json)
    DIR/llm/<run>/           one or more LLM run folders (same files); DIR/llm itself may be one

A part that is absent is left empty: the callers then skip what needs it and say so. A part that is present but
malformed raises ValueError naming the file; a folder that does not exist or holds no part at all is a UserError.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bounds.verify import load_report
from revkl_core.runfolder import UserError
from llm_experiments import results as llm_results
from synthetic import results as synthetic_results

BOUNDS_FILE = "bounds.json"
SYNTHETIC_DIR = "synthetic"
LLM_DIR = "llm"
RUN_MARKERS = ("results.jsonl", "summary.json")


@dataclass
class RunData:
    """One run folder: its path relative to the results root, records and summary (None if absent)."""

    path: Path
    rel: str
    records: list[dict[str, Any]]
    summary: dict[str, Any] | None

    @property
    def name(self) -> str:
        return str((self.summary or {}).get("name") or self.path.name)


@dataclass
class ResultSet:
    """Everything found under a results folder."""

    root: Path
    verify: dict[str, Any] | None = None
    synthetic: RunData | None = None
    llm: list[RunData] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _is_run(path: Path) -> bool:
    return path.is_dir() and any((path / m).exists() for m in RUN_MARKERS)


def _load_run(root: Path, path: Path, reader: Any, records: Callable[[Path], list[dict[str, Any]]]) -> RunData:
    summary = reader.load_summary(path) if (path / "summary.json").exists() else None
    return RunData(path=path, rel=path.relative_to(root).as_posix(), records=records(path), summary=summary)


def load_result_set(results_dir: str | os.PathLike[str]) -> ResultSet:
    """Read ``bounds.json``, the synthetic run and the LLM runs under ``results_dir`` (each optional)."""
    root = Path(results_dir)
    if not root.exists():
        raise UserError(f"--results: {root} does not exist (expected a folder of results: {BOUNDS_FILE}, "
                        f"{SYNTHETIC_DIR}/, {LLM_DIR}/<run>/)")
    if not root.is_dir():
        raise UserError(f"--results: {root} is a file, expected a folder")
    rs = ResultSet(root=root)
    bounds_path = root / BOUNDS_FILE
    if bounds_path.exists():
        rs.verify = load_report(bounds_path)
    else:
        rs.notes.append(f"no {BOUNDS_FILE}")
    syn = root / SYNTHETIC_DIR
    if _is_run(syn):
        rs.synthetic = _load_run(root, syn, synthetic_results, synthetic_results.load_results)
    else:
        rs.notes.append(f"no synthetic run folder at {SYNTHETIC_DIR}/")
    llm = root / LLM_DIR
    candidates = [llm] if _is_run(llm) else sorted(p for p in llm.iterdir() if _is_run(p)) if llm.is_dir() else []
    # only the units the latest run planned: records from superseded inputs (an edited data file) stay out
    rs.llm = [_load_run(root, path, llm_results, llm_results.current_records) for path in candidates]
    if not rs.llm:
        rs.notes.append(f"no LLM run folder under {LLM_DIR}/")
    if rs.verify is None and rs.synthetic is None and not rs.llm:
        raise UserError(f"--results: {root} holds no results ({'; '.join(rs.notes)}): a mistyped path?")
    return rs
