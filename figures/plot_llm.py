r"""Language-model figures, drawn from LLM run folders (fields: ``llm_experiments/results.py``).

The accuracy and noise figures come from each run's ``summary.json`` (``table``, ``noise_table``:
means with their 95% Student-t intervals over seeds, as the run stored them), the gain/misfit
scatter from ``results.jsonl``; nothing is recomputed. Rows of several runs are drawn together,
labelled ``pair`` (prefixed by the run's name when there is more than one run).

* ``llm_accuracy``: test accuracy per loss for each weak->strong pair (mean and 95% interval over
  seeds), with the weak model's and the ceiling's accuracy marked in each row.
* ``llm_pgr``: performance gap recovered, PGR = (acc - weak) / (ceiling - weak), with its 95%
  interval. PGR is undefined when the ceiling is not above the weak model: a pair whose weak-ceiling
  gap is not significantly above 0 (:func:`figures.matched.weak_ceiling_gaps`, the rule the
  scorecard and the tables use) is shown as excluded, with its gap, and never drawn as a value.
* ``llm_accuracy_vs_noise``: accuracy against the flip rate of the weak labels, one panel per pair,
  one line per loss, with the pair's weak model and ceiling as reference lines.
* ``llm_gain_vs_misfit``: Err(F_w) - Err(F_sw) against the misfit in the loss's direction, on the
  real models' test predictions, with y = x.

Losses that train identically are drawn once: CE = forward KL + H(F_w), and H(F_w) does not depend
on the strong model, so both have the same gradient and the same minimiser
(``llm_experiments.feature_theory.SOLVER_LOSS``). Where every drawn number of two such losses is the
same, the second is left out and the first is labelled "forward KL = CE"; otherwise both are drawn.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.transforms import blended_transform_factory

from figures.matched import llm_studies, weak_ceiling_gaps
from figures.results_io import RunData
from figures.style import (COLUMN_WIDTH, PAGE_WIDTH, ROLE_COLORS, figure_style, legend_above, loss_color, loss_label, loss_marker,
                           loss_sort_key, new_figure, save_figure, two_lines)
from llm_experiments.feature_theory import SOLVER_LOSS

Rows = list[tuple[str, dict[str, Any]]]
#: Two stored numbers are "the same" within this absolute difference (accuracies are fractions of a test set).
SAME_TOL = 1e-12


def setting_label(run: RunData, row: dict[str, Any], multi_run: bool) -> str:
    """Row label of a pair: ``weak->strong``, prefixed by the run name when several runs are drawn."""
    return f"{run.name}: {row['pair']}" if multi_run else str(row["pair"])


def table_rows(runs: list[RunData], key: str = "table") -> Rows:
    """(label, row) for every row of every run's ``summary[key]``."""
    multi = len(runs) > 1
    return [(setting_label(run, row, multi), row) for run in runs for row in (run.summary or {}).get(key, [])]


def pair_gaps(runs: list[RunData]) -> dict[str, dict[str, Any]]:
    """Per row label (:func:`setting_label`), the weak-ceiling gap in points with its interval and ``significant``
    (:func:`figures.matched.weak_ceiling_gaps` of each study of each run)."""
    multi, out = len(runs) > 1, {}
    for run in runs:
        for study in llm_studies(run):
            for pair, gap in weak_ceiling_gaps(study).items():
                out[setting_label(run, {"pair": pair}, multi)] = gap
    return out


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return abs(float(a) - float(b)) <= SAME_TOL


def coinciding_losses(rows: Rows, fields: tuple[str, ...]) -> dict[str, str]:
    """``{loss: the loss it is drawn as}`` for each loss with the same training objective as an earlier loss of
    :data:`~figures.style.LOSS_ORDER` (``SOLVER_LOSS``) whose rows all equal that loss's rows on ``fields``."""
    def rows_of(loss: str) -> dict[tuple[Any, ...], dict[str, Any]]:
        return {(lab, r.get("noise_kind"), r.get("noise_level")): r for lab, r in rows if r["loss"] == loss}

    losses = sorted({r["loss"] for _, r in rows}, key=loss_sort_key)
    out = {}
    for loss in losses:
        first = next(other for other in losses if SOLVER_LOSS.get(other, other) == SOLVER_LOSS.get(loss, loss))
        mine, theirs = rows_of(loss), rows_of(first)
        if first != loss and mine.keys() == theirs.keys() and all(_same(mine[k].get(f), theirs[k].get(f)) for k in mine for f in fields):
            out[loss] = first
    return out


def drawn_losses(rows: Rows, fields: tuple[str, ...]) -> dict[str, str]:
    """The losses to draw, in legend order, with their labels ("forward KL = CE" for losses drawn as one)."""
    merged = coinciding_losses(rows, fields)
    losses = sorted({r["loss"] for _, r in rows} - set(merged), key=loss_sort_key)
    return {loss: " = ".join([loss_label(loss)] + [loss_label(m) for m, k in merged.items() if k == loss]) for loss in losses}


def _interval(row: dict[str, Any], value: str) -> tuple[float, float, float]:
    """(mean, minus, plus) of ``value`` (``acc``, ``pgr``) in a summary row; a missing bound gives a zero arm."""
    mean = row.get(f"{value}_mean")
    if mean is None:
        return math.nan, 0.0, 0.0
    lo, hi = row.get(f"{value}_lo"), row.get(f"{value}_hi")
    return float(mean), 0.0 if lo is None else float(mean) - float(lo), 0.0 if hi is None else float(hi) - float(mean)


def _dot_rows(ax, rows: Rows, value: str, losses: dict[str, str], skip: set[str] = frozenset()) -> list[str]:
    """One row per setting (top to bottom), one dot per loss (dodged within the row) with its 95% interval."""
    settings = list(dict.fromkeys(lab for lab, _ in rows))
    offsets = np.linspace(-0.25, 0.25, len(losses)) if len(losses) > 1 else np.zeros(1)
    for off, (loss, label) in zip(offsets, losses.items()):
        pts = [(i + off, *_interval(r, value)) for i, s in enumerate(settings) if s not in skip
               for lab, r in rows if lab == s and r["loss"] == loss]
        pts = [p for p in pts if math.isfinite(p[1])]
        if pts:
            y, x, minus, plus = (np.array(c, dtype=float) for c in zip(*pts))
            ax.errorbar(x, y, xerr=[minus, plus], fmt=loss_marker(loss), color=loss_color(loss), label=label,
                        markersize=4, elinewidth=1.0, capsize=0)
    ax.set_yticks(range(len(settings)), [two_lines(s) for s in settings])
    ax.set_ylim(len(settings) - 0.5, -0.5)
    ax.grid(False, axis="y")
    return settings


def draw_accuracy_bars(runs: list[RunData], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Mean test accuracy with its 95% interval per loss for each pair; the weak model and the ceiling marked per row."""
    rows = table_rows(runs)
    if not rows:
        raise ValueError("runs: no accuracy table rows in any summary.json")
    with figure_style():
        fig, ax = new_figure(height=0.42 * len(dict.fromkeys(lab for lab, _ in rows)) + 0.9, width=PAGE_WIDTH)
        losses = drawn_losses(rows, ("acc_mean", "acc_lo", "acc_hi"))
        settings = _dot_rows(ax, rows, "acc", losses)
        for i, s in enumerate(settings):
            r = next(r for lab, r in rows if lab == s)
            ax.vlines(r["acc_weak"], i - 0.4, i + 0.4, color=ROLE_COLORS["reference"], linestyles="--", linewidth=1.0,
                      label="weak model" if i == 0 else None)
            ax.vlines(r["acc_ceiling"], i - 0.4, i + 0.4, color=ROLE_COLORS["target"], linestyles=":", linewidth=1.2,
                      label="strong ceiling" if i == 0 else None)
        ax.set_xlabel("test accuracy (fraction; mean and 95% interval over seeds)")
        legend_above(fig, 6, first=tuple(losses.values()))
        return save_figure(fig, out_dir, "llm_accuracy")


def _gap_text(gap: dict[str, Any]) -> str:
    return f"excluded: ceiling not above the weak model (gap {gap['mean']:+.1f} [{gap['lo']:+.1f}, {gap['hi']:+.1f}] points)"


def draw_pgr_bars(runs: list[RunData], out_dir: str | os.PathLike[str]) -> list[Path]:
    """PGR with its 95% interval per loss and pair; pairs without a weak-ceiling gap shown as excluded."""
    rows = [(lab, r) for lab, r in table_rows(runs) if r.get("pgr_mean") is not None]
    if not rows:
        raise ValueError("runs: no accuracy table row with a pgr_mean")
    gaps = pair_gaps(runs)
    excluded = {lab for lab, _ in rows if lab in gaps and not gaps[lab]["significant"]}
    with figure_style():
        fig, ax = new_figure(height=0.42 * len(dict.fromkeys(lab for lab, _ in rows)) + 0.9, width=PAGE_WIDTH)
        settings = _dot_rows(ax, rows, "pgr", drawn_losses(rows, ("pgr_mean", "pgr_lo", "pgr_hi")), skip=excluded)
        for x in (0.0, 1.0):
            ax.axvline(x, color=ROLE_COLORS["reference"], linewidth=0.8, zorder=0)
        across = blended_transform_factory(ax.transAxes, ax.transData)
        for i, s in enumerate(settings):
            if s in excluded:
                ax.text(0.5, i, _gap_text(gaps[s]), transform=across, ha="center", va="center", fontsize=7,
                        color=ROLE_COLORS["violated"], bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0})
        ax.set_xlabel("PGR = (acc - weak) / (ceiling - weak), 95% interval over seeds (0: weak, 1: ceiling)")
        legend_above(fig, 5)
        return save_figure(fig, out_dir, "llm_pgr")


def _noise_panel(ax, rows: Rows, label: str, losses: dict[str, str], base: dict[str, Any] | None) -> None:
    by_loss: dict[str, list[tuple[float, float, float, float]]] = defaultdict(list)
    for lab, r in rows:
        if lab == label and r["loss"] in losses:
            by_loss[r["loss"]].append((float(r["noise_level"]), *_interval(r, "acc")))
    for loss, name in losses.items():
        pts = sorted(by_loss.get(loss, []))
        if pts:
            x, y, minus, plus = (np.array(c, dtype=float) for c in zip(*pts))
            ax.errorbar(x, y, yerr=[minus, plus], marker=loss_marker(loss), color=loss_color(loss), label=name, capsize=0,
                        markersize=3.5, elinewidth=0.8)
    if base is not None:
        ax.axhline(base["acc_weak"], color=ROLE_COLORS["reference"], linestyle="--", linewidth=1.0, label="weak model")
        ax.axhline(base["acc_ceiling"], color=ROLE_COLORS["target"], linestyle=":", linewidth=1.2, label="strong ceiling")
    ax.set_title(two_lines(label), fontsize=7)


def draw_accuracy_vs_noise(runs: list[RunData], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Accuracy (mean and 95% interval over seeds) against the flip rate, one panel per pair, one line per loss,
    the pair's weak model and ceiling (noise-free table) as reference lines."""
    rows = [(lab, r) for lab, r in table_rows(runs, "noise_table") if r["noise_kind"] in ("none", "flip")]
    if not any(r["noise_kind"] == "flip" for _, r in rows):
        raise ValueError("runs: no flip-noise rows in any noise_table")
    labels = list(dict.fromkeys(lab for lab, r in rows if r["noise_kind"] == "flip"))
    bases = {lab: r for lab, r in reversed(table_rows(runs))}
    losses = drawn_losses(rows, ("acc_mean", "acc_lo", "acc_hi"))
    ncols = min(len(labels), 3)
    with figure_style():
        fig, axes = new_figure(ncols=ncols, nrows=(len(labels) + 2) // 3, height=1.9,
                               width=PAGE_WIDTH if ncols > 1 else COLUMN_WIDTH, squeeze=False)
        flat = [ax for row in axes for ax in row]
        for ax, label in zip(flat, labels):
            _noise_panel(ax, rows, label, losses, bases.get(label))
        for ax in flat[len(labels):]:
            ax.remove()
        fig.supxlabel("flip rate of the weak labels (fraction)", fontsize=8)
        fig.supylabel("test accuracy (fraction)", fontsize=8)
        legend_above(fig, 6, first=tuple(losses.values()))
        return save_figure(fig, out_dir, "llm_accuracy_vs_noise")


def draw_gain_vs_misfit(runs: list[RunData], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Gain Err(F_w) - Err(F_sw) against misfit on the test predictions, one point per unit, with y = x."""
    recs = [r for run in runs for r in run.records if r.get("gain") is not None and r.get("misfit") is not None]
    if not recs:
        raise ValueError("runs: no record with gain and misfit")
    with figure_style():
        fig, ax = new_figure(height=2.6)
        for loss in sorted({r["loss"] for r in recs}, key=loss_sort_key):
            sel = [r for r in recs if r["loss"] == loss]
            ax.scatter([r["misfit"] for r in sel], [r["gain"] for r in sel], s=12, alpha=0.7, marker=loss_marker(loss),
                       color=loss_color(loss), label=loss_label(loss), linewidths=0)
        hi = max(r["misfit"] for r in recs)
        ax.plot([0, hi], [0, hi], color=ROLE_COLORS["reference"], linewidth=1.0, label="gain = misfit")
        ax.set_xlabel("test misfit in the loss's direction (nats)")
        ax.set_ylabel("gain Err(F_w) - Err(F_sw) (nats)")
        legend_above(fig, 3)
        return save_figure(fig, out_dir, "llm_gain_vs_misfit")
