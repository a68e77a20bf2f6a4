r"""The theory on real models: drawn from each LLM run folder's ``theory.jsonl`` (``revkl llm theory``).

Fields: ``llm_experiments/feature_theory.py`` (``RECORD_FIELDS``); nothing is recomputed here.

* ``llm_theory``: T4 checked at the class's best fit :math:`F^\circ` (the truth replaced by a member of
  the class, so every hypothesis can hold): its slack
  :math:`\mathrm{Err}_{F^\circ}(F_w) - \mathbb{E}\,\mathrm{KL}(F_{sw}\|F_w) - \mathrm{Err}_{F^\circ}(F_{sw})`, one panel per
  head class (softmax-linear; probability-convex), one row per loss, one marker per fit (pair, run),
  filled where every hypothesis is met (then T4 holds when the slack is >= 0: the reverse-KL fit on
  the probability-convex class) and hollow where not (information only); the horizontal bar is the
  allowance from the solver certificate, whose largest value and kind head each panel. T6 is stated
  once, under the axis: how many fits meeting its hypotheses satisfy it, and the least slack.
* ``llm_theory_table.md``: the hypotheses' measured values per pair, class and loss: realizability
  gap epsilon, certificate, gain, misfit, T4/T5/T6 slacks (with unmet hypotheses), T4/T5 at the
  class's best fit, and T1-T3 informativeness (bound / |gap|) on the test part.
"""

from __future__ import annotations

import math
import os
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from figures.results_io import RunData
from figures.style import (ROLE_COLORS, figure_style, legend_above, loss_color, loss_label, loss_marker, loss_sort_key, new_figure,
                           save_figure, write_text)

HEADS = (("softmax-linear", "softmax head softmax(W h)"), ("probability-convex", "convex head A h(x), A column-stochastic"))


def theory_records(runs: list[RunData]) -> list[dict[str, Any]]:
    """Every theory record of every run, labelled ``pair`` (prefixed by the run name for several runs)."""
    from llm_experiments.feature_theory import load_theory

    multi = len(runs) > 1
    return [{**r, "label": f"{run.name}: {r['pair']}" if multi else r["pair"]} for run in runs for r in load_theory(run.path)]


def theory_runs(runs: list[RunData]) -> list[RunData] | None:
    """The runs that hold a theory.jsonl (None when none does: the figure is skipped)."""
    from llm_experiments.feature_theory import THEORY_FILE

    return [r for r in runs if (r.path / THEORY_FILE).exists()] or None


def _t6_caption(recs: list[dict[str, Any]]) -> str:
    """The one T6 reference: how many fits meeting T6's hypotheses satisfy it, and the least slack."""
    met = [r["theorems"]["T6"] for r in recs if r["theorems"]["T6"]["hypotheses_met"] and _finite(r["theorems"]["T6"]["slack"])]
    if not met:
        return "T6 (gain >= misfit - g - realizability term): no fit meets its hypotheses."
    held = sum(t["holds"] for t in met)
    least = min(t["slack"] for t in met)
    return textwrap.fill(f"T6 (gain >= misfit - g - realizability term, reference F°): holds in {held} of {len(met)} "
                         f"fits meeting its hypotheses; least slack {least:+.3g} nats.", 62)


def _panel(ax, recs: list[dict[str, Any]], kind: str, title: str) -> None:
    """One head class: a row per loss, T4's slack at F° per fit; filled where every hypothesis is met."""
    losses = sorted({r["loss"] for r in recs}, key=loss_sort_key)
    ticks = []
    for row, loss in enumerate(losses):
        pts = [r for r in recs if r["loss"] == loss and _finite(r["theorems"]["T4_ref"]["slack"])]
        ticks.append(loss_label(loss) if pts else f"{loss_label(loss)}\n(not finite)")
        y = row + (np.linspace(-0.2, 0.2, len(pts)) if len(pts) > 1 else np.zeros(len(pts)))
        for yi, r in zip(y, pts):
            t = r["theorems"]["T4_ref"]
            ax.errorbar(t["slack"], yi, xerr=t["allowance"] or 0.0, fmt="none", ecolor=loss_color(loss), elinewidth=0.8)
            ax.scatter(t["slack"], yi, s=22, marker=loss_marker(loss), linewidths=1.0, edgecolors=loss_color(loss),
                       facecolors=loss_color(loss) if t["hypotheses_met"] else "none", zorder=3)
    ax.axvline(0.0, color=ROLE_COLORS["target"], linewidth=0.8)
    ax.set_yticks(range(len(losses)), ticks)
    ax.set_ylim(len(losses) - 0.5, -0.5)
    ax.grid(False, axis="y")
    cert = max((r["certificate"] for r in recs), default=0.0)
    kinds = ", ".join(sorted({r["certificate_kind"] for r in recs}))
    ax.set_title(f"{title}\ncertificates <= {cert:.1e} ({kinds})", fontsize=7)


def build_figure(recs: list[dict[str, Any]]) -> Figure:
    """T4 at F° per head class and loss (see the module docstring); call inside :func:`figure_style`."""
    if not recs:
        raise ValueError("runs: no theory records")
    kinds = [(kind, title) for kind, title in HEADS if any(r["model_kind"] == kind for r in recs)]
    fig, axes = new_figure(nrows=len(kinds), height=1.55, sharex=True, squeeze=False)
    for ax, (kind, title) in zip(axes[:, 0], kinds):
        _panel(ax, [r for r in recs if r["model_kind"] == kind], kind, title)
    axes[-1, 0].set_xlabel("T4 slack at F°: Err(F_w) - misfit - Err(F_sw) (nats)")
    fig.supxlabel(_t6_caption(recs), fontsize=6)
    filled = Line2D([], [], linestyle="none", marker="o", markersize=4, color=ROLE_COLORS["target"])
    hollow = Line2D([], [], linestyle="none", marker="o", markersize=4, markerfacecolor="none", color=ROLE_COLORS["target"])
    legend_above(fig, 2, [filled, hollow], ["hypotheses met (T4 holds at >= 0)", "hypotheses unmet"])
    return fig


def _finite(x: Any) -> bool:
    return x is not None and math.isfinite(x)


def _f(x: Any, spec: str) -> str:
    return "n/a" if x is None else format(x, spec)


def _slack(t: dict[str, Any]) -> str:
    """Slack with ✓/✗ where every hypothesis is met; otherwise the slack and the unmet hypotheses (no verdict)."""
    if t["hypotheses_met"]:
        return f"{_f(t['slack'], '+.3g')} {'✓' if t['holds'] else '✗'}"
    return f"{_f(t['slack'], '+.3g')} (unmet: {', '.join(t['failed'])})"


def table_markdown(recs: list[dict[str, Any]]) -> str:
    """The hypotheses' measured values, one row per pair, head class and loss."""
    head = ("| pair | head | loss | ε train | ε test | certificate | gain | misfit | T4 slack | T5 slack | T6 slack "
            "| T4 at F° | T5 at F° | T1/T2/T3 bound ÷ \\|gap\\| (test) |")
    lines = ["# Theory on real models: measured hypotheses and slacks (weak-labelled part; nats)", "",
             "Slack = rhs - lhs (✓ holds within the certificate, ✗ fails, given only where every hypothesis is met); "
             "otherwise the unmet hypotheses are named and the slack is information. "
             "F° = the class's best fit to the truth (its error is ε).", "", head, "|" + "---|" * 14]
    for r in sorted(recs, key=lambda r: (r["label"], r["model_kind"], loss_sort_key(r["loss"]))):
        t, u = r["theorems"], r["universal"]["test"]
        ratios = " / ".join(_f(u[n]["ratio"], ".3g") for n in ("T1", "T2", "T3"))
        lines.append(f"| {r['label']} | {r['model_kind']} | {r['loss']} | {r['eps']:.4f} | {r['eps_test']:.4f} "
                     f"| {r['certificate']:.1e} ({r['certificate_kind']}) | {r['gain']:+.4f} | {r['misfit']:.4f} "
                     f"| {_slack(t['T4'])} | {_slack(t['T5'])} | {_slack(t['T6'])} | {_slack(t['T4_ref'])} "
                     f"| {_slack(t['T5_ref'])} | {ratios} |")
    return "\n".join(lines) + "\n"


def draw(runs: list[RunData], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``llm_theory.pdf/.png`` and ``llm_theory_table.md``."""
    recs = theory_records(runs)
    with figure_style():
        paths = save_figure(build_figure(recs), out_dir, "llm_theory")
    return [*paths, write_text(Path(out_dir) / "llm_theory_table.md", table_markdown(recs))]
