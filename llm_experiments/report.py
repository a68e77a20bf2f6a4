"""``revkl llm report DIR``: accuracy and PGR with intervals, reverse-vs-forward per noise level, noise table.

Reads only the run folder (the records of the units its latest run planned, through
:mod:`llm_experiments.results`); writes ``DIR/report.md`` atomically and returns the same text.
Every interval is the 95% Student-t interval over seeds (``revkl_core.stats.t_interval``); the win
table is ``revkl_core.stats.paired`` over matched units (same data, pair, seed, split and noise).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from llm_experiments import results
from llm_experiments.config import load_config
from revkl_core.runfolder import UserError, atomic_write_text

log = logging.getLogger("llm_experiments")

LOSS_ORDER = ("forward_kl", "reverse_kl", "ce", "rce")


def _loss_cols(rows: list[dict[str, Any]]) -> list[str]:
    present = {r["loss"] for r in rows}
    return [l for l in LOSS_ORDER if l in present] + sorted(present - set(LOSS_ORDER))


def _iv(mean: float | None, lo: float | None, hi: float | None, scale: float = 100.0) -> str:
    """``mean [lo, hi]``; the bounds are left out when there is no interval (n = 1)."""
    if mean is None:
        return "-"
    if lo is None or hi is None:
        return f"{scale * mean:.2f}"
    return f"{scale * mean:.2f} [{scale * lo:.2f}, {scale * hi:.2f}]"


def _acc_cell(rows: list[dict[str, Any]]) -> str:
    r = rows[0] if rows else None
    return "-" if r is None else f"{_iv(r['acc_mean'], r['acc_lo'], r['acc_hi'])} (n={r['n_seeds']})"


def _pgr_cell(rows: list[dict[str, Any]]) -> str:
    """PGR with its interval over the seeds where it is defined; "undefined" where no seed's ceiling beats its weak model."""
    r = rows[0] if rows else None
    if r is None:
        return "-"
    if r["pgr_n"] == 0 or r["acc_ceiling"] <= r["acc_weak"]:
        return f"undefined: ceiling {100 * r['acc_ceiling']:.2f} <= weak {100 * r['acc_weak']:.2f}"
    return f"{_iv(r['pgr_mean'], r['pgr_lo'], r['pgr_hi'], scale=1.0)} (n={r['pgr_n']})"


def check_run_folder(run_dir: str | Path) -> Path:
    """UserError unless ``run_dir`` is an llm run folder with at least one finished unit."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run folder")
    cfg = run_dir / results.CONFIG_FILE
    if not cfg.is_file():
        raise UserError(f"{run_dir}: not an llm run folder (no {results.CONFIG_FILE}; run `revkl llm run` first)")
    try:
        load_config(cfg)
    except UserError as err:
        raise UserError(f"{run_dir}: not an llm run folder ({err})") from None
    if not results.load_results(run_dir):
        raise UserError(f"{run_dir}: no unit has finished yet ({results.RESULTS_FILE} is empty or absent)")
    return run_dir


def format_report(run_dir: str | Path) -> str:
    """Markdown tables for the records of ``run_dir``."""
    recs = results.current_records(check_run_folder(run_dir))
    if not recs:
        raise UserError(f"{run_dir}: none of the units of its latest run has finished yet")
    table = results.accuracy_table(recs)
    scope = recs[0].get("seed_scope")
    lines = [f"# weak-to-strong accuracy: {recs[0]['name']} ({len(recs)} runs, seed scope {scope})", ""]
    if table:
        cols = _loss_cols(table)
        lines += ["Test accuracy (%), mean [95% t-interval] (n seeds), noise-free weak labels. "
                  "Weak and ceiling: means over the seeds' models.", "",
                  "| data | weak -> strong | weak | ceiling | " + " | ".join(cols) + " |",
                  "|---|---|---|---|" + "---|" * len(cols)]
        pgr_lines = ["", "PGR = (acc_strong - acc_weak) / (acc_ceiling - acc_weak), mean [95% t-interval] (n seeds).", "",
                     "| data | weak -> strong | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
        for dataset, pair in dict.fromkeys((r["dataset"], r["pair"]) for r in table):
            rows = [r for r in table if r["dataset"] == dataset and r["pair"] == pair]
            name = rows[0]["data_name"]
            cells = [_acc_cell([r for r in rows if r["loss"] == c]) for c in cols]
            lines.append(f"| {name} | {pair} | {100 * rows[0]['acc_weak']:.2f} | {100 * rows[0]['acc_ceiling']:.2f} | "
                         + " | ".join(cells) + " |")
            pgr_lines.append(f"| {name} | {pair} | " + " | ".join(_pgr_cell([r for r in rows if r["loss"] == c]) for c in cols) + " |")
        lines += pgr_lines
    wins = results.wins_by_noise(recs)
    if wins:
        lines += ["", "Reverse vs forward per noise setting over matched runs (same data, pair, seed, split): "
                  "accuracy difference in points, mean [95% t-interval], wins / ties / losses, two-sided p (paired t; Wilcoxon; sign test).", "",
                  "| data | weak -> strong | noise | level | comparison | n | mean diff | W / T / L | p (t) | p Wilcoxon | p sign |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for w in wins:
            label = w["noise_kind"] if w["alpha"] is None else f"{w['noise_kind']} (alpha {w['alpha']:g})"
            lines.append(f"| {w['data_name']} | {w['pair']} | {label} | {w['noise_level']:g} | {w['comparison']} | {w['n']} | "
                         f"{_iv(w['mean_diff'], w['lo'], w['hi'])} | "
                         f"{w['wins']} / {w['ties']} / {w['losses']} | {w['p_t']:.3g} | {w['p_wilcoxon']:.3g} | {w['p_sign']:.3g} |")
    noisy = results.noise_table(recs)
    if any(r["noise_kind"] != "none" for r in noisy):
        cols = _loss_cols(noisy)
        lines += ["", "Accuracy (%) against weak-label noise, mean [95% t-interval] (n seeds).", "",
                  "| data | weak -> strong | noise | level | " + " | ".join(cols) + " |", "|---|---|---|---|" + "---|" * len(cols)]
        keys = dict.fromkeys((r["dataset"], r["pair"], r["noise_kind"], r["noise_level"], r["alpha"]) for r in noisy)
        for dataset, pair, kind, level, alpha in sorted(keys, key=lambda k: (k[0], k[1], k[2] != "none", k[2], k[3])):
            rows = [r for r in noisy if (r["dataset"], r["pair"], r["noise_kind"], r["noise_level"], r["alpha"])
                    == (dataset, pair, kind, level, alpha)]
            label = kind if alpha is None else f"{kind} (alpha {alpha:g})"
            lines.append(f"| {rows[0]['data_name']} | {pair} | {label} | {level:g} | "
                         + " | ".join(_acc_cell([r for r in rows if r["loss"] == c]) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def report(run_dir: str | Path) -> str:
    """Format the report, write it to ``DIR/report.md`` atomically (a warning if the folder is read-only), return it."""
    text = format_report(run_dir)
    try:
        atomic_write_text(Path(run_dir) / "report.md", text)
    except OSError as err:
        log.warning("could not write %s (%s); the report is printed only", Path(run_dir) / "report.md", err.strerror)
    return text
