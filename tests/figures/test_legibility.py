"""A test that looks: every figure `revkl figures` draws reads at its printed size, in paper form, the same every time.

The checker (:mod:`figures.legibility`) is first shown to catch each kind of failure on small figures
made to fail; then every figure :func:`figures.render.render_all` draws (iterating its specs, so a new
figure is covered without touching this file) is checked on the fixture results, on results shaped
like the committed studies (long run and model names, a pair whose ceiling is below its weak model),
and on the committed records when they exist.
"""

from __future__ import annotations

import filecmp
import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from tests.figures.conftest import write_llm_run
from matplotlib.image import imread

from figures.legibility import check_figure, check_render, saved_stems
from figures.render import render_all
from figures.style import COLUMN_WIDTH, PAGE_WIDTH, PNG_DPI, figure_style, new_figure

RECORDS = Path(__file__).resolve().parents[2] / "figures" / "records"


def _kinds(fig) -> list[str]:
    return sorted({p.kind for p in check_figure(fig)})


# -- the checker catches what it claims to ----------------------------------------------------------


def test_overlapping_texts_are_caught() -> None:
    with figure_style():
        fig, ax = new_figure()
        ax.text(0.5, 0.5, "first label", transform=ax.transAxes)
        ax.text(0.52, 0.5, "second label", transform=ax.transAxes)
        assert _kinds(fig) == ["overlap"]
        plt.close(fig)


def test_overlapping_tick_labels_are_caught() -> None:
    with figure_style():
        fig, ax = new_figure()
        ax.set_xticks(range(6), [f"a very long tick label {i}" for i in range(6)])
        problems = check_figure(fig)
        assert problems and all(p.kind == "overlap" for p in problems)
        plt.close(fig)


def test_text_off_the_canvas_is_caught() -> None:
    with figure_style():
        fig, ax = new_figure()
        ax.set_title("a title far too long to fit a single column of a two-column paper at all")
        assert _kinds(fig) == ["off canvas"]
        plt.close(fig)


def test_legend_over_data_is_caught() -> None:
    with figure_style():
        fig, ax = new_figure()
        ax.scatter([0.05, 0.1, 0.9], [0.95, 0.9, 0.1], label="points")
        ax.plot([0, 1], [0, 1], label="line")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(loc="upper left")
        assert _kinds(fig) == ["legend covers data"]
        plt.close(fig)


def test_legend_over_another_panel_is_caught() -> None:
    with figure_style():
        fig, (left, right) = plt.subplots(1, 2, figsize=(COLUMN_WIDTH, 2.4))  # no layout engine: nothing moves the legend
        left.plot([0, 1], [0, 1])
        grid = np.linspace(0.0, 0.3, 7)
        right.scatter(np.repeat(grid, 7), 1 - np.tile(grid, 7))  # the top-left corner of the right panel
        right.set_xlim(0, 1)
        right.set_ylim(0, 1)
        left.legend(["a long legend entry"], loc="upper left", bbox_to_anchor=(1.0, 1.0))  # hangs into the right panel
        problems = check_figure(fig)
        assert any(p.kind == "legend covers data" and "axes 2" in p.what for p in problems), problems
        plt.close(fig)


def test_a_clean_figure_passes_and_invisible_text_does_not_count() -> None:
    with figure_style():
        fig, ax = new_figure()
        ax.plot([0, 1], [0, 1], label="line")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        hidden = ax.text(0.5, 0.5, "hidden text over the data")
        hidden.set_visible(False)
        ax.text(0.51, 0.5, "a visible one")
        fig.legend(loc="outside upper center")
        assert check_figure(fig) == []
        plt.close(fig)


# -- every figure render_all draws ------------------------------------------------------------------


def _assert_reads(results: Path, out: Path) -> None:
    found = check_render(results, out)
    assert set(found) == saved_stems(out) and found, "every figure drawn is checked"
    problems = [str(p) for probs in found.values() for p in probs]
    assert not problems, "\n".join(problems)


def _width_in(png: Path) -> float:
    return imread(png).shape[1] / PNG_DPI


def test_every_figure_reads_is_paper_sized_and_deterministic(full_results: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    _assert_reads(full_results, first)
    render_all(full_results, second)
    files = sorted(p.name for p in first.iterdir())
    assert files == sorted(p.name for p in second.iterdir())
    assert [f for f in files if not filecmp.cmp(first / f, second / f, shallow=False)] == []  # byte-identical
    for png in first.glob("*.png"):
        assert min(abs(_width_in(png) - w) for w in (COLUMN_WIDTH, PAGE_WIDTH)) < 0.01, png.name
    for pdf in first.glob("*.pdf"):
        data = pdf.read_bytes()
        assert b"/FontFile2" in data and not re.search(rb"/Subtype\s*/Type3", data), f"{pdf.name}: fonts not embedded as TrueType"


def test_figures_of_many_studies_read(full_results: Path, tmp_path: Path) -> None:
    llm = full_results / "llm"
    write_llm_run(llm / "decoder-movie-pairs", pairs=("smollm2-135m->gemma3-270m", "smollm2-135m->qwen2.5-coder-0.5b"))
    write_llm_run(llm / "decoder-movie-pairs-flat", pairs=("smollm2-135m->qwen2.5-coder-0.5b",), gap=-0.02, rng_seed=3)
    write_llm_run(llm / "offline-movie-sentiment3", pairs=("bow->minilm",), rng_seed=5)
    _assert_reads(full_results, tmp_path / "out")


@pytest.mark.skipif(not (RECORDS / "bounds.json").is_file(), reason="no committed records (figures/records) yet")
def test_figures_of_the_committed_records_read(tmp_path: Path) -> None:
    _assert_reads(RECORDS, tmp_path / "out")
