"""The weak-to-strong pipeline of one config, cached by stage and resumable.

A config plans *units* (:func:`plan_units`): one per (weak -> strong pair, noise, loss, seed).
Each unit belongs to a split, drawn with its split seed (``[w2s] seed_scope = "pipeline"``: seed s
draws the split ``[data].seed + s``; ``"head"``: every seed shares the split ``[data].seed``).
For each pair and split the run computes, once:

1. ``features`` (last_layer mode only): one forward pass of each backbone over every text of every
   split, pooled features standardised per dimension; keyed by the model (and the content of a
   local model folder), the texts themselves, ``max_length`` and ``feature_bf16``, so every split,
   stage, loss and seed reuses them.
2. ``weak``: the weak model trained with CE on the split's ground-truth part; its logits on the
   weak-labelled part (the soft labels) and on the test part.
3. ``ceiling``: the strong model trained on the ground-truth part; its test logits.

then each unit: the strong model trained on the (possibly corrupted) weak labels with the unit's
loss; its test metrics are appended to ``results.jsonl`` as one batch whose id is the unit key.

Stages are saved under ``DIR/cache/<stage>-<key>.pt`` (temp file + hard link: the first copy is
kept and never replaced). Every key covers the config
fields the stage depends on *and the content* (``runfolder.content_digest``) of each local input:
a data file (``[data].options.path``) or a local model folder. Editing one therefore changes the
keys of what depends on it, which is recomputed (the log names the file); a resumed run skips units
whose key is already in ``results.jsonl``, so a killed run loses nothing it wrote.

Everything a user can get wrong (config, data file, model names, ``--out``) is checked before any
model is loaded and before anything is written: a UserError leaves the folder as it was.
A launcher (``launch.py``) splits the work: ``plan_units(cfg)`` lists the units, ``run(cfg, out,
only=keys)`` runs a subset. Any number of processes may share one folder with disjoint or
overlapping subsets: results are appended under a lock and read first-copy-wins, each stage is
published first-copy-wins (so every job continues from the same copy), a unit another job has
finished is skipped, and the summary is rebuilt from ``results.jsonl`` under a lock. Under
``accelerate launch`` the decisions that steer collective work are rank 0's (``train.agree``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import nn

from bounds import LOSS_DIRECTION, Categorical
from bounds.metrics import pgr
from llm_experiments import metrics, results
from llm_experiments.checks import theorem_checks
from llm_experiments.config import Config, load_config, normalize_noise, numbers_hash, stage_key, to_dict, to_toml
from llm_experiments.data import Part, describe, local_inputs, part_sizes, render_texts
from llm_experiments.datasets import check_dataset_name, load_dataset
from llm_experiments.losses import distribution, ground_truth
from llm_experiments.models import MODELS, load_scorer, load_tokenizer, resolve
from llm_experiments.noise import corrupt
from llm_experiments.train import agree, barrier, collate, combine, distributed, encode_texts, fit, tokenize
from revkl_core.runfolder import (UserError, atomic_write_json, atomic_write_text, claim, locked,
                             canonical_json, content_digest, prepare_out_dir, publish_once)

log = logging.getLogger("llm_experiments")


# -- the plan ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """One weak-to-strong run: its key (the ``results.jsonl`` batch id) and what it trains."""

    key: str
    weak: str
    strong: str
    noise: dict[str, Any]
    loss: str
    seed: int
    split_seed: int


def split_seed(cfg: Config, seed: int) -> int:
    """The seed of the split a unit with ``seed`` uses (``[w2s].seed_scope``)."""
    return cfg.data.seed + seed if cfg.w2s.seed_scope == "pipeline" else cfg.data.seed


def input_digests(cfg: Config) -> dict[str, str]:
    """``{path: content digest}`` of every local input: the data file(s) and local model folders."""
    paths = [*local_inputs(cfg.data), *(Path(m) for pair in cfg.models.pairs for m in pair if Path(m).is_dir())]
    return {str(p.resolve()): content_digest(p) for p in dict.fromkeys(paths)}


def _model_spec(name: str) -> dict[str, Any] | None:
    """A registry model's definition (source, pooling, ...): part of every key that depends on the model, so a
    changed registry entry (e.g. ``bow`` with other buckets) recomputes; local folders are keyed by content."""
    return dataclasses.asdict(MODELS[name]) if name in MODELS else None


def _base(cfg: Config, digests: dict[str, str]) -> tuple[Any, ...]:
    """What every trained stage depends on besides its model and split."""
    specs = {m: _model_spec(m) for pair in cfg.models.pairs for m in pair}
    return (to_dict(cfg.data), cfg.models.mode, cfg.models.feature_bf16, to_dict(cfg.train), to_dict(cfg.lora), digests,
            specs)


def split_stage_key(cfg: Config, digests: dict[str, str], stage: str, model: str, sp: int) -> str:
    """The cache key of split ``sp``'s ``weak`` or ``ceiling`` stage (``cache/<stage>-<key>.pt``)."""
    return stage_key(stage, *_base(cfg, digests), model, sp)


def features_key(cfg: Config, texts: list[str], model: str, digests: dict[str, str]) -> str:
    """The cache key of ``model``'s last-layer features over the run's text table (``cache/features-<key>.pt``)."""
    texts_digest = hashlib.sha256(canonical_json(texts).encode()).hexdigest()[:16]
    model_digest = digests.get(str(Path(model).resolve())) if Path(model).is_dir() else None
    return stage_key("features", model, _model_spec(model), model_digest, cfg.data.max_length, cfg.models.feature_bf16,
                     texts_digest)


def plan_units(cfg: Config, digests: dict[str, str] | None = None) -> list[Unit]:
    """Every unit of ``cfg`` with its key, in run order (pair, split, noise, loss, seed)."""
    digests = input_digests(cfg) if digests is None else digests
    base = _base(cfg, digests)
    units = []
    for weak, strong in cfg.models.pairs:
        for nz in (normalize_noise(n) for n in cfg.w2s.noise):
            for loss in cfg.w2s.losses:
                for seed in cfg.w2s.seeds:
                    sp = split_seed(cfg, seed)
                    key = stage_key("w2s", *base, weak, strong, nz, loss, seed, sp, cfg.w2s.aux_conf,
                                    cfg.w2s.mirror_weight, cfg.w2s.seed_scope)
                    units.append(Unit(key, weak, strong, nz, loss, seed, sp))
    return sorted(units, key=lambda u: (cfg.models.pairs.index([u.weak, u.strong]), u.split_seed))


# -- the data of a study: every split over one table of texts ---------------------------------------


@dataclass
class Study:
    """The splits a config uses, their items indexing one shared, deduplicated table of texts."""

    task: str
    num_classes: int
    texts: list[str]
    splits: dict[int, dict[str, Part]]
    sizes: dict[int, dict[str, tuple[int, int]]]
    chats: list[list[dict[str, str]]] | None = None  # conversational data: texts[i] as messages


def load_study(cfg: Config, split_seeds: Iterable[int]) -> Study:
    """Load (and validate) each split; remap its items into one text table shared by all splits."""
    texts: list[str] = []
    chats: list[list[dict[str, str]]] = []
    index: dict[str, int] = {}
    splits, sizes, kinds = {}, {}, set()
    for sp in sorted(set(split_seeds)):
        dcfg = dataclasses.replace(cfg.data, seed=sp)
        data = load_dataset(dcfg)
        kinds.add((data.task, data.num_classes))
        remap = np.empty(len(data.texts), dtype=np.int64)
        for i, t in enumerate(data.texts):
            if t not in index:
                index[t] = len(texts)
                texts.append(t)
                if data.chats is not None:
                    chats.append(data.chats[i])
            remap[i] = index[t]
        splits[sp] = {name: Part(remap[p.items], p.labels) for name, p in data.parts.items()}
        sizes[sp] = part_sizes(dcfg, data)
    if len(kinds) != 1:
        raise AssertionError(f"dataset {cfg.data.dataset!r}: splits disagree on the task or classes: {kinds}")
    (task, k), = kinds
    return Study(task, k, texts, splits, sizes, chats if len(chats) == len(texts) else None)


# -- small helpers -----------------------------------------------------------------------------------


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


def cached_stage(run_dir: Path, stage: str, key: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Load ``cache/<stage>-<key>.pt`` or compute and publish it; return it (``_cached`` says which).

    Two jobs that compute the same stage at once both finish, but only the first copy is
    published and both continue from it, so every unit of a run folder sees the same stage.
    """
    path = run_dir / "cache" / f"{stage}-{key}.pt"
    if not agree(path.exists()):
        path.parent.mkdir(parents=True, exist_ok=True)
        out = compute()
        if publish_once(path, lambda tmp: torch.save(out, tmp)):
            out["_cached"] = False
            return out
    out = torch.load(path, weights_only=False)
    out["_cached"] = True
    return out


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
        if _is_main():  # one log file line per event under accelerate launch
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


# -- models on texts ---------------------------------------------------------------------------------


class FeatureHead(nn.Module):
    """Linear head on cached features: per-text outputs f(x) W^T + b, combined per item."""

    def __init__(self, features: torch.Tensor, out_dim: int, task: str, seed: int) -> None:
        super().__init__()
        self.register_buffer("features", features, persistent=False)
        self.task = task
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.head = nn.Linear(features.shape[1], out_dim)
        nn.init.zeros_(self.head.bias)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        uniq, inv = torch.unique(items, return_inverse=True)
        return combine(self.head(self.features[uniq]), inv, self.task)


class Trainer:
    """Trains and predicts one model (weak or strong) on a Study's texts, in the config's mode."""

    def __init__(self, cfg: Config, study: Study, model: str, run_dir: Path, device: torch.device,
                 digests: dict[str, str]) -> None:
        self.cfg, self.study, self.model, self.device, self.run_dir = cfg, study, model, device, run_dir
        self.out_dim = 1 if study.task == "pairs" else study.num_classes
        self._ids: list[list[int]] | None = None
        self._pad = 0
        self.features: torch.Tensor | None = None
        if cfg.models.mode == "last_layer":
            key = features_key(cfg, study.texts, model, digests)
            stage = cached_stage(run_dir, "features", key, self._compute_features)
            self.features = stage["features"]
            self.features_stage = {"stage": "features", "model": model, "key": key, "wall_s": stage["wall_s"],
                                   "texts": len(study.texts)}

    @property
    def _progress(self) -> dict[str, Any]:
        return {"progress": self.cfg.runtime.progress, "progress_interval": self.cfg.runtime.progress_interval}

    def ids(self) -> list[list[int]]:
        if self._ids is None:
            tok = load_tokenizer(self.model, self.cfg.runtime.assets_cache)
            self._pad = int(tok.pad_token_id)
            texts = render_texts(self.study.texts, self.study.chats, tok)
            self._ids = tokenize(tok, texts, self.cfg.data.max_length, self.model)
        return self._ids

    def _compute_features(self) -> dict[str, Any]:
        t0 = time.time()
        log.info("features: one forward pass of %s over %d texts%s", self.model, len(self.study.texts),
                 " (bf16 autocast)" if self.cfg.models.feature_bf16 else "")
        scorer = load_scorer(self.model, self.out_dim, seed=0, mode="last_layer",
                             cache_dir=self.cfg.runtime.assets_cache).to(self.device).eval()
        f = encode_texts(scorer.features, self.ids(), self._pad, self.cfg.runtime.feature_batch_size, self.device,
                         desc=f"features {self.model}", bf16=self.cfg.models.feature_bf16, **self._progress)
        f = f.double()
        f = ((f - f.mean(0)) / f.std(0).clamp_min(1e-8)).float()  # per-dimension standardisation (label-free)
        return {"features": f, "wall_s": time.time() - t0}

    def _module(self, seed: int) -> nn.Module:
        if self.features is not None:
            return FeatureHead(self.features, self.out_dim, self.study.task, seed)
        t = self.cfg.train
        return load_scorer(self.model, self.out_dim, seed=seed, mode=self.cfg.models.mode, lora=self.cfg.lora,
                           grad_checkpointing=t.grad_checkpointing, cache_dir=self.cfg.runtime.assets_cache)

    def _item_logits(self, module: nn.Module, items: np.ndarray) -> torch.Tensor:
        dev = next(module.parameters()).device
        if self.features is not None:
            return module(torch.as_tensor(items, device=dev))
        uniq, inv = np.unique(items, return_inverse=True)
        ids = self.ids()
        out = module(*collate([ids[u] for u in uniq], self._pad, dev))
        return combine(out, torch.as_tensor(inv.reshape(items.shape), device=dev), self.study.task)

    def train(self, part: Part, targets: Categorical, *, seed: int, loss: str, desc: str,
              aux_conf: float = 0.0, mirror_weight: float = 0.0) -> tuple[nn.Module, dict[str, float]]:
        module = self._module(seed)
        if self.features is not None:
            lengths = np.ones(len(part), dtype=np.int64)
        else:
            ids = self.ids()
            lengths = np.asarray([max(len(ids[t]) for t in row) for row in part.items])
        stats = fit(module, lambda m, b: self._item_logits(m, part.items[b]), targets, lengths, self.cfg.train,
                    seed=seed, task=self.study.task, loss=loss, aux_conf=aux_conf, mirror_weight=mirror_weight,
                    desc=desc, **self._progress)
        return module, stats

    @torch.no_grad()
    def predict(self, module: nn.Module, part: Part) -> torch.Tensor:
        """Logits on every item of ``part`` (float64, CPU); each text is scored once."""
        module.eval()
        if self.features is not None:
            bs = 4096
            return torch.cat([self._item_logits(module, part.items[i:i + bs]).double().cpu()
                              for i in range(0, len(part), bs)])
        uniq, inv = np.unique(part.items, return_inverse=True)
        ids = self.ids()
        scorer = module.module if hasattr(module, "module") else module  # unwrap DDP for inference
        dev = next(scorer.parameters()).device
        out = encode_texts(lambda i, m: scorer(i, m), [ids[u] for u in uniq], self._pad, self.cfg.train.eval_batch_size,
                           dev, desc=f"predict {self.model}", bf16=self.cfg.models.feature_bf16, **self._progress)
        return combine(out.double(), torch.as_tensor(inv.reshape(part.items.shape)), self.study.task)


# -- the run -----------------------------------------------------------------------------------------


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
    if _is_main() and (not cfg_path.is_file() or cfg_path.read_text(encoding="utf-8") != text):
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
            with claim(run_dir, u.key) if _is_main() else contextlib.nullcontext(True) as mine:
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
        self.base = _base(cfg, digests)

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
        cfg, study = self.cfg, self.study
        parts = study.splits[u.split_seed]
        test = parts["test"]
        labels = torch.as_tensor(test.labels)
        t0 = time.time()
        ts = self.trainer(u.strong)
        labels_w = corrupt(W["weak_logits"], study.task, u.noise, u.seed)
        m, st = ts.train(parts["weak"], _weak_labels(labels_w, study.task), seed=u.seed, loss=u.loss,
                         aux_conf=cfg.w2s.aux_conf, mirror_weight=cfg.w2s.mirror_weight,
                         desc=f"{u.strong} {u.loss} s{u.seed}")
        s_logits = ts.predict(m, test)
        acc_s = metrics.accuracy(s_logits, labels, study.task)
        err_s = metrics.err(s_logits, labels, study.task, study.num_classes)
        mis = metrics.misfits(s_logits, W["test_logits"], study.task)
        acc_w, acc_c = W["acc"], C["acc"]
        sizes = study.sizes[u.split_seed]
        rec = {
            "kind": "w2s", "key": u.key, "name": cfg.name, "dataset": cfg.data.dataset, "data_name": describe(cfg.data),
            "inputs": self.digests, "task": study.task, "num_classes": study.num_classes, "mode": cfg.models.mode,
            "weak_model": u.weak, "strong_model": u.strong, "pair": f"{u.weak}->{u.strong}", "loss": u.loss,
            "direction": LOSS_DIRECTION[u.loss], "aux_conf": cfg.w2s.aux_conf, "mirror_weight": cfg.w2s.mirror_weight,
            "seed": u.seed, "seed_scope": cfg.w2s.seed_scope, "split_seed": u.split_seed, "noise": u.noise,
            "noise_level": u.noise["rate"], "acc_strong": acc_s, "acc_weak": acc_w, "acc_ceiling": acc_c,
            "pgr": pgr(acc_s, acc_w, acc_c), "agreement": metrics.agreement(s_logits, W["test_logits"], study.task),
            "err_strong": err_s, "err_weak": W["err"], "err_ceiling": C["err"], "gain": W["err"] - err_s, **mis,
            "misfit": mis[f"misfit_{LOSS_DIRECTION[u.loss]}"],
            "checks": theorem_checks(s_logits, W["test_logits"], labels, study.task, study.num_classes, u.loss),
            "train_loss": st["train_loss"], "steps": st["steps"], "n_gt": sizes["gt"][0], "n_weak": sizes["weak"][0],
            "n_test": sizes["test"][0], "wall_s": time.time() - t0,
            "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "config": {"base": self.base, "weak": u.weak, "strong": u.strong, "noise": u.noise, "loss": u.loss,
                       "seed": u.seed, "split_seed": u.split_seed, "aux_conf": cfg.w2s.aux_conf,
                       "mirror_weight": cfg.w2s.mirror_weight, "seed_scope": cfg.w2s.seed_scope},
        }
        if not _is_main():
            return
        results.append_record(self.run_dir, _jsonable(rec))
        nz = u.noise
        log.info("%s %s seed %d (split %d) noise %s: acc %.4f (weak %.4f, ceiling %.4f), %.1fs", rec["pair"], u.loss,
                 u.seed, u.split_seed, nz["kind"] if nz["kind"] == "none" else f"{nz['kind']} {nz['rate']}", acc_s,
                 acc_w, acc_c, rec["wall_s"])
        self.write_summary()

    def write_summary(self) -> dict[str, Any]:
        """Rebuild the summary from ``results.jsonl`` and every stage recorded so far; rank 0 writes it.

        Read-merge-write under a lock on the folder, so concurrent jobs never drop each other's stages.
        """
        if not _is_main():
            return self._summary({})
        with locked(self.run_dir / ".summary.lock"):
            path = self.run_dir / results.SUMMARY_FILE
            summary = self._summary(results.load_summary(self.run_dir).get("stages", {}) if path.is_file() else {})
            atomic_write_json(path, _jsonable(summary))
        return summary

    def _summary(self, current_stages: dict[str, Any]) -> dict[str, Any]:
        keys = [u.key for u in self.units]
        wanted = set(keys)
        recs = [r for r in results.load_results(self.run_dir) if r["key"] in wanted]
        stages = {**self.prev.get("stages", {}), **current_stages, **self.stage_info}
        last = time.time() - self.t_call
        summary = {
            "name": self.cfg.name, "seed_scope": self.cfg.w2s.seed_scope, "n_units": len(keys), "n_results": len(recs),
            "complete": {r["key"] for r in recs} >= wanted, "keys": keys, "inputs": self.digests,
            "sizes": {str(sp): {p: list(v) for p, v in s.items()} for sp, s in self.study.sizes.items()},
            "stages": stages, "table": results.accuracy_table(recs), "noise_table": results.noise_table(recs),
            "wins": results.reverse_wins(recs), "wins_by_noise": results.wins_by_noise(recs),
            "compute_s": sum(s["wall_s"] for s in stages.values()) + sum(r["wall_s"] for r in recs),
            "last_call_s": last, "calls_s": self.prev.get("calls_s", 0.0) + last,
            "updated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        return summary


def _is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _jsonable(obj: Any) -> Any:
    """Replace non-finite floats by None and tuples by lists, so the record is strict JSON."""
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj
