"""Hypothesis strategies for valid instances: points in the simplex, logits, seeds for structured instances."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


@st.composite
def simplex_rows(draw, n: int | None = None, k: int | None = None, floor: float = 0.0, max_k: int = 10, max_n: int = 8) -> np.ndarray:
    """An (n, k) array of probability rows; entries >= floor when floor > 0 (mixing with uniform)."""
    n = draw(st.integers(1, max_n)) if n is None else n
    k = draw(st.integers(2, max_k)) if k is None else k
    raw = draw(hnp.arrays(np.float64, (n, k), elements=st.floats(0.0, 1.0)))
    # Some rows exactly on the boundary (zeros), some spiky: exponentiate for dynamic range.
    spike = draw(st.sampled_from([1.0, 4.0, 20.0]))
    x = raw**spike
    x = np.where(x.sum(-1, keepdims=True) > 0, x, 1.0)
    x = x / x.sum(-1, keepdims=True)
    if floor > 0:
        x = (1 - k * floor) * x + floor
    return x


@st.composite
def same_shape_triples(draw, floor_exponent: tuple[float, float] = (-6.0, -1.3)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(F*, F_w, F_sw) of one shape; F_w and F_sw have a positive floor drawn log-uniformly."""
    n = draw(st.integers(1, 8))
    k = draw(st.integers(2, 10))
    floor = 10.0 ** draw(st.floats(*floor_exponent))
    floor = min(floor, 0.5 / k)
    fstar = draw(simplex_rows(n, k))
    return fstar, draw(simplex_rows(n, k, floor)), draw(simplex_rows(n, k, floor))


seeds = st.integers(0, 2**32 - 1)
