"""``revkl llm run --config FILE --out DIR``, ``revkl llm report DIR`` and ``revkl llm theory DIR`` (heavy imports inside handlers)."""

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


def _theory(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from llm_experiments.feature_theory import format_theory, run_theory
    from llm_experiments.results import load_results

    classes = tuple(c.strip() for c in args.classes.split(",") if c.strip())
    recs = run_theory(args.dir, classes, args.out, dim=args.dim, convex_dim=args.convex_dim, clusters=args.clusters,
                      say=lambda m: print(m, file=sys.stderr))
    print(format_theory(recs, [u for u in load_results(Path(args.dir)) if u.get("checks")]))
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
    th = sub.add_parser("theory", help="T1-T6 on a last-layer run's cached features: certified head fits per class and loss")
    th.add_argument("dir", help="finished last_layer run folder")
    th.add_argument("--classes", default="softmax,convex", help="head classes, comma-separated (softmax, convex)")
    th.add_argument("--out", default=None, help="records file (default DIR/theory.jsonl; reruns skip done work)")
    th.add_argument("--dim", type=int, default=32, help="principal directions the softmax head uses (default 32)")
    th.add_argument("--convex-dim", type=int, default=4, help="principal directions the convex head clusters (default 4)")
    th.add_argument("--clusters", type=int, default=32, help="k-means centres of the convex class (default 32)")
    th.set_defaults(handler=_theory)
