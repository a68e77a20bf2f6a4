"""Draw every figure and table the result files allow, write the scorecard, and say what was skipped.

:func:`render_all` is the function behind ``revkl figures``. Each figure is a :class:`FigureSpec`
naming the part of the results it needs; a figure whose part is absent, or whose drawing
function finds no usable rows (it raises ValueError), is skipped with the reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from figures import plot_bounds, plot_forest, plot_llm, plot_llm_theory, plot_synthetic, tables
from figures.plot_toy import render_figure1
from figures.results_io import BOUNDS_FILE, LLM_DIR, SYNTHETIC_DIR, ResultSet, load_result_set
from figures.scorecard import build_scorecard, render_json, render_markdown
from figures.style import write_text
from revkl_core.runfolder import UserError, prepare_out_dir

Draw = Callable[[Any, Path], list[Path]]


@dataclass(frozen=True)
class FigureSpec:
    """A figure: its name, what it needs (for the skip message), how to get its input, how to draw it."""

    name: str
    needs: str
    select: Callable[[ResultSet], Any]
    draw: Draw


def _groups(rs: ResultSet) -> list[dict[str, Any]] | None:
    return (rs.synthetic.summary or {}).get("groups") if rs.synthetic and rs.synthetic.summary else None


FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("bounds_universal", BOUNDS_FILE, lambda rs: rs.verify, plot_bounds.draw_universal),
    FigureSpec("bounds_gamma", BOUNDS_FILE, lambda rs: rs.verify, plot_bounds.draw_gamma),
    FigureSpec("bounds_certified", BOUNDS_FILE, lambda rs: rs.verify, plot_bounds.draw_certified),
    FigureSpec("synthetic_gain_vs_misfit", f"{SYNTHETIC_DIR}/results.jsonl",
               lambda rs: rs.synthetic.records if rs.synthetic and rs.synthetic.records else None, plot_synthetic.draw_gain_vs_misfit),
    FigureSpec("synthetic_violation_vs_K", f"{SYNTHETIC_DIR}/summary.json", _groups, plot_synthetic.draw_violation_vs_K),
    FigureSpec("synthetic_accuracy_vs_noise", f"{SYNTHETIC_DIR}/summary.json", _groups, plot_synthetic.draw_accuracy_vs_noise),
    FigureSpec("synthetic_accuracy_vs_gap", f"{SYNTHETIC_DIR}/summary.json", _groups, plot_synthetic.draw_accuracy_vs_gap),
    FigureSpec("llm_accuracy", f"{LLM_DIR}/<run>/summary.json", lambda rs: rs.llm or None, plot_llm.draw_accuracy_bars),
    FigureSpec("llm_pgr", f"{LLM_DIR}/<run>/summary.json", lambda rs: rs.llm or None, plot_llm.draw_pgr_bars),
    FigureSpec("llm_accuracy_vs_noise", f"{LLM_DIR}/<run>/summary.json", lambda rs: rs.llm or None, plot_llm.draw_accuracy_vs_noise),
    FigureSpec("llm_gain_vs_misfit", f"{LLM_DIR}/<run>/results.jsonl", lambda rs: rs.llm or None, plot_llm.draw_gain_vs_misfit),
    FigureSpec("llm_theory", f"{LLM_DIR}/<run>/theory.jsonl", lambda rs: plot_llm_theory.theory_runs(rs.llm), plot_llm_theory.draw),
    FigureSpec("llm_tables", f"{LLM_DIR}/<run>/summary.json", lambda rs: rs.llm or None, tables.write_tables),
    FigureSpec("pooled_forest", f"{LLM_DIR}/<run>/results.jsonl", plot_forest.pooled_of, plot_forest.draw_forests),
)


@dataclass
class RenderReport:
    """What :func:`render_all` wrote, and what it skipped with the reason."""

    made: dict[str, list[Path]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"made    {name}: {', '.join(p.name for p in paths)}" for name, paths in self.made.items()]
        out += [f"skipped {name}: {reason}" for name, reason in self.skipped.items()]
        return out


def missing_parts(rs: ResultSet) -> list[str]:
    """The parts of a results folder that are absent (their claims would read "not yet measured")."""
    parts = [(BOUNDS_FILE, rs.verify is not None), (f"{SYNTHETIC_DIR}/", rs.synthetic is not None), (f"{LLM_DIR}/<run>/", bool(rs.llm))]
    return [name for name, present in parts if not present]


def render_all(results_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], toy: bool = True,
               progress: Callable[[str], None] | None = None, force: bool = False) -> RenderReport:
    """Draw Figure 1 (if ``toy``), every figure the results allow, the LLM tables, and the scorecard.

    The scorecard (``scorecard.md``, ``scorecard.json``) is always written: claims without
    results read "not yet measured". So that partial results never silently downgrade a
    scorecard made from complete ones, a folder that already holds a scorecard is refused
    (UserError, before anything is written) when a part of the results is missing, unless ``force``.
    """
    out = Path(out_dir)
    rs = load_result_set(results_dir)
    missing = missing_parts(rs)
    if missing and not force and any((out / f"scorecard.{ext}").exists() for ext in ("md", "json")):
        raise UserError(f"--out: {out} holds a scorecard, and {rs.root} lacks {', '.join(missing)}: its claims would be "
                        f"downgraded to 'not yet measured'; give a scratch --out, or --force to overwrite")
    prepare_out_dir(out)
    report = RenderReport()
    say = progress or (lambda _msg: None)
    if toy:
        say("fig1_forward_vs_reverse")
        report.made["fig1_forward_vs_reverse"] = render_figure1(out)
    for spec in FIGURES:
        data = spec.select(rs)
        if data is None:
            report.skipped[spec.name] = f"no {spec.needs} under {rs.root}"
            continue
        say(spec.name)
        try:
            report.made[spec.name] = spec.draw(data, out)
        except ValueError as err:
            report.skipped[spec.name] = f"results lack what it needs ({err})"
    rows = build_scorecard(rs)
    report.made["scorecard"] = [write_text(out / "scorecard.md", render_markdown(rows)),
                                write_text(out / "scorecard.json", render_json(rows))]
    return report
