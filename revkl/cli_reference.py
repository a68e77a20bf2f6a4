"""The command-line reference in docs/cli.md, generated from the argparse tree so it cannot drift.

``python -m revkl.cli_reference > docs/cli.md`` rewrites it; ``tests/test_docs.py`` fails when the
committed file differs from what the parser says today.
"""

from __future__ import annotations

import argparse

from revkl.cli import build_parser


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _help(parser: argparse.ArgumentParser, name: str) -> str:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if choice.dest == name:
                    return choice.help or ""
    return ""


def _flags(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    for a in parser._actions:
        if isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        name = ", ".join(a.option_strings) or a.dest
        meta = "" if a.nargs == 0 else f" {a.metavar or a.dest.upper()}" if a.option_strings else ""
        text = (a.help or "").replace("|", "\\|")
        rows.append(f"| `{name}{meta}` | {text} |")
    return rows


def walk(parser: argparse.ArgumentParser, path: str = "revkl") -> list[tuple[str, argparse.ArgumentParser]]:
    """Every command of the tree, depth first: (``revkl bounds verify``, its parser)."""
    out = [(path, parser)]
    for name, sub in _subparsers(parser).items():
        out += walk(sub, f"{path} {name}")
    return out


def reference() -> str:
    """docs/cli.md: one section per command, with its help line and a table of its arguments."""
    root = build_parser()
    lines = ["# Command-line reference", "",
             "Generated from the parser by `python -m revkl.cli_reference > docs/cli.md` (a test keeps it current).", ""]
    for path, parser in walk(root):
        parent, _, name = path.rpartition(" ")
        help_line = _help(dict(walk(root))[parent], name) if parent else parser.description
        lines += [f"## `{path}`", "", help_line or "", ""]
        rows = _flags(parser)
        if rows:
            lines += ["| argument | meaning |", "|---|---|", *rows, ""]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(reference(), end="")
