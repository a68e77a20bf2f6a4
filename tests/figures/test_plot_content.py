"""What each figure draws: panels, series and plotted values checked against the result files they read.

Each drawing function ends in ``save_figure``; the fixture below records the Figure it is handed
(then saves it as usual), so the tests read the artists matplotlib actually drew.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from figures import plot_bounds, plot_llm, plot_synthetic, plot_toy, style
from figures.results_io import load_result_set
from figures.style import loss_label
from figures.toy_fits import fit_categorical, fit_mixture


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The Figures handed to save_figure during the test, in order."""
    figs: list[Any] = []
    real = style.save_figure

    def record(fig, out_dir, name):
        figs.append(fig)
        return real(fig, out_dir, name)

    for module in (plot_bounds, plot_llm, plot_synthetic, plot_toy):
        monkeypatch.setattr(module, "save_figure", record)
    return figs


def _by_label(ax) -> dict[str, Any]:
    return {c.get_label(): c for c in ax.collections if not c.get_label().startswith("_")}


def _points(coll) -> np.ndarray:
    return np.asarray(coll.get_offsets(), dtype=float)


def _sorted_rows(a: np.ndarray) -> np.ndarray:
    return a[np.lexsort(a.T[::-1])] if len(a) else a


def _same_points(got: np.ndarray, want: list[tuple[float, float]]) -> None:
    np.testing.assert_allclose(_sorted_rows(got), _sorted_rows(np.asarray(want, dtype=float).reshape(-1, 2)), rtol=1e-12)


def _wmean(pairs: list[tuple[float, int]]) -> float:
    return sum(v * n for v, n in pairs) / sum(n for _, n in pairs)


# -- synthetic ------------------------------------------------------------------------------------


def test_synthetic_gain_vs_misfit_plots_every_record(synthetic_run: Path, tmp_path: Path, drawn: list[Any]) -> None:
    recs = load_result_set(synthetic_run.parent).synthetic.records
    plot_synthetic.draw_gain_vs_misfit(recs, tmp_path)
    axes = [ax for ax in drawn[0].axes if ax.get_title()]
    classes = sorted({r["head_class"] for r in recs})
    assert [ax.get_title().split(" ")[0] for ax in axes] == classes
    for ax, hc in zip(axes, classes):
        series = _by_label(ax)
        losses = sorted({r["loss"] for r in recs if r["head_class"] == hc})
        assert set(series) == {loss_label(loss) for loss in losses}
        for loss in losses:
            sel = [r for r in recs if r["head_class"] == hc and r["loss"] == loss]
            want = [(r["misfit_train"], r["err_labels_train"] - r["err_sw_train"]) for r in sel]
            finite = [p for p in want if np.isfinite(p).all()]
            got = _points(series[loss_label(loss)])
            _same_points(got[np.isfinite(got).all(1)], finite)
        assert any(line.get_label() == "gain = misfit" for line in ax.get_lines())


def test_synthetic_violation_vs_K_is_the_weighted_mean_of_the_summary(synthetic_run: Path, tmp_path: Path, drawn: list[Any]) -> None:
    groups = load_result_set(synthetic_run.parent).synthetic.summary["groups"]
    plot_synthetic.draw_violation_vs_K(groups, tmp_path)
    ax = drawn[0].axes[0]
    want: dict[str, dict[int, list[tuple[float, int]]]] = defaultdict(lambda: defaultdict(list))
    for g in groups:
        if g["head_class"] == "softmax_mixture":
            want[g["loss"]][g["K"]].append((g["t4_violation_rate"], g["n"]))
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {loss_label(loss) for loss in want}
    for loss, by_k in want.items():
        assert list(lines[loss_label(loss)].get_xdata()) == [2, 4]
        np.testing.assert_allclose(lines[loss_label(loss)].get_ydata(), [_wmean(by_k[k]) for k in (2, 4)])


def test_synthetic_accuracy_vs_noise_from_the_summary(synthetic_run: Path, tmp_path: Path, drawn: list[Any]) -> None:
    groups = load_result_set(synthetic_run.parent).synthetic.summary["groups"]
    plot_synthetic.draw_accuracy_vs_noise(groups, tmp_path)
    axes = [ax for ax in drawn[0].axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["swap_top noise (mean over settings)"]
    lines = {line.get_label(): line for line in axes[0].get_lines()}
    for loss in {g["loss"] for g in groups}:
        clean = _wmean([(g["acc_sw_mean"], g["n"]) for g in groups if g["loss"] == loss and g["noise_type"] == "none"])
        noisy = _wmean([(g["acc_sw_mean"], g["n"]) for g in groups if g["loss"] == loss and g["noise_type"] == "swap_top"])
        assert list(lines[loss_label(loss)].get_xdata()) == [0.0, 0.3]
        np.testing.assert_allclose(lines[loss_label(loss)].get_ydata(), [clean, noisy])


def test_synthetic_accuracy_vs_gap_one_point_per_clean_group(synthetic_run: Path, tmp_path: Path, drawn: list[Any]) -> None:
    groups = load_result_set(synthetic_run.parent).synthetic.summary["groups"]
    plot_synthetic.draw_accuracy_vs_gap(groups, tmp_path)
    series = _by_label(drawn[0].axes[0])
    clean = [g for g in groups if g["noise_type"] == "none"]
    for loss in {g["loss"] for g in clean}:
        _same_points(_points(series[loss_label(loss)]), [(g["epsilon_mean"], g["acc_sw_mean"]) for g in clean if g["loss"] == loss])
    _same_points(_points(series["weak model"]), [(g["epsilon_mean"], g["acc_w_mean"]) for g in clean])


# -- language models ------------------------------------------------------------------------------


def _bars(ax) -> dict[str, list[float]]:
    return {c.get_label(): [p.get_height() for p in c.patches] for c in ax.containers if hasattr(c, "patches")}


@pytest.mark.parametrize("draw, value", [(plot_llm.draw_accuracy_bars, "acc_mean"), (plot_llm.draw_pgr_bars, "pgr_mean")])
def test_llm_bars_are_the_summary_table(llm_run: Path, tmp_path: Path, drawn: list[Any], draw, value: str) -> None:
    runs = load_result_set(llm_run.parent.parent).llm
    table = runs[0].summary["table"]
    draw(runs, tmp_path)
    ax = drawn[0].axes[0]
    pairs = list(dict.fromkeys(r["pair"] for r in table))
    assert [t.get_text() for t in ax.get_xticklabels()] == pairs
    bars = _bars(ax)
    assert set(bars) == {loss_label(r["loss"]) for r in table}
    for loss in {r["loss"] for r in table}:
        want = [next(r[value] for r in table if r["pair"] == p and r["loss"] == loss) for p in pairs]
        np.testing.assert_allclose(bars[loss_label(loss)], want)


def test_llm_accuracy_vs_noise_one_panel_per_pair(llm_run: Path, tmp_path: Path, drawn: list[Any]) -> None:
    runs = load_result_set(llm_run.parent.parent).llm
    rows = [r for r in runs[0].summary["noise_table"] if r["noise_kind"] in ("none", "flip")]
    plot_llm.draw_accuracy_vs_noise(runs, tmp_path)
    axes = [ax for ax in drawn[0].axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == list(dict.fromkeys(r["pair"] for r in rows))
    for ax in axes:
        series = {c.get_label(): c.lines[0] for c in ax.containers}
        for loss in {r["loss"] for r in rows}:
            pts = sorted((r["noise_level"], r["acc_mean"]) for r in rows if r["pair"] == ax.get_title() and r["loss"] == loss)
            np.testing.assert_allclose(np.asarray(series[loss_label(loss)].get_xdata(), dtype=float), [p[0] for p in pts])
            np.testing.assert_allclose(np.asarray(series[loss_label(loss)].get_ydata(), dtype=float), [p[1] for p in pts])


def test_llm_gain_vs_misfit_plots_every_record(llm_run: Path, tmp_path: Path, drawn: list[Any]) -> None:
    runs = load_result_set(llm_run.parent.parent).llm
    plot_llm.draw_gain_vs_misfit(runs, tmp_path)
    series = _by_label(drawn[0].axes[0])
    for loss in {r["loss"] for r in runs[0].records}:
        _same_points(_points(series[loss_label(loss)]), [(r["misfit"], r["gain"]) for r in runs[0].records if r["loss"] == loss])


# -- theory and Figure 1 --------------------------------------------------------------------------


def _counts(ax) -> dict[str, int]:
    """{"holds": n, "violated": m} from the scatter labels "holds (n)" / "violated (m)"."""
    out = {}
    for label in _by_label(ax):
        word, _, n = label.partition(" (")
        if word in ("holds", "violated"):
            out[word] = int(n.rstrip(")"))
    return out


def test_bounds_figures_count_the_planted_violations(make_verify, tmp_path: Path, drawn: list[Any]) -> None:
    rep = make_verify(violated=("T1", "T4"), n=60)
    plot_bounds.draw_universal(rep, tmp_path)
    plot_bounds.draw_certified(rep, tmp_path)
    universal, certified = drawn
    by_name = {ax.get_title().splitlines()[0]: _counts(ax) for ax in universal.axes if ax.get_title()}
    assert by_name["T1"] == {"holds": 57, "violated": 3} and by_name["T2"] == {"holds": 60}
    counts = [_counts(ax) for ax in certified.axes if ax.get_title()]
    assert {"holds": 59, "violated": 1} in counts and all(sum(c.values()) == 60 for c in counts)


def test_figure1_draws_both_fits(tmp_path: Path, drawn: list[Any]) -> None:
    mix, cat = fit_mixture(grid_points=2001), fit_categorical()
    plot_toy.draw_figure1(mix, cat, tmp_path)
    axes = [ax for ax in drawn[0].axes if ax.get_title()]
    assert [ax.get_title()[:3] for ax in axes] == ["(a)", "(b)", "(c)"]
    labels = [line.get_label() for line in axes[0].get_lines()]
    assert f"forward KL: moment matching (m={mix.forward_closed_form.mean:.2f}, s={mix.forward_closed_form.std:.2f})" in labels
    heights = _bars(axes[1])
    np.testing.assert_allclose(heights["weak $q$"], cat.q)
    np.testing.assert_allclose(heights[f"forward fit (t={cat.forward_t:.4f})"], cat.family(cat.forward_t))
    np.testing.assert_allclose([line.get_xdata()[0] for line in axes[2].get_lines()[2:4]],
                               [cat.forward_t_closed_form, cat.reverse_t_closed_form])
