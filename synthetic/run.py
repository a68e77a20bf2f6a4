"""Run a study: settings x chunks of tasks, each chunk computed batched and appended to results.jsonl.

A chunk is (representation, head class, K, a range of tasks); it holds every noise level, loss
and method of those tasks, so the weak supervisor and the ceiling are fitted once per chunk.
A chunk's records are appended as one batch of :func:`revkl_core.runfolder.append_batch` (batch id =
chunk id) when it is complete; a rerun of the same command skips the chunks whose batch is in
``results.jsonl``, so a killed run resumes without redoing or losing work.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bounds.solvers import frank_wolfe_gap
from bounds.theorems import Instances
from revkl_core import runfolder
from revkl_core.progress import Meter
from synthetic import results as R
from synthetic.config import Config, loss_direction, to_toml
from synthetic.exact import EXACT_LOSSES, fit_exact
from synthetic.generators import World, controlled_world, make_tasks, pretrained_world
from synthetic.heads import HEAD_CLASSES, HeadClass, strong_features
from synthetic.measure import theorem_checks, transfer_metrics
from synthetic.seeding import generator, stream_seed
from synthetic.train import fit_sgd
from synthetic.weak import add_noise, fit_weak

SPLITS = ("transfer", "val", "test")


@dataclass(frozen=True)
class Chunk:
    """One unit of work and of resumption."""

    representation: str
    rep_value: float  # delta (controlled) or number of pre-training tasks (pretrained)
    head_class: str
    K: int
    tasks: tuple[int, ...]

    @property
    def id(self) -> str:
        return f"{self.representation}={self.rep_value:g}|{self.head_class}|K={self.K}|tasks={self.tasks[0]}-{self.tasks[-1]}"


def plan(cfg: Config) -> list[Chunk]:
    """Every chunk of the study, in run order."""
    r = cfg.representation
    reps = [float(x) for x in (r.deltas if r.kind == "controlled" else r.pretrain_tasks)]
    heads = [(h, K) for h in cfg.head_classes for K in (cfg.K if HEAD_CLASSES[h].takes_K else (1,))]
    chunks = []
    for rv in reps:
        for h, K in heads:
            for lo in range(0, cfg.tasks, cfg.chunk):
                chunks.append(Chunk(r.kind, rv, h, K, tuple(range(lo, min(lo + cfg.chunk, cfg.tasks)))))
    return chunks


def make_world(cfg: Config, chunk: Chunk) -> World:
    if chunk.representation == "controlled":
        return controlled_world(cfg, chunk.rep_value)
    return pretrained_world(cfg, int(chunk.rep_value))


def setting_id(chunk: Chunk, noise: tuple[str, float]) -> str:
    return f"{HEAD_CLASSES[chunk.head_class].label(chunk.K)}|{noise[0]}={noise[1]:g}|{chunk.representation}={chunk.rep_value:g}"


@dataclass
class Fit:
    """One batched fit of every task of a chunk: predictions per split and the solver's state per task."""

    pred: dict[str, torch.Tensor]
    objective: np.ndarray
    converged: np.ndarray
    iterations: list[int]
    certificate: np.ndarray | None = None  # Frank-Wolfe gap, where a certified solver or a simplex layout gives one
    params: np.ndarray | None = None  # the fitted natural parameters, exact fits only


def _fit(cfg: Config, hc: HeadClass, K: int, method: str, feats: dict[str, torch.Tensor], target: dict[str, torch.Tensor],
         loss: str, g: torch.Generator, seed: int, certify: bool = True) -> Fit:
    """Fit the class to ``target`` (transfer for training, val for early stopping) with ``loss`` by ``method``.

    ``certify``: compute an SGD fit's Frank-Wolfe gap (probability-convex classes, certified losses).
    """
    k = cfg.data.k
    if method == "exact":
        ef = fit_exact(hc, feats, target["transfer"], loss, k, cfg.exact_tol, seed=seed)
        B = ef.objective.shape[0]
        return Fit(ef.pred, ef.objective, ef.converged, [ef.iterations] * B, ef.certificate, ef.params)
    s, head = cfg.sgd, hc.head(cfg, K)
    fit = fit_sgd(head, head.init(target["transfer"].shape[0], feats["transfer"], g), feats["transfer"], target["transfer"], loss,
                  lr=s.lr, batch_size=s.batch_size, max_epochs=s.max_epochs, g=g, val_feats=feats["val"],
                  val_target=target["val"], patience=s.patience, tol=s.tol, dtype=getattr(torch, s.dtype))
    with torch.no_grad():
        pred = {sp: head.log_probs(fit.params, feats[sp]).exp() for sp in SPLITS}
    cert = None
    theta = hc.simplex_theta(fit.params)
    if certify and theta is not None and loss in EXACT_LOSSES:
        n = feats["transfer"].shape[1]
        mc = hc.model_class(feats["transfer"], k)
        cert = np.maximum(frank_wolfe_gap(mc, theta, target["transfer"].numpy(), loss, np.full((len(theta), n), 1.0 / n)), 0.0)
    return Fit(pred, fit.objective.numpy(), fit.converged.numpy(), fit.epochs.tolist(), cert)


def run_chunk(cfg: Config, chunk: Chunk, world: World) -> list[dict[str, Any]]:
    """All records of one chunk: every noise level x method x loss for its tasks."""
    hc = HEAD_CLASSES[chunk.head_class]
    seeds = [stream_seed(cfg.seed, "task", t) for t in chunk.tasks]
    tasks = make_tasks(cfg, world, hc, seeds)
    weak = fit_weak(cfg, world, tasks)
    feats = {s: strong_features(cfg, world, hc, tasks, s) for s in SPLITS}
    # F_theta*: equals F* when the strong representation is h* (delta = 0); its distance to F* is the
    # class residual that decides T4's realizability hypothesis, and it is T6's reference member.
    member = hc.member(cfg, world.m, tasks.truth_params, feats["transfer"])
    residual = (member - tasks.truth["transfer"]).abs().flatten(1).max(1).values.numpy()
    w_star = hc.w_star(cfg, world.m, tasks.truth_params)
    k, n = cfg.data.k, cfg.data.n_transfer
    truth = {sp: tasks.truth[sp] for sp in ("transfer", "test")}
    records: list[dict[str, Any]] = []
    for method in cfg.methods:
        if method == "exact" and not hc.exact:
            continue
        g = generator(cfg.seed, "sgd", chunk.id, method)
        ceiling = _fit(cfg, hc, chunk.K, method, feats, tasks.truth, "forward_kl", g, seed=0, certify=False).pred
        for noise in cfg.weak.noise:
            labels = {sp: add_noise(weak[sp], noise[0], noise[1], seeds, sp) for sp in ("transfer", "val")}
            for loss in cfg.losses:
                if method == "exact" and loss not in EXACT_LOSSES:
                    continue
                fit = _fit(cfg, hc, chunk.K, method, feats, labels, loss, g, seed=seeds[0] % 2**31)
                w_sw = fit.params if w_star is not None else None  # T5 compares fitted and true softmax-linear weights
                direction = loss_direction(loss)
                metrics = transfer_metrics(truth, weak["test"], labels["transfer"], fit.pred, ceiling, direction)
                inst = Instances(
                    fstar=tasks.truth["transfer"].numpy(), fw=labels["transfer"].numpy(), fsw=fit.pred["transfer"].numpy(),
                    model_kind=hc.model_kind, trained_with=loss, certificate=fit.certificate, fstar_class_residual=residual,
                    fref=member.numpy() if hc.probability_convex else None,
                    features=feats["transfer"].numpy() if w_sw is not None else None, w_sw=w_sw,
                    w_star=w_star if w_sw is not None else None,
                )
                checks, t4_slack, t4_tol = theorem_checks(inst, model_kind=hc.model_kind)
                for b, t in enumerate(chunk.tasks):
                    records.append({
                        "setting": setting_id(chunk, noise), "head_class": chunk.head_class, "K": chunk.K,
                        "probability_convex": hc.probability_convex, "noise_type": noise[0], "noise_rate": noise[1],
                        "representation": chunk.representation,
                        "delta": chunk.rep_value if chunk.representation == "controlled" else 0.0,
                        "pretrain_tasks": int(chunk.rep_value) if chunk.representation == "pretrained" else 0,
                        "task": t, "task_seed": seeds[b], "loss": loss, "direction": direction, "method": method,
                        "k": k, "n_transfer": n, **metrics[b],
                        "objective": float(fit.objective[b]),
                        "certificate": None if fit.certificate is None else float(fit.certificate[b]),
                        "converged": bool(fit.converged[b]), "iterations": int(fit.iterations[b]), "checks": checks[b],
                        "t4_slack": t4_slack[b], "t4_tolerance": t4_tol[b],
                        "class_residual": float(residual[b]),
                    })
    return records


def run_study(cfg: Config, out_dir: str | Path, progress: bool = True, max_chunks: int | None = None) -> dict[str, Any]:
    """Run (or resume) the study into ``out_dir``; write summary.json; return the summary.

    ``progress``: a progress bar on a terminal, else a :class:`revkl_core.progress.Meter` line in
    the log (and on stderr) every 30 s. ``max_chunks`` stops after that many new chunks (used to
    simulate an interrupted run).
    """
    out = prepare_run_dir(cfg, out_dir)
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.runtime.threads)
    try:
        return _run_chunks(cfg, out, progress, max_chunks)
    finally:
        torch.set_num_threads(threads)


def prepare_run_dir(cfg: Config, out_dir: str | Path) -> Path:
    """Create ``out_dir`` with the resolved config, or check that it holds a run of this config.

    The config hash leaves the ``[runtime]`` section (``threads``) out, so changing it resumes.
    Raises UserError if ``out_dir`` holds a run of a different config or cannot be written.
    """
    out = runfolder.prepare_out_dir(out_dir)
    h = cfg.hash()
    cfg_path = out / R.CONFIG_FILE
    header = f"# config_hash = {h}\n"
    if cfg_path.exists():
        first = cfg_path.read_text().splitlines()[:1]
        if first != [header.strip()]:
            raise runfolder.UserError(f"--out: {out} holds a run of a different config ({first[0] if first else 'no hash'}); use a new folder")
    else:
        runfolder.atomic_write_text(cfg_path, header + to_toml(cfg))
    return out


def _run_chunks(cfg: Config, out: Path, progress: bool, max_chunks: int | None) -> dict[str, Any]:
    from synthetic.report import summarise

    done = R.completed_chunks(out)
    todo = [c for c in plan(cfg) if c.id not in done]
    if max_chunks is not None:
        todo = todo[:max_chunks]
    R.log_line(out, f"{time.strftime('%Y-%m-%d %H:%M:%S')} run {cfg.name} hash {cfg.hash()}: {len(done)} chunks done, {len(todo)} to do")
    t0 = time.perf_counter()
    worlds: dict[tuple[str, float], World] = {}
    meter = _meter(cfg, out, len(todo), progress)
    try:
        for chunk in todo:
            key = (chunk.representation, chunk.rep_value)
            if key not in worlds:
                worlds[key] = make_world(cfg, chunk)
            with runfolder.claim(out, chunk.id) as mine:
                if mine and chunk.id not in R.completed_chunks(out):  # not being computed nor done by another process
                    tc = time.perf_counter()
                    recs = run_chunk(cfg, chunk, worlds[key])
                    R.append_chunk(out, chunk.id, recs)  # one chunk = one batch
                    R.log_line(out, f"chunk {chunk.id}: {len(recs)} records in {time.perf_counter() - tc:.2f} s")
            meter.update(1)
    finally:
        meter.close()
    elapsed = time.perf_counter() - t0
    previous = _previous_compute(out)
    summary = summarise(cfg, R.load_results(out), elapsed_s=elapsed, compute_s=previous + elapsed)
    runfolder.atomic_write_json(out / R.SUMMARY_FILE, summary, allow_nan=True)  # worst slack is -inf where a fit diverges
    return summary


def _meter(cfg: Config, out: Path, total: int, on: bool) -> Meter:
    """A bar on a terminal; otherwise progress lines every 30 s into log.txt (and stderr when ``on``)."""

    def emit(line: str) -> None:
        R.log_line(out, line)
        if on:
            print(line, file=sys.stderr, flush=True)

    return Meter(f"synthetic {cfg.name}", total, "chunks", show=on, emit=emit)


def _previous_compute(out: Path) -> float:
    """Total compute time of the earlier calls on this run folder (``compute_s`` of its summary.json)."""
    path = out / R.SUMMARY_FILE
    if not path.exists():
        return 0.0
    try:
        with open(path) as fh:
            old = json.load(fh)
        return float(old.get("compute_s", old.get("elapsed_s", 0.0)))
    except (OSError, ValueError, TypeError):
        return 0.0
