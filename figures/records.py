"""The records behind the committed figures: a small, canonical copy of a results folder.

A results folder holds everything the studies computed (caches, logs, timings). The figures read
only a small part of it: ``bounds.json`` and, per run folder, ``config.toml``, ``results.jsonl``,
``summary.json`` and ``theory.jsonl``. :func:`export_records` copies exactly that part into a
records folder with every field that differs between two runs of the same inputs removed
(:data:`VOLATILE`: wall-clock times and finish dates) and the records in a canonical order (batches
sorted by id, the records a run no longer plans left out). Hence

* the records are small enough to commit beside the figures (``figures/records/``);
* ``revkl figures --results figures/records`` redraws every committed figure, table and the
  scorecard byte for byte (``tests/figures/test_committed.py`` does it in ``make test``);
* ``make reproduce`` on a fresh clone rewrites the same bytes, so ``git status`` stays clean.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable

from bounds.verify import load_report, write_json
from figures.results_io import BOUNDS_FILE, LLM_DIR, SYNTHETIC_DIR
from llm_experiments import results as llm_results
from llm_experiments.feature_theory import THEORY_FILE, load_theory
from revkl_core.runfolder import UserError, atomic_write_json, read_records, write_batches
from synthetic import results as synthetic_results

#: Fields that record when or how long, never what: dropped at every depth of a record or summary.
VOLATILE = frozenset({"wall_s", "finished_at", "elapsed_s", "compute_s", "calls_s", "last_call_s", "updated_at"})
CONFIG_FILE = "config.toml"


def strip_volatile(obj: Any) -> Any:
    """``obj`` without the :data:`VOLATILE` keys, at every depth of nested dicts and lists."""
    if isinstance(obj, dict):
        return {k: strip_volatile(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [strip_volatile(v) for v in obj]
    return obj


def _write_records(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """``records`` (with their ``batch`` ids) as a canonical JSONL: batches sorted by id, volatile fields dropped."""
    batches: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        rec = strip_volatile({k: v for k, v in r.items() if k not in ("batch", "batch_size")})
        batches[str(r["batch"])].append(rec)
    write_batches(path, sorted(batches.items()))


def _export_run(src: Path, dst: Path, current: Any, summary: dict[str, Any] | None) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    if (src / CONFIG_FILE).is_file():
        shutil.copyfile(src / CONFIG_FILE, dst / CONFIG_FILE)
    _write_records(dst / "results.jsonl", current(src))
    if summary is not None:
        atomic_write_json(dst / "summary.json", strip_volatile(summary), allow_nan=True)


def export_records(results_dir: str | Path, records_dir: str | Path, llm_runs: Iterable[str],
                   synthetic_run: str = SYNTHETIC_DIR) -> list[Path]:
    """Copy what the figures read from ``results_dir`` into ``records_dir`` (replacing its content).

    ``llm_runs``: the names of the LLM run folders under ``results_dir/llm/`` to include (those of
    the studies the figures are for; others in the folder are left out). ``synthetic_run``: the
    synthetic run folder to export as ``synthetic/``. Absent parts are skipped. Returns the files written.
    """
    src, dst = Path(results_dir), Path(records_dir)
    if dst.exists() and not dst.is_dir():
        raise UserError(f"records: {dst} is a file, expected a folder")
    if dst.is_dir():
        shutil.rmtree(dst)  # a study dropped from the suite must not leave its records behind
    dst.mkdir(parents=True)
    if (src / BOUNDS_FILE).is_file():
        report = load_report(src / BOUNDS_FILE)
        write_json(strip_volatile(report), dst / BOUNDS_FILE)
    syn = src / synthetic_run
    if (syn / "results.jsonl").is_file():
        summary = synthetic_results.load_summary(syn) if (syn / "summary.json").is_file() else None
        _export_run(syn, dst / SYNTHETIC_DIR, lambda p: read_records(p / "results.jsonl"), summary)
    for name in llm_runs:
        run = src / LLM_DIR / name
        if not (run / "results.jsonl").is_file():
            continue
        summary = llm_results.load_summary(run) if (run / "summary.json").is_file() else None
        out = dst / LLM_DIR / name
        _export_run(run, out, llm_results.current_records, summary)
        if (run / THEORY_FILE).is_file():
            _write_records(out / THEORY_FILE, load_theory(run))
    return sorted(p for p in dst.rglob("*") if p.is_file())
