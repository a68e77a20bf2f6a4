"""Write the small example arrays the README's `revkl bounds check` commands use (deterministic, seed 0).

A probability-convex strong class F = A h (h in the 4-simplex, A column-stochastic, k = 3), F* a member of it,
F_w = F* mixed half-and-half with noise, F_sw the exact reverse-KL fit of F_w over the class.
Run from the repository root: python bounds/examples/make_examples.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bounds.classes import StochasticMatrixClass
from bounds.solvers import fit

HERE = Path(__file__).resolve().parent


def make(out: Path = HERE) -> None:
    rng = np.random.default_rng(0)
    n, k, m = 50, 3, 4
    h = rng.dirichlet(np.ones(m), n)
    model = StochasticMatrixClass(h, k)
    fstar = model.predict(rng.dirichlet(np.ones(k), m)[None])[0]
    fw = 0.5 * fstar + 0.5 * rng.dirichlet(np.ones(k), n)
    fsw = fit(model, fw, "reverse_kl").pred[0]
    np.save(out / "truth.npy", fstar)
    np.savetxt(out / "weak.csv", fw, delimiter=",", fmt="%.17g")
    np.save(out / "strong.npy", fsw)
    np.save(out / "features.npy", h)


if __name__ == "__main__":
    make()
