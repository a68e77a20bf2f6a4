"""Hypothesis strategies for valid instances, for property tests of bounds (the project's own and a user's).

Needs ``hypothesis`` (``pip install revkl[test]``); ``import bounds`` does not import this module.

* :func:`simplex_rows`: an (n, k) array of probability rows, some exactly on the boundary (zeros), some spiky
  (entries raised to a power for dynamic range), optionally floored (mixed with uniform);
* :func:`same_shape_triples`: (F*, F_w, F_sw) of one shape, F_w and F_sw with a positive floor drawn log-uniformly
  (T1-T3's hypotheses hold);
* :data:`seeds`: seeds for the structured generators of :mod:`bounds.instances`;
* :func:`instances`: an :class:`~bounds.quantities.Instances` batch from one of a result's instance families
  (``THEOREMS[name].families``: the extremal family, Dirichlet and near-boundary arrays, certified fits over
  probability-convex and softmax-linear classes), so a property test runs on what ``revkl bounds verify`` draws.

A user's property test of a bound in a few lines::

    from hypothesis import given
    from bounds.strategies import same_shape_triples
    from bounds.theorems import Instances

    @given(same_shape_triples())
    def test_my_bound(triple):
        assert my_theorem.check(Instances(*triple)).holds.all()
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bounds.quantities import Instances

__all__ = ["instances", "same_shape_triples", "seeds", "simplex_rows"]


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


@st.composite
def instances(draw, result: str, batch: int = 4, max_n: int = 30, max_k: int = 6) -> Instances:
    """A batch from one of ``THEOREMS[result].families`` (drawn), of a drawn shape n in 1..max_n, k in 2..max_k."""
    from bounds.theorems import THEOREMS

    families = THEOREMS[result].families
    family = draw(st.sampled_from(sorted(families)))
    rng = np.random.default_rng(draw(seeds))
    return families[family](rng, batch, draw(st.integers(1, max_n)), draw(st.integers(2, max_k)))
