"""The committed figures, tables and scorecard are exactly what the committed records make.

`revkl reproduce` exports the records the figures read to ``figures/records/`` and draws every figure
from them (:mod:`figures.records`); both are committed. Redrawing from the committed records must
give the committed files byte for byte, and nothing under ``figures/`` may be left over from an
older render: a stale figure fails here, in ``make test``.
"""

from __future__ import annotations

import filecmp
from pathlib import Path

from figures.render import render_all

FIGURES = Path(__file__).resolve().parents[2] / "figures"
RECORDS = FIGURES / "records"
DRAWN = {".png", ".pdf", ".md", ".tex", ".json"}


def _drawn(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.is_file() and p.suffix in DRAWN}


def test_committed_figures_are_what_the_committed_records_make(tmp_path: Path) -> None:
    report = render_all(RECORDS, tmp_path)
    assert not report.skipped, f"figures the committed records cannot make: {report.skipped}"
    made, committed = _drawn(tmp_path), _drawn(FIGURES)
    assert made == committed, f"only drawn: {sorted(made - committed)}; only committed (stale): {sorted(committed - made)}"
    differ = [name for name in sorted(made) if not filecmp.cmp(tmp_path / name, FIGURES / name, shallow=False)]
    assert not differ, f"committed files that differ from a fresh render of figures/records: {differ}"


def test_records_exist():  # the committed figures have committed records behind them
    assert (RECORDS / "bounds.json").is_file() and (RECORDS / "synthetic" / "results.jsonl").is_file()
    assert sorted(p.name for p in (RECORDS / "llm").iterdir()), "no LLM records"
