"""`revkl bounds verify | check | derive`: thin layers over bounds.verify, bounds.theorems, bounds.derivations."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bounds", help="theory core: verify the theorems, check your own arrays, run the derivations",
                       description="Certified checks of the forward/reverse KL weak-to-strong bounds (T0-T6).")
    bsub = p.add_subparsers(dest="bounds_command", metavar="ACTION")
    p.set_defaults(handler=lambda a: (p.print_help(), 2)[1])

    v = bsub.add_parser("verify", help="check every result on random instances; write JSON; exit 1 on a violation",
                        description="Sample N instances per result (k in 2..10, n in 1..1000, several families, "
                        "near-boundary ones included), check each beyond its solver certificate, print a table.")
    v.add_argument("--instances", type=int, default=2000, help="instances per result (default 2000)")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--out", type=Path, help="write the JSON report here")
    v.add_argument("--only", nargs="+", metavar="RESULT", help="check only these results (e.g. T4 NT-forward-convex)")
    v.add_argument("--no-progress", action="store_true")
    v.set_defaults(handler=_verify)

    c = bsub.add_parser("check", help="report every applicable bound for your own F*, F_w, F_sw arrays",
                        description="Arrays are n x k probabilities in .npy or .csv files (one row per example). "
                        "Only T1-T3 apply without knowing the strong class and how F_sw was trained.")
    c.add_argument("--fstar", type=Path, required=True, help="ground truth F* (one-hot rows for hard labels)")
    c.add_argument("--fw", type=Path, required=True, help="weak model predictions F_w")
    c.add_argument("--fsw", type=Path, required=True, help="strong-on-weak predictions F_sw")
    c.add_argument("--gamma", type=float, help="claimed floor on F_w and F_sw (default: their smallest entry)")
    c.add_argument("--json", action="store_true", help="print JSON instead of a table")
    c.set_defaults(handler=_check)

    d = bsub.add_parser("derive", help="run the sympy derivations and confirm each simplifies to exact zero")
    d.set_defaults(handler=_derive)


def _verify(args: argparse.Namespace) -> int:
    from bounds.verify import failed, format_table, unrefuted, verify, write_json

    report = verify(args.instances, args.seed, results=args.only, progress=not args.no_progress and sys.stderr.isatty())
    print(format_table(report))
    print(f"\n{report['_meta']['elapsed_s']:.1f} s for {args.instances} instances per result (seed {args.seed})")
    if args.out:
        write_json(report, args.out)
        print(f"wrote {args.out}")
    bad, open_ = failed(report), unrefuted(report)
    if open_:
        print(f"note: no certified counterexample found for {', '.join(open_)} (try more instances)")
    if bad:
        print(f"VIOLATED beyond the certificate: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


def load_array(path: Path, name: str) -> np.ndarray:
    """An n x k array from .npy or .csv (comma separated, no header)."""
    if not path.exists():
        raise ValueError(f"{name}: file not found: {path}")
    if path.suffix == ".npy":
        a = np.load(path)
    elif path.suffix == ".csv":
        a = np.loadtxt(path, delimiter=",", ndmin=2)
    else:
        raise ValueError(f"{name}: expected a .npy or .csv file, got {path.name}")
    if a.ndim != 2:
        raise ValueError(f"{name}: expected an n x k array, got shape {a.shape}")
    return a.astype(np.float64)


def _check(args: argparse.Namespace) -> int:
    from bounds.theorems import THEOREMS, Instances, applicable, forward_misfit, gap, reverse_misfit

    try:
        arrays = {n: load_array(getattr(args, n), n) for n in ("fstar", "fw", "fsw")}
        inst = Instances(arrays["fstar"], arrays["fw"], arrays["fsw"],
                         gamma=None if args.gamma is None else np.array([args.gamma]))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    results = applicable(inst)
    summary = {
        "n": inst.fstar.shape[1], "k": inst.fstar.shape[2],
        "err_w": float(inst.err(inst.fw)[0]), "err_sw": float(inst.err(inst.fsw)[0]), "gap": float(gap(inst)[0]),
        "forward_misfit": float(forward_misfit(inst)[0]), "reverse_misfit": float(reverse_misfit(inst)[0]),
        "gamma": float(inst.floor()[0]),
        "bounds": {name: {"title": THEOREMS[name].title, "lhs": float(r.lhs[0]), "rhs": float(r.rhs[0]),
                          "slack": float(r.slack[0]), "holds": bool(r.holds[0])}
                   for name, r in results.items()},
    }
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(f"n={summary['n']} k={summary['k']}  Err(F_w)={summary['err_w']:.6g}  Err(F_sw)={summary['err_sw']:.6g}  "
              f"gap={summary['gap']:.6g}")
        print(f"misfit: forward {summary['forward_misfit']:.6g}, reverse {summary['reverse_misfit']:.6g};  gamma={summary['gamma']:.3g}")
        if not results:
            print("no result applies (T1-T3 need F_w, F_sw > 0)")
        for name, r in summary["bounds"].items():
            verdict = "holds" if r["holds"] else "VIOLATED"
            if name == "T3":  # a lower bound: show it the way it is stated, gap >= bound
                shown = f"gap {-r['lhs']:.6g} >= {-r['rhs']:.6g}"
            else:
                shown = f"{r['lhs']:.6g} <= {r['rhs']:.6g}"
            print(f"  {name} ({r['title']}): {shown}  slack {r['slack']:.3g}  {verdict}")
    return 0 if all(r["holds"] for r in summary["bounds"].values()) else 1


def _derive(args: argparse.Namespace) -> int:
    from bounds.derivations import DERIVATIONS

    ok = True
    for name, build in DERIVATIONS.items():
        try:
            build().verify()
            print(f"  {name}: verified (every residual simplifies to 0)")
        except AssertionError as err:
            ok = False
            print(f"  {name}: FAILED: {err}")
    return 0 if ok else 1
