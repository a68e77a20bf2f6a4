"""``revkl llm run --config FILE --out DIR`` and ``revkl llm report DIR`` (heavy imports inside handlers)."""

from __future__ import annotations

import argparse
import os


def _run(args: argparse.Namespace) -> int:
    if args.offline:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from llm_experiments.pipeline import run
    from llm_experiments.report import format_report

    summary = run(args.config, args.out)
    if summary["n_results"]:
        print(format_report(args.out))
    return 0 if summary["complete"] else 1


def _report(args: argparse.Namespace) -> int:
    import logging
    import sys

    from llm_experiments.report import report

    logging.getLogger("llm_experiments").addHandler(logging.StreamHandler(sys.stderr))
    print(report(args.dir))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("llm", help="weak-to-strong fine-tuning of language models (forward/reverse KL, CE)")
    sub = p.add_subparsers(dest="llm_command", metavar="ACTION")
    r = sub.add_parser("run", help="run (or resume) every unit of a config into a run folder")
    r.add_argument("--config", required=True, help="TOML config (see llm_experiments/configs/)")
    r.add_argument("--out", required=True, help="run folder; rerunning with the same folder resumes")
    r.add_argument("--online", dest="offline", action="store_false",
                   help="allow Hugging Face hub downloads (default: HF_HUB_OFFLINE=1 unless already set)")
    r.set_defaults(handler=_run)
    rep = sub.add_parser("report", help="print the accuracy and noise tables of a run folder and write report.md")
    rep.add_argument("dir", help="run folder")
    rep.set_defaults(handler=_report)
