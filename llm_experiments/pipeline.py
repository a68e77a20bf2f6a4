"""The weak-to-strong pipeline of one config, cached by stage and resumable.

For each weak -> strong pair:

1. ``features`` (last_layer mode only): one forward pass of each backbone over every text,
   pooled features standardised per dimension; reused by every stage, loss and seed.
2. ``weak``: the weak model trained on the ground-truth part with CE; its logits on the
   weak-labelled part (the soft labels) and on the test part.
3. ``ceiling``: the strong model trained on the ground-truth part; its test logits.
4. one unit per (noise, loss, seed): the strong model trained on the (possibly corrupted) weak
   labels with that loss; test metrics appended to ``results.jsonl``.

Stages 1-3 are saved under ``DIR/cache/<stage>-<key>.pt`` (temp file + rename), keyed by a hash
of the config fields they depend on; units are skipped when their key is in ``results.jsonl``.
A killed run therefore resumes where it stopped and loses nothing it wrote.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from bounds import LOSS_DIRECTION, Categorical
from bounds.metrics import pgr
from llm_experiments import metrics, results
from llm_experiments.checks import theorem_checks
from llm_experiments.config import Config, RuntimeConfig, dumps_toml, load_config, normalize_noise, stage_key, to_dict
from llm_experiments.data import Part, TaskData, load_dataset, render_texts
from llm_experiments.losses import distribution, ground_truth
from llm_experiments.models import load_scorer, load_tokenizer, resolve
from llm_experiments.noise import corrupt
from llm_experiments.train import collate, combine, encode_texts, fit, tokenize

log = logging.getLogger("llm_experiments")


# -- small helpers -----------------------------------------------------------------------------------


def _device(cfg: Config) -> torch.device:
    want = cfg.runtime.device
    if want == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if want.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"config [runtime]: device {want!r} requested but CUDA is not available")
    return torch.device(want)


def _save_atomic(path: Path, obj: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cached_stage(run_dir: Path, stage: str, key: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Load ``cache/<stage>-<key>.pt`` or compute, save atomically, and return it (``_cached`` says which)."""
    path = run_dir / "cache" / f"{stage}-{key}.pt"
    if path.exists():
        out = torch.load(path, weights_only=False)
        out["_cached"] = True
        return out
    path.parent.mkdir(parents=True, exist_ok=True)
    out = compute()
    _save_atomic(path, out)
    out["_cached"] = False
    return out


class _RunLog:
    """Route the package logger to DIR/log.txt and stderr for the duration of a run."""

    def __init__(self, run_dir: Path) -> None:
        self.handlers = [logging.FileHandler(run_dir / results.LOG_FILE, encoding="utf-8"), logging.StreamHandler(sys.stderr)]
        fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
        for h in self.handlers:
            h.setFormatter(fmt)

    def __enter__(self) -> None:
        for h in self.handlers:
            log.addHandler(h)
        log.setLevel(logging.INFO)

    def __exit__(self, *exc: object) -> None:
        for h in self.handlers:
            log.removeHandler(h)
            h.close()


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
    """Trains and predicts one model kind (weak or strong) on a TaskData, in the config's mode."""

    def __init__(self, cfg: Config, data: TaskData, model: str, run_dir: Path, device: torch.device) -> None:
        self.cfg, self.data, self.model, self.device, self.run_dir = cfg, data, model, device, run_dir
        self.out_dim = 1 if data.task == "pairs" else data.num_classes
        self._ids: list[list[int]] | None = None
        self._pad = 0
        self.features: torch.Tensor | None = None
        if cfg.models.mode == "last_layer":
            key = stage_key("features", to_dict(cfg.data), model)
            stage = cached_stage(run_dir, "features", key, self._compute_features)
            self.features = stage["features"]
            self.features_stage = {"stage": "features", "model": model, "key": key, "wall_s": stage["wall_s"]}

    def ids(self) -> list[list[int]]:
        if self._ids is None:
            tok = load_tokenizer(self.model, self.cfg.runtime.assets_cache)
            self._pad = int(tok.pad_token_id)
            self._ids = tokenize(tok, render_texts(self.data, tok), self.cfg.data.max_length, self.model)
        return self._ids

    def _compute_features(self) -> dict[str, Any]:
        t0 = time.time()
        log.info("features: one forward pass of %s over %d texts", self.model, len(self.data.texts))
        scorer = load_scorer(self.model, self.out_dim, seed=0, mode="last_layer",
                             cache_dir=self.cfg.runtime.assets_cache).to(self.device).eval()
        f = encode_texts(scorer.features, self.ids(), self._pad, self.cfg.runtime.feature_batch_size, self.device,
                         desc=f"features {self.model}", progress=self.cfg.runtime.progress)
        f = f.double()
        f = ((f - f.mean(0)) / f.std(0).clamp_min(1e-8)).float()  # per-dimension standardisation (label-free)
        return {"features": f, "wall_s": time.time() - t0}

    def _module(self, seed: int) -> nn.Module:
        if self.features is not None:
            return FeatureHead(self.features, self.out_dim, self.data.task, seed)
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
        return combine(out, torch.as_tensor(inv.reshape(items.shape), device=dev), self.data.task)

    def train(self, part: Part, targets: Categorical, *, seed: int, loss: str, desc: str,
              aux_conf: float = 0.0, symmetric: float = 0.0) -> tuple[nn.Module, dict[str, float]]:
        module = self._module(seed)
        if self.features is not None:
            lengths = np.ones(len(part), dtype=np.int64)
        else:
            ids = self.ids()
            lengths = np.asarray([max(len(ids[t]) for t in row) for row in part.items])
        stats = fit(module, lambda m, b: self._item_logits(m, part.items[b]), targets, lengths, self.cfg.train,
                    seed=seed, task=self.data.task, loss=loss, aux_conf=aux_conf, symmetric=symmetric, desc=desc,
                    progress=self.cfg.runtime.progress)
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
        out = encode_texts(lambda i, m: scorer(i, m), [ids[u] for u in uniq], self._pad,
                           self.cfg.train.eval_batch_size, dev, desc="predict", progress=self.cfg.runtime.progress)
        return combine(out.double(), torch.as_tensor(inv.reshape(part.items.shape)), self.data.task)


# -- the run -----------------------------------------------------------------------------------------


def _truth_targets(data: TaskData, part: Part) -> Categorical:
    return ground_truth(torch.as_tensor(part.labels), data.num_classes)


def _weak_labels(logits: torch.Tensor, task: str) -> Categorical:
    """Soft labels from weak logits (log-probs via log-sigmoid / log-softmax: finite for any finite logit)."""
    d = distribution(logits.double(), task)
    return Categorical(d.log_probs.float(), name="weak labels")


def run(config: Config | str | Path, out_dir: str | Path) -> dict[str, Any]:
    """Run (or resume) every unit of ``config`` into the run folder ``out_dir``; returns the summary."""
    cfg = config if isinstance(config, Config) else load_config(config)
    run_dir = Path(out_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg_text = dumps_toml(cfg)
    cfg_path = run_dir / results.CONFIG_FILE
    if cfg_path.exists() and _numbers(load_config(cfg_path)) != _numbers(cfg):
        raise ValueError(f"out_dir: {run_dir} holds a run of a different config ({cfg_path}); choose a new --out")
    if not cfg_path.exists() or cfg_path.read_text(encoding="utf-8") != cfg_text:
        tmp = cfg_path.with_suffix(".toml.tmp")  # runtime settings may change between resumes
        tmp.write_text(cfg_text, encoding="utf-8")
        os.replace(tmp, cfg_path)
    threads = torch.get_num_threads()
    if cfg.runtime.threads:
        torch.set_num_threads(cfg.runtime.threads)
    try:
        with _RunLog(run_dir):
            return _run(cfg, run_dir)
    finally:
        torch.set_num_threads(threads)


def _numbers(cfg: Config) -> str:
    """The config without its runtime section: what a resumed run must share with the original."""
    return dumps_toml(dataclasses.replace(cfg, runtime=RuntimeConfig()))


def _run(cfg: Config, run_dir: Path) -> dict[str, Any]:
    t_start = time.time()
    for weak, strong in cfg.models.pairs:
        resolve(weak), resolve(strong)  # unknown model names fail before any work
    device = _device(cfg)
    data = load_dataset(cfg.data)
    sizes = {p: len(data.parts[p]) for p in ("gt", "weak", "test")}
    log.info("run %s: dataset %s (%s), %d texts, parts %s, mode %s, device %s", cfg.name, cfg.data.dataset, data.task,
             len(data.texts), sizes, cfg.models.mode, device)
    for p, n in sizes.items():
        if n < getattr(cfg.data, p):
            log.warning("part %s has %d examples, fewer than the %d requested", p, n, getattr(cfg.data, p))
    done = {r["key"] for r in results.load_results(run_dir)}
    stages: dict[str, Any] = {}
    noises = [normalize_noise(nz) for nz in cfg.w2s.noise]
    test = data.parts["test"]
    labels = torch.as_tensor(test.labels)
    train_fields = (to_dict(cfg.data), cfg.models.mode, to_dict(cfg.train), to_dict(cfg.lora))
    trainers: dict[str, Trainer] = {}
    n_units = len(cfg.models.pairs) * len(noises) * len(cfg.w2s.losses) * len(cfg.w2s.seeds)

    def trainer(name: str) -> Trainer:
        if name not in trainers:
            trainers[name] = Trainer(cfg, data, name, run_dir, device)
            if trainers[name].features is not None:
                stages[trainers[name].features_stage["key"]] = trainers[name].features_stage
        return trainers[name]

    for weak, strong in cfg.models.pairs:
        pending = [(nz, loss, seed) for nz in noises for loss in cfg.w2s.losses for seed in cfg.w2s.seeds
                   if _unit_key(cfg, train_fields, weak, strong, nz, loss, seed) not in done]
        tw, ts = trainer(weak), trainer(strong)

        def weak_stage() -> dict[str, Any]:
            t0 = time.time()
            m, st = tw.train(data.parts["gt"], _truth_targets(data, data.parts["gt"]), seed=cfg.data.seed, loss="ce",
                             desc=f"weak {weak}")
            out = {"weak_logits": tw.predict(m, data.parts["weak"]), "test_logits": tw.predict(m, test), **st}
            return {**out, "wall_s": time.time() - t0}

        def ceiling_stage() -> dict[str, Any]:
            t0 = time.time()
            m, st = ts.train(data.parts["gt"], _truth_targets(data, data.parts["gt"]), seed=cfg.data.seed, loss="ce",
                             desc=f"ceiling {strong}")
            return {"test_logits": ts.predict(m, test), **st, "wall_s": time.time() - t0}

        kw = stage_key("weak", *train_fields, weak)
        kc = stage_key("ceiling", *train_fields, strong)
        W = cached_stage(run_dir, "weak", kw, weak_stage)
        C = cached_stage(run_dir, "ceiling", kc, ceiling_stage)
        acc_w = metrics.accuracy(W["test_logits"], labels, data.task)
        acc_c = metrics.accuracy(C["test_logits"], labels, data.task)
        err_w = metrics.err(W["test_logits"], labels, data.task, data.num_classes)
        err_c = metrics.err(C["test_logits"], labels, data.task, data.num_classes)
        stages[kw] = {"stage": "weak", "model": weak, "acc": acc_w, "err": err_w, "wall_s": W["wall_s"]}
        stages[kc] = {"stage": "ceiling", "model": strong, "acc": acc_c, "err": err_c, "wall_s": C["wall_s"]}
        log.info("%s -> %s: weak acc %.4f, ceiling acc %.4f (%d units to run)", weak, strong, acc_w, acc_c, len(pending))
        for nz, loss, seed in pending:
            t0 = time.time()
            key = _unit_key(cfg, train_fields, weak, strong, nz, loss, seed)
            labels_w = corrupt(W["weak_logits"], data.task, nz, seed)
            m, st = ts.train(data.parts["weak"], _weak_labels(labels_w, data.task), seed=seed, loss=loss,
                             aux_conf=cfg.w2s.aux_conf, symmetric=cfg.w2s.symmetric, desc=f"{strong} {loss} s{seed}")
            s_logits = ts.predict(m, test)
            acc_s = metrics.accuracy(s_logits, labels, data.task)
            err_s = metrics.err(s_logits, labels, data.task, data.num_classes)
            mis = metrics.misfits(s_logits, W["test_logits"], data.task)
            rec = {
                "kind": "w2s", "key": key, "name": cfg.name, "dataset": cfg.data.dataset, "task": data.task,
                "num_classes": data.num_classes, "mode": cfg.models.mode, "weak_model": weak, "strong_model": strong,
                "pair": f"{weak}->{strong}", "loss": loss, "direction": LOSS_DIRECTION[loss],
                "aux_conf": cfg.w2s.aux_conf, "symmetric": cfg.w2s.symmetric, "seed": seed, "noise": nz,
                "noise_level": nz["rate"], "acc_strong": acc_s, "acc_weak": acc_w, "acc_ceiling": acc_c,
                "pgr": pgr(acc_s, acc_w, acc_c), "agreement": metrics.agreement(s_logits, W["test_logits"], data.task),
                "err_strong": err_s, "err_weak": err_w, "err_ceiling": err_c, "gain": err_w - err_s, **mis,
                "misfit": mis[f"misfit_{LOSS_DIRECTION[loss]}"],
                "checks": theorem_checks(s_logits, W["test_logits"], labels, data.task, data.num_classes, loss),
                "train_loss": st["train_loss"], "steps": st["steps"], "n_gt": sizes["gt"], "n_weak": sizes["weak"],
                "n_test": sizes["test"], "wall_s": time.time() - t0,
                "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "config": {"train": train_fields, "weak": weak, "strong": strong, "noise": nz, "loss": loss, "seed": seed,
                           "aux_conf": cfg.w2s.aux_conf, "symmetric": cfg.w2s.symmetric},
            }
            if not _is_main():
                continue
            results.append_record(run_dir, _jsonable(rec))
            log.info("%s %s seed %d noise %s: acc %.4f (weak %.4f, ceiling %.4f), %.1fs", rec["pair"], loss, seed,
                     nz["kind"] if nz["kind"] == "none" else f"{nz['kind']} {nz['rate']}", acc_s, acc_w, acc_c, rec["wall_s"])
            _write_summary(cfg, run_dir, stages, n_units, t_start)
    return _write_summary(cfg, run_dir, stages, n_units, t_start)


def _unit_key(cfg: Config, train_fields: tuple, weak: str, strong: str, nz: dict, loss: str, seed: int) -> str:
    return stage_key("w2s", *train_fields, weak, strong, nz, loss, seed, cfg.w2s.aux_conf, cfg.w2s.symmetric)


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


def _write_summary(cfg: Config, run_dir: Path, stages: dict, n_units: int, t_start: float) -> dict[str, Any]:
    recs = [r for r in results.load_results(run_dir) if r.get("name") == cfg.name]
    prev = results.load_summary(run_dir) if (run_dir / results.SUMMARY_FILE).exists() else {}
    all_stages = {**prev.get("stages", {}), **stages}
    summary = {
        "name": cfg.name, "n_results": len(recs), "complete": len({r["key"] for r in recs}) >= n_units,
        "stages": all_stages, "table": results.accuracy_table(recs),
        "noise_table": results.noise_table(recs), "wins": results.reverse_wins(recs),
        "wall_s": sum(s["wall_s"] for s in all_stages.values()) + sum(r["wall_s"] for r in recs),
        "elapsed_s": time.time() - t_start,
        "updated_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if _is_main():
        results.write_json_atomic(run_dir / results.SUMMARY_FILE, _jsonable(summary))
    return summary
