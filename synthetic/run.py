"""Run a study: settings x chunks of tasks, each chunk computed batched and appended to results.jsonl.

A chunk is (representation, head class, K, a range of tasks); it holds every noise level, loss
and method of those tasks, so the weak supervisor and the ceiling are fitted once per chunk.
A chunk's records are appended in one write (flush + fsync) when it is complete; a rerun of the
same command skips finished chunks, so a killed run resumes without redoing or losing work.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bounds.solvers import frank_wolfe_gap
from bounds.theorems import Instances
from synthetic import results as R
from synthetic.config import EXACT_CLASSES, PROBABILITY_CONVEX, Config, dump_toml, loss_direction
from synthetic.exact import EXACT_LOSSES, fit_exact, model_class
from synthetic.generators import TaskBatch, World, controlled_world, make_tasks, pretrained_world, softmax_head
from synthetic.heads import make_head, strong_features
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
    heads = [(h, K) for h in cfg.head_classes for K in (cfg.K if h == "softmax_mixture" else (1,))]
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
    head = chunk.head_class + (f"(K={chunk.K})" if chunk.head_class == "softmax_mixture" else "")
    return f"{head}|{noise[0]}={noise[1]:g}|{chunk.representation}={chunk.rep_value:g}"


def _class_member(cfg: Config, world: World, chunk: Chunk, tasks: TaskBatch, feats: dict[str, torch.Tensor]) -> torch.Tensor:
    """F_theta* on the transfer set: the truth's own parameters applied to the strong features.

    Equals F* when the strong representation is h* (delta = 0); its distance to F* is the
    class residual that decides T4's realizability hypothesis, and it is T6's reference member.
    """
    P = tasks.truth_params
    f = feats["transfer"]
    if chunk.head_class == "stochastic_matrix":
        return f @ P["W"].transpose(1, 2)
    if chunk.head_class == "mixture":
        return torch.einsum("bl,bnlk->bnk", P["alpha"], f.exp())
    return softmax_head(P["W"], f[..., :-1], world.m, cfg.data.head_scale)


def _sgd_theta(chunk: Chunk, params: dict[str, torch.Tensor]) -> np.ndarray | None:
    """Simplex-block parameters (bounds.classes layout) of an SGD fit on a probability-convex class."""
    if chunk.head_class == "stochastic_matrix":
        return torch.softmax(params["logits"], 1).transpose(1, 2).numpy()
    if chunk.head_class == "mixture":
        return torch.softmax(params["a"], -1)[:, None, :].numpy()
    return None


def run_chunk(cfg: Config, chunk: Chunk, world: World) -> list[dict[str, Any]]:
    """All records of one chunk: every noise level x method x loss for its tasks."""
    seeds = [stream_seed(cfg.seed, "task", t) for t in chunk.tasks]
    tasks = make_tasks(cfg, world, chunk.head_class, seeds)
    weak = fit_weak(cfg, world, tasks)
    feats = {s: strong_features(cfg, world, chunk.head_class, tasks, s) for s in SPLITS}
    head = make_head(cfg, chunk.head_class, chunk.K)
    convex = PROBABILITY_CONVEX[chunk.head_class]
    kind = "probability-convex" if convex else ("softmax-linear" if chunk.head_class == "softmax_linear" else "softmax-mixture")
    member = _class_member(cfg, world, chunk, tasks, feats)
    residual = (member - tasks.truth["transfer"]).abs().flatten(1).max(1).values.numpy()
    k, s = cfg.data.k, cfg.sgd
    n = cfg.data.n_transfer
    truth = {sp: tasks.truth[sp] for sp in ("transfer", "test")}
    w_star = None
    if chunk.head_class == "softmax_linear":
        w_star = (tasks.truth_params["W"] * (cfg.data.head_scale / math.sqrt(world.m))).numpy()
    records: list[dict[str, Any]] = []
    for method in cfg.methods:
        if method == "exact" and chunk.head_class not in EXACT_CLASSES:
            continue
        g = generator(cfg.seed, "sgd", chunk.id, method)
        if method == "exact":
            ceiling = fit_exact(chunk.head_class, feats, tasks.truth["transfer"], "forward_kl", k, cfg.exact_tol).pred
        else:
            fit = fit_sgd(head, head.init(len(seeds), feats["transfer"], g), feats["transfer"], tasks.truth["transfer"],
                          "forward_kl", lr=s.lr, batch_size=s.batch_size, max_epochs=s.max_epochs, g=g,
                          val_feats=feats["val"], val_target=tasks.truth["val"], patience=s.patience, tol=s.tol,
                          dtype=getattr(torch, s.dtype))
            with torch.no_grad():
                ceiling = {sp: head.log_probs(fit.params, feats[sp]).exp() for sp in SPLITS}
        for noise in cfg.weak.noise:
            labels = {sp: add_noise(weak[sp], noise[0], noise[1], seeds, sp) for sp in ("transfer", "val")}
            for loss in cfg.losses:
                if method == "exact" and loss not in EXACT_LOSSES:
                    continue
                cert, w_sw = None, None
                if method == "exact":
                    ef = fit_exact(chunk.head_class, feats, labels["transfer"], loss, k, cfg.exact_tol, seed=seeds[0] % 2**31)
                    sw, objective, converged, iters = ef.pred, ef.objective, ef.converged, [ef.iterations] * len(seeds)
                    cert = ef.certificate
                    if chunk.head_class == "softmax_linear":
                        w_sw = ef.params
                else:
                    fit = fit_sgd(head, head.init(len(seeds), feats["transfer"], g), feats["transfer"], labels["transfer"], loss,
                                  lr=s.lr, batch_size=s.batch_size, max_epochs=s.max_epochs, g=g, val_feats=feats["val"],
                                  val_target=labels["val"], patience=s.patience, tol=s.tol,
                                  dtype=getattr(torch, s.dtype))
                    with torch.no_grad():
                        sw = {sp: head.log_probs(fit.params, feats[sp]).exp() for sp in SPLITS}
                    objective, converged, iters = fit.objective.numpy(), fit.converged.numpy(), fit.epochs.tolist()
                    theta = _sgd_theta(chunk, fit.params)
                    if theta is not None and loss in EXACT_LOSSES:
                        mc = model_class(chunk.head_class, feats["transfer"], k)
                        cert = np.maximum(frank_wolfe_gap(mc, theta, labels["transfer"].numpy(), loss, np.full((len(seeds), n), 1.0 / n)), 0.0)
                direction = loss_direction(loss)
                metrics = transfer_metrics(truth, weak["test"], labels["transfer"], sw, ceiling, direction)
                inst = Instances(
                    fstar=tasks.truth["transfer"].numpy(), fw=labels["transfer"].numpy(), fsw=sw["transfer"].numpy(),
                    model_kind=kind, trained_with=loss, certificate=cert, fstar_class_residual=residual,
                    fref=member.numpy() if convex else None,
                    features=feats["transfer"].numpy() if w_sw is not None else None, w_sw=w_sw,
                    w_star=w_star if w_sw is not None else None,
                )
                checks, t4_slack, t4_tol = theorem_checks(inst, model_kind=kind)
                for b, t in enumerate(chunk.tasks):
                    records.append({
                        "setting": setting_id(chunk, noise), "head_class": chunk.head_class, "K": chunk.K,
                        "probability_convex": convex, "noise_type": noise[0], "noise_rate": noise[1],
                        "representation": chunk.representation,
                        "delta": chunk.rep_value if chunk.representation == "controlled" else 0.0,
                        "pretrain_tasks": int(chunk.rep_value) if chunk.representation == "pretrained" else 0,
                        "task": t, "task_seed": seeds[b], "loss": loss, "direction": direction, "method": method,
                        "k": k, "n_transfer": n, **metrics[b],
                        "objective": float(objective[b]), "certificate": None if cert is None else float(cert[b]),
                        "converged": bool(converged[b]), "iterations": int(iters[b]), "checks": checks[b],
                        "t4_slack": t4_slack[b], "t4_tolerance": t4_tol[b],
                        "class_residual": float(residual[b]),
                    })
    return records


def run_study(cfg: Config, out_dir: str | Path, progress: bool = True, max_chunks: int | None = None) -> dict[str, Any]:
    """Run (or resume) the study into ``out_dir``; write summary.json; return the summary.

    ``max_chunks`` stops after that many new chunks (used to simulate an interrupted run).
    """
    out = prepare_run_dir(cfg, out_dir)
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return _run_chunks(cfg, out, progress, max_chunks)
    finally:
        torch.set_num_threads(threads)


def prepare_run_dir(cfg: Config, out_dir: str | Path) -> Path:
    """Create ``out_dir`` with the resolved config, or check that it holds a run of this config.

    Raises ValueError if ``out_dir`` holds a run of a different config.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    h = cfg.hash()
    cfg_path = out / R.CONFIG_FILE
    header = f"# config_hash = {h}\n"
    if cfg_path.exists():
        first = cfg_path.read_text().splitlines()[:1]
        if first != [header.strip()]:
            raise ValueError(f"out: {out} holds a run of a different config ({first[0] if first else 'no hash'}); use a new folder")
    else:
        R.write_text_atomic(cfg_path, header + dump_toml(cfg))
    return out


def _run_chunks(cfg: Config, out: Path, progress: bool, max_chunks: int | None) -> dict[str, Any]:
    from tqdm import tqdm

    from synthetic.report import summarise

    h = cfg.hash()
    done = R.completed_chunks(out)
    todo = [c for c in plan(cfg) if c.id not in done]
    R.log_line(out, f"{time.strftime('%Y-%m-%d %H:%M:%S')} run {cfg.name} hash {h}: {len(done)} chunks done, {len(todo)} to do")
    t0 = time.perf_counter()
    worlds: dict[tuple[str, float], World] = {}
    new = 0
    for chunk in tqdm(todo, desc=f"synthetic {cfg.name}", disable=not progress, unit="chunk"):
        if max_chunks is not None and new >= max_chunks:
            break
        key = (chunk.representation, chunk.rep_value)
        if key not in worlds:
            worlds[key] = make_world(cfg, chunk)
        tc = time.perf_counter()
        recs = run_chunk(cfg, chunk, worlds[key])
        R.append_chunk(out, chunk.id, recs)
        new += 1
        R.log_line(out, f"chunk {chunk.id}: {len(recs)} records in {time.perf_counter() - tc:.2f} s")
    summary = summarise(cfg, R.load_results(out), elapsed_s=time.perf_counter() - t0)
    R.write_json_atomic(out / R.SUMMARY_FILE, summary)
    return summary
