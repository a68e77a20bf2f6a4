"""Figure 1: mass covering (forward KL) against mode seeking (reverse KL), continuous and categorical.

Top: a two-component Gaussian mixture (the weak teacher) and the single Gaussians that minimise
forward KL (moment matching) and reverse KL (global minimum, other local minima dotted).
Bottom left: a 3-class weak distribution and its forward/reverse fits in the keep-one family.
Bottom right: both objectives along the family, with the closed-form minimisers marked.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from bounds import forward_kl, reverse_kl
from figures.style import ROLE_COLORS, figure_style, new_mosaic, save_figure, write_text
from figures.toy_fits import CategoricalFits, MixtureFits, fit_categorical, fit_mixture, gaussian_logpdf, keep_one_family, mixture_logpdf

FIGURE_NAME = "fig1_forward_vs_reverse"


def draw_figure1(mix: MixtureFits, cat: CategoricalFits, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Draw Figure 1 from the two fits; returns the written files (PDF, PNG)."""
    with figure_style():
        fig, ax = new_mosaic([["a", "a"], ["b", "c"]], height=5.0)
        _draw_mixture(ax["a"], mix)
        _draw_categorical_bars(ax["b"], cat)
        _draw_categorical_objectives(ax["c"], cat)
        return save_figure(fig, out_dir, FIGURE_NAME)


def _draw_mixture(ax, mix: MixtureFits) -> None:
    fwd, best = mix.forward_closed_form, mix.reverse_best
    spread = max(mix.stds)
    x = np.linspace(min(mix.means) - 4 * spread, max(mix.means) + 4 * spread, 800)
    p = np.exp(mixture_logpdf(x, mix.weights, mix.means, mix.stds))
    ax.fill_between(x, p, color=ROLE_COLORS["target"], alpha=0.12, linewidth=0)
    ax.plot(x, p, color=ROLE_COLORS["target"], label="weak teacher $p$ (mixture)")
    ax.plot(x, np.exp(gaussian_logpdf(x, fwd.mean, fwd.std)), "--", color=ROLE_COLORS["forward"],
            label=f"forward KL: moment matching (m={fwd.mean:.2f}, s={fwd.std:.2f})")
    ax.plot(x, np.exp(gaussian_logpdf(x, best.mean, best.std)), color=ROLE_COLORS["reverse"],
            label=f"reverse KL: global min (m={best.mean:.2f}, s={best.std:.2f})")
    for other in [f for f in mix.reverse_local_minima if f is not best]:
        ax.plot(x, np.exp(gaussian_logpdf(x, other.mean, other.std)), ":", color=ROLE_COLORS["reverse"], linewidth=1.0)
    if len(mix.reverse_local_minima) > 1:
        ax.plot([], [], ":", color=ROLE_COLORS["reverse"], linewidth=1.0, label="reverse KL: other local minima")
    ax.set_xlabel("x (arbitrary units)")
    ax.set_ylabel("density (1 / unit of x)")
    ax.set_title("(a) One Gaussian fitted to a two-mode teacher")
    tops = [float(line.get_ydata().max()) for line in ax.get_lines() if len(line.get_ydata())]
    ax.set_ylim(0, 1.5 * max(tops))  # headroom: the legend sits above every curve
    ax.legend(loc="upper right")


def _draw_categorical_bars(ax, cat: CategoricalFits) -> None:
    k = len(cat.q)
    idx = np.arange(k)
    width = 0.27
    ax.bar(idx - width, cat.q, width, color=ROLE_COLORS["target"], alpha=0.6, label="weak $q$")
    ax.bar(idx, cat.family(cat.forward_t), width, color=ROLE_COLORS["forward"], label=f"forward fit (t={cat.forward_t:.4f})")
    ax.bar(idx + width, cat.family(cat.reverse_t), width, color=ROLE_COLORS["reverse"], label=f"reverse fit (t={cat.reverse_t:.4f})")
    ax.set_xticks(idx, [f"class {i}" for i in range(k)])
    ax.set_ylabel("probability")
    ax.set_ylim(0, 1)
    ax.set_title("(b) Categorical analogue")
    ax.legend(loc="upper left")


def _draw_categorical_objectives(ax, cat: CategoricalFits) -> None:
    k = len(cat.q)
    t = np.linspace(0.02, 0.98, 400)
    fam = keep_one_family(t, k, cat.kept)
    q = np.broadcast_to(np.asarray(cat.q), fam.shape)
    ax.plot(t, forward_kl(fam, q), "--", color=ROLE_COLORS["forward"], label=r"KL$(q\,\|\,f_t)$")
    ax.plot(t, reverse_kl(fam, q), color=ROLE_COLORS["reverse"], label=r"KL$(f_t\,\|\,q)$")
    ax.axvline(cat.forward_t_closed_form, color=ROLE_COLORS["forward"], linewidth=0.8, alpha=0.7)
    ax.axvline(cat.reverse_t_closed_form, color=ROLE_COLORS["reverse"], linewidth=0.8, alpha=0.7)
    ax.set_xlabel("t (mass off the kept class)")
    ax.set_ylabel("divergence (nats)")
    ax.set_title("(c) Objectives along $f_t$; lines: closed forms")
    ax.set_yscale("log")
    ax.legend(loc="upper center")


def render_figure1(out_dir: str | os.PathLike[str]) -> list[Path]:
    """Compute both toy fits, write them to ``fig1_forward_vs_reverse.json`` and draw Figure 1."""
    mix, cat = fit_mixture(), fit_categorical()
    data = {"mixture": mix.to_dict(), "categorical": cat.to_dict()}
    json_path = write_text(Path(out_dir) / f"{FIGURE_NAME}.json", json.dumps(data, indent=2, sort_keys=True) + "\n")
    return draw_figure1(mix, cat, out_dir) + [json_path]
