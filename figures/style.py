"""One look for every revkl figure: palette, rcParams, and the writer of PDF + PNG files.

The palette is Okabe & Ito's colour-blind-safe set. Each weak-to-strong loss keeps one colour
and one marker across all figures, so a reader learns the legend once. Figures are sized for
a README column (about 6.4 in wide) and written twice: a vector PDF and a 200 dpi PNG.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from revkl_core.runfolder import atomic_write, atomic_write_text  # noqa: E402

#: Okabe & Ito (2008), "Color Universal Design": distinguishable under the common colour deficiencies.
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}

#: One colour per loss; forward losses in warm colours, reverse losses in cool ones.
LOSS_COLORS: dict[str, str] = {
    "forward_kl": OKABE_ITO["vermillion"],
    "ce": OKABE_ITO["orange"],
    "reverse_kl": OKABE_ITO["blue"],
    "rce": OKABE_ITO["green"],
    "symmetric_kl": OKABE_ITO["purple"],
}
LOSS_MARKERS: dict[str, str] = {"forward_kl": "o", "ce": "s", "reverse_kl": "^", "rce": "D", "symmetric_kl": "v"}
LOSS_LABELS: dict[str, str] = {
    "forward_kl": "forward KL",
    "ce": "CE",
    "reverse_kl": "reverse KL",
    "rce": "reverse CE",
    "symmetric_kl": "symmetric KL",
}
#: The order losses appear in legends and tables.
LOSS_ORDER: tuple[str, ...] = ("forward_kl", "ce", "reverse_kl", "rce", "symmetric_kl")

#: Colours for the roles in the theory figures.
ROLE_COLORS: dict[str, str] = {
    "target": OKABE_ITO["black"],
    "forward": LOSS_COLORS["forward_kl"],
    "reverse": LOSS_COLORS["reverse_kl"],
    "holds": OKABE_ITO["blue"],
    "violated": OKABE_ITO["vermillion"],
    "reference": "#7F7F7F",
}

PNG_DPI = 200
FIGURE_WIDTH = 6.4  # inches: the width the README shows

RC_PARAMS: dict[str, object] = {
    "figure.figsize": (FIGURE_WIDTH, 3.6),
    "figure.dpi": 100,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.6,
    "lines.markersize": 5,
    "legend.frameon": False,
    "savefig.bbox": "tight",
    "pdf.fonttype": 42,  # embed TrueType: text stays text in the PDF
    "svg.fonttype": "none",
    "axes.prop_cycle": matplotlib.cycler(color=[OKABE_ITO[c] for c in ("blue", "vermillion", "green", "orange", "purple", "sky_blue", "black")]),
}


def loss_color(loss: str) -> str:
    """The colour of a loss; unknown names get the neutral grey so nothing fails on a new loss."""
    return LOSS_COLORS.get(loss, ROLE_COLORS["reference"])


def loss_marker(loss: str) -> str:
    """The marker of a loss (``"x"`` for unknown names)."""
    return LOSS_MARKERS.get(loss, "x")


def loss_label(loss: str) -> str:
    """Human name of a loss (``"reverse_kl"`` -> ``"reverse KL"``)."""
    return LOSS_LABELS.get(loss, loss)


def loss_sort_key(loss: str) -> tuple[int, str]:
    """Sort key putting losses in :data:`LOSS_ORDER`, unknown ones after, alphabetically."""
    return (LOSS_ORDER.index(loss) if loss in LOSS_ORDER else len(LOSS_ORDER), loss)


@contextmanager
def figure_style() -> Iterator[None]:
    """Apply the revkl rcParams inside the block only (tests and users keep their own defaults)."""
    with matplotlib.rc_context(RC_PARAMS):
        yield


def new_figure(ncols: int = 1, nrows: int = 1, height: float = 3.2, **kw: object) -> tuple[Figure, object]:
    """A figure of the README width with ``nrows x ncols`` axes (``plt.subplots`` semantics)."""
    if ncols < 1 or nrows < 1:
        raise ValueError(f"ncols and nrows must be >= 1, got ncols={ncols}, nrows={nrows}")
    return plt.subplots(nrows, ncols, figsize=(FIGURE_WIDTH, height * nrows), constrained_layout=True, **kw)


def new_mosaic(layout: list[list[str]], height: float) -> tuple[Figure, dict[str, object]]:
    """A figure of the README width laid out by ``plt.subplot_mosaic`` (panels named by letters)."""
    fig = plt.figure(figsize=(FIGURE_WIDTH, height), constrained_layout=True)
    return fig, fig.subplot_mosaic(layout)


def save_figure(fig: Figure, out_dir: str | os.PathLike[str], name: str) -> list[Path]:
    """Write ``name.pdf`` (vector) and ``name.png`` (200 dpi) into ``out_dir`` and close the figure.

    Each file is written by :func:`revkl_core.runfolder.atomic_write`, so a killed run never leaves a
    truncated image under the final name. Returns the two paths.
    """
    if not name or any(sep in name for sep in ("/", "\\")):
        raise ValueError(f"name must be a bare file stem, got {name!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    try:
        for ext in ("pdf", "png"):
            final = out / f"{name}.{ext}"
            # Fixed metadata keeps the files byte-stable across runs (no creation date).
            meta = {"CreationDate": None} if ext == "pdf" else {"Software": None}
            atomic_write(final, lambda tmp, ext=ext, meta=meta: fig.savefig(tmp, format=ext, dpi=PNG_DPI, metadata=meta))
            paths.append(final)
    finally:
        plt.close(fig)
    return paths


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write a text output with :func:`revkl_core.runfolder.atomic_write_text` (its folder created); return its path."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(final, text)
    return final
