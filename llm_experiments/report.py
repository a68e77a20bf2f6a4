"""``revkl llm report DIR``: the paper's accuracy table, reverse-vs-forward wins, and the noise table.

Reads only the run folder (``results.jsonl``) through :mod:`llm_experiments.results`; writes
``DIR/report.md`` (temp file + rename) and returns the same text.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from llm_experiments import results

LOSS_ORDER = ("forward_kl", "reverse_kl", "ce", "rce")


def _loss_cols(rows: list[dict[str, Any]]) -> list[str]:
    present = {r["loss"] for r in rows}
    return [l for l in LOSS_ORDER if l in present] + sorted(present - set(LOSS_ORDER))


def _cell(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "-"
    r = rows[0]
    return f"{100 * r['acc_mean']:.2f} ± {100 * r['acc_std']:.2f}"


def format_report(run_dir: str | Path) -> str:
    """Markdown tables (accuracy in %, mean ± std over seeds) for the records of ``run_dir``."""
    recs = results.load_results(run_dir)
    if not recs:
        raise ValueError(f"run_dir: {run_dir} has no results yet ({results.RESULTS_FILE} is empty or absent)")
    table = results.accuracy_table(recs)
    lines = [f"# weak-to-strong accuracy: {recs[0]['name']} ({len(recs)} runs)", ""]
    if table:
        cols = _loss_cols(table)
        lines += ["Test accuracy (%), mean ± std over seeds, noise-free weak labels.", "",
                  "| dataset | weak -> strong | weak | ceiling | " + " | ".join(cols) + " |",
                  "|---|---|---|---|" + "---|" * len(cols)]
        for dataset, pair in dict.fromkeys((r["dataset"], r["pair"]) for r in table):
            rows = [r for r in table if r["dataset"] == dataset and r["pair"] == pair]
            cells = [_cell([r for r in rows if r["loss"] == c]) for c in cols]
            lines.append(f"| {dataset} | {pair} | {100 * rows[0]['acc_weak']:.2f} | {100 * rows[0]['acc_ceiling']:.2f} | "
                         + " | ".join(cells) + " |")
    wins = results.reverse_wins(recs)
    lines += ["", "Reverse vs forward on matched runs (same pair, seed, noise): wins / ties / losses", ""]
    for name, c in wins.items():
        lines.append(f"- {name}: {c['wins']} / {c['ties']} / {c['losses']}")
    noisy = [r for r in results.noise_table(recs)]
    if any(r["noise_kind"] != "none" for r in noisy):
        cols = _loss_cols(noisy)
        lines += ["", "Accuracy (%) against weak-label noise, mean ± std over seeds.", "",
                  "| weak -> strong | noise | level | " + " | ".join(cols) + " |", "|---|---|---|" + "---|" * len(cols)]
        keys = dict.fromkeys((r["dataset"], r["pair"], r["noise_kind"], r["noise_level"], r["alpha"]) for r in noisy)
        for dataset, pair, kind, level, alpha in sorted(keys, key=lambda k: (k[0], k[1], k[2] != "none", k[2], k[3])):
            rows = [r for r in noisy if (r["dataset"], r["pair"], r["noise_kind"], r["noise_level"], r["alpha"])
                    == (dataset, pair, kind, level, alpha)]
            label = kind if alpha is None else f"{kind} (alpha {alpha:g})"
            lines.append(f"| {pair} | {label} | {level:g} | " + " | ".join(_cell([r for r in rows if r["loss"] == c]) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def report(run_dir: str | Path) -> str:
    """Format the report, write it to ``DIR/report.md`` atomically, and return it."""
    text = format_report(run_dir)
    path = Path(run_dir) / "report.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return text
