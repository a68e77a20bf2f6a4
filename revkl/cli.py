"""The `revkl` command: one subcommand per package, each a thin layer over importable functions.

Every package that offers commands has a light module `<package>/cli.py` with
`register(subparsers)`; heavy imports (torch, transformers) happen inside the handlers,
so `revkl --help` and `revkl bounds ...` start fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from revkl_core.progress import quiet_library_bars
from revkl_core.runfolder import UserError

#: Modules whose register() adds a subcommand (bounds, synthetic, llm, figures, reproduce), in help order.
SUBCOMMANDS: list[str] = ["bounds.cli", "synthetic.cli", "llm_experiments.cli", "figures.cli", "revkl.reproduce"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="revkl",
        description="Check when reverse KL beats forward KL for weak-to-strong training: "
        "certified theory checks, a synthetic simulator, language-model experiments and figures.",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of a user error too")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    quiet_library_bars()  # before build_parser: the subcommands' modules import tqdm
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr if args.command is None else sys.stdout)
        return 2 if args.command is None else 0
    try:
        return int(args.handler(args) or 0)
    except UserError as err:
        if args.debug:
            raise
        print(f"revkl {args.command}: {str(err).splitlines()[0] if str(err) else type(err).__name__}", file=sys.stderr)
        return 2
