"""`revkl bounds verify | check | derive`: thin layers over bounds.verify, bounds.theorems, bounds.derivations."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


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
    v.add_argument("--theorem", metavar="FILE.py:NAME", help="check your own bounds.theorems.Theorem object NAME from "
                   "FILE.py (alone, or with the --only results) with the same machinery; see docs/theory.md")
    v.add_argument("--no-progress", action="store_true", help="no progress bar (terminal) or progress lines every 30 s (log file)")
    v.set_defaults(handler=_verify)

    c = bsub.add_parser("check", help="report every applicable bound for your own F*, F_w, F_sw arrays",
                        description="Arrays are n x k probabilities in .npy or .csv files (one row per example). "
                        "Without the strong model class only T1-T3 apply; give --features and --class to fit each "
                        "loss over that class and check T4-T6 with their hypotheses.")
    c.add_argument("--fstar", type=Path, required=True, help="ground truth F* (one-hot rows for hard labels)")
    c.add_argument("--fw", type=Path, required=True, help="weak model predictions F_w")
    c.add_argument("--fsw", type=Path, required=True, help="strong-on-weak predictions F_sw")
    c.add_argument("--gamma", type=float, help="claimed floor on F_w and F_sw, in (0, their smallest entry] (default: that entry)")
    c.add_argument("--features", type=Path, help="the strong model's frozen features: n x m simplex rows (stochastic), "
                   "n x d (softmax) or L x n x k heads (mixture), .npy or .csv (csv: 2-D only)")
    c.add_argument("--class", dest="model_class", choices=("stochastic", "softmax", "mixture"),
                   help="the strong class over --features: F = A h (A column-stochastic), softmax(W h), or mixtures of heads")
    c.add_argument("--json", action="store_true", help="print JSON instead of a table (values that are not finite as null)")
    c.set_defaults(handler=_check)

    d = bsub.add_parser("derive", help="run the sympy derivations and confirm each simplifies to exact zero")
    d.set_defaults(handler=_derive)


def _check_verify_args(args: argparse.Namespace) -> None:
    """Every mistake in ``revkl bounds verify``'s arguments, before any instance is drawn (UserError)."""
    from bounds.theorems import THEOREMS
    from bounds.verify import load_report
    from revkl_core.runfolder import UserError, check_writable_file

    if args.instances < 1:
        raise UserError(f"--instances: must be >= 1, got {args.instances}")
    if args.seed < 0:
        raise UserError(f"--seed: must be >= 0, got {args.seed}")
    for name in args.only or ():
        if name not in THEOREMS:
            near = [t for t in THEOREMS if t.lower() == name.lower()]
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise UserError(f"--only: unknown result {name!r}{hint}; known: {', '.join(THEOREMS)}")
    if args.out:
        check_writable_file(args.out)
        if args.out.exists():  # replace an earlier report, never another kind of file
            try:
                load_report(args.out)
            except ValueError:
                raise UserError(f"--out: {args.out} exists and is not a `revkl bounds verify` report; "
                                "remove it or give another file name") from None


def _verify(args: argparse.Namespace) -> int:
    from bounds.verify import failed, format_table, load_theorem, unrefuted, verify, write_json
    from revkl_core.runfolder import UserError

    _check_verify_args(args)
    results: list = list(args.only or [])
    user = {}
    if args.theorem:
        thm = load_theorem(args.theorem)
        if thm.name in results:
            raise UserError(f"--theorem: {args.theorem}: its name {thm.name!r} is also given to --only; rename it")
        user = {thm.name: thm}
        results.append(thm)
    report = verify(args.instances, args.seed, results=results or None, progress=not args.no_progress)
    print(format_table(report, user))
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


def _check(args: argparse.Namespace) -> int:
    from bounds.check import check_arrays, exit_code, format_summary, load_array
    from revkl_core.runfolder import UserError, json_safe

    try:
        if (args.features is None) != (args.model_class is None):
            raise UserError("--features and --class: give both (the features and which class they define) or neither")
        arrays = {n: load_array(getattr(args, n), n) for n in ("fstar", "fw", "fsw")}
        features = None
        if args.features is not None:
            features = load_array(args.features, "features", ndim=3 if args.model_class == "mixture" else 2)
        summary = check_arrays(arrays["fstar"], arrays["fw"], arrays["fsw"], gamma=args.gamma, features=features,
                               class_kind=args.model_class)
    except ValueError as err:  # the arrays' validation (bounds.quantities.Instances) raises ValueError
        raise UserError(str(err)) from None
    print(json.dumps(json_safe(summary), indent=1, allow_nan=False) if args.json else format_summary(summary))
    return exit_code(summary)


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
