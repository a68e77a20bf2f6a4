"""Every figure function renders from a small fixture and writes non-empty PDF and PNG files."""

from __future__ import annotations

from pathlib import Path

import pytest

from figures import plot_bounds, plot_llm, plot_synthetic, tables
from figures.plot_toy import draw_figure1
from figures.results_io import load_result_set
from figures.style import save_figure, new_figure
from figures.toy_fits import fit_categorical, fit_mixture


def _check(paths: list[Path], names: set[str]) -> None:
    assert {p.name for p in paths} == names
    for p in paths:
        assert p.stat().st_size > 500, p


def test_save_figure_rejects_paths(tmp_path: Path) -> None:
    fig, _ = new_figure()
    with pytest.raises(ValueError, match="name"):
        save_figure(fig, tmp_path, "a/b")


def test_figure1(tmp_path: Path) -> None:
    paths = draw_figure1(fit_mixture(grid_points=2001), fit_categorical(), tmp_path)
    _check(paths, {"fig1_forward_vs_reverse.pdf", "fig1_forward_vs_reverse.png"})


@pytest.mark.parametrize("fn,name", [(plot_bounds.draw_universal, "bounds_universal"), (plot_bounds.draw_gamma, "bounds_gamma"),
                                     (plot_bounds.draw_certified, "bounds_certified")])
def test_bounds_figures(tmp_path: Path, make_verify, fn, name: str) -> None:
    _check(fn(make_verify(violated=("T1", "T4")), tmp_path), {f"{name}.pdf", f"{name}.png"})


def test_bounds_holds_uses_the_allowance(make_verify) -> None:
    rep = make_verify(violated=("T4",))
    ok = plot_bounds.holds(plot_bounds.met_points(rep["T4"]))
    assert not ok[0] and ok[1:].all()  # the planted violation only; points inside their allowance hold


def test_bounds_figures_need_their_results(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="T3"):
        plot_bounds.draw_gamma({}, tmp_path)


def test_synthetic_gain_vs_misfit(tmp_path: Path, synthetic_run: Path) -> None:
    rs = load_result_set(synthetic_run.parent)
    _check(plot_synthetic.draw_gain_vs_misfit(rs.synthetic.records, tmp_path / "out"),
           {"synthetic_gain_vs_misfit.pdf", "synthetic_gain_vs_misfit.png"})


def test_synthetic_figures_need_their_groups(tmp_path: Path) -> None:
    clean = [{"head_class": "mixture", "K": 1, "loss": "reverse_kl", "noise_type": "none", "noise_rate": 0.0, "n": 3}]
    with pytest.raises(ValueError, match="softmax_mixture"):
        plot_synthetic.draw_violation_vs_K(clean, tmp_path)
    with pytest.raises(ValueError, match="noisy"):
        plot_synthetic.draw_accuracy_vs_noise(clean, tmp_path)


def test_llm_figures_need_rows(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="table"):
        plot_llm.draw_accuracy_bars([], tmp_path)


def test_llm_tables(tmp_path: Path, llm_run: Path) -> None:
    runs = load_result_set(llm_run.parent.parent).llm
    md = tables.accuracy_table(runs, "md")
    tex = tables.accuracy_table(runs, "tex")
    rows = runs[0].summary["table"]
    best = max((r for r in rows if r["pair"] == "minilm->mpnet"), key=lambda r: r["acc_mean"])
    assert f"**{100 * best['acc_mean']:.1f} ± {100 * best['acc_std']:.1f}**" in md
    assert "\\begin{tabular}" in tex and "\\textbf{" in tex and "minilm$\\to$mpnet" in tex
    noise_md = tables.noise_table(runs, "md")
    assert "| minilm->mpnet | 0.40 |" in noise_md
    written = tables.write_tables(runs, tmp_path)
    assert {p.name for p in written} == {"llm_accuracy_table.md", "llm_accuracy_table.tex", "llm_noise_table.md", "llm_noise_table.tex"}
    with pytest.raises(ValueError, match="fmt"):
        tables.accuracy_table(runs, "html")
