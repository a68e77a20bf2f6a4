"""The theory figure and table draw the records' own numbers (not just non-empty files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import PathCollection

from figures import plot_llm_theory as P
from figures.results_io import load_result_set
from figures.style import figure_style, loss_label, loss_sort_key


def test_figure_draws_t4_at_the_best_fit_from_the_records(llm_run: Path) -> None:
    runs = P.theory_runs(load_result_set(llm_run.parents[1]).llm)
    recs = P.theory_records(runs)
    assert len(recs) == 8
    with figure_style():
        fig = P.build_figure(recs)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title().splitlines()[0] for ax in panels] == [title for _, title in P.HEADS]
    for ax, (kind, _) in zip(panels, P.HEADS):
        sel = sorted((r for r in recs if r["model_kind"] == kind), key=lambda r: loss_sort_key(r["loss"]))
        assert [t.get_text() for t in ax.get_yticklabels()] == [loss_label(r["loss"]) for r in sel]
        dots = [c for c in ax.collections if isinstance(c, PathCollection)]
        got = sorted((float(c.get_offsets()[0][1]), float(c.get_offsets()[0][0]), c.get_facecolors().shape[0] == 1) for c in dots)
        want = [(row, r["theorems"]["T4_ref"]["slack"], r["theorems"]["T4_ref"]["hypotheses_met"]) for row, r in enumerate(sel)]
        assert np.allclose([g[:2] for g in got], [w[:2] for w in want])
        assert [g[2] for g in got] == [w[2] for w in want]  # filled where every hypothesis is met, hollow where not
        assert f"{max(r['certificate'] for r in sel):.1e}" in ax.get_title()
    t6 = [r["theorems"]["T6"] for r in recs]
    caption = " ".join(fig.get_supxlabel().split())
    assert f"holds in {sum(t['holds'] for t in t6)} of {len(t6)} fits" in caption
    assert f"{min(t['slack'] for t in t6):+.3g} nats" in caption
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
