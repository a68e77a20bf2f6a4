"""The theory figure and table draw the records' own numbers (not just non-empty files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from figures import plot_llm_theory as P
from figures.results_io import load_result_set
from figures.style import figure_style


def test_figure_series_and_lines_come_from_the_records(llm_run: Path) -> None:
    runs = P.theory_runs(load_result_set(llm_run.parents[1]).llm)
    recs = P.theory_records(runs)
    assert len(recs) == 8
    with figure_style():
        fig = P.build_figure(recs)
    for ax, (kind, _) in zip(fig.axes, P.HEADS):
        sel = {r["loss"]: r for r in recs if r["model_kind"] == kind}
        offsets = [c.get_offsets() for c in ax.collections]
        assert len(offsets) == 4
        drawn = sorted(tuple(o[0]) for o in offsets)
        assert np.allclose(drawn, sorted((r["misfit"], r["gain"]) for r in sel.values()))
        lines = {ln.get_label().split(":")[0]: ln for ln in ax.get_lines() if not ln.get_label().startswith("_")}
        x, y = lines["T4"].get_data()
        assert np.allclose(x, y)  # gain = misfit
        x6, y6 = lines["T6"].get_data()
        rev = sel["reverse_kl"]
        assert np.allclose(np.asarray(x6) - np.asarray(y6), rev["certificate"] + rev["theorems"]["T6"]["realizability_term"])
    fig.clf()


def test_draw_writes_figure_and_table(llm_run: Path, tmp_path: Path) -> None:
    runs = P.theory_runs(load_result_set(llm_run.parents[1]).llm)
    paths = P.draw(runs, tmp_path)
    assert {p.name for p in paths} == {"llm_theory.pdf", "llm_theory.png", "llm_theory_table.md"}
    text = (tmp_path / "llm_theory_table.md").read_text()
    recs = P.theory_records(runs)
    rows = [ln for ln in text.splitlines() if ln.startswith("| minilm->mpnet")]
    assert len(rows) == len(recs)
    r = next(r for r in recs if r["model_kind"] == "probability-convex" and r["loss"] == "rce")
    row = next(ln for ln in rows if "| probability-convex | rce |" in ln)
    assert f"{r['gain']:+.4f}" in row and f"{r['misfit']:.4f}" in row and "(unmet: realizable)" in row
    assert " / ".join(f"{r['universal']['test'][n]['ratio']:.3g}" for n in ("T1", "T2", "T3")) in row


def test_no_theory_records_skips(tmp_path: Path) -> None:
    assert P.theory_runs([]) is None
    with pytest.raises(ValueError, match="no theory records"):
        P.build_figure([])
