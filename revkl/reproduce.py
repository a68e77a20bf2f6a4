"""`revkl reproduce [--full] [--out DIR] [--figures FIG] [--only ...] [--dry-run]`: every study, then every figure.

Stages, in order (each resumes: its output or run folder is reused when complete):

1. theory: ``bounds.verify.verify(instances=2000, seed=0)`` -> ``DIR/bounds.json``
   (skipped when that file already holds a report of the same instances and seed);
2. synthetic: ``synthetic/configs/quick.toml`` -> ``DIR/synthetic/``; ``--full`` adds
   synthetic-paper: ``synthetic/configs/paper.toml`` -> ``DIR/synthetic-paper/``;
3. one stage per language-model study in :data:`LLM_STUDIES` (``llm:<config name>``), each a
   config under ``llm_experiments/configs/`` -> ``DIR/llm/<config name>/``; the default run has
   the studies that fit its time budget, ``--full`` adds those marked ``full_only``;
4. figures: the records the figures read are exported (:func:`figures.records.export_records`) to
   ``FIG/records/`` and every figure, table and the scorecard is drawn from them into ``FIG``; with
   ``--full`` the records of every study (and the paper-sized synthetic run) also go to
   ``FIG/full/records/`` and their figures to ``FIG/full/``. The committed ``figures/`` is exactly
   this stage's output for the default studies, so ``make reproduce`` leaves ``git status`` clean.

``--only NAME[,NAME...]`` runs just the named stages (``full_only`` ones included when named).
``--dry-run`` prints, per stage, what it would compute or reuse and its estimated time, and runs nothing.
Arguments, asset availability and every study's config are checked before any stage runs (a user
error: one line, exit 2, nothing written). A stage that fails at run time is reported with its error
and the next stages still run; the exit code is 1 if any stage failed. The status of every stage run
is merged into ``DIR/reproduce.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from revkl_core.runfolder import UserError, atomic_write_json, check_writable_file

REPO = Path(__file__).resolve().parent.parent
VERIFY_INSTANCES = 2000
VERIFY_SEED = 0
#: Measured wall time of the theory stage on 2 idle cores (README, "What the theory check finds").
VERIFY_SECONDS = 26.0
LLM_CONFIG_DIR = REPO / "llm_experiments/configs"
RECORDS = "records"
FULL = "full"


@dataclass(frozen=True)
class SyntheticStudy:
    """A synthetic study: its config, its run folder under DIR, and the measured seconds per chunk on 2 cores."""

    config: Path
    folder: str
    chunk_s: float


#: quick.toml: 10 chunks in 28 s on 2 idle cores (README, Speed); paper.toml: 139 s per chunk (docs/figures.md).
SYNTHETIC_QUICK = SyntheticStudy(REPO / "synthetic/configs/quick.toml", "synthetic", 2.8)
SYNTHETIC_PAPER = SyntheticStudy(REPO / "synthetic/configs/paper.toml", "synthetic-paper", 139.0)


@dataclass(frozen=True)
class LLMStudy:
    """A language-model study of the suite: its config file in LLM_CONFIG_DIR, whether only ``--full`` runs it,
    whether ``revkl llm theory`` then checks T1-T6 on its cached features (last-layer studies), and its
    measured wall time from a cold cache on 2 cores (minutes; for ``--dry-run`` estimates)."""

    config: str
    full_only: bool = False
    theory: bool = False
    minutes: float = 5.0


#: The study suite, in run order; adding a study is one line. Minutes: cold runs on 2 idle cores (README, Speed).
LLM_STUDIES: tuple[LLMStudy, ...] = (
    LLMStudy("offline-movie-pairs.toml", theory=True, minutes=12.0),
    LLMStudy("offline-sms-spam.toml", minutes=0.9),
    LLMStudy("offline-movie-sentiment3.toml", minutes=0.8),
    LLMStudy("offline-bbc-news.toml", minutes=1.3),
    LLMStudy("offline-movie-pairs-bow.toml", minutes=1.7),
    LLMStudy("decoder-movie-pairs.toml", full_only=True, theory=True, minutes=28.0),  # SmolLM2 -> Gemma-3 / Qwen2.5
    LLMStudy("full-finetune-movie-pairs.toml", full_only=True, minutes=13.8),  # mode = "full" on real weights
    LLMStudy("full-finetune-movie-pairs-lastlayer.toml", full_only=True, minutes=0.9),  # its last-layer twin
)


@dataclass
class Stage:
    """A stage: ``run`` does the work and returns a status line; ``check`` refuses, before any stage runs,
    what would make it fail for a user's reason (UserError); ``preview`` says what ``run`` would do."""

    name: str
    what: str
    run: Callable[[argparse.Namespace], str]
    full_only: bool = False
    preview: Callable[[argparse.Namespace], str] | None = None
    check: Callable[[argparse.Namespace], None] | None = None


def _minutes(seconds: float) -> str:
    return f"about {seconds:.0f} s" if seconds < 90 else f"about {seconds / 60:.0f} min"


# -- theory ---------------------------------------------------------------------------------------------


def stage_theory(args: argparse.Namespace) -> str:
    from bounds.verify import failed, verify, write_json

    out = Path(args.out) / "bounds.json"
    report, action = _reusable_report(out), "reused"
    if report is None:
        report, action = verify(instances=VERIFY_INSTANCES, seed=VERIFY_SEED, progress=True), "wrote"
        write_json(report, out)
    bad = failed(report)
    if bad:  # the file stays for the figures and the scorecard, which will say "not reproduced"
        raise RuntimeError(f"{action} {out}, but theorems are violated beyond their certificates: {', '.join(bad)}")
    return f"{action} {out}; no theorem violated"


def preview_theory(args: argparse.Namespace) -> str:
    out = Path(args.out) / "bounds.json"
    if _reusable_report(out) is not None:
        return f"reuse {out}"
    return f"verify {VERIFY_INSTANCES} instances per result (seed {VERIFY_SEED}) -> {out}, {_minutes(VERIFY_SECONDS)}"


def _reusable_report(path: Path) -> dict | None:
    """The verify report at ``path`` if it was made with this stage's instances, seed and report format."""
    from bounds.verify import REPORT_FORMAT, load_report

    try:
        report = load_report(path)
    except (OSError, ValueError):
        return None
    meta = report.get("_meta", {})
    same = (meta.get("instances"), meta.get("seed"), meta.get("format")) == (VERIFY_INSTANCES, VERIFY_SEED, REPORT_FORMAT)
    return report if same else None


# -- synthetic ------------------------------------------------------------------------------------------


def stage_synthetic(study: SyntheticStudy) -> Callable[[argparse.Namespace], str]:
    def run(args: argparse.Namespace) -> str:
        from synthetic.config import load_config
        from synthetic.run import run_study

        out = Path(args.out) / study.folder
        summary = run_study(load_config(study.config), out, progress=True)
        return f"{summary['records']} records from {study.config.name} in {out}"

    return run


def preview_synthetic(study: SyntheticStudy) -> Callable[[argparse.Namespace], str]:
    def preview(args: argparse.Namespace) -> str:
        from synthetic import results as R
        from synthetic.config import load_config
        from synthetic.run import plan

        out = Path(args.out) / study.folder
        chunks = plan(load_config(study.config))
        done = R.completed_chunks(out) if (out / R.RESULTS_FILE).exists() else set()
        todo = [c for c in chunks if c.id not in done]
        return (f"{study.config.name}: {len(todo)} of {len(chunks)} chunks to compute, {len(chunks) - len(todo)} reused "
                f"-> {out}, {_minutes(len(todo) * study.chunk_s)}")

    return preview


def check_synthetic(study: SyntheticStudy) -> Callable[[argparse.Namespace], None]:
    def check(args: argparse.Namespace) -> None:
        from synthetic.config import load_config

        load_config(study.config)

    return check


# -- language models ------------------------------------------------------------------------------------


def _llm_config(study: LLMStudy):
    from llm_experiments.config import load_config

    return load_config(LLM_CONFIG_DIR / study.config)


def stage_llm(study: LLMStudy) -> Callable[[argparse.Namespace], str]:
    """The stage that runs (or resumes) ``study`` into ``DIR/llm/<config name>/``."""

    def run_study(args: argparse.Namespace) -> str:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from llm_experiments.run import run

        path = LLM_CONFIG_DIR / study.config
        run_dir = Path(args.out) / "llm" / _llm_config(study).name
        summary = run(path, run_dir)
        state = "complete" if summary.get("complete") else "incomplete"
        done = f"{summary.get('n_results', 0)} units ({state}) from {path.name} in {run_dir}"
        if study.theory:
            from llm_experiments.feature_theory import run_theory

            recs = run_theory(run_dir, say=lambda line: print(f"  theory: {line}", file=sys.stderr, flush=True))
            done += f"; {len(recs)} theory records in {run_dir / 'theory.jsonl'}"
        return done

    return run_study


def check_llm(study: LLMStudy) -> Callable[[argparse.Namespace], None]:
    """Refuse a study whose config is invalid or whose models or data are not installed (naming the make target)."""

    def check(args: argparse.Namespace) -> None:
        from llm_experiments.plan import missing_assets

        missing = missing_assets(_llm_config(study))
        if missing:
            target = "make assets-full" if study.full_only else "make assets"
            raise UserError(f"stage llm:{Path(study.config).stem}: not installed: {'; '.join(map(str, missing))}; "
                            f"run `{target}`")

    return check


def preview_llm(study: LLMStudy) -> Callable[[argparse.Namespace], str]:
    def preview(args: argparse.Namespace) -> str:
        from llm_experiments import results
        from llm_experiments.units import plan_units

        cfg = _llm_config(study)
        run_dir = Path(args.out) / "llm" / cfg.name
        keys = [u.key for u in plan_units(cfg)]
        done = {r["key"] for r in results.load_results(run_dir)} if (run_dir / results.RESULTS_FILE).exists() else set()
        todo = sum(k not in done for k in keys)
        est = study.minutes * 60 * todo / max(1, len(keys))
        theory = " then the feature theory" if study.theory else ""
        return f"{study.config}: {todo} of {len(keys)} units to compute{theory} -> {run_dir}, {_minutes(est)}"

    return preview


# -- figures --------------------------------------------------------------------------------------------


def _figure_sets(args: argparse.Namespace) -> list[tuple[Path, list[str], str]]:
    """(figure folder, LLM runs, synthetic run folder) per set: the default studies into FIG; with --full
    every study and the paper-sized synthetic run into FIG/full."""
    default = [_llm_config(st).name for st in LLM_STUDIES if not st.full_only]
    sets = [(Path(args.figures), default, SYNTHETIC_QUICK.folder)]
    if args.full:
        sets.append((Path(args.figures) / FULL, [_llm_config(st).name for st in LLM_STUDIES], SYNTHETIC_PAPER.folder))
    return sets


def stage_figures(args: argparse.Namespace) -> str:
    from figures.records import export_records
    from figures.render import render_all

    lines = []
    for fig, runs, synthetic in _figure_sets(args):
        export_records(args.out, fig / RECORDS, llm_runs=runs, synthetic_run=synthetic)
        report = render_all(fig / RECORDS, fig, progress=lambda name: print(f"  drawing {name}", file=sys.stderr))
        for line in report.lines():
            print(f"  {line}")
        lines.append(f"{len(report.made)} made, {len(report.skipped)} skipped from {fig / RECORDS}, scorecard at "
                     f"{fig / 'scorecard.md'}")
    return "; ".join(lines)


def check_figures(args: argparse.Namespace) -> None:
    """Refuse a FIG (or FIG/full) that is a file; the figures stage itself draws whatever the studies leave."""
    for fig, _, _ in _figure_sets(args):
        if fig.exists() and not fig.is_dir():
            raise UserError(f"--figures: {fig} is a file, expected a folder")


def preview_figures(args: argparse.Namespace) -> str:
    return "; ".join(f"export the records of {len(runs)} LLM runs and {synthetic}/ to {fig / RECORDS}, draw into {fig}"
                     for fig, runs, synthetic in _figure_sets(args)) + ", about 30 s"


STAGES: tuple[Stage, ...] = (
    Stage("theory", f"theory verification ({VERIFY_INSTANCES} instances, seed {VERIFY_SEED})", stage_theory,
          preview=preview_theory),
    Stage("synthetic", "synthetic study (quick)", stage_synthetic(SYNTHETIC_QUICK),
          preview=preview_synthetic(SYNTHETIC_QUICK), check=check_synthetic(SYNTHETIC_QUICK)),
    Stage("synthetic-paper", "synthetic study (paper-sized)", stage_synthetic(SYNTHETIC_PAPER), full_only=True,
          preview=preview_synthetic(SYNTHETIC_PAPER), check=check_synthetic(SYNTHETIC_PAPER)),
    *(Stage(f"llm:{Path(st.config).stem}", f"LLM study {Path(st.config).stem}", stage_llm(st), st.full_only,
            preview=preview_llm(st), check=check_llm(st)) for st in LLM_STUDIES),
    Stage("figures", "figures, tables and scorecard", stage_figures, preview=preview_figures),
)


def _read_status(out: Path) -> dict[str, dict[str, object]]:
    """The stage entries of ``out/reproduce.json`` from earlier calls ({} if none or unreadable)."""
    try:
        old = json.loads((out / "reproduce.json").read_text())
    except (OSError, ValueError):
        return {}
    return old if isinstance(old, dict) else {}


def _write_status(out: Path, status: dict[str, dict[str, object]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "reproduce.json", status, indent=2)


def select(stages: tuple[Stage, ...], full: bool, only: str | None) -> tuple[Stage, ...]:
    """The stages to run, in order: those named in ``only`` (comma-separated), else every stage of the mode.

    Raises UserError naming an unknown stage (or an empty list) and listing the known ones.
    """
    if only is None:
        return tuple(st for st in stages if full or not st.full_only)
    names = [n.strip() for n in only.split(",") if n.strip()]
    known = [st.name for st in stages]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise UserError(f"--only: unknown stage {', '.join(unknown) or repr(only)}; stages: {', '.join(known)}")
    return tuple(st for st in stages if st.name in names)


def _check_args(args: argparse.Namespace, stages: tuple[Stage, ...]) -> None:
    """Every user error that would make a stage fail, before anything is written."""
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out: {out} is a file, expected a folder")
    check_writable_file(out / "reproduce.json", "--out")
    check_figures(args)  # an argument, checked before any stage's inputs
    for stage in stages:
        if stage.check is not None:
            stage.check(args)


def reproduce(args: argparse.Namespace, stages: tuple[Stage, ...] = STAGES) -> int:
    """Run the selected stages in order (:func:`select`); a line per stage; 0, or 1 if any failed."""
    stages = select(stages, args.full, getattr(args, "only", None))
    _check_args(args, stages)
    mode = "full" if args.full else "default"
    if getattr(args, "dry_run", False):
        for i, stage in enumerate(stages, start=1):
            what = stage.preview(args) if stage.preview is not None else stage.what
            print(f"[{i}/{len(stages)}] {stage.name}: {what}")
        return 0
    out = Path(args.out)
    status = _read_status(out)
    for i, stage in enumerate(stages, start=1):
        print(f"[{i}/{len(stages)}] {stage.what} ({mode})", flush=True)
        t0 = time.perf_counter()
        try:
            state, detail = "done", stage.run(args)
        except Exception as err:  # noqa: BLE001 - report and go on: later stages use what exists
            state, detail = "failed", f"{type(err).__name__}: {err}"
        wall = round(time.perf_counter() - t0, 1)
        status[stage.name] = {"state": state, "detail": detail, "wall_s": wall, "mode": mode,
                              "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
        _write_status(out, status)
        print(f"      {state} in {wall:.1f} s: {detail}", flush=True)
    failed = [st.name for st in stages if status[st.name]["state"] == "failed"]
    print(f"reproduce: {len(stages) - len(failed)} done, failed: {', '.join(failed) or 'none'}; "
          f"status in {out / 'reproduce.json'}")
    return 1 if failed else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``reproduce`` subcommand."""
    p = subparsers.add_parser(
        "reproduce",
        help="run the theory check, the synthetic and LLM studies, then every figure and the scorecard",
        description="Default: theory check, quick synthetic study, the five offline LLM studies of "
        "revkl.reproduce.LLM_STUDIES, figures (drawn from FIG/records, which the stage exports); --full: the "
        "paper-sized synthetic study and the full-only LLM studies too, with their figures in FIG/full; --only runs "
        "the named stages; --dry-run says what each stage would compute or reuse. Rerunning resumes every stage.",
    )
    p.add_argument("--full", action="store_true",
                   help="paper-sized synthetic study and every LLM study of the suite (revkl.reproduce.LLM_STUDIES)")
    p.add_argument("--out", default="results", help="results folder (default: results)")
    p.add_argument("--only", metavar="NAME[,NAME...]",
                   help="run only these stages: " + ", ".join(st.name for st in STAGES))
    p.add_argument("--figures", default="figures", help="where figures, tables and the scorecard go (default: figures)")
    p.add_argument("--dry-run", action="store_true", help="print what each stage would compute or reuse, and its "
                   "estimated time; run nothing")
    p.set_defaults(handler=reproduce)
