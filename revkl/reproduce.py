"""`revkl reproduce [--full] [--out DIR] [--figures FIG]`: every study, then every figure, in one command.

Stages, in order (each resumes: its output or run folder is reused when complete):

1. theory: ``bounds.verify.verify(instances=2000, seed=0)`` -> ``DIR/bounds.json``
   (skipped when that file already holds a report of the same instances and seed);
2. synthetic: ``synthetic/configs/quick.toml`` (``--full``: ``paper.toml``) -> ``DIR/synthetic/``;
3. one stage per language-model study in :data:`LLM_STUDIES` (``llm:<config name>``), each a
   config under ``llm_experiments/configs/`` -> ``DIR/llm/<config name>/``; the default run has
   the studies that fit its time budget, ``--full`` adds those marked ``full_only``;
4. figures: :func:`figures.render.render_all` (``DIR`` -> ``FIG``, scorecard included).

``--only NAME[,NAME...]`` runs just the named stages (``full_only`` ones included when named), e.g.
``--only llm:decoder-movie-pairs,figures``.

A stage whose config file does not exist is reported as skipped; a stage that fails is reported with its error and the next stages still run; the exit
code is 1 if any stage failed. The status of every stage run is merged into ``DIR/reproduce.json`` (a stage's
entry is replaced when it runs again; the others keep their earlier entry, with its mode and finish time).
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

from revkl_core.runfolder import UserError, atomic_write_json

REPO = Path(__file__).resolve().parent.parent
VERIFY_INSTANCES = 2000
VERIFY_SEED = 0
SYNTHETIC_CONFIGS = {"quick": REPO / "synthetic/configs/quick.toml", "full": REPO / "synthetic/configs/paper.toml"}
LLM_CONFIG_DIR = REPO / "llm_experiments/configs"


@dataclass(frozen=True)
class LLMStudy:
    """A language-model study of the suite: its config file in LLM_CONFIG_DIR, whether only ``--full`` runs it,
    and whether ``revkl llm theory`` then checks T1-T6 on its cached features (last-layer studies)."""

    config: str
    full_only: bool = False
    theory: bool = False


#: The study suite, in run order; adding a study is one line. Wall times in docs/llm.md (Study suite):
#: each bow -> minilm study took 1-3.5 min from scratch on 2 cores at load 3-8.
LLM_STUDIES: tuple[LLMStudy, ...] = (
    LLMStudy("offline-movie-pairs.toml", theory=True),
    LLMStudy("offline-sms-spam.toml"),
    LLMStudy("offline-movie-sentiment3.toml"),
    LLMStudy("offline-bbc-news.toml"),
    LLMStudy("offline-movie-pairs-bow.toml"),
    LLMStudy("decoder-movie-pairs.toml", full_only=True, theory=True),  # SmolLM2 -> Gemma-3 / Qwen2.5 (make assets-full)
    LLMStudy("full-finetune-movie-pairs.toml", full_only=True),  # mode = "full" on real weights
    LLMStudy("full-finetune-movie-pairs-lastlayer.toml", full_only=True),  # its last-layer twin
)


class StageSkipped(Exception):
    """A stage cannot run here (its config file is missing); the message says why."""


@dataclass
class Stage:
    name: str
    what: str
    run: Callable[[argparse.Namespace], str]
    full_only: bool = False


def _config(paths: dict[str, Path], full: bool) -> Path:
    return _existing(paths["full" if full else "quick"])


def _existing(path: Path) -> Path:
    if not path.exists():
        shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        raise StageSkipped(f"config {shown} does not exist yet")
    return path


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


def stage_synthetic(args: argparse.Namespace) -> str:
    from synthetic.config import load_config
    from synthetic.run import run_study

    path = _config(SYNTHETIC_CONFIGS, args.full)
    summary = run_study(load_config(path), Path(args.out) / "synthetic", progress=True)
    return f"{summary['records']} records from {path.name} in {Path(args.out) / 'synthetic'}"


def stage_llm(study: LLMStudy) -> Callable[[argparse.Namespace], str]:
    """The stage that runs (or resumes) ``study`` into ``DIR/llm/<config name>/``."""

    def run_study(args: argparse.Namespace) -> str:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from llm_experiments.config import load_config
        from llm_experiments.pipeline import run

        path = _existing(LLM_CONFIG_DIR / study.config)
        run_dir = Path(args.out) / "llm" / load_config(path).name
        summary = run(path, run_dir)
        state = "complete" if summary.get("complete") else "incomplete"
        done = f"{summary.get('n_results', 0)} units ({state}) from {path.name} in {run_dir}"
        if study.theory:
            from llm_experiments.feature_theory import run_theory

            recs = run_theory(run_dir, say=lambda line: print(f"  theory: {line}", file=sys.stderr, flush=True))
            done += f"; {len(recs)} theory records in {run_dir / 'theory.jsonl'}"
        return done

    return run_study


def stage_figures(args: argparse.Namespace) -> str:
    from figures.render import render_all

    report = render_all(args.out, args.figures, progress=lambda name: print(f"  drawing {name}", file=sys.stderr))
    for line in report.lines():
        print(f"  {line}")
    return f"{len(report.made)} made, {len(report.skipped)} skipped, scorecard at {Path(args.figures) / 'scorecard.md'}"


STAGES: tuple[Stage, ...] = (
    Stage("theory", f"theory verification ({VERIFY_INSTANCES} instances, seed {VERIFY_SEED})", stage_theory),
    Stage("synthetic", "synthetic study", stage_synthetic),
    *(Stage(f"llm:{Path(st.config).stem}", f"LLM study {Path(st.config).stem}", stage_llm(st), st.full_only)
      for st in LLM_STUDIES),
    Stage("figures", "figures, tables and scorecard", stage_figures),
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

    Raises UserError naming an unknown stage and listing the known ones.
    """
    if not only:
        return tuple(st for st in stages if full or not st.full_only)
    names = [n.strip() for n in only.split(",") if n.strip()]
    known = [st.name for st in stages]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise UserError(f"--only: unknown stage {', '.join(unknown) or repr(only)}; stages: {', '.join(known)}")
    return tuple(st for st in stages if st.name in names)


def reproduce(args: argparse.Namespace, stages: tuple[Stage, ...] = STAGES) -> int:
    """Run the selected stages in order (:func:`select`); a line per stage; 0, or 1 if any failed."""
    stages = select(stages, args.full, getattr(args, "only", None))
    out = Path(args.out)
    status = _read_status(out)
    mode = "full" if args.full else "default"
    for i, stage in enumerate(stages, start=1):
        print(f"[{i}/{len(stages)}] {stage.what} ({mode})", flush=True)
        t0 = time.perf_counter()
        try:
            state, detail = "done", stage.run(args)
        except StageSkipped as err:
            state, detail = "skipped", str(err)
        except Exception as err:  # noqa: BLE001 - report and go on: later stages use what exists
            state, detail = "failed", f"{type(err).__name__}: {err}"
        wall = round(time.perf_counter() - t0, 1)
        status[stage.name] = {"state": state, "detail": detail, "wall_s": wall, "mode": mode,
                              "finished": time.strftime("%Y-%m-%d %H:%M:%S")}
        _write_status(out, status)
        print(f"      {state} in {wall:.1f} s: {detail}", flush=True)
    ran = {st.name for st in stages}
    failed = [n for n, s in status.items() if n in ran and s["state"] == "failed"]
    skipped = [n for n, s in status.items() if n in ran and s["state"] == "skipped"]
    print(f"reproduce: {len(stages) - len(failed) - len(skipped)} done, skipped: {', '.join(skipped) or 'none'}, "
          f"failed: {', '.join(failed) or 'none'}; status in {out / 'reproduce.json'}")
    return 1 if failed else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``reproduce`` subcommand."""
    p = subparsers.add_parser(
        "reproduce",
        help="run the theory check, the synthetic and LLM studies, then every figure and the scorecard",
        description="Default: theory check, quick synthetic study, the five offline LLM studies of "
        "revkl.reproduce.LLM_STUDIES, figures; --full: the paper-sized synthetic study and the full-only LLM "
        "studies too; --only runs the named stages. Rerunning resumes every stage from its run folder.",
    )
    p.add_argument("--full", action="store_true",
                   help="paper-sized synthetic study and every LLM study of the suite (revkl.reproduce.LLM_STUDIES)")
    p.add_argument("--out", default="results", help="results folder (default: results)")
    p.add_argument("--only", metavar="NAME[,NAME...]",
                   help="run only these stages: " + ", ".join(st.name for st in STAGES))
    p.add_argument("--figures", default="figures", help="where figures, tables and the scorecard go (default: figures)")
    p.set_defaults(handler=reproduce)
