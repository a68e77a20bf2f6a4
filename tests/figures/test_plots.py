"""Every figure function renders from a small fixture and writes non-empty PDF and PNG files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from figures import plot_bounds, plot_llm, plot_synthetic, tables
from figures.plot_toy import draw_figure1
from figures.results_io import load_result_set
from figures.style import save_figure, new_figure
from figures.toy_fits import fit_categorical, fit_mixture
from revkl_core import stats
from tests.figures.conftest import write_llm_run


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
    # Cells are mean +- the 95% t half-width over seeds of the records' noise-free accuracies (percent).
    clean = [r for r in runs[0].records if r["pair"] == "minilm->mpnet" and r["noise"]["kind"] == "none"]
    ivs = {loss: stats.t_interval([100 * r["acc_strong"] for r in clean if r["loss"] == loss]) for loss in {r["loss"] for r in clean}}
    best = max(ivs.values(), key=lambda iv: iv.mean)
    assert f"**{best.mean:.1f} ± {best.half_width:.1f}**" in md
    per_split = {r["split_seed"]: (100 * r["acc_weak"], 100 * r["acc_ceiling"]) for r in clean}  # one weak model per split
    weak, ceil, gap = (stats.t_interval(v) for v in ([w for w, _ in per_split.values()], [c for _, c in per_split.values()],
                                                       [c - w for w, c in per_split.values()]))
    cells = " | ".join(f"{iv.mean:.1f} ± {iv.half_width:.1f}" for iv in (weak, ceil, gap))
    assert f"| {cells} | 6 |" in md  # weak, ceiling, gap, seeds
    assert "\\begin{tabular}" in tex and "\\textbf{" in tex and "minilm$\\to$mpnet" in tex and "$\\pm$" in tex
    noise_md = tables.noise_table(runs, "md")
    assert "| minilm->mpnet | 0.40 |" in noise_md and "| minilm->mpnet | 0.00 |" in noise_md
    written = tables.write_tables(runs, tmp_path)
    assert {p.name for p in written} == {"llm_accuracy_table.md", "llm_accuracy_table.tex", "llm_noise_table.md", "llm_noise_table.tex"}
    with pytest.raises(ValueError, match="fmt"):
        tables.accuracy_table(runs, "html")


def test_llm_table_marks_a_pair_without_a_gap(tmp_path: Path) -> None:
    write_llm_run(tmp_path / "llm" / "a", pairs=("minilm->mpnet",))
    write_llm_run(tmp_path / "llm" / "b", dataset="flat", pairs=("minilm->mpnet",), gap=0.0, gap_spread=0.01)
    runs = load_result_set(tmp_path).llm
    md = tables.accuracy_table(runs, "md")
    rows = {line.split(" | ")[0]: line for line in md.splitlines() if line.startswith("| llm/")}
    assert set(rows) == {"| llm/a: minilm->mpnet", "| llm/b: minilm->mpnet"}  # several studies: labelled by study
    assert tables.NO_GAP in rows["| llm/b: minilm->mpnet"] and tables.NO_GAP not in rows["| llm/a: minilm->mpnet"]
    assert tables.NO_GAP_NOTE in md and "$^\\dagger$" in tables.accuracy_table(runs, "tex")


def test_llm_latex_table_in_the_paper_layout(tmp_path: Path) -> None:
    write_llm_run(tmp_path / "llm" / "a", pairs=("minilm->mpnet",))
    write_llm_run(tmp_path / "llm" / "b", dataset="flat", pairs=("minilm->mpnet",), rng_seed=2)
    runs = load_result_set(tmp_path).llm
    tex = tables.accuracy_table(runs, "tex").splitlines()
    groups = [i for i, line in enumerate(tex) if line.startswith("\\multicolumn")]
    assert [tex[i] for i in groups] == ["\\multicolumn{9}{l}{\\textit{llm/a}} \\\\", "\\multicolumn{9}{l}{\\textit{llm/b}} \\\\"]
    rows = [tex[i + 1] for i in groups]  # each study's pair, without the study prefix
    assert all(r.startswith("minilm$\\to$mpnet & ") for r in rows)
    for row in rows:  # the best mean in bold, its interval beside it in a smaller size
        best = max(float(m) for m in re.findall(r"& (?:\\textbf\{)?([0-9.]+)\}?\\,", row)[:4])
        assert f"\\textbf{{{best:.1f}}}\\,{{\\scriptsize$\\pm$" in row
