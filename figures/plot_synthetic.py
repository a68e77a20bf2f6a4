r"""Synthetic-study figures, drawn from a synthetic run folder (fields: ``synthetic/results.py``).

* ``synthetic_gain_vs_misfit``: per head class, the train-set gain Err(labels) - Err(F_sw)
  against the train misfit in the loss's direction, with y = x. T4 says reverse losses on a
  probability-convex class lie on or above the line.
* ``synthetic_violation_vs_K``: fraction of tasks violating Err(F_sw) <= Err(labels) - misfit
  (the summary's ``t4_violation_rate``) against the number K of softmax components.
* ``synthetic_accuracy_vs_noise``: test accuracy of F_sw against the noise level, per loss
  (mean over the study's settings), one panel per noise type.
* ``synthetic_accuracy_vs_gap``: test accuracy against the realizability gap epsilon (the
  ceiling's train Err), one point per (head class, loss, delta) group without noise.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from figures.style import (COLUMN_WIDTH, PAGE_WIDTH, ROLE_COLORS, figure_style, legend_above, loss_color, loss_label, loss_marker, loss_sort_key,
                            new_figure, save_figure)

def _weighted_mean(pairs: list[tuple[float, int]]) -> float:
    total = sum(n for _, n in pairs)
    return sum(v * n for v, n in pairs) / total if total else float("nan")


def _grid(n: int) -> tuple[int, int]:
    return (1, n) if n <= 2 else (2, (n + 1) // 2)


def draw_gain_vs_misfit(records: list[dict[str, Any]], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Train-set gain against train misfit, one panel per head class, colour per loss, with y = x."""
    if not records:
        raise ValueError("records: empty, nothing to draw")
    by_class: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_class[r["head_class"]].append(r)
    classes = sorted(by_class)
    nrows, ncols = _grid(len(classes))
    with figure_style():
        fig, axes = new_figure(ncols=ncols, nrows=nrows, height=2.1, width=PAGE_WIDTH, squeeze=False)
        flat = [ax for row in axes for ax in row]
        for ax, hc in zip(flat, classes):
            recs = by_class[hc]
            for loss in sorted({r["loss"] for r in recs}, key=loss_sort_key):
                sel = [r for r in recs if r["loss"] == loss]
                x = np.array([r["misfit_train"] for r in sel], dtype=float)
                y = np.array([r["err_labels_train"] - r["err_sw_train"] for r in sel], dtype=float)
                ax.scatter(x, y, s=8, alpha=0.6, marker=loss_marker(loss), color=loss_color(loss), label=loss_label(loss), linewidths=0)
            allx = np.array([r["misfit_train"] for r in recs], dtype=float)
            hi = float(np.nanmax(allx)) if len(allx) else 1.0
            ax.plot([0, hi], [0, hi], color=ROLE_COLORS["reference"], linewidth=1.0, label="gain = misfit")
            convex = " (probability-convex)" if recs[0].get("probability_convex") else ""
            ax.set_title(f"{hc}{convex}")
        for ax in flat[len(classes):]:
            ax.remove()
        fig.supxlabel("train misfit in the loss's direction (nats)", fontsize=8)
        fig.supylabel("train gain Err(labels) - Err(F_sw) (nats)", fontsize=8)
        legend_above(fig, 6)
        return save_figure(fig, out_dir, "synthetic_gain_vs_misfit")


def draw_violation_vs_K(groups: list[dict[str, Any]], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Violation rate of the T4 inequality against K (softmax mixtures), one line per loss."""
    sel = [g for g in groups if g["head_class"] == "softmax_mixture" and g.get("t4_violation_rate") is not None]
    if not sel:
        raise ValueError("groups: no softmax_mixture group with a t4_violation_rate")
    acc: dict[str, dict[int, list[tuple[float, int]]]] = defaultdict(lambda: defaultdict(list))
    for g in sel:
        acc[g["loss"]][int(g["K"])].append((float(g["t4_violation_rate"]), int(g["n"])))
    with figure_style():
        fig, ax = new_figure(height=2.6)
        for loss in sorted(acc, key=loss_sort_key):
            ks = sorted(acc[loss])
            ax.plot(ks, [_weighted_mean(acc[loss][k]) for k in ks], marker=loss_marker(loss), color=loss_color(loss), label=loss_label(loss))
        ax.set_xlabel("K (softmax components in the head)")
        ax.set_ylabel("fraction of tasks violating\nErr(F_sw) <= Err(labels) - misfit")
        ax.set_ylim(-0.02, 1.02)
        legend_above(fig, 3)
        return save_figure(fig, out_dir, "synthetic_violation_vs_K")


def draw_accuracy_vs_noise(groups: list[dict[str, Any]], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Test accuracy against noise level, one panel per noise type; the clean groups give the noise-free point."""
    kinds = sorted({g["noise_type"] for g in groups} - {"none"})
    if not kinds:
        raise ValueError("groups: no noisy group (noise_type swap_top or shrink_all)")
    clean_level = {"swap_top": 0.0, "shrink_all": 1.0}
    xlabel = {"swap_top": "swap_top rate (fraction of weak labels\nwith the top class swapped)",
              "shrink_all": r"shrink_all factor $\alpha$ (1 = no noise)"}
    with figure_style():
        fig, axes = new_figure(ncols=len(kinds), height=2.4, width=PAGE_WIDTH if len(kinds) > 1 else COLUMN_WIDTH, squeeze=False)
        for ax, kind in zip(axes[0], kinds):
            acc: dict[str, dict[float, list[tuple[float, int]]]] = defaultdict(lambda: defaultdict(list))
            for g in groups:
                if g.get("acc_sw_mean") is None:
                    continue
                if g["noise_type"] == kind:
                    acc[g["loss"]][float(g["noise_rate"])].append((g["acc_sw_mean"], int(g["n"])))
                elif g["noise_type"] == "none" and kind in clean_level:
                    acc[g["loss"]][clean_level[kind]].append((g["acc_sw_mean"], int(g["n"])))
            for loss in sorted(acc, key=loss_sort_key):
                xs = sorted(acc[loss])
                ax.plot(xs, [_weighted_mean(acc[loss][x]) for x in xs], marker=loss_marker(loss), color=loss_color(loss), label=loss_label(loss))
            ax.set_xlabel(xlabel.get(kind, f"{kind} noise level"))
            ax.set_title(f"{kind} noise (mean over settings)")
        axes[0][0].set_ylabel("test accuracy of F_sw (fraction)")
        legend_above(fig, 3)
        return save_figure(fig, out_dir, "synthetic_accuracy_vs_noise")


def draw_accuracy_vs_gap(groups: list[dict[str, Any]], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Noise-free test accuracy against the realizability gap epsilon, one point per group."""
    sel = [g for g in groups if g["noise_type"] == "none" and g.get("epsilon_mean") is not None and g.get("acc_sw_mean") is not None]
    if not sel:
        raise ValueError("groups: no noise-free group with epsilon_mean and acc_sw_mean")
    with figure_style():
        fig, ax = new_figure(height=2.6)
        for loss in sorted({g["loss"] for g in sel}, key=loss_sort_key):
            pts = sorted((g["epsilon_mean"], g["acc_sw_mean"]) for g in sel if g["loss"] == loss)
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=loss_marker(loss), color=loss_color(loss), label=loss_label(loss), s=18)
        weak = sorted((g["epsilon_mean"], g["acc_w_mean"]) for g in sel if g.get("acc_w_mean") is not None)
        if weak:
            ax.scatter([p[0] for p in weak], [p[1] for p in weak], marker="_", color=ROLE_COLORS["reference"], s=40, label="weak model")
        ax.set_xscale("symlog", linthresh=1e-3)
        ax.set_xlabel(r"realizability gap $\varepsilon$ = min Err over the class (nats)")
        ax.set_ylabel("test accuracy of F_sw (fraction)")
        legend_above(fig, 3)
        return save_figure(fig, out_dir, "synthetic_accuracy_vs_gap")
