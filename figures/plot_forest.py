r"""Forest plots of the pooled claims: the study as the unit (:func:`figures.scorecard.pooled_analyses`).

One figure per pooled scorecard row (``forest_C5_llm``, ``forest_C5_all``, ``forest_C6_llm``, ...), one
panel per (reverse, forward) loss pair. Each included study is a row: its effect (mean paired difference
over its matched units, points of accuracy; the marker's area grows with its random-effects weight) with
its own 95% t-interval on n - 1 df; then the pooled random-effects estimate as a diamond spanning the
Hartung-Knapp interval, and the 95% prediction interval for a new study as a line (none for k = 2). The
panel title gives k, :math:`\tau^2` and :math:`I^2`; the right column gives each row's numbers and the
pooled (Holm-adjusted) p. Every number is the scorecard's own (:class:`figures.scorecard.Pooled`),
never recomputed here.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import Polygon

from figures.results_io import ResultSet
from figures.scorecard import POOLED_LLM, Pooled, pooled_analyses
from figures.style import PAGE_WIDTH, ROLE_COLORS, figure_style, loss_color, loss_label, new_figure, save_figure
from revkl_core.stats import Meta

ROW_IN, PANEL_EXTRA_IN = 0.19, 0.62  # inches per row, and per panel for its title and axis


def figure_name(pooled: Pooled) -> str:
    """``forest_<claim>_llm`` (pooled over the LLM studies) or ``forest_<claim>_all`` (over all studies)."""
    return f"forest_{pooled.claim}_{'llm' if pooled.evidence == POOLED_LLM else 'all'}"


def short_label(study: str) -> str:
    """A study's label without the ``llm/`` folder prefix (every LLM run lives there)."""
    return study.removeprefix("llm/")


def _pts(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:+.2f}"


def _rows(m: Meta) -> list[tuple[str, str]]:
    """(left label, right text) per row, top to bottom: studies, left-out studies, pooled, prediction interval."""
    rows = [(short_label(s.label), f"{_pts(s.mean_diff)} [{_pts(s.lo)}, {_pts(s.hi)}], n = {s.n}") for s in m.studies]
    rows += [(f"{short_label(name)} (left out)", why.split(":")[0]) for name, why in m.left_out]
    if m.k >= 1:
        rows.append(("pooled" if m.k > 1 else "one study: not pooled",
                     f"{_pts(m.mean_diff)} [{_pts(m.lo)}, {_pts(m.hi)}], p = {m.p:.2g}"))
    if m.k >= 2:
        rows.append(("prediction interval", f"[{_pts(m.pi_lo)}, {_pts(m.pi_hi)}]" if m.k >= 3 else "undefined for k = 2"))
    return rows


def _title(pair: tuple[str, str], m: Meta) -> str:
    head = f"{loss_label(pair[0])} vs {loss_label(pair[1])}: k = {m.k} stud{'y' if m.k == 1 else 'ies'}"
    return head + (f", τ² = {m.tau2:.3g}, I² = {100 * m.i2:.0f}%" if m.k >= 2 else "")


def _panel(ax: Axes, pair: tuple[str, str], m: Meta) -> None:
    """One pair's forest: study intervals and markers, the pooled diamond, the prediction-interval line."""
    rows = _rows(m)
    color = loss_color(pair[0])
    for y, (s, w) in enumerate(zip(m.studies, m.weights)):
        ax.plot([s.lo, s.hi], [y, y], color=color, linewidth=1.0)
        ax.scatter([s.mean_diff], [y], s=12 + 60 * w, marker="s", color=color, zorder=3, linewidths=0)
    y0 = len(m.studies) + len(m.left_out)
    if m.k >= 1:
        diamond = [(m.lo, y0), (m.mean_diff, y0 - 0.35), (m.hi, y0), (m.mean_diff, y0 + 0.35)]
        ax.add_patch(Polygon(diamond, closed=True, color=ROLE_COLORS["target"], zorder=3))
    if m.k >= 3:
        ax.plot([m.pi_lo, m.pi_hi], [y0 + 1, y0 + 1], color=ROLE_COLORS["target"], linewidth=1.0, marker="|", markersize=6)
    ax.axvline(0.0, color=ROLE_COLORS["reference"], linewidth=0.8, linestyle="--")
    bounds = [x for s in m.studies for x in (s.lo, s.hi, s.mean_diff)] + [m.lo, m.hi, m.pi_lo, m.pi_hi, 0.0]
    finite = [x for x in bounds if np.isfinite(x)]
    pad = 0.06 * (max(finite) - min(finite) or 1.0)
    ax.set_xlim(min(finite) - pad, max(finite) + pad)
    ys = list(range(len(rows)))
    ax.set_ylim(len(rows) - 0.4, -0.6)
    ax.set_yticks(ys, [left for left, _ in rows])
    ax.grid(False, axis="y")
    ax.tick_params(axis="y", length=0)
    right = ax.twinx()
    right.set_ylim(ax.get_ylim())
    right.set_yticks(ys, [text for _, text in rows])
    right.tick_params(axis="y", length=0)
    right.grid(False)
    ax.set_title(_title(pair, m))


def _draw_one(pooled: Pooled, out_dir: str | os.PathLike[str]) -> list[Path]:
    pairs = list(pooled.metas.items())
    heights = [len(_rows(m)) * ROW_IN + PANEL_EXTRA_IN for _, m in pairs]
    fig, axes = new_figure(nrows=len(pairs), height=sum(heights) / len(pairs) + 0.35 / len(pairs), width=PAGE_WIDTH,
                           squeeze=False, gridspec_kw={"height_ratios": heights})
    for ax, (pair, m) in zip(axes[:, 0], pairs):
        _panel(ax, pair, m)
    axes[-1, 0].set_xlabel("effect, points of accuracy (> 0: the claimed direction)")
    fig.suptitle(f"{pooled.claim}, {pooled.evidence}: random-effects meta-analysis, the study as the unit")
    return save_figure(fig, out_dir, figure_name(pooled))


def pooled_of(results: ResultSet) -> list[Pooled] | None:
    """The scorecard's pooled analyses of ``results`` (:func:`figures.scorecard.pooled_analyses`); None when there are none."""
    return pooled_analyses(results) or None


def draw_forests(pooled: list[Pooled], out_dir: str | os.PathLike[str]) -> list[Path]:
    """One forest figure per pooled row with at least one comparison (ValueError when there is none)."""
    drawn = [p for p in pooled if p.metas]
    if not drawn:
        raise ValueError("no pooled claim has a study to draw")
    with figure_style():
        return [path for p in drawn for path in _draw_one(p, out_dir)]
