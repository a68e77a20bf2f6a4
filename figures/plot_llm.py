"""Language-model figures, drawn from LLM run folders (fields: ``llm_experiments/results.py``).

The accuracy and noise tables come from each run's ``summary.json`` (``table``, ``noise_table``),
the gain/misfit scatter from ``results.jsonl``; nothing is recomputed. Rows of several runs are
drawn together, labelled ``pair`` (prefixed by the run's name when there is more than one run).

* ``llm_accuracy``: test accuracy per loss for each weak->strong pair, mean +- std over seeds,
  with the weak model's and the ceiling's accuracy as reference ticks.
* ``llm_pgr``: performance gap recovered per loss and pair.
* ``llm_accuracy_vs_noise``: accuracy against the flip rate of the weak labels, per loss.
* ``llm_gain_vs_misfit``: Err(F_w) - Err(F_sw) against the misfit in the loss's direction, on the
  real models' test predictions, with y = x.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from figures.results_io import RunData
from figures.style import ROLE_COLORS, figure_style, loss_color, loss_label, loss_marker, loss_sort_key, new_figure, save_figure


def setting_label(run: RunData, row: dict[str, Any], multi_run: bool) -> str:
    """Row label of a pair: ``weak->strong``, prefixed by the run name when several runs are drawn."""
    return f"{run.name}: {row['pair']}" if multi_run else str(row["pair"])


def table_rows(runs: list[RunData], key: str = "table") -> list[tuple[str, dict[str, Any]]]:
    """(label, row) for every row of every run's ``summary[key]``."""
    multi = len(runs) > 1
    return [(setting_label(run, row, multi), row) for run in runs for row in (run.summary or {}).get(key, [])]


def _grouped_bars(ax, rows: list[tuple[str, dict[str, Any]]], value: str, err: str | None) -> list[str]:
    labels = list(dict.fromkeys(label for label, _ in rows))
    losses = sorted({r["loss"] for _, r in rows}, key=loss_sort_key)
    width = 0.8 / max(len(losses), 1)
    x = np.arange(len(labels))
    for i, loss in enumerate(losses):
        vals, errs = [], []
        for label in labels:
            match = [r for lab, r in rows if lab == label and r["loss"] == loss]
            v = match[0].get(value) if match else None
            vals.append(np.nan if v is None else float(v))
            e = match[0].get(err) if (match and err) else None
            errs.append(0.0 if e is None else float(e))
        ax.bar(x - 0.4 + width * (i + 0.5), vals, width, yerr=errs if err else None, capsize=2,
               color=loss_color(loss), label=loss_label(loss), error_kw={"linewidth": 0.8})
    ax.set_xticks(x, labels, rotation=15 if len(labels) > 3 else 0, ha="right" if len(labels) > 3 else "center")
    return labels


def draw_accuracy_bars(runs: list[RunData], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Bars of mean test accuracy (+- std over seeds) per loss for each pair; weak and ceiling as ticks."""
    rows = table_rows(runs)
    if not rows:
        raise ValueError("runs: no accuracy table rows in any summary.json")
    with figure_style():
        fig, ax = new_figure(height=3.2)
        labels = _grouped_bars(ax, rows, "acc_mean", "acc_std")
        for i, label in enumerate(labels):
            r = next(r for lab, r in rows if lab == label)
            ax.hlines(r["acc_weak"], i - 0.45, i + 0.45, color=ROLE_COLORS["reference"], linestyles="--", linewidth=1.0,
                      label="weak model" if i == 0 else None)
            ax.hlines(r["acc_ceiling"], i - 0.45, i + 0.45, color=ROLE_COLORS["target"], linestyles=":", linewidth=1.0,
                      label="strong ceiling" if i == 0 else None)
        vals = [r[k] for _, r in rows for k in ("acc_mean", "acc_weak", "acc_ceiling") if r.get(k) is not None]
        lo, hi = min(vals), max(vals)
        ax.set_ylim(max(0.0, lo - 0.1 * (hi - lo) - 0.02), min(1.0, hi + 0.1 * (hi - lo) + 0.02))
        ax.set_ylabel("test accuracy (fraction)")
        ax.set_xlabel("weak -> strong pair")
        ax.set_title("Accuracy of the strong model trained on weak labels (mean +- std over seeds)")
        ax.legend(loc="upper left", ncols=3, fontsize=7)
        return save_figure(fig, out_dir, "llm_accuracy")


def draw_pgr_bars(runs: list[RunData], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Bars of mean PGR per loss for each pair."""
    rows = [(lab, r) for lab, r in table_rows(runs) if r.get("pgr_mean") is not None]
    if not rows:
        raise ValueError("runs: no accuracy table row with a pgr_mean")
    with figure_style():
        fig, ax = new_figure(height=3.0)
        _grouped_bars(ax, rows, "pgr_mean", None)
        ax.axhline(0.0, color=ROLE_COLORS["reference"], linewidth=0.8)
        ax.set_ylabel("PGR (fraction of the weak-ceiling gap)")
        ax.set_xlabel("weak -> strong pair")
        ax.set_title("Performance gap recovered, mean over seeds")
        ax.legend(loc="best", ncols=2)
        return save_figure(fig, out_dir, "llm_pgr")


def draw_accuracy_vs_noise(runs: list[RunData], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Accuracy (mean +- std over seeds) against the flip rate, one panel per pair, one line per loss."""
    rows = [(lab, r) for lab, r in table_rows(runs, "noise_table") if r["noise_kind"] in ("none", "flip")]
    if not any(r["noise_kind"] == "flip" for _, r in rows):
        raise ValueError("runs: no flip-noise rows in any noise_table")
    labels = list(dict.fromkeys(lab for lab, r in rows if r["noise_kind"] == "flip"))
    with figure_style():
        fig, axes = new_figure(ncols=min(len(labels), 3), nrows=(len(labels) + 2) // 3, height=2.9, squeeze=False)
        flat = [ax for row in axes for ax in row]
        for ax, label in zip(flat, labels):
            by_loss: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
            for lab, r in rows:
                if lab == label:
                    by_loss[r["loss"]].append((float(r["noise_level"]), float(r["acc_mean"]), float(r["acc_std"])))
            for loss in sorted(by_loss, key=loss_sort_key):
                pts = sorted(by_loss[loss])
                ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], marker=loss_marker(loss),
                            color=loss_color(loss), label=loss_label(loss), capsize=2)
            ax.set_xlabel("flip rate of weak labels (fraction)")
            ax.set_ylabel("test accuracy (fraction)")
            ax.set_title(label, fontsize=8)
        for ax in flat[len(labels):]:
            ax.remove()
        flat[0].legend(loc="best")
        return save_figure(fig, out_dir, "llm_accuracy_vs_noise")


def draw_gain_vs_misfit(runs: list[RunData], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Gain Err(F_w) - Err(F_sw) against misfit on the test predictions, one point per unit, with y = x."""
    recs = [r for run in runs for r in run.records if r.get("gain") is not None and r.get("misfit") is not None]
    if not recs:
        raise ValueError("runs: no record with gain and misfit")
    with figure_style():
        fig, ax = new_figure(height=3.0)
        for loss in sorted({r["loss"] for r in recs}, key=loss_sort_key):
            sel = [r for r in recs if r["loss"] == loss]
            ax.scatter([r["misfit"] for r in sel], [r["gain"] for r in sel], s=14, alpha=0.7, marker=loss_marker(loss),
                       color=loss_color(loss), label=loss_label(loss), linewidths=0)
        hi = max(r["misfit"] for r in recs)
        ax.plot([0, hi], [0, hi], color=ROLE_COLORS["reference"], linewidth=1.0, label="gain = misfit")
        ax.set_xlabel("test misfit in the loss's direction (nats)")
        ax.set_ylabel("gain Err(F_w) - Err(F_sw) (nats)")
        ax.set_title("Gain vs misfit on language models' test predictions")
        ax.legend(loc="best")
        return save_figure(fig, out_dir, "llm_gain_vs_misfit")
