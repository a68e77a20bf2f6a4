"""The weak-to-strong run of one config, cached by stage and resumable (``revkl llm run``).

For each pair and split of the plan (:mod:`llm_experiments.units`) the run computes, once:

1. ``features`` (last_layer mode only): one forward pass of each backbone over every text of every
   split (:func:`llm_experiments.study.model_features`); keyed by the model (and the content of a
   local model folder), the texts themselves, ``max_length`` and ``feature_bf16``.
2. ``weak``: the weak model trained with CE on the split's ground-truth part; its logits on the
   weak-labelled part (the soft labels) and on the test part.
3. ``ceiling``: the strong model trained on the ground-truth part; its test logits.

then each unit: the strong model trained on the (possibly corrupted) weak labels with the unit's
loss; its test metrics are appended to ``results.jsonl`` as one batch whose id is the unit key
(:mod:`llm_experiments.summary`).

Stages are published first-copy-wins under ``DIR/cache`` (:func:`llm_experiments.study.cached_stage`).
An edited local input changes the keys of what depends on it, which is recomputed (the log names the
file); a resumed run skips units whose key is already in ``results.jsonl``, so a killed run loses
nothing it wrote.

Everything a user can get wrong (config, data file, model names, ``--out``) is checked before any
model is loaded and before anything is written: a UserError leaves the folder as it was.
A launcher (``launch.py``) splits the work: ``plan_units(cfg)`` lists the units, ``run(cfg, out,
only=keys)`` runs a subset. Any number of processes may share one folder with disjoint or
overlapping subsets: results are appended under a lock and read first-copy-wins, each stage is
published first-copy-wins (so every job continues from the same copy), a unit is claimed
(``runfolder.claim``) and one another job has finished is skipped, and the summary is rebuilt from
``results.jsonl`` under a lock. Under ``accelerate launch`` the decisions that steer collective work
are rank 0's (``parallel.agree``).
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from pathlib import Path
from typing import Any, Iterable

import torch

from bounds import Categorical
from llm_experiments import metrics, results
from llm_experiments.config import Config, load_config, numbers_hash, to_toml
from llm_experiments.data import Part, describe
from llm_experiments.datasets import check_dataset_name
from llm_experiments.losses import distribution, ground_truth
from llm_experiments.models import resolve
from llm_experiments.noise import corrupt
from llm_experiments.parallel import agree, barrier, distributed, is_main
from llm_experiments.study import Study, cached_stage, load_study
from llm_experiments.summary import summarize, unit_record, write_summary
from llm_experiments.trainer import Trainer
from llm_experiments.units import Unit, input_digests, plan_units, split_stage_key, stage_base
from revkl_core.runfolder import UserError, atomic_write_text, claim, prepare_out_dir

log = logging.getLogger("llm_experiments")


def _device(cfg: Config) -> torch.device:
    want = cfg.runtime.device
    if want == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if want.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"config [runtime]: device {want!r} requested but CUDA is not available")
    try:
        return torch.device(want)
    except RuntimeError:
        raise UserError(f"config [runtime]: device {want!r} is not a torch device (auto, cpu, cuda, cuda:0)") from None



class _RunLog:
    """Route the package logger to stderr and ``DIR/log.txt`` once the checks before any write passed.

    Lines logged before :meth:`open_file` are held back and replayed then, so a user error
    leaves exactly one line on stderr and no file behind.
    """

    def __init__(self) -> None:
        self.fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
        self.early: list[logging.LogRecord] = []
        self.buffer = logging.Handler()
        self.buffer.emit = self.early.append  # type: ignore[method-assign]
        self.handlers: list[logging.Handler] = [self.buffer]
        self.level = log.level

    def __enter__(self) -> "_RunLog":
        log.addHandler(self.buffer)
        log.setLevel(logging.INFO)
        return self

    def open_file(self, run_dir: Path) -> None:
        log.removeHandler(self.buffer)
        self.handlers = [logging.StreamHandler(sys.stderr)]
        if is_main():  # one log file line per event under accelerate launch
            self.handlers.append(logging.FileHandler(run_dir / results.LOG_FILE, encoding="utf-8"))
        for h in self.handlers:
            h.setFormatter(self.fmt)
            for rec in self.early:
                h.handle(rec)
            log.addHandler(h)

    def __exit__(self, *exc: object) -> None:
        for h in self.handlers:
            log.removeHandler(h)
            h.close()
        log.setLevel(self.level)


def _truth_targets(study: Study, part: Part) -> Categorical:
    return ground_truth(torch.as_tensor(part.labels), study.num_classes)


def _weak_labels(logits: torch.Tensor, task: str) -> Categorical:
    """Soft labels from weak logits (log-probs via log-sigmoid / log-softmax: finite for any finite logit)."""
    d = distribution(logits.double(), task)
    return Categorical(d.log_probs.float(), name="weak labels")


def _has_work(run_dir: Path) -> bool:
    """True when some stage or unit finished in ``run_dir`` (its config may then not change)."""
    cache = run_dir / "cache"
    return (run_dir / results.RESULTS_FILE).exists() or (cache.is_dir() and any(cache.glob("*.pt")))


def _check_out(cfg: Config, run_dir: Path) -> None:
    """``--out`` must be a folder, new, or one whose config matches (or in which nothing finished yet)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"--out: {run_dir} exists and is not a folder")
    cfg_path = run_dir / results.CONFIG_FILE
    if not cfg_path.is_file():
        return
    try:
        old = numbers_hash(load_config(cfg_path))
    except UserError as err:
        if _has_work(run_dir):
            raise UserError(f"--out: {run_dir} holds a run whose config.toml no longer loads ({err}); "
                            "choose a new --out") from None
        return
    if old != numbers_hash(cfg) and _has_work(run_dir):
        raise UserError(f"--out: {run_dir} holds a run of a different config ({cfg_path}); choose a new --out")


def run(config: Config | str | Path, out_dir: str | Path, only: Iterable[str] | None = None) -> dict[str, Any]:
    """Run (or resume) the units of ``config`` into the run folder ``out_dir``; returns the summary.

    ``only``: unit keys (from :func:`plan_units`) to run; the others are left to other processes.
    User mistakes raise UserError before anything is written.
    """
    t_call = time.time()
    cfg = config if isinstance(config, Config) else load_config(config)
    run_dir = Path(out_dir)
    _check_out(cfg, run_dir)
    threads = torch.get_num_threads()
    if cfg.runtime.threads:
        torch.set_num_threads(cfg.runtime.threads)
    try:
        with _RunLog() as runlog:
            return _run(cfg, run_dir, runlog, None if only is None else set(only), t_call)
    finally:
        torch.set_num_threads(threads)


def prepare(cfg: Config, out_dir: str | Path) -> Path:
    """Every check of :func:`run` that needs no model (config, data, ``--out``), then create the folder
    and write ``config.toml``: a launcher calls it before submitting, so a user error stops it there."""
    run_dir = Path(out_dir)
    _check_out(cfg, run_dir)
    _preflight(cfg)
    _write_config(cfg, run_dir)
    return run_dir


def _write_config(cfg: Config, run_dir: Path) -> None:
    prepare_out_dir(run_dir)
    cfg_path = run_dir / results.CONFIG_FILE
    text = to_toml(cfg)
    if is_main() and (not cfg_path.is_file() or cfg_path.read_text(encoding="utf-8") != text):
        atomic_write_text(cfg_path, text)  # runtime settings may change between resumes


def _preflight(cfg: Config) -> tuple[torch.device, dict[str, str], list[Unit], Study]:
    """Every check that needs no model: names, device, inputs, and the data of every split."""
    for weak, strong in cfg.models.pairs:
        for name in (weak, strong):
            try:
                resolve(name)
            except UserError:
                raise
            except (ValueError, OSError) as err:
                raise UserError(f"config [models].pairs: {err}") from None
    check_dataset_name(cfg.data)
    device = _device(cfg)
    digests = input_digests(cfg)
    units = plan_units(cfg, digests)
    study = load_study(cfg, {u.split_seed for u in units})
    return device, digests, units, study


def _run(cfg: Config, run_dir: Path, runlog: _RunLog, only: set[str] | None, t_call: float) -> dict[str, Any]:
    device, digests, units, study = _preflight(cfg)
    if only is not None:
        unknown = only - {u.key for u in units}
        if unknown:
            raise UserError(f"only: {len(unknown)} key(s) are not units of this config, e.g. {sorted(unknown)[0]}")
    _write_config(cfg, run_dir)
    runlog.open_file(run_dir)

    prev = results.load_summary(run_dir) if (run_dir / results.SUMMARY_FILE).is_file() else {}
    for path, digest in digests.items():
        old = prev.get("inputs", {}).get(path)
        if old is not None and old != digest:
            log.warning("input %s changed since the last run (content %s -> %s): the stages and units that "
                        "depend on it are recomputed", path, old, digest)
    for sp, sizes in study.sizes.items():
        log.info("split %d: parts obtained/requested %s", sp,
                 ", ".join(f"{p} {got}/{want}" for p, (got, want) in sizes.items()))
    log.info("run %s: dataset %s (%s, k=%d), %d texts over %d split(s), mode %s, device %s, seed_scope %s",
             cfg.name, describe(cfg.data), study.task, study.num_classes, len(study.texts), len(study.splits),
             cfg.models.mode, device, cfg.w2s.seed_scope)

    world = distributed()[1]
    if world > 1:
        log.info("data-parallel: %d processes, each trains on a shard of every batch", world)
    ctx = _Context(cfg, run_dir, study, device, digests, units, prev, t_call)
    done = agree(_done(run_dir))
    todo = [u for u in units if u.key not in done and (only is None or u.key in only)]
    log.info("%d of %d units to run", len(todo), len(units))
    for (weak, strong, sp), group in _groups(todo).items():
        W, C = ctx.stages(weak, strong, sp)
        for u in group:
            with claim(run_dir, u.key) if is_main() else contextlib.nullcontext(True) as mine:
                # rank 0 decides: not claimed by another process, and not finished by one meanwhile
                if agree(mine and u.key not in _done(run_dir)):
                    ctx.run_unit(u, W, C)
    barrier()  # every record rank 0 appends is in the file before any process reads the final summary
    return ctx.write_summary()


def _done(run_dir: Path) -> set[str]:
    return {r["key"] for r in results.load_results(run_dir)}


def _groups(units: list[Unit]) -> dict[tuple[str, str, int], list[Unit]]:
    out: dict[tuple[str, str, int], list[Unit]] = {}
    for u in units:
        out.setdefault((u.weak, u.strong, u.split_seed), []).append(u)
    return out


class _Context:
    """The state of one ``run`` call: trainers per model, the stages computed, the summary."""

    def __init__(self, cfg: Config, run_dir: Path, study: Study, device: torch.device, digests: dict[str, str],
                 units: list[Unit], prev: dict[str, Any], t_call: float) -> None:
        self.cfg, self.run_dir, self.study, self.device, self.digests = cfg, run_dir, study, device, digests
        self.units, self.prev, self.t_call = units, prev, t_call
        self.trainers: dict[str, Trainer] = {}
        self.stage_info: dict[str, dict[str, Any]] = {}
        self.base = stage_base(cfg, digests)

    def trainer(self, name: str) -> Trainer:
        if name not in self.trainers:
            t = self.trainers[name] = Trainer(self.cfg, self.study, name, self.run_dir, self.device, self.digests)
            if t.features is not None:
                self.stage_info[t.features_stage["key"]] = t.features_stage
        return self.trainers[name]

    def stages(self, weak: str, strong: str, sp: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """The weak and ceiling stages of split ``sp`` (cached), with their test metrics."""
        study, parts = self.study, self.study.splits[sp]
        tw, ts = self.trainer(weak), self.trainer(strong)
        gt, test = parts["gt"], parts["test"]

        def weak_stage() -> dict[str, Any]:
            t0 = time.time()
            m, st = tw.train(gt, _truth_targets(study, gt), seed=sp, loss="ce", desc=f"weak {weak} split {sp}")
            out = {"weak_logits": tw.predict(m, parts["weak"]), "test_logits": tw.predict(m, test), **st}
            return {**out, "wall_s": time.time() - t0}

        def ceiling_stage() -> dict[str, Any]:
            t0 = time.time()
            m, st = ts.train(gt, _truth_targets(study, gt), seed=sp, loss="ce", desc=f"ceiling {strong} split {sp}")
            return {"test_logits": ts.predict(m, test), **st, "wall_s": time.time() - t0}

        out = []
        labels = torch.as_tensor(test.labels)
        for stage, model, compute in (("weak", weak, weak_stage), ("ceiling", strong, ceiling_stage)):
            key = split_stage_key(self.cfg, self.digests, stage, model, sp)
            S = cached_stage(self.run_dir, stage, key, compute)
            S["acc"] = metrics.accuracy(S["test_logits"], labels, study.task)
            S["err"] = metrics.err(S["test_logits"], labels, study.task, study.num_classes)
            self.stage_info[key] = {"stage": stage, "model": model, "split_seed": sp, "acc": S["acc"], "err": S["err"],
                                    "wall_s": S["wall_s"]}
            out.append(S)
        log.info("%s -> %s, split %d: weak acc %.4f, ceiling acc %.4f", weak, strong, sp, out[0]["acc"], out[1]["acc"])
        return out[0], out[1]

    def run_unit(self, u: Unit, W: dict[str, Any], C: dict[str, Any]) -> None:
        """Train the strong model of ``u`` on its (corrupted) weak labels; rank 0 appends its record."""
        cfg, study = self.cfg, self.study
        parts = study.splits[u.split_seed]
        t0 = time.time()
        ts = self.trainer(u.strong)
        labels_w = corrupt(W["weak_logits"], study.task, u.noise, u.seed)
        m, st = ts.train(parts["weak"], _weak_labels(labels_w, study.task), seed=u.seed, loss=u.loss,
                         aux_conf=cfg.w2s.aux_conf, mirror_weight=cfg.w2s.mirror_weight,
                         desc=f"{u.strong} {u.loss} s{u.seed}")
        rec = unit_record(cfg, study, u, self.digests, self.base, (W, C), ts.predict(m, parts["test"]), st, t0)
        if not is_main():
            return
        results.append_record(self.run_dir, rec)
        nz = u.noise
        log.info("%s %s seed %d (split %d) noise %s: acc %.4f (weak %.4f, ceiling %.4f), %.1fs", rec["pair"], u.loss,
                 u.seed, u.split_seed, nz["kind"] if nz["kind"] == "none" else f"{nz['kind']} {nz['rate']}",
                 rec["acc_strong"], W["acc"], C["acc"], rec["wall_s"])
        self.write_summary()

    def write_summary(self) -> dict[str, Any]:
        """Rebuild the summary from ``results.jsonl`` and every stage recorded so far; rank 0 writes it."""
        if not is_main():
            return self._summary({})
        return write_summary(self.run_dir, self._summary)

    def _summary(self, current_stages: dict[str, Any]) -> dict[str, Any]:
        wanted = {u.key for u in self.units}
        recs = [r for r in results.load_results(self.run_dir) if r["key"] in wanted]
        stages = {**self.prev.get("stages", {}), **current_stages, **self.stage_info}
        return summarize(self.cfg, self.study, self.units, self.digests, recs, stages, self.prev, self.t_call)
