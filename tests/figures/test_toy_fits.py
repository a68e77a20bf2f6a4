"""Figure 1's numbers: numerical minimisers against the closed forms and the sympy derivations."""

from __future__ import annotations

import numpy as np
import pytest

from figures.toy_fits import categorical_closed_forms, fit_categorical, fit_mixture, keep_one_family, moment_matching


def test_categorical_design_example() -> None:
    fits = fit_categorical((0.1, 0.7, 0.2))
    assert fits.kept == 1
    assert fits.forward_t == pytest.approx(0.3, abs=1e-7)
    assert fits.reverse_t == pytest.approx(2 * np.sqrt(0.02) / (2 * np.sqrt(0.02) + 0.7), abs=1e-7)
    assert fits.forward_t_sympy == pytest.approx(fits.forward_t_closed_form, abs=1e-12)
    assert fits.reverse_t_sympy == pytest.approx(fits.reverse_t_closed_form, abs=1e-12)


@pytest.mark.parametrize("q,kept", [((0.05, 0.6, 0.2, 0.15), 1), ((0.5, 0.3, 0.2), 0), ((0.2, 0.2, 0.6), 2)])
def test_categorical_general_closed_forms_match_numerics(q: tuple[float, ...], kept: int) -> None:
    fits = fit_categorical(q, kept=kept)
    fwd, rev = categorical_closed_forms(q, kept)
    assert fits.forward_t == pytest.approx(fwd, abs=1e-6)
    assert fits.reverse_t == pytest.approx(rev, abs=1e-6)
    assert fits.reverse_t <= fits.forward_t + 1e-6  # geometric mean <= arithmetic mean: reverse keeps less off the mode


def test_keep_one_family_is_a_distribution() -> None:
    f = keep_one_family(np.linspace(0, 1, 7), 4, 2)
    assert f.shape == (7, 4)
    assert np.allclose(f.sum(-1), 1.0) and np.all(f >= 0)
    with pytest.raises(ValueError, match="kept"):
        keep_one_family(0.3, 3, 3)


def test_mixture_forward_is_moment_matching_and_reverse_seeks_a_mode() -> None:
    mix = fit_mixture(grid_points=4001)
    m, s = moment_matching(mix.weights, mix.means, mix.stds)
    assert mix.forward_numerical.mean == pytest.approx(m, abs=1e-4)
    assert mix.forward_numerical.std == pytest.approx(s, abs=1e-4)
    assert mix.forward_sympy.mean == pytest.approx(m, abs=1e-12)
    assert mix.forward_sympy.std == pytest.approx(s, abs=1e-12)
    best = mix.reverse_best
    heavy = int(np.argmax(mix.weights))
    assert best.mean == pytest.approx(mix.means[heavy], abs=0.1)  # sits on the heavier mode
    assert best.std < s  # narrower than the mass-covering fit
    assert len(mix.reverse_local_minima) >= 2  # one per well-separated mode at least


def test_mixture_rejects_bad_weights() -> None:
    with pytest.raises(ValueError, match="weights"):
        fit_mixture(weights=(0.5, 0.6), means=(0, 1), stds=(1, 1))
