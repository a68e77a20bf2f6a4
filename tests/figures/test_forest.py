"""The forest plots draw the scorecard's own pooled numbers, one figure per pooled row, legibly.

Every number in a forest plot must be the one the scorecard's pooled row reports (the per-study effects,
the pooled interval and p, the prediction interval): the figure's text and the diamond are compared with
the scorecard rows built from the same fixture.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.figures.conftest import write_llm_run
from matplotlib.figure import Figure
from matplotlib.patches import Polygon
from tests.figures.test_scorecard import _synthetic_run

from figures import plot_forest
from figures.legibility import check_figure
from figures.render import render_all
from figures.results_io import ResultSet, load_result_set
from figures.scorecard import POOLED_ALL, POOLED_LLM, empirical_rows
from figures.style import inspect_saved


def _draw(results: ResultSet, out: Path) -> dict[str, Figure]:
    """Draw the forests; per figure name, its legibility problems checked and its texts and diamonds recorded."""
    seen: dict[str, dict] = {}

    def inspect(fig: Figure, name: str) -> None:
        seen[name] = {"problems": check_figure(fig, name),
                      "texts": [t.get_text() for ax in fig.axes for t in ax.get_yticklabels()]
                      + [ax.get_title() for ax in fig.axes],
                      "diamonds": [p.get_xy()[:4, 0].tolist() for ax in fig.axes for p in ax.patches if isinstance(p, Polygon)]}

    with inspect_saved(inspect):
        paths = plot_forest.draw_forests(plot_forest.pooled_of(results), out)
    assert all(p.stat().st_size > 500 for p in paths)
    assert {p.stem for p in paths} == set(seen)
    return seen


def _pooled(rows, cid: str, evidence: str):
    return next(r for r in rows if r.claim_id == cid and r.evidence == evidence)


def test_forest_plots_show_the_scorecards_numbers(tmp_path: Path) -> None:
    for name, effect in (("a", 0.04), ("b", 0.0), ("c", 0.01)):  # effects that differ between studies
        write_llm_run(tmp_path / "llm" / name, dataset=name, effect=effect, rng_seed=ord(name))
    results = load_result_set(tmp_path)
    seen = _draw(results, tmp_path / "out")
    assert set(seen) == {"forest_C5_llm", "forest_C6_llm"}
    rows = empirical_rows(results)
    for cid in ("C5", "C6"):
        fig = seen[f"forest_{cid}_llm"]
        assert fig["problems"] == []  # no overlapping or clipped text
        effects = _pooled(rows, cid, POOLED_LLM).effects
        for e in effects:
            assert f"{e['mean_diff']:+.2f} [{e['lo']:+.2f}, {e['hi']:+.2f}], p = {e['p']:.2g}" in fig["texts"]
            assert f"[{e['pi_lo']:+.2f}, {e['pi_hi']:+.2f}]" in fig["texts"]
            assert any(t.endswith(f"k = 3 studies, τ² = {e['tau2']:.3g}, I² = {100 * e['i2']:.0f}%") for t in fig["texts"])
            for s in e["studies"]:
                assert f"{s['mean_diff']:+.2f} [{s['lo']:+.2f}, {s['hi']:+.2f}], n = {s['n']}" in fig["texts"]
        assert [t for t in fig["texts"] if t in ("a", "b", "c")] == ["a", "b", "c"] * 2  # short labels: no "llm/"
        # the diamond spans the pooled interval with its centre at the pooled effect
        assert fig["diamonds"] == [pytest.approx([e["lo"], e["mean_diff"], e["hi"], e["mean_diff"]]) for e in effects]


def test_two_studies_have_no_prediction_interval_and_one_is_not_pooled(tmp_path: Path) -> None:
    write_llm_run(tmp_path / "two" / "llm" / "a", dataset="a", rng_seed=1)
    write_llm_run(tmp_path / "two" / "llm" / "b", dataset="b", rng_seed=2, effect=0.01)
    two = _draw(load_result_set(tmp_path / "two"), tmp_path / "out2")["forest_C5_llm"]
    assert two["problems"] == [] and two["texts"].count("undefined for k = 2") == 2
    assert "prediction interval" in two["texts"]
    write_llm_run(tmp_path / "one" / "llm" / "a", dataset="a", rng_seed=1)
    one = _draw(load_result_set(tmp_path / "one"), tmp_path / "out1")["forest_C5_llm"]
    assert one["problems"] == [] and "one study: not pooled" in one["texts"] and "prediction interval" not in one["texts"]


def test_a_study_without_spread_is_drawn_as_left_out(tmp_path: Path) -> None:
    write_llm_run(tmp_path / "llm" / "run")
    flat = _synthetic_run({("reverse_kl", "forward_kl"): [0.01, 0.01, 0.01]})  # one difference repeated: no variance
    results = ResultSet(tmp_path, synthetic=flat, llm=load_result_set(tmp_path).llm)
    rows = empirical_rows(results)
    pooled = _pooled(rows, "C5", POOLED_ALL)
    reason = "zero spread over 3 units: no within-study variance"
    assert [tuple(x) for x in pooled.effects[0]["left_out"]] == [("synthetic/synthetic", reason)]
    assert pooled.effects[0]["k"] == 1  # the LLM study alone: reported as itself
    assert "left out of acc(reverse_kl) - acc(forward_kl), noise-free: synthetic/synthetic (zero spread" in pooled.measured
    fig = _draw(results, tmp_path / "out")["forest_C5_all"]
    assert fig["problems"] == [] and "synthetic/synthetic (left out)" in fig["texts"]


def test_render_registers_the_forest_plots(tmp_path: Path, make_verify) -> None:
    (tmp_path / "bounds.json").write_text(json.dumps(make_verify()))
    report = render_all(tmp_path, tmp_path / "out", toy=False)
    assert "pooled_forest" in report.skipped  # no LLM study: nothing to pool
    write_llm_run(tmp_path / "llm" / "run")
    report = render_all(tmp_path, tmp_path / "out2", toy=False)
    assert [p.name for p in report.made["pooled_forest"]] == ["forest_C5_llm.pdf", "forest_C5_llm.png",
                                                              "forest_C6_llm.pdf", "forest_C6_llm.png"]
    with pytest.raises(ValueError, match="no pooled claim"):
        plot_forest.draw_forests([], tmp_path)
