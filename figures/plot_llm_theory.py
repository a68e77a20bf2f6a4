r"""The theory on real models: drawn from each LLM run folder's ``theory.jsonl`` (``revkl llm theory``).

Fields: ``llm_experiments/feature_theory.py`` (``RECORD_FIELDS``); nothing is recomputed here.

* ``llm_theory``: gain :math:`\mathrm{Err}(F_w) - \mathrm{Err}(F_{sw})` against the misfit in the
  loss's direction, on the weak-labelled part where the theorems are stated, one panel per head
  class (softmax-linear; probability-convex), every loss. The solid line is T4 (gain = misfit:
  reverse-KL fits on a probability-convex class containing :math:`F^\star` lie on or above it); the
  dashed line is T6's correction for that class's reverse-KL fit,
  gain = misfit - (g + realizability term), which T6 guarantees only on the probability-convex class.
* ``llm_theory_table.md``: the hypotheses' measured values per pair, class and loss: realizability
  gap epsilon, certificate, gain, misfit, T4/T5/T6 slacks (with unmet hypotheses), T4/T5 at the
  class's best fit, and T1-T3 informativeness (bound / |gap|) on the test part.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from figures.results_io import RunData
from figures.style import ROLE_COLORS, figure_style, loss_color, loss_label, loss_marker, loss_sort_key, new_figure, save_figure, write_text

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


def build_figure(recs: list[dict[str, Any]]) -> Figure:
    """The two-panel scatter (see the module docstring); call inside :func:`figure_style`."""
    if not recs:
        raise ValueError("runs: no theory records")
    fig, axes = new_figure(ncols=2, height=3.2)
    for ax, (kind, title) in zip(axes, HEADS):
        every = [r for r in recs if r["model_kind"] == kind]
        sel = [r for r in every if _finite(r["misfit"]) and _finite(r["gain"])]
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("misfit in the loss's direction (nats)")
        off = sorted({loss_label(r["loss"]) for r in every if r not in sel})
        if off:  # e.g. reverse CE on softmax: the minimiser saturates and Err is infinite in float64
            ax.text(0.02, 0.02, f"not drawn (gain not finite): {', '.join(off)}", transform=ax.transAxes, fontsize=6)
        if not sel:
            ax.text(0.5, 0.5, "no finite fits of this class", ha="center", va="center", transform=ax.transAxes)
            continue
        for loss in sorted({r["loss"] for r in sel}, key=loss_sort_key):
            pts = [r for r in sel if r["loss"] == loss]
            ax.scatter([r["misfit"] for r in pts], [r["gain"] for r in pts], marker=loss_marker(loss), color=loss_color(loss),
                       label=loss_label(loss), s=26, alpha=0.85, linewidths=0, zorder=3)
        hi = max(r["misfit"] for r in sel) * 1.1
        ax.plot([0, hi], [0, hi], color=ROLE_COLORS["target"], linewidth=1.0, label="T4: gain = misfit")
        for r in sel:
            t6 = r["theorems"]["T6"].get("realizability_term")
            if r["loss"] == "reverse_kl" and _finite(t6):
                c = r["certificate"] + t6
                ax.plot([0, hi], [-c, hi - c], color=ROLE_COLORS["reference"], linestyle="--", linewidth=1.0,
                        label=f"T6: gain = misfit - {c:.3g}" + (f" ({r['label']})" if len({x['label'] for x in sel}) > 1 else ""))
        ax.axhline(0, color=ROLE_COLORS["reference"], linewidth=0.6)
        ax.legend(loc="best", fontsize=7)
    axes[0].set_ylabel("gain Err(F_w) - Err(F_sw) (nats)")
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
