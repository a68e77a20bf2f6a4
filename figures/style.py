"""One look for every revkl figure: paper sizes, palette, markers, rcParams, and the writer of PDF + PNG files.

Paper form: figures are one column (:data:`COLUMN_WIDTH`, 3.3 in) or two columns (:data:`PAGE_WIDTH`,
6.9 in) wide and saved at exactly that size (no tight bounding box, so the PNG is the printed size
times :data:`PNG_DPI`), as a vector PDF with TrueType (Type 42) fonts embedded and a 200 dpi PNG.
The palette is Okabe & Ito's colour-blind-safe set. Each weak-to-strong loss keeps one colour and
one marker shape across all figures, so a reader learns the legend once and the figures survive
greyscale printing.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

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
COLUMN_WIDTH = 3.3  # inches: one column of a two-column paper
PAGE_WIDTH = 6.9  # inches: both columns

RC_PARAMS: dict[str, object] = {
    "figure.figsize": (COLUMN_WIDTH, 2.6),
    "figure.dpi": 100,
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "legend.fontsize": 7,
    "legend.handlelength": 1.6,
    "legend.columnspacing": 1.2,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "figure.constrained_layout.h_pad": 0.03,
    "figure.constrained_layout.w_pad": 0.03,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.6,
    "lines.linewidth": 1.3,
    "lines.markersize": 4,
    "legend.frameon": False,
    "savefig.bbox": None,  # the saved canvas is the figure: COLUMN_WIDTH or PAGE_WIDTH wide
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


def new_figure(ncols: int = 1, nrows: int = 1, height: float = 2.4, width: float = COLUMN_WIDTH,
               **kw: object) -> tuple[Figure, object]:
    """A figure ``width`` wide (:data:`COLUMN_WIDTH` or :data:`PAGE_WIDTH`) and ``height`` inches per row of
    ``nrows x ncols`` axes (``plt.subplots`` semantics), laid out by constrained layout."""
    if ncols < 1 or nrows < 1:
        raise ValueError(f"ncols and nrows must be >= 1, got ncols={ncols}, nrows={nrows}")
    return plt.subplots(nrows, ncols, figsize=(width, height * nrows), constrained_layout=True, **kw)


def new_mosaic(layout: list[list[str]], height: float, width: float = PAGE_WIDTH) -> tuple[Figure, dict[str, object]]:
    """A figure ``width`` wide laid out by ``plt.subplot_mosaic`` (panels named by letters)."""
    fig = plt.figure(figsize=(width, height), constrained_layout=True)
    return fig, fig.subplot_mosaic(layout)


def legend_above(fig: Figure, ncols: int, handles: list | None = None, labels: list[str] | None = None,
                 first: tuple[str, ...] = ()) -> None:
    """One legend for the whole figure, in a row above the panels (off every axes, so it covers no data).

    ``handles``/``labels`` default to the distinct labelled artists of all axes, those whose label is in
    ``first`` leading (in that order), then the others in drawing order.
    """
    if handles is None:
        seen: dict[str, object] = {}
        for ax in fig.axes:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                seen.setdefault(lab, h)
        labels = [lab for lab in first if lab in seen] + [lab for lab in seen if lab not in first]
        handles = [seen[lab] for lab in labels]
    if handles:
        fig.legend(handles, labels, loc="outside upper center", ncols=ncols)


def two_lines(label: str) -> str:
    """``"study: weak->strong"`` as two lines (study, then pair) so long labels fit a panel; other labels unchanged."""
    head, sep, tail = label.partition(": ")
    return f"{head}:\n{tail}" if sep else label


#: Called by :func:`save_figure` as ``inspector(fig, name)`` on every figure it writes (see :func:`inspect_saved`).
_INSPECTORS: list[Callable[[Figure, str], None]] = []


@contextmanager
def inspect_saved(inspector: Callable[[Figure, str], None]) -> Iterator[None]:
    """Inside the block, hand every figure :func:`save_figure` writes to ``inspector(fig, name)``, after its
    files are written and before it is closed (figures.legibility checks each figure this way)."""
    _INSPECTORS.append(inspector)
    try:
        yield
    finally:
        _INSPECTORS.remove(inspector)


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
        for inspector in list(_INSPECTORS):
            inspector(fig, name)
    finally:
        plt.close(fig)
    return paths


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write a text output with :func:`revkl_core.runfolder.atomic_write_text` (its folder created); return its path."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(final, text)
    return final
