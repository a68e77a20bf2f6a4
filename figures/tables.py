"""LLM result tables in Markdown and LaTeX, from the ``table`` and ``noise_table`` of each run's summary.

Accuracy table: one row per weak->strong pair, one column per loss, cells "mean +- std" in
percent over seeds, the best mean of the row in bold; then the weak model and the ceiling.
Noise table: one row per (pair, flip rate), one column per loss.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from figures.plot_llm import table_rows
from figures.results_io import RunData
from figures.style import loss_label, loss_sort_key, write_text


def _pivot(rows: list[tuple[str, dict[str, Any]]], row_key: Any) -> tuple[list[Any], list[str], dict[tuple[Any, str], dict[str, Any]]]:
    keys = list(dict.fromkeys(row_key(lab, r) for lab, r in rows))
    losses = sorted({r["loss"] for _, r in rows}, key=loss_sort_key)
    cells = {(row_key(lab, r), r["loss"]): r for lab, r in rows}
    return keys, losses, cells


def _cell(r: dict[str, Any] | None, best: bool, bold: tuple[str, str]) -> str:
    if r is None:
        return "-"
    text = f"{100 * r['acc_mean']:.1f} ± {100 * r['acc_std']:.1f}"
    return f"{bold[0]}{text}{bold[1]}" if best else text


def _latex_escape(s: str) -> str:
    return s.replace("\\", r"\textbackslash{}").replace("_", r"\_").replace("&", r"\&").replace("%", r"\%").replace("->", r"$\to$")


def _render(header: list[str], body: list[list[str]], fmt: str, n_label: int) -> str:
    """Markdown or LaTeX (booktabs) table; the first ``n_label`` columns are text labels, the rest numbers."""
    if fmt == "md":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines) + "\n"
    lines = [r"\begin{tabular}{" + "l" * n_label + "r" * (len(header) - n_label) + "}", r"\toprule",
             " & ".join(_latex_escape(h) for h in header) + r" \\", r"\midrule"]
    for row in body:
        cells = [_latex_escape(c) for c in row[:n_label]] + [c.replace("±", r"$\pm$") for c in row[n_label:]]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def accuracy_table(runs: list[RunData], fmt: str = "md") -> str:
    """The accuracy table (percent, mean ± std over seeds) as Markdown (``fmt="md"``) or LaTeX (``"tex"``)."""
    if fmt not in ("md", "tex"):
        raise ValueError(f"fmt must be 'md' or 'tex', got {fmt!r}")
    rows = table_rows(runs)
    if not rows:
        raise ValueError("runs: no accuracy table rows in any summary.json")
    keys, losses, cells = _pivot(rows, lambda lab, r: lab)
    bold = ("**", "**") if fmt == "md" else (r"\textbf{", "}")
    header = ["pair"] + [loss_label(l) for l in losses] + ["weak", "ceiling", "seeds"]
    body = []
    for key in keys:
        present = [cells[(key, l)] for l in losses if (key, l) in cells]
        top = max(r["acc_mean"] for r in present)
        row = [str(key)] + [_cell(cells.get((key, l)), (key, l) in cells and cells[(key, l)]["acc_mean"] == top, bold) for l in losses]
        any_r = present[0]
        row += [f"{100 * any_r['acc_weak']:.1f}", f"{100 * any_r['acc_ceiling']:.1f}", str(max(r["n_seeds"] for r in present))]
        body.append(row)
    return _render(header, body, fmt, 1)


def noise_table(runs: list[RunData], fmt: str = "md") -> str:
    """Accuracy (percent, mean ± std) per pair and flip rate, one column per loss."""
    if fmt not in ("md", "tex"):
        raise ValueError(f"fmt must be 'md' or 'tex', got {fmt!r}")
    rows = [(lab, r) for lab, r in table_rows(runs, "noise_table") if r["noise_kind"] in ("none", "flip")]
    if not any(r["noise_kind"] == "flip" for _, r in rows):
        raise ValueError("runs: no flip-noise rows in any noise_table")
    keys, losses, cells = _pivot(rows, lambda lab, r: (lab, float(r["noise_level"])))
    bold = ("**", "**") if fmt == "md" else (r"\textbf{", "}")
    header = ["pair", "flip rate"] + [loss_label(l) for l in losses]
    body = []
    label_order = {lab: i for i, lab in enumerate(dict.fromkeys(k[0] for k in keys))}
    for key in sorted(keys, key=lambda k: (label_order[k[0]], k[1])):
        present = [cells[(key, l)] for l in losses if (key, l) in cells]
        top = max(r["acc_mean"] for r in present)
        body.append([str(key[0]), f"{key[1]:.2f}"] + [
            _cell(cells.get((key, l)), (key, l) in cells and cells[(key, l)]["acc_mean"] == top, bold) for l in losses])
    return _render(header, body, fmt, 2)


def write_tables(runs: list[RunData], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``llm_accuracy_table.{md,tex}`` and, when there is noise data, ``llm_noise_table.{md,tex}``."""
    out = Path(out_dir)
    paths = [write_text(out / f"llm_accuracy_table.{fmt}", accuracy_table(runs, fmt)) for fmt in ("md", "tex")]
    try:
        paths += [write_text(out / f"llm_noise_table.{fmt}", noise_table(runs, fmt)) for fmt in ("md", "tex")]
    except ValueError:
        pass  # no noise sweep in these runs: the accuracy table stands alone
    return paths
