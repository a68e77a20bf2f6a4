r"""Does a figure read? Measured on the drawn figure, the way a reader would see the PNG.

The figure is drawn at the PNG resolution (:data:`figures.style.PNG_DPI`), every text artist the
renderer actually draws is recorded (titles, axis labels, the tick labels inside the view limits,
offset texts, legend texts and titles, annotations, figure texts and the suptitle), and three
things are checked, in PNG pixels with a tolerance of :data:`TOLERANCE_PX`:

* **overlap**: two text boxes :math:`A, B` overlap when their intersection is wider *and* taller
  than the tolerance, :math:`\min(A_{x1}, B_{x1}) - \max(A_{x0}, B_{x0}) > t` and the same in y;
* **off canvas**: a text or legend box reaches more than :math:`t` outside the figure
  (figures are saved at their nominal size, so the canvas is the saved image);
* **legend covers data**: a data point of any axes (a marker, a line vertex, a point every
  :data:`STEP_PX` along a drawn line segment, a bar) lies inside a legend box shrunk by :math:`t`.
  Data points are those drawn inside their axes (outside they are clipped and invisible).

Text boxes are axis-aligned (a rotated label is measured by the box around it: conservative).
:func:`check_figure` checks one figure; :func:`check_render` draws everything :func:`figures.render.render_all`
draws and checks each figure as it is saved.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from figures.style import PNG_DPI, inspect_saved

#: Overlap allowed between two boxes, and distance a box may reach past the canvas, in PNG pixels.
TOLERANCE_PX = 1.0
#: Spacing of the points sampled along a drawn line segment (PNG pixels).
STEP_PX = 2.0


@dataclass(frozen=True)
class Problem:
    """One legibility failure of a figure: its kind (``overlap``, ``off canvas``, ``legend covers data``) and what."""

    figure: str
    kind: str
    what: str

    def __str__(self) -> str:
        return f"{self.figure}: {self.kind}: {self.what}"


@contextmanager
def _recording_texts() -> Iterator[list[Text]]:
    """Inside the block, every Text whose ``draw`` is called (and that shows something) is appended to the list."""
    drawn: list[Text] = []
    real = Text.draw

    def draw(self: Text, renderer: object) -> None:
        real(self, renderer)
        if self.get_visible() and self.get_text().strip():
            drawn.append(self)

    Text.draw = draw  # type: ignore[method-assign]
    try:
        yield drawn
    finally:
        Text.draw = real  # type: ignore[method-assign]


def _describe(text: Text) -> str:
    s = " ".join(text.get_text().split())
    return repr(s if len(s) <= 40 else s[:39] + "\u2026")


def _overlap(a: Bbox, b: Bbox, tol: float) -> bool:
    return min(a.x1, b.x1) - max(a.x0, b.x0) > tol and min(a.y1, b.y1) - max(a.y0, b.y0) > tol


def _inside_canvas(box: Bbox, canvas: Bbox, tol: float) -> bool:
    return box.x0 >= canvas.x0 - tol and box.y0 >= canvas.y0 - tol and box.x1 <= canvas.x1 + tol and box.y1 <= canvas.y1 + tol


def _densify(xy: np.ndarray, step: float) -> np.ndarray:
    """Points every ``step`` pixels along the polyline ``xy`` (n, 2), its vertices included; NaN breaks the line."""
    out = [xy]
    for a, b in zip(xy[:-1], xy[1:]):
        n = int(np.hypot(*(b - a)) // step) if np.isfinite(a).all() and np.isfinite(b).all() else 0
        if n > 1:
            out.append(a + (b - a) * np.linspace(0, 1, n + 1)[1:-1, None])
    return np.concatenate(out)


def _line_points(line: Line2D) -> np.ndarray:
    xy = line.get_transform().transform(np.asarray(line.get_path().vertices, dtype=float))
    return _densify(xy, STEP_PX) if line.get_linestyle() not in ("None", "none", "", " ") else xy


def _collection_points(coll: object) -> np.ndarray:
    if isinstance(coll, LineCollection):
        parts = [_densify(coll.get_transform().transform(np.asarray(s, dtype=float)), STEP_PX) for s in coll.get_segments() if len(s)]
        return np.concatenate(parts) if parts else np.empty((0, 2))
    if isinstance(coll, PathCollection):
        return coll.get_offset_transform().transform(np.asarray(coll.get_offsets(), dtype=float))
    return np.empty((0, 2))  # filled areas (fill_between) are backgrounds, not data points


def data_points(fig: Figure) -> list[tuple[str, np.ndarray, list[Bbox]]]:
    """Per axes: its name, the display coordinates of its drawn data points, and the boxes of its bars."""
    out = []
    for i, ax in enumerate(fig.axes):
        parts = [_line_points(ln) for ln in ax.lines if ln.get_visible()]
        parts += [_collection_points(c) for c in ax.collections if c.get_visible()]
        pts = np.concatenate(parts) if parts else np.empty((0, 2))
        box = ax.bbox
        keep = np.isfinite(pts).all(1) & (pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1) & (pts[:, 1] >= box.y0) & (pts[:, 1] <= box.y1)
        bars = [Bbox.intersection(p.get_window_extent(), box) for p in ax.patches if p.get_visible()]
        out.append((ax.get_title() or f"axes {i + 1}", pts[keep], [b for b in bars if b is not None]))
    return out


def _legends(fig: Figure) -> list[Legend]:
    return [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)]


def _covered(legend_box: Bbox, fig: Figure, tol: float) -> list[str]:
    inner = Bbox.from_extents(legend_box.x0 + tol, legend_box.y0 + tol, legend_box.x1 - tol, legend_box.y1 - tol)
    hits = []
    for name, pts, bars in data_points(fig):
        n = int(np.count_nonzero((pts[:, 0] > inner.x0) & (pts[:, 0] < inner.x1) & (pts[:, 1] > inner.y0) & (pts[:, 1] < inner.y1)))
        n += sum(_overlap(inner, b, 0.0) for b in bars)
        if n:
            hits.append(f"{n} data point(s) of {name!r}")
    return hits


def check_figure(fig: Figure, name: str = "figure", tol: float = TOLERANCE_PX) -> list[Problem]:
    """The legibility problems of ``fig`` (see the module docstring); an empty list when it reads.

    The figure is redrawn at :data:`~figures.style.PNG_DPI` (its dpi is left there).
    """
    fig.set_dpi(PNG_DPI)
    renderer = fig.canvas.get_renderer()
    with _recording_texts() as drawn:
        fig.canvas.draw()
    texts = list({id(t): t for t in drawn}.values())
    boxes = [t.get_window_extent(renderer) for t in texts]
    canvas, problems = fig.bbox, []
    for i, (a, box) in enumerate(zip(texts, boxes)):
        if not _inside_canvas(box, canvas, tol):
            problems.append(Problem(name, "off canvas", f"text {_describe(a)}"))
        problems += [Problem(name, "overlap", f"{_describe(a)} and {_describe(b)}")
                     for b, other in zip(texts[i + 1:], boxes[i + 1:]) if _overlap(box, other, tol)]
    for legend in _legends(fig):
        box = legend.get_window_extent(renderer)
        if not _inside_canvas(box, canvas, tol):
            problems.append(Problem(name, "off canvas", "legend box"))
        problems += [Problem(name, "legend covers data", f"legend over {hit}") for hit in _covered(box, fig, tol)]
    return problems


def check_render(results_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                 **render_kw: object) -> dict[str, list[Problem]]:
    """Draw everything :func:`figures.render.render_all` draws from ``results_dir`` into ``out_dir``; per figure
    file stem saved (``llm_pgr``, ...), its problems (:func:`check_figure`)."""
    from figures.render import render_all

    found: dict[str, list[Problem]] = {}

    def inspect(fig: Figure, name: str) -> None:
        found[name] = check_figure(fig, name)

    with inspect_saved(inspect):
        render_all(results_dir, out_dir, **render_kw)  # type: ignore[arg-type]
    return found


def saved_stems(out_dir: str | os.PathLike[str]) -> set[str]:
    """The stems of the PNG figures in ``out_dir`` (what :func:`check_render` must have checked)."""
    return {p.stem for p in Path(out_dir).glob("*.png")}
