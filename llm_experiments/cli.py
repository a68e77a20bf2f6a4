"""``revkl llm run --config FILE --out DIR``, ``revkl llm report DIR`` and ``revkl llm theory DIR`` (heavy imports inside handlers)."""

from __future__ import annotations

import argparse
import os

from revkl_core.runfolder import UserError


def _run(args: argparse.Namespace) -> int:
    """Everything a user can get wrong is checked before the run folder is written: the config, the launcher, and
    (offline, the default) that every model and data set is installed, generated or local."""
    from llm_experiments.config import load_config
    from llm_experiments.plan import build_plan, format_plan, missing_assets

    cfg = load_config(args.config)
    if args.dry_run:
        print(format_plan(build_plan(cfg)))
        return 0
    if not args.out:
        raise UserError("revkl llm run: --out is required (except with --dry-run)")
    from llm_experiments.launch import JobOptions, check_launcher, launch
    from llm_experiments.report import format_report

    check_launcher(args.launcher)
    if args.offline:  # a missing local file is the loader's to name; here: what only the hub has
        hub = [str(m) for m in missing_assets(cfg) if m.hub]
        if hub:
            raise UserError(f"{args.config}: not available offline: {'; '.join(hub)}; pass --online to download "
                            "from the hub, or point the config at local copies")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    opts = JobOptions(timeout_min=args.slurm_time, cpus_per_task=args.cpus_per_job, gpus_per_node=args.slurm_gpus,
                      mem_gb=args.slurm_mem_gb, partition=args.slurm_partition, account=args.slurm_account,
                      max_parallel=args.max_parallel)
    summary = launch(cfg, args.out, args.launcher, opts=opts, units_per_job=args.units_per_job,
                     wait=not args.no_wait)
    if args.no_wait:
        return 0
    if summary["n_results"] and os.environ.get("RANK", "0") == "0":  # one report under accelerate launch
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
    from llm_experiments.results import current_records

    classes = tuple(c.strip() for c in args.classes.split(",") if c.strip())
    recs = run_theory(args.dir, classes, args.out, dim=args.dim, convex_dim=args.convex_dim, clusters=args.clusters,
                      say=lambda m: print(m, file=sys.stderr))
    print(format_theory(recs, [u for u in current_records(Path(args.dir)) if u.get("checks")]))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("llm", help="weak-to-strong fine-tuning of language models (forward/reverse KL, CE)")
    sub = p.add_subparsers(dest="llm_command", metavar="ACTION")
    r = sub.add_parser("run", help="run (or resume) every unit of a config into a run folder")
    r.add_argument("--config", required=True, help="TOML config (see llm_experiments/configs/)")
    r.add_argument("--out", help="run folder; rerunning with the same folder resumes")
    r.add_argument("--dry-run", action="store_true",
                   help="list the units, models, data and estimated work (tokens, steps) without loading any model")
    r.add_argument("--online", dest="offline", action="store_false",
                   help="allow Hugging Face hub downloads (default: HF_HUB_OFFLINE=1 unless already set)")
    c = r.add_argument_group("launcher (docs/llm.md, Clusters)")
    c.add_argument("--launcher", default="local", choices=("local", "submitit-local", "slurm"),
                   help="local: every unit in this process (default); submitit-local / slurm: one job per pair and split "
                        "(or --units-per-job units), all writing --out")
    c.add_argument("--units-per-job", type=int, default=0, help="split the units of a pair and split into jobs of this many (0: one job per pair and split)")
    c.add_argument("--cpus-per-job", type=int, default=1, help="CPUs of each job (default 1)")
    c.add_argument("--slurm-partition", help="Slurm partition")
    c.add_argument("--slurm-account", help="Slurm account")
    c.add_argument("--slurm-time", type=int, default=60, help="time limit of each job, minutes (default 60)")
    c.add_argument("--slurm-gpus", type=int, default=0, help="GPUs per job (default 0)")
    c.add_argument("--slurm-mem-gb", type=float, help="memory per job, GB")
    c.add_argument("--max-parallel", type=int, default=0, help="Slurm: at most this many jobs at once (0: no limit)")
    c.add_argument("--no-wait", action="store_true", help="submit and return; `revkl llm report OUT` once jobs end")
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
