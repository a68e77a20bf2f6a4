"""`revkl figures`: redraw every figure, table and the scorecard the result files allow.

Kept light: matplotlib and the figure modules are imported inside the handler.
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``figures`` subcommand."""
    p = subparsers.add_parser(
        "figures",
        help="draw figures, tables and the claims scorecard from result files",
        description="Read DIR/bounds.json, DIR/synthetic/ and DIR/llm/<run>/ (each optional; see docs/figures.md), "
        "draw what they allow into OUT, write OUT/scorecard.md, and list the figures skipped for lack of results.",
    )
    p.add_argument("--results", default="results", help="results folder (default: results)")
    p.add_argument("--out", default="figures", help="output folder for images, tables and the scorecard (default: figures)")
    p.add_argument("--force", action="store_true",
                   help="write the scorecard into an --out that holds one even when parts of the results are missing")
    p.add_argument("--no-toy", action="store_true", help="skip Figure 1 (the toy fits; the only figure computed here)")
    p.set_defaults(handler=run_figures)


def run_figures(args: argparse.Namespace) -> int:
    """Handler: render, print what was made and skipped; exit 0 even when everything was skipped."""
    from figures.render import render_all
    from revkl_core.runfolder import UserError

    try:
        report = render_all(args.results, args.out, toy=not args.no_toy, force=args.force,
                            progress=lambda name: print(f"drawing {name}", file=sys.stderr))
    except UserError:
        raise  # one line, exit 2 (revkl.cli)
    except ValueError as err:
        print(f"revkl figures: {err}", file=sys.stderr)
        return 2
    for line in report.lines():
        print(line)
    if report.skipped:
        print(f"{len(report.skipped)} figure(s) skipped for lack of results; run the studies (revkl reproduce) to fill {args.results}/")
    return 0
