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
from tests.figures.conftest import write_llm_run


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


def _dots(ax) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per errorbar series label: the dots' x, y and the (lo, hi) ends of their horizontal interval bars."""
    out = {}
    for c in ax.containers:
        line, _, bars = c.lines
        ends = np.array([[seg[0][0], seg[1][0]] for seg in bars[0].get_segments()]) if bars else np.empty((0, 2))
        out[c.get_label()] = (np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float), ends)
    return out


@pytest.mark.parametrize("draw, value", [(plot_llm.draw_accuracy_bars, "acc"), (plot_llm.draw_pgr_bars, "pgr")])
def test_llm_dots_are_the_summary_table(llm_run: Path, tmp_path: Path, drawn: list[Any], draw, value: str) -> None:
    runs = load_result_set(llm_run.parent.parent).llm
    table = runs[0].summary["table"]
    draw(runs, tmp_path)
    ax = drawn[0].axes[0]
    pairs = list(dict.fromkeys(r["pair"] for r in table))
    assert [t.get_text() for t in ax.get_yticklabels()] == pairs
    dots = _dots(ax)
    assert set(dots) == {loss_label(r["loss"]) for r in table}  # CE and forward KL differ here: both drawn
    for loss in {r["loss"] for r in table}:
        rows = [next(r for r in table if r["pair"] == p and r["loss"] == loss) for p in pairs]
        x, y, ends = dots[loss_label(loss)]
        np.testing.assert_allclose(x, [r[f"{value}_mean"] for r in rows])
        np.testing.assert_allclose(np.round(y), range(len(pairs)))  # one row per pair, top to bottom
        np.testing.assert_allclose(ends, [[r[f"{value}_lo"], r[f"{value}_hi"]] for r in rows])


def test_llm_pgr_shows_a_pair_without_a_gap_as_excluded(tmp_path: Path, drawn: list[Any]) -> None:
    write_llm_run(tmp_path / "llm" / "a", pairs=("minilm->mpnet",))
    write_llm_run(tmp_path / "llm" / "b", pairs=("minilm->mpnet",), gap=-0.02, rng_seed=3)  # ceiling below the weak model
    runs = load_result_set(tmp_path).llm
    gaps = plot_llm.pair_gaps(runs)
    assert gaps["a: minilm->mpnet"]["significant"] and not gaps["b: minilm->mpnet"]["significant"]
    plot_llm.draw_pgr_bars(runs, tmp_path / "out")
    ax = drawn[0].axes[0]
    rows = [t.get_text().replace("\n", " ") for t in ax.get_yticklabels()]
    assert rows == ["a: minilm->mpnet", "b: minilm->mpnet"]
    for x, y, _ in _dots(ax).values():  # a value for run a only, none for b
        assert len(x) == 1 and round(y[0]) == 0
    notes = [t for t in ax.texts if t.get_text().startswith("excluded")]
    assert len(notes) == 1 and notes[0].get_position()[1] == 1
    assert f"{gaps['b: minilm->mpnet']['mean']:+.1f}" in notes[0].get_text()


def test_llm_losses_that_train_identically_are_drawn_once(llm_run: Path, tmp_path: Path, drawn: list[Any]) -> None:
    runs = load_result_set(llm_run.parent.parent).llm
    rows = runs[0].summary["noise_table"]
    fwd = {(r["pair"], r["noise_level"]): r for r in rows if r["loss"] == "forward_kl"}
    for r in rows:  # CE as it trains: the same numbers as forward KL
        if r["loss"] == "ce":
            r.update({k: fwd[(r["pair"], r["noise_level"])][k] for k in ("acc_mean", "acc_lo", "acc_hi")})
    assert plot_llm.coinciding_losses(plot_llm.table_rows(runs, "noise_table"), ("acc_mean", "acc_lo", "acc_hi")) == {"ce": "forward_kl"}
    plot_llm.draw_accuracy_vs_noise(runs, tmp_path)
    for ax in [ax for ax in drawn[0].axes if ax.get_title()]:
        labels = {c.get_label() for c in ax.containers}
        assert labels == {"forward KL = CE", "reverse KL", "reverse CE"}
        base = next(r for r in runs[0].summary["table"] if r["pair"] == ax.get_title())
        refs = {ln.get_label(): ln.get_ydata()[0] for ln in ax.get_lines() if ln.get_label() in ("weak model", "strong ceiling")}
        assert refs == {"weak model": base["acc_weak"], "strong ceiling": base["acc_ceiling"]}
    rows[0]["acc_mean"] += 0.01  # one number differs: both are drawn
    assert plot_llm.coinciding_losses(plot_llm.table_rows(runs, "noise_table"), ("acc_mean",)) == {}


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


def _counts(ax) -> dict[str, dict[str, int]]:
    """{name: {"holds": n, "violated": m}} from the scatter labels "T1: holds (n)" / "T1: violated (m)"."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for label in _by_label(ax):
        name, _, rest = label.partition(": ")
        word, _, n = rest.partition(" (")
        if word in ("holds", "violated"):
            out[name][word] = int(n.rstrip(")"))
    return dict(out)


def test_bounds_figures_count_the_planted_violations(make_verify, tmp_path: Path, drawn: list[Any]) -> None:
    rep = make_verify(violated=("T1", "T4"), n=60)
    plot_bounds.draw_universal(rep, tmp_path)
    plot_bounds.draw_certified(rep, tmp_path)
    universal, certified = drawn
    by_name = _counts(universal.axes[0])
    assert by_name["T1"] == {"holds": 57, "violated": 3} and by_name["T2"] == {"holds": 60}
    counts = _counts(certified.axes[0])
    assert counts["T4"] == {"holds": 59, "violated": 1} and sum(counts["T5"].values()) == 60


def test_bounds_universal_draws_gap_over_bound(make_verify, tmp_path: Path, drawn: list[Any]) -> None:
    rep = make_verify(violated=("T1",), n=60)
    plot_bounds.draw_universal(rep, tmp_path)
    series = _by_label(drawn[0].axes[0])
    for name in ("T1", "T2", "T3"):
        pts = plot_bounds.met_points(rep[name])
        ratio = pts["lhs"] / pts["rhs"]
        ratio = ratio[(pts["rhs"] > 0) if name != "T3" else (pts["rhs"] < 0)]
        got = np.concatenate([_points(c)[:, 0] for label, c in series.items() if label.startswith(f"{name}: ")])
        np.testing.assert_allclose(np.sort(got), np.sort(ratio[ratio > 0]))
    violated = _points(series["T1: violated (3)"])[:, 0]
    assert (violated > 1).all() and (_points(series["T1: holds (57)"])[:, 0] <= 1).all()


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
