"""Batched certified solver vs a per-instance scipy.optimize loop, and `verify` throughput.

Usage: python benchmarks/bench_bounds.py [--instances 64] [--verify-instances 10000]
Prints instances/s of both solvers on the same instances, the speed ratio, and how far scipy's
objective is from the certified one (both must solve the same problem).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.optimize import minimize

from bounds.classes import StochasticMatrixClass
from bounds.solvers import fit
from bounds.verify import verify


def scipy_fit(model: StochasticMatrixClass, fw: np.ndarray, b: int) -> float:
    """Reverse-KL fit of instance b by SLSQP on the same objective (tolerance 1e-12 on f)."""
    nb, bs = model.blocks
    h, T = model.features[b], fw[b]

    def f(x: np.ndarray) -> float:
        F = h @ np.clip(x, 1e-15, None).reshape(nb, bs)
        return float(np.mean(np.sum(F * np.log(F / T), axis=-1)))

    cons = [{"type": "eq", "fun": lambda x, c=c: x.reshape(nb, bs)[c].sum() - 1.0} for c in range(nb)]
    res = minimize(f, np.full(nb * bs, 1.0 / bs), method="SLSQP", bounds=[(0.0, 1.0)] * (nb * bs),
                   constraints=cons, options={"ftol": 1e-12, "maxiter": 2000})
    return float(res.fun)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--instances", type=int, default=64)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--m", type=int, default=5)
    ap.add_argument("--verify-instances", type=int, default=2000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    B = args.instances
    model = StochasticMatrixClass(rng.dirichlet(np.ones(args.m), size=(B, args.n)), args.k)
    fw = rng.dirichlet(np.ones(args.k), size=(B, args.n))

    t0 = time.perf_counter()
    ours = fit(model, fw, "reverse_kl")
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = np.array([scipy_fit(model, fw, b) for b in range(B)])
    t_ref = time.perf_counter() - t0
    print(f"reverse-KL fits, {B} instances (n={args.n}, k={args.k}, m={args.m}):")
    print(f"  batched interior point: {B / t_ours:9.1f} instances/s  (max certificate {ours.certificate.max():.1e})")
    print(f"  scipy SLSQP loop:       {B / t_ref:9.1f} instances/s")
    print(f"  speed ratio: {t_ref / t_ours:.1f}x   objective(scipy) - objective(ours): "
          f"min {np.min(ref - ours.objective):.2e}, max {np.max(ref - ours.objective):.2e}")

    t0 = time.perf_counter()
    report = verify(args.verify_instances, seed=0, progress=False)
    dt = time.perf_counter() - t0
    total = sum(v["instances"] for k, v in report.items() if not k.startswith("_"))
    print(f"verify --instances {args.verify_instances}: {dt:.1f} s ({total} instances in all, {total / dt:.0f} instances/s)")


if __name__ == "__main__":
    main()
