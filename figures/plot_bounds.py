r"""Bounds figures, drawn from the output of ``revkl bounds verify`` (format: docs/CONTRACTS.md).

Each result stores its ``relation`` (upper: lhs <= rhs, lower: lhs >= rhs, identity: lhs = rhs) and
sampled points with both sides, the ``allowance`` granted by the solver certificate, the rounding
``tol``, ``met`` (hypotheses met) and extras (``gap`` = Err(F_sw) - Err(F_w), ``gamma``, the T3
bound pieces). Only points whose hypotheses are met are drawn. Whether a point holds is decided by
:class:`bounds.theorems.CheckResult` itself, never re-derived here.

* ``bounds_universal``: per result T1-T3, the distribution of gap / bound (|gap| / bound for the
  two-sided T1/T2, gap / bound for T3's negative lower bound): every point must lie at or below 1,
  and the instances where the constant is sharp pile up at 1.
* ``bounds_gamma``: how much T3's lower bound improves on the lower sides of T1/T2,
  max(L_f, L_r) - max(-C sqrt(M_f), -C sqrt(M_r)) in nats, as a function of gamma.
* ``bounds_certified``: T4 (reverse-KL guarantee) and T5 (forward-KL dual identity): the slack
  (rhs - lhs for T4, -|lhs - rhs| for T5) in units of the allowance from the certificate plus the
  rounding allowance; a point holds when slack >= -(allowance + rounding), at or right of -1.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.lines import Line2D

from bounds.theorems import CheckResult
from figures.style import ROLE_COLORS, figure_style, legend_above, new_figure, save_figure

UNIVERSAL = ("T1", "T2", "T3")
CERTIFIED_RESULTS = ("T4", "T5")


def met_points(result: dict[str, Any]) -> dict[str, np.ndarray]:
    """The stored points whose hypotheses are met (all of them when ``met`` is not recorded)."""
    pts = {k: np.asarray(v, dtype=float) for k, v in (result.get("points") or {}).items()}
    n = len(pts.get("lhs", []))
    if any(len(v) != n for v in pts.values()):
        raise ValueError(f"verify points: arrays of unequal length {({k: len(v) for k, v in pts.items()})}")
    keep = pts["met"] > 0 if "met" in pts else np.ones(n, dtype=bool)
    return {k: v[keep] for k, v in pts.items()}


def holds(pts: dict[str, np.ndarray], relation: str = "upper") -> np.ndarray:
    """Per point: does the relation hold within allowance and rounding (decided by bounds.theorems.CheckResult)?"""
    lhs, rhs = pts["lhs"], pts["rhs"]
    allowance = pts.get("allowance", np.zeros_like(lhs))
    return CheckResult("figure", lhs, rhs, allowance, hypotheses={}, relation=relation, rounding=pts.get("tol", 0.0)).holds


def _slack(pts: dict[str, np.ndarray], relation: str) -> np.ndarray:
    return CheckResult("figure", pts["lhs"], pts["rhs"], np.zeros_like(pts["lhs"]), hypotheses={}, relation=relation).slack


def available(verify: dict[str, Any], names: tuple[str, ...], need: tuple[str, ...] = ("lhs", "rhs")) -> list[str]:
    """Names among ``names`` with at least one met point carrying every key of ``need``."""
    out = []
    for n in names:
        if isinstance(verify.get(n), dict):
            pts = met_points(verify[n])
            if all(k in pts for k in need) and len(pts["lhs"]) > 0:
                out.append(n)
    return out


def _scatter_holds(ax, x: np.ndarray, y: np.ndarray, ok: np.ndarray, prefix: str = "") -> None:
    ax.scatter(x[ok], y[ok], s=5, alpha=0.5, color=ROLE_COLORS["holds"], label=f"{prefix}holds ({int(ok.sum())})", linewidths=0)
    if (~ok).any():
        ax.scatter(x[~ok], y[~ok], s=12, marker="x", color=ROLE_COLORS["violated"], label=f"{prefix}violated ({int((~ok).sum())})",
                   linewidths=0.8)


def _holds_legend(fig) -> None:
    """The two-entry legend (holds / violated) above the panels."""
    proxies = [Line2D([], [], linestyle="none", marker="o", markersize=3, color=ROLE_COLORS["holds"]),
               Line2D([], [], linestyle="none", marker="x", markersize=4, color=ROLE_COLORS["violated"])]
    legend_above(fig, 2, proxies, ["holds", "violated"])


def ratios(result: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, int]:
    """How close each met point comes to the bound, ``lhs / rhs`` (:attr:`bounds.theorems.CheckResult.ratio`:
    upper bounds |gap| / bound, lower bounds gap / bound with bound < 0), whether it holds, and how many points
    have no positive ratio (gap = 0, or a lower bound met with gap >= 0): those are not drawn on the log axis."""
    pts = met_points(result)
    relation = result.get("relation", "upper")
    r = CheckResult("figure", pts["lhs"], pts["rhs"], np.zeros_like(pts["lhs"]), hypotheses={}, relation=relation).ratio
    ok, drawable = holds(pts, relation), np.isfinite(r) & (r > 0)
    return r[drawable], ok[drawable], int((~drawable).sum())


def draw_universal(verify: dict[str, Any], out_dir: str | os.PathLike[str]) -> list[Path]:
    """T1-T3: the distribution of gap / bound per result, one row each (jittered), with the bound (ratio 1) marked.

    A bound holds where its ratio is <= 1; points piled up at 1 are the instances on which the constant
    is sharp (the ``extremal`` family of :mod:`bounds.instances`).
    """
    names = available(verify, UNIVERSAL)
    if not names:
        raise ValueError(f"verify: none of {UNIVERSAL} has met points")
    jitter = np.random.default_rng(0)  # fixed: the same records give the same figure
    with figure_style():
        fig, ax = new_figure(height=0.55 * len(names) + 1.0)
        ticks, lo = [], 1.0
        for row, name in enumerate(names):
            r, ok, undrawn = ratios(verify[name])
            y = row + jitter.uniform(-0.3, 0.3, len(r))
            _scatter_holds(ax, r, y, ok, prefix=f"{name}: ")
            top = float(r.max()) if len(r) else float("nan")
            ax.text(1.25, row, f"max\n{top:.4g}", va="center", fontsize=6)
            ticks.append(name if not undrawn else f"{name}\n({undrawn} with\nratio <= 0)")
            lo = min(lo, float(r.min())) if len(r) else lo
        ax.axvline(1.0, color=ROLE_COLORS["target"], linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xlim(lo / 3, 12.0)
        ax.set_yticks(range(len(names)), ticks)
        ax.set_ylim(len(names) - 0.5, -0.5)
        ax.grid(False, axis="y")
        ax.set_xlabel("gap / bound (1 = the bound is reached)")
        _holds_legend(fig)
        return save_figure(fig, out_dir, "bounds_universal")


def draw_gamma(verify: dict[str, Any], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Improvement of T3's lower bound over the lower sides of T1/T2, against gamma."""
    need = ("lhs", "gamma", "bound_forward", "bound_reverse", "t1_lower", "t2_lower")
    if not available(verify, ("T3",), need):
        raise ValueError("verify: T3 has no met points with gamma and the bound pieces")
    pts = met_points(verify["T3"])
    gamma = pts["gamma"]
    improvement = np.maximum(pts["bound_forward"], pts["bound_reverse"]) - np.maximum(pts["t1_lower"], pts["t2_lower"])
    with figure_style():
        fig, ax = new_figure(height=2.6)
        ax.scatter(gamma, improvement, s=5, alpha=0.4, color=ROLE_COLORS["reverse"], linewidths=0, label="instances")
        edges = np.unique(np.quantile(gamma, np.linspace(0, 1, 13)))
        if len(edges) > 2:
            idx = np.clip(np.digitize(gamma, edges[1:-1]), 0, len(edges) - 2)
            bins = [b for b in range(len(edges) - 1) if np.any(idx == b)]
            ax.plot([float(np.median(gamma[idx == b])) for b in bins], [float(np.median(improvement[idx == b])) for b in bins],
                    color=ROLE_COLORS["target"], label="median per bin")
        ax.axhline(0.0, color=ROLE_COLORS["reference"], linewidth=1.0)
        ax.axvline(1 / np.e, color=ROLE_COLORS["reference"], linewidth=0.8, linestyle=":", label=r"$\gamma = 1/e$")
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=1e-3)
        # T3 is never looser (improvement >= 0): start the axis at 0, or lower only if a point lies below it
        ax.set_ylim(bottom=min(0.0, float(np.min(improvement))))
        ax.set_xlabel(r"$\gamma$ = smallest probability of the models")
        ax.set_ylabel("T3 bound - T1/T2 lower side (nats)")
        legend_above(fig, 3)
        return save_figure(fig, out_dir, "bounds_gamma")


def draw_certified(verify: dict[str, Any], out_dir: str | os.PathLike[str]) -> list[Path]:
    """T4/T5: per result, the slack in units of what the check allows, slack / (allowance + rounding), jittered.

    A point holds where this is >= -1 (:class:`bounds.theorems.CheckResult`: slack >= -allowance - rounding);
    allowances of 0 are floored at 1e-16 nats so that the ratio stays finite.
    """
    names = available(verify, CERTIFIED_RESULTS)
    if not names:
        raise ValueError(f"verify: none of {CERTIFIED_RESULTS} has met points")
    jitter = np.random.default_rng(0)
    with figure_style():
        fig, ax = new_figure(height=0.5 * len(names) + 1.0)
        for row, name in enumerate(names):
            pts = met_points(verify[name])
            relation = verify[name].get("relation", "upper")
            resid, ok = _slack(pts, relation), holds(pts, relation)
            unit = np.maximum(pts.get("allowance", np.zeros_like(resid)) + pts.get("tol", np.zeros_like(resid)), 1e-16)
            _scatter_holds(ax, resid / unit, row + jitter.uniform(-0.3, 0.3, len(resid)), ok, prefix=f"{name}: ")
        ax.axvline(-1.0, color=ROLE_COLORS["violated"], linewidth=0.8)
        ax.set_xscale("symlog", linthresh=1.0)
        lo, hi = ax.get_xlim()  # ticks at +-1000^e inside the data's range; none at 0, which would crowd -1, the threshold
        decades = [1000.0**e for e in range(12)]
        ax.set_xticks(sorted([-d for d in decades if -d >= lo] + [d for d in decades if d <= hi]))
        ax.set_yticks(range(len(names)), names)
        ax.set_ylim(len(names) - 0.5, -0.5)
        ax.grid(False, axis="y")
        ax.set_xlabel("slack / (certificate allowance + rounding)\n(holds at or right of -1)")
        _holds_legend(fig)
        return save_figure(fig, out_dir, "bounds_certified")
