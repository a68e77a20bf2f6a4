"""Aggregates of a run (summary.json) and the text tables of ``revkl synthetic report``.

Intervals are 95% Student-t intervals of the mean over tasks, from :func:`revkl_core.stats.t_interval`
(mean +- t_{n-1, 0.975} sd / sqrt(n)). The gain-vs-misfit slope is the least-squares slope of
(err_w - err_sw) on the test misfit in the loss's direction.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from bounds.theorems import fails_beyond
from revkl_core.runfolder import UserError, atomic_write_text
from revkl_core.stats import t_interval
from synthetic import results as R
from synthetic.config import Config, load_config
from synthetic.heads import HEAD_CLASSES


def mean_ci(values: Iterable[float | None]) -> tuple[float | None, list[float] | None]:
    """Mean and 95% t-interval of the finite values (:func:`revkl_core.stats.t_interval`).

    (None, None) when there are none; the interval is None for a single value (no spread to estimate).
    """
    v = [x for x in values if x is not None and math.isfinite(x)]
    if not v:
        return None, None
    iv = t_interval(v)
    return iv.mean, (None if iv.n < 2 else [iv.lo, iv.hi])


def slope(x: Iterable[float], y: Iterable[float]) -> float | None:
    """Least-squares slope of y on x (None with fewer than 3 finite points or constant x)."""
    pts = np.array([(a, b) for a, b in zip(x, y) if math.isfinite(a) and math.isfinite(b)], dtype=float)
    if len(pts) < 3 or np.ptp(pts[:, 0]) == 0:
        return None
    return float(np.polyfit(pts[:, 0], pts[:, 1], 1)[0])


def t4_violated(rec: dict[str, Any]) -> bool:
    """T4's inequality fails beyond the record's allowance (whether or not its hypotheses hold): the one
    counterexample rule, ``bounds.theorems.fails_beyond``."""
    return bool(fails_beyond(rec["t4_slack"], rec["t4_tolerance"], 0.0))


def certified_violation(rec: dict[str, Any]) -> bool:
    """Some check whose hypotheses hold does not hold."""
    return any(c["hypotheses_met"] and not c["holds"] for c in rec["checks"])


def has_certified_check(rec: dict[str, Any]) -> bool:
    return any(c["hypotheses_met"] for c in rec["checks"])


def t4_check(rec: dict[str, Any]) -> dict[str, Any]:
    """The record's T4 entry (always present)."""
    return next(c for c in rec["checks"] if c["name"] == "T4")


def aggregate(recs: list[dict[str, Any]]) -> dict[str, Any]:
    """The statistics of one group of records (fields documented in synthetic.results)."""
    applicable = [r for r in recs if has_certified_check(r)]
    t4_met = [r for r in recs if t4_check(r)["hypotheses_met"]]
    acc_sw, acc_sw_ci = mean_ci(r["acc_sw"] for r in recs)
    pgr, pgr_ci = mean_ci(r["pgr"] for r in recs)
    return {
        "n": len(recs),
        "n_certified": len(applicable),
        "violation_rate": (sum(certified_violation(r) for r in applicable) / len(applicable)) if applicable else None,
        "t4_certified": len(t4_met),
        "t4_certified_violations": sum(not t4_check(r)["holds"] for r in t4_met),
        "t4_violation_rate": sum(t4_violated(r) for r in recs) / len(recs),
        "worst_slack": min(r["t4_slack"] for r in recs),
        "worst_violation": max(max(-r["t4_slack"] - r["t4_tolerance"], 0.0) for r in recs),
        "acc_sw_mean": acc_sw, "acc_sw_ci": acc_sw_ci,
        "acc_w_mean": mean_ci(r["acc_w"] for r in recs)[0],
        "acc_ceiling_mean": mean_ci(r["acc_ceiling"] for r in recs)[0],
        "pgr_mean": pgr, "pgr_ci": pgr_ci,
        "gain_mean": mean_ci(r["gain"] for r in recs)[0],
        "misfit_mean": mean_ci(r["misfit"] for r in recs)[0],
        "epsilon_mean": mean_ci(r["epsilon"] for r in recs)[0],
        "slope_gain_vs_misfit": slope([r["misfit"] for r in recs], [r["gain"] for r in recs]),
    }


GROUP_FIELDS = ("head_class", "K", "loss", "method", "noise_type", "noise_rate", "delta", "pretrain_tasks")


def grouped(records: list[dict[str, Any]], fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """One aggregate per distinct value of ``fields``, identity fields included, in first-seen order."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for rec in records:
        groups[tuple(rec[f] for f in fields)].append(rec)
    return [{**dict(zip(fields, key)), **aggregate(recs)} for key, recs in groups.items()]


def summarise(cfg: Config, records: list[dict[str, Any]], elapsed_s: float = 0.0, compute_s: float | None = None) -> dict[str, Any]:
    """The content of summary.json: ``elapsed_s`` the last call's time, ``compute_s`` the total over calls."""
    return {
        "config_hash": cfg.hash(),
        "name": cfg.name,
        "records": len(records),
        "tasks_done": len({(r["setting"], r["task"]) for r in records}),
        "elapsed_s": elapsed_s,
        "compute_s": elapsed_s if compute_s is None else compute_s,
        "groups": grouped(records, GROUP_FIELDS),
        "by_class_loss": grouped(records, ("head_class", "K", "representation", "delta", "pretrain_tasks", "method", "loss")),
        "by_noise_loss": grouped(records, ("noise_type", "noise_rate", "method", "loss")),
    }


def _fmt(x: Any, spec: str = ".3f") -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return format(x, spec)
    return str(x)


def _ci(m: float | None, ci: list[float] | None) -> str:
    if m is None:
        return "-"
    return f"{m:.3f}" if ci is None else f"{m:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def table(rows: list[dict[str, Any]], columns: list[tuple[str, Callable[[dict[str, Any]], str]]]) -> str:
    """A plain fixed-width text table."""
    cells = [[name for name, _ in columns]] + [[fn(r) for _, fn in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _head(r: dict[str, Any]) -> str:
    return HEAD_CLASSES[r["head_class"]].label(r["K"])


def _rep(r: dict[str, Any]) -> str:
    return f"delta={r['delta']:g}" if r["representation"] == "controlled" else f"pretrain={r['pretrain_tasks']}"


def findings(summary: dict[str, Any]) -> list[str]:
    """Plain-language statements of what the run found, whichever way it went."""
    out = []
    rows = summary["by_class_loss"]
    for r in rows:
        if r["t4_certified"]:
            out.append(f"{_head(r)}, {_rep(r)}, {r['loss']}, {r['method']}: T4 certified on {r['t4_certified']}/{r['n']} records, "
                       f"violated on {r['t4_certified_violations']} (worst slack {r['worst_slack']:.2e}).")
    for r in rows:
        if r["loss"] == "reverse_kl" and not r["t4_certified"]:
            why = ("hypotheses not met (non-realizable or uncertified fit)" if HEAD_CLASSES[r["head_class"]].probability_convex
                   else "softmax heads: no guarantee")
            out.append(f"{_head(r)}, {_rep(r)}, reverse KL, {r['method']} ({why}): T4's inequality failed on "
                       f"{r['t4_violation_rate']:.1%} of {r['n']} records beyond the allowance; worst slack {r['worst_slack']:.3g}.")
    noisy = [r for r in summary["by_noise_loss"] if r["loss"] in ("forward_kl", "reverse_kl")]
    by_level: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in noisy:
        by_level.setdefault((r["noise_type"], r["noise_rate"], r["method"]), {})[r["loss"]] = r
    for (nt, rate, method), pair in by_level.items():
        if len(pair) == 2 and pair["forward_kl"]["acc_sw_mean"] is not None and pair["reverse_kl"]["acc_sw_mean"] is not None:
            f, rv = pair["forward_kl"]["acc_sw_mean"], pair["reverse_kl"]["acc_sw_mean"]
            word = "above" if rv > f else ("below" if rv < f else "equal to")
            out.append(f"noise {nt}={rate:g}, {method}: reverse-KL accuracy {rv:.3f} is {word} forward-KL accuracy {f:.3f} "
                       f"(pooled over head classes).")
    return out


def render(summary: dict[str, Any]) -> str:
    """The report text: three tables and the findings."""
    a = table(summary["by_class_loss"], [
        ("head class", _head), ("strong rep", _rep), ("method", lambda r: r["method"]), ("loss", lambda r: r["loss"]),
        ("n", lambda r: str(r["n"])), ("T4 cert.", lambda r: str(r["t4_certified"])),
        ("T4 cert. viol.", lambda r: str(r["t4_certified_violations"])),
        ("any cert. viol.", lambda r: _fmt(r["violation_rate"], ".1%")),
        ("T4-ineq viol.", lambda r: _fmt(r["t4_violation_rate"], ".1%")),
        ("worst slack", lambda r: _fmt(r["worst_slack"], ".2e")),
        ("gain", lambda r: _fmt(r["gain_mean"])), ("misfit", lambda r: _fmt(r["misfit_mean"])),
        ("slope gain~misfit", lambda r: _fmt(r["slope_gain_vs_misfit"])), ("eps", lambda r: _fmt(r["epsilon_mean"], ".2e")),
    ])
    b = table(summary["by_noise_loss"], [
        ("noise", lambda r: f"{r['noise_type']}={r['noise_rate']:g}"), ("method", lambda r: r["method"]),
        ("loss", lambda r: r["loss"]), ("n", lambda r: str(r["n"])),
        ("acc_w", lambda r: _fmt(r["acc_w_mean"])), ("acc_sw [95%]", lambda r: _ci(r["acc_sw_mean"], r["acc_sw_ci"])),
        ("acc_ceil", lambda r: _fmt(r["acc_ceiling_mean"])), ("PGR [95%]", lambda r: _ci(r["pgr_mean"], r["pgr_ci"])),
        ("slope gain~misfit", lambda r: _fmt(r["slope_gain_vs_misfit"])),
    ])
    lines = [
        f"synthetic study {summary['name']} (config {summary['config_hash']}): {summary['records']} records, "
        f"{summary['tasks_done']} (setting, task) pairs",
        "",
        "Theorem checks per head class and loss. T4 cert. = records where T4's hypotheses hold (probability-convex, F* in "
        "the class, certified reverse-KL fit); any cert. viol. = share of records failing some check (T1-T6) whose hypotheses "
        "hold; T4-ineq viol. = share with Err(F_sw) > Err(F_w) - E KL(F_sw||F_w) on the transfer set beyond the allowance "
        "(Frank-Wolfe gap on probability-convex classes), hypotheses or not; eps = realizability gap.",
        a,
        "",
        "Accuracy and PGR per loss and weak-label noise (test set, pooled over head classes and representations)",
        b,
        "",
        "Findings",
    ]
    lines += [f"- {s}" for s in findings(summary)]
    return "\n".join(lines) + "\n"


def report(run_dir: str) -> str:
    """Render the report of a run from its records; also write it to DIR/report.txt when the folder is writable.

    The aggregates are recomputed from ``results.jsonl`` (the stored summary contributes its times only),
    so a records file edited or truncated after the run is reported as it is, with a line saying that
    ``summary.json`` counted something else. A folder that is not a synthetic run (no summary.json; an llm
    run folder) is a UserError. When report.txt cannot be written (a read-only run), one line says so.
    """
    path = Path(run_dir)
    if (path / "cache").is_dir() or _is_llm_summary(path):
        raise UserError(f"{run_dir} is a language-model run folder; use `revkl llm report {run_dir}`")
    stored = R.load_summary(run_dir)
    records = R.load_results(path)
    summary = summarise(load_config(path / R.CONFIG_FILE), records, stored.get("elapsed_s", 0.0), stored.get("compute_s"))
    text = render(summary)
    if stored.get("records") != len(records):
        text += (f"(summary.json counted {stored.get('records')} records; {R.RESULTS_FILE} now holds {len(records)}: "
                 "this report is from the records)\n")
    try:
        atomic_write_text(path / "report.txt", text)
    except OSError as err:
        text += f"(not written to {path / 'report.txt'}: {err.strerror or err})\n"
    return text


def _is_llm_summary(path: Path) -> bool:
    """A summary.json without the synthetic fields (an llm run's has ``n_results``, no ``by_class_loss``)."""
    try:
        with open(path / R.SUMMARY_FILE) as fh:
            summary = json.load(fh)
    except (OSError, ValueError):
        return False
    return isinstance(summary, dict) and "by_class_loss" not in summary
