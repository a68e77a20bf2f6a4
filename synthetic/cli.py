"""`revkl synthetic run --config FILE --out DIR` and `revkl synthetic report DIR` (heavy imports in handlers)."""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    from synthetic.config import load_config
    from synthetic.report import render
    from synthetic.run import prepare_run_dir, run_study

    cfg = load_config(args.config)  # a user's mistake raises UserError: one line, exit 2 (revkl.cli)
    prepare_run_dir(cfg, args.out)
    summary = run_study(cfg, args.out, progress=not args.quiet)
    print(f"wrote {summary['records']} records to {args.out}")
    if not args.quiet:
        print(render(summary))
    return 0


def _report(args: argparse.Namespace) -> int:
    from synthetic.report import report

    print(report(args.dir), end="")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `synthetic` command and its `run` and `report` subcommands."""
    p = subparsers.add_parser("synthetic", help="simulator of weak-to-strong training with known truth")
    sub = p.add_subparsers(dest="synthetic_command", metavar="SUBCOMMAND")
    r = sub.add_parser("run", help="run (or resume) a study from a TOML config")
    r.add_argument("--config", required=True, help="TOML study config (see synthetic/configs/)")
    r.add_argument("--out", required=True, help="run folder: config.toml, results.jsonl, summary.json, log.txt")
    r.add_argument("--quiet", action="store_true", help="no progress bar, progress lines or tables on the terminal (log.txt still gets progress lines)")
    r.set_defaults(handler=_run)
    rep = sub.add_parser("report", help="print the tables of a run folder (also written to DIR/report.txt)")
    rep.add_argument("dir", help="run folder")
    rep.set_defaults(handler=_report)
