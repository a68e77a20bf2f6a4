r"""Bounds figures, drawn from the output of ``revkl bounds verify`` (format: docs/CONTRACTS.md).

Each result stores its ``relation`` (upper: lhs <= rhs, lower: lhs >= rhs, identity: lhs = rhs) and
sampled points with both sides, the ``allowance`` granted by the solver certificate, the rounding
``tol``, ``met`` (hypotheses met) and extras (``gap`` = Err(F_sw) - Err(F_w), ``gamma``, the T3
bound pieces). Only points whose hypotheses are met are drawn. Whether a point holds is decided by
:class:`bounds.theorems.CheckResult` itself, never re-derived here.

* ``bounds_universal``: upper bounds (T1/T2): the two-sided bound against the true gap (points must
  lie above the wedge y = |x|); lower bounds (T3): the bound against the gap (points must lie below y = x).
* ``bounds_gamma``: how much T3's lower bound improves on the lower sides of T1/T2,
  max(L_f, L_r) - max(-C sqrt(M_f), -C sqrt(M_r)) in nats, as a function of gamma.
* ``bounds_certified``: T4 (reverse-KL guarantee) and T5 (forward-KL dual identity): the slack
  (rhs - lhs for T4, -|lhs - rhs| for T5) against the allowance from the certificate; a point holds
  when slack >= -allowance (up to rounding).
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import SymmetricalLogLocator

from bounds.theorems import CheckResult
from figures.style import ROLE_COLORS, figure_style, new_figure, save_figure

UNIVERSAL = ("T1", "T2", "T3")
CERTIFIED = ("T4", "T5")


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


def _title(name: str, result: dict[str, Any], width: int = 30) -> str:
    """The result name, then its plain-text title wrapped to two lines of ``width`` characters."""
    text = str(result.get("title") or result.get("statement") or "")
    lines = textwrap.wrap(" ".join(text.split()), width, max_lines=2, placeholder="\u2026")
    return "\n".join([name] + lines)


def available(verify: dict[str, Any], names: tuple[str, ...], need: tuple[str, ...] = ("lhs", "rhs")) -> list[str]:
    """Names among ``names`` with at least one met point carrying every key of ``need``."""
    out = []
    for n in names:
        if isinstance(verify.get(n), dict):
            pts = met_points(verify[n])
            if all(k in pts for k in need) and len(pts["lhs"]) > 0:
                out.append(n)
    return out


def _scatter_holds(ax, x: np.ndarray, y: np.ndarray, ok: np.ndarray) -> None:
    ax.scatter(x[ok], y[ok], s=6, alpha=0.5, color=ROLE_COLORS["holds"], label=f"holds ({int(ok.sum())})", linewidths=0)
    if (~ok).any():
        ax.scatter(x[~ok], y[~ok], s=14, color=ROLE_COLORS["violated"], label=f"violated ({int((~ok).sum())})", linewidths=0)


def draw_universal(verify: dict[str, Any], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Upper bounds (T1/T2): bound vs true gap with the wedge y = |x|; lower bounds (T3): bound vs gap with y = x."""
    names = available(verify, UNIVERSAL, ("lhs", "rhs", "gap"))
    if not names:
        raise ValueError(f"verify: none of {UNIVERSAL} has met points with a gap")
    with figure_style():
        fig, axes = new_figure(ncols=len(names), height=3.0, squeeze=False)
        for ax, name in zip(axes[0], names):
            pts = met_points(verify[name])
            relation = verify[name].get("relation", "upper")
            gap, ok = pts["gap"], holds(pts, relation)
            lo, hi = float(gap.min()), float(gap.max())
            span = np.linspace(lo, hi, 100)
            if relation == "lower":  # lhs = gap, rhs = the lower bound
                _scatter_holds(ax, gap, pts["rhs"], ok)
                ax.plot(span, span, color=ROLE_COLORS["reference"], linewidth=1.0, label="bound = gap")
                ax.set_ylabel("lower bound on the gap (nats)")
            else:  # lhs = |gap|, rhs = bound
                _scatter_holds(ax, gap, pts["rhs"], ok)
                ax.plot(span, np.abs(span), color=ROLE_COLORS["reference"], linewidth=1.0, label="bound = |gap|")
                ax.set_yscale("log")
                ax.set_ylabel("two-sided bound (nats)")
            ax.set_xlabel("Err(F_sw) - Err(F_w) (nats)")
            ax.set_title(_title(name, verify[name]), fontsize=7)
            ax.legend(loc="best", fontsize=7)
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
        fig, ax = new_figure(height=3.0)
        ax.scatter(gamma, improvement, s=6, alpha=0.4, color=ROLE_COLORS["reverse"], linewidths=0, label="sampled instances")
        edges = np.unique(np.quantile(gamma, np.linspace(0, 1, 13)))
        if len(edges) > 2:
            idx = np.clip(np.digitize(gamma, edges[1:-1]), 0, len(edges) - 2)
            bins = [b for b in range(len(edges) - 1) if np.any(idx == b)]
            ax.plot([float(np.median(gamma[idx == b])) for b in bins], [float(np.median(improvement[idx == b])) for b in bins],
                    color=ROLE_COLORS["target"], label="median per gamma bin")
        ax.axhline(0.0, color=ROLE_COLORS["reference"], linewidth=1.0)
        ax.axvline(1 / np.e, color=ROLE_COLORS["reference"], linewidth=0.8, linestyle=":", label=r"$\gamma = 1/e$")
        ax.set_xscale("log")
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_xlabel(r"$\gamma$ = smallest probability of the models (dimensionless)")
        ax.set_ylabel("T3 lower bound - T1/T2 lower side (nats)")
        ax.set_title("How much tighter the T3 lower bound is (> 0: tighter)")
        ax.legend(loc="best")
        return save_figure(fig, out_dir, "bounds_gamma")


def draw_certified(verify: dict[str, Any], out_dir: str | os.PathLike[str]) -> list[Path]:
    """T4/T5: slack against the allowance from the certificate; holds where slack >= -allowance."""
    names = available(verify, CERTIFIED)
    if not names:
        raise ValueError(f"verify: none of {CERTIFIED} has met points")
    floor = 1e-16
    with figure_style():
        fig, axes = new_figure(ncols=len(names), height=3.0, squeeze=False)
        for ax, name in zip(axes[0], names):
            pts = met_points(verify[name])
            relation = verify[name].get("relation", "upper")
            resid, ok = _slack(pts, relation), holds(pts, relation)
            x = np.maximum(pts.get("allowance", np.zeros_like(resid)), floor)
            _scatter_holds(ax, x, resid, ok)
            grid = np.logspace(np.log10(x.min()), np.log10(max(x.max(), 10 * x.min())), 50)
            ax.plot(grid, -grid, color=ROLE_COLORS["violated"], linewidth=0.8, label="slack = -allowance")
            ax.set_xscale("log")
            lt = max(1e-12, float(np.median(x)))
            ax.set_yscale("symlog", linthresh=lt)
            ax.set_ylim(min(float(resid.min()), -float(x.max())) * 2, max(float(resid.max()), lt) * 2)
            ax.yaxis.set_major_locator(SymmetricalLogLocator(base=1000, linthresh=lt))
            ax.set_xlabel("allowance from the solver certificate (nats)")
            ax.set_ylabel("slack (nats)")
            ax.set_title(_title(name, verify[name]), fontsize=7)
            ax.legend(loc="best", fontsize=7)
        return save_figure(fig, out_dir, "bounds_certified")
