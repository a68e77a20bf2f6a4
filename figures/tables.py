"""LLM result tables in Markdown and LaTeX, from the runs' records (read through :mod:`figures.matched`).

Every cell is a test accuracy in percent over seeds, ``mean ± h`` with h the half-width of the 95%
Student-t interval (:func:`revkl_core.stats.t_interval`; the mean alone for one seed).

* Accuracy table: one row per study and weak->strong pair, one column per loss (noise-free units,
  the best mean of the row in bold); then the weak model, the ceiling, the weak-ceiling gap (a dagger
  marks a gap not significantly above 0: the scorecard leaves that pair out of its claims) and the
  number of seeds.
* Noise table: one row per (pair, flip rate), one column per loss.

Rows are labelled ``pair``, prefixed by the study (run folder, and dataset when a run holds several)
when there is more than one study.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from figures.matched import CLEAN, Obs, Study, llm_studies, weak_ceiling_gaps
from figures.results_io import RunData
from figures.style import loss_label, loss_sort_key, write_text
from revkl_core import stats

NO_GAP = "†"
NO_GAP_NOTE = f"{NO_GAP} weak-ceiling gap not significantly above 0 (95% t-interval over seeds): left out of the scorecard's claims."


def _cell(mean: float, half: float, n: int, best: bool, bold: tuple[str, str]) -> str:
    """``mean ± half`` (the mean alone for n = 1); in bold when ``best``: the whole cell in Markdown, the mean in LaTeX."""
    interval = "" if n == 1 else f" ± {half:.1f}"
    if not best:
        return f"{mean:.1f}{interval}"
    return f"{bold[0]}{mean:.1f}{bold[1]}{interval}" if bold[0].startswith("\\") else f"{bold[0]}{mean:.1f}{interval}{bold[1]}"


def _iv_cell(values: list[float], best: bool = False, bold: tuple[str, str] = ("", "")) -> str:
    iv = stats.t_interval(values)
    return _cell(iv.mean, iv.half_width, iv.n, best, bold)


def _latex_escape(s: str) -> str:
    return s.replace("\\", r"\textbackslash{}").replace("_", r"\_").replace("&", r"\&").replace("%", r"\%").replace("->", r"$\to$")


def _tex_number(cell: str) -> str:
    """A number cell in LaTeX: the interval beside the mean in a smaller size, the dagger as a superscript."""
    cell = re.sub(r" ± ([0-9.]+)", r"\\,{\\scriptsize$\\pm$\1}", cell)
    return cell.replace(NO_GAP, r"$^\dagger$")


def _tex_groups(body: list[list[str]], width: int) -> list[list[str] | str]:
    """Rows labelled ``study: pair`` grouped under one italic ``study`` line each (the paper's layout)."""
    out: list[list[str] | str] = []
    current = None
    for row in body:
        study, sep, rest = row[0].partition(": ")
        if sep and study != current:
            out.append(rf"\multicolumn{{{width}}}{{l}}{{\textit{{{_latex_escape(study)}}}}} \\")
            current = study
        out.append([rest, *row[1:]] if sep else row)
    return out


def _render(header: list[str], body: list[list[str]], fmt: str, n_label: int, note: str | None = None) -> str:
    """Markdown or LaTeX (booktabs) table; the first ``n_label`` columns are text labels, the rest numbers.

    In LaTeX, rows of several studies are grouped under the study's name and each interval is set
    beside its mean in a smaller size."""
    if fmt == "md":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines + ([f"\n{note}"] if note else [])) + "\n"
    lines = [r"\begin{tabular}{" + "l" * n_label + "r" * (len(header) - n_label) + "}", r"\toprule",
             " & ".join(_latex_escape(h) for h in header) + r" \\", r"\midrule"]
    for row in _tex_groups(body, len(header)):
        if isinstance(row, str):
            lines.append(row)
            continue
        cells = [_latex_escape(c) for c in row[:n_label]] + [_tex_number(c) for c in row[n_label:]]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if note:
        lines.append(r"\par{\footnotesize " + _latex_escape(note).replace(NO_GAP, r"$^\dagger$") + "}")
    return "\n".join(lines) + "\n"


def _studies(runs: list[RunData]) -> tuple[list[Study], bool]:
    studies = [s for run in runs for s in llm_studies(run)]
    return studies, len(studies) > 1


def _label(study: Study, setting: str, multi: bool) -> str:
    return f"{study.name}: {setting}" if multi else setting


def _accuracies(obs: list[Obs], setting: str, noise: str, rate: float | None = None) -> dict[str, list[float]]:
    """Per loss, the accuracies in percent of ``setting`` under ``noise`` (at flip ``rate`` when given)."""
    out: dict[str, list[float]] = {}
    for o in obs:
        if o.setting == setting and o.noise == noise and (rate is None or o.level[0] == rate):
            out.setdefault(o.loss, []).append(100 * o.acc)
    return out


def _check_fmt(fmt: str) -> None:
    if fmt not in ("md", "tex"):
        raise ValueError(f"fmt must be 'md' or 'tex', got {fmt!r}")


def accuracy_table(runs: list[RunData], fmt: str = "md") -> str:
    """The accuracy table (percent, mean ± 95% t half-width over seeds) as Markdown (``"md"``) or LaTeX (``"tex"``)."""
    _check_fmt(fmt)
    studies, multi = _studies(runs)
    bold = ("**", "**") if fmt == "md" else (r"\textbf{", "}")
    losses = sorted({o.loss for s in studies for o in s.obs if o.noise == CLEAN}, key=loss_sort_key)
    body, any_dagger = [], False
    for s in studies:
        gaps = weak_ceiling_gaps(s)
        for setting, base in s.baselines.items():
            accs = _accuracies(s.obs, setting, CLEAN)
            if not accs:
                continue
            top = max(sum(v) / len(v) for v in accs.values())
            row = [_label(s, setting, multi)]
            row += [_iv_cell(accs[l], sum(accs[l]) / len(accs[l]) == top, bold) if l in accs else "-" for l in losses]
            g = gaps[setting]
            gap = _cell(g["mean"], (g["hi"] - g["lo"]) / 2, g["n"], False, bold) + ("" if g["significant"] else f" {NO_GAP}")
            any_dagger |= not g["significant"]
            row += [_iv_cell([100 * w for w, _ in base]), _iv_cell([100 * c for _, c in base]), gap, str(len(base))]
            body.append(row)
    if not body:
        raise ValueError("runs: no noise-free records in any results.jsonl")
    header = ["pair"] + [loss_label(l) for l in losses] + ["weak", "ceiling", "gap", "seeds"]
    return _render(header, body, fmt, 1, NO_GAP_NOTE if any_dagger else None)


def noise_table(runs: list[RunData], fmt: str = "md") -> str:
    """Accuracy (percent, mean ± 95% t half-width over seeds) per pair and flip rate, one column per loss."""
    _check_fmt(fmt)
    studies, multi = _studies(runs)
    if not any(o.noise == "flip" for s in studies for o in s.obs):
        raise ValueError("runs: no flip-noise records in any results.jsonl")
    bold = ("**", "**") if fmt == "md" else (r"\textbf{", "}")
    losses = sorted({o.loss for s in studies for o in s.obs}, key=loss_sort_key)
    body = []
    for s in studies:
        for setting in s.baselines:
            rates = sorted({o.level[0] for o in s.obs if o.setting == setting and o.noise == "flip"})
            for noise, rate in [(CLEAN, None)] + [("flip", r) for r in rates]:
                accs = _accuracies(s.obs, setting, noise, rate)
                if not accs:
                    continue
                top = max(sum(v) / len(v) for v in accs.values())
                body.append([_label(s, setting, multi), f"{rate or 0.0:.2f}"] + [
                    _iv_cell(accs[l], sum(accs[l]) / len(accs[l]) == top, bold) if l in accs else "-" for l in losses])
    return _render(["pair", "flip rate"] + [loss_label(l) for l in losses], body, fmt, 2)


def write_tables(runs: list[RunData], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``llm_accuracy_table.{md,tex}`` and, when there is noise data, ``llm_noise_table.{md,tex}``."""
    out = Path(out_dir)
    paths = [write_text(out / f"llm_accuracy_table.{fmt}", accuracy_table(runs, fmt)) for fmt in ("md", "tex")]
    try:
        paths += [write_text(out / f"llm_noise_table.{fmt}", noise_table(runs, fmt)) for fmt in ("md", "tex")]
    except ValueError:
        pass  # no noise sweep in these runs: the accuracy table stands alone
    return paths
