"""The GPU path, measured: training throughput and MFU, the pipeline at the paper's scale, bf16 vs fp32.

Everything runs on random-initialised models at real shapes and synthetic data (no network, no
downloads), so it needs only the repository and torch / transformers / accelerate.

(a) ``throughput``: one reward-model training step (pairs of sequences of ``seq`` tokens in one
    forward pass, scalar head, z = r(chosen) - r(rejected), reverse KL against random weak
    logits) at GPT-2-medium and GPT-2-large shapes. The fast loop: bf16 autocast, SDPA attention,
    fused AdamW, loss kept on the device (no per-step host sync). The naive loop in the same
    run: fp32, eager attention, unfused AdamW, ``loss.item()`` every step. FLOPs per token
    = 6 N + 12 L d T (N non-embedding parameters, L layers, width d, T tokens per sequence; the
    attention term of Kaplan et al. / PaLM); MFU = achieved FLOP/s / the device's dense bf16 peak.
(b) ``pipeline``: ``llm_experiments.run.run`` on random-initialised GPT-2-base -> GPT-2-
    medium shapes (saved as local folders with a character tokenizer) and synthetic pairs at
    the paper's scale (4K / 4K / 4K pairs, texts truncated to max_length 512, 1 epoch, batch
    16): wall time of the weak stage, the ceiling stage and one weak-to-strong unit. The paper's
    GPT-2 grid (the pairs x noise x losses x seeds of the gpt2-* configs) is then projected by
    scaling each measured stage by FLOPs per token of the model it trains.
(c) ``agreement``: each of the four losses and its gradient (all parameters) on a GPT-2-base-shaped
    scorer, computed in fp32 and under bf16 autocast: relative loss difference, gradient cosine
    and relative L2 error.

    bash benchmarks/gpu_check.sh                        # CUDA; JSON to $OUT/gpu_check.json (or ./)
    python benchmarks/gpu_check.py --tiny --out x.json  # seconds on CPU: tiny shapes, tiny data
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Dense bf16 peak TFLOP/s by device-name fragment (NVIDIA datasheets, SXM parts; H200 = H100's compute).
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 70.0, "4090": 165.0}
#: GPT-2 shapes (layers, width, heads); random-initialised, the vocabulary does not enter the FLOPs.
SHAPES = {"gpt2": (12, 768, 12), "gpt2-medium": (24, 1024, 16), "gpt2-large": (36, 1280, 20), "gpt2-xl": (48, 1600, 25)}
TINY = {"gpt2": (2, 64, 4), "gpt2-medium": (3, 96, 4), "gpt2-large": (4, 128, 4), "gpt2-xl": (4, 160, 4)}
LOSSES = ("forward_kl", "reverse_kl", "ce", "rce")
PAPER_GRID = ("gpt2-cai-harmless.toml", "gpt2-hh-rlhf.toml", "gpt2-noise-cai-harmless.toml")


def flops_per_token(layers: int, d: int, seq: int) -> float:
    """Training FLOPs per token: 6 N + 12 L d T with N = 12 L d^2 (GPT-2 blocks, no embeddings)."""
    return 6 * 12 * layers * d * d + 12 * layers * d * seq


def peak_tflops(name: str) -> float | None:
    override = os.environ.get("GPU_CHECK_PEAK_TFLOPS")
    if override:
        return float(override)
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def _gpt2(shape: tuple[int, int, int], attn: str, vocab: int = 50257, positions: int = 1024) -> Any:
    from transformers import GPT2Config, GPT2Model

    layers, d, heads = shape
    cfg = GPT2Config(n_layer=layers, n_embd=d, n_head=heads, n_positions=positions, vocab_size=vocab,
                     attn_implementation=attn, pad_token_id=0, bos_token_id=0, eos_token_id=0)
    return GPT2Model(cfg)


# -- (a) throughput ------------------------------------------------------------------------------------


def throughput(shape: tuple[int, int, int], *, fast: bool, dev: Any, pairs: int, seq: int, steps: int,
               warmup: int) -> dict[str, float]:
    """Tokens/s and TFLOP/s of ``steps`` timed optimiser steps (after ``warmup`` untimed ones)."""
    import torch

    from llm_experiments.losses import distribution, objective
    from llm_experiments.models import Scorer

    torch.manual_seed(0)
    model = Scorer(_gpt2(shape, "sdpa" if fast else "eager"), "decoder", 1).to(dev)
    cuda = dev.type == "cuda"
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=fast and cuda, foreach=False if not fast else None)
    ids = torch.randint(0, 50257, (2 * pairs, seq), device=dev)
    mask = torch.ones_like(ids)
    zw = distribution(torch.randn(pairs, device=dev), "pairs")
    amp = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=fast and cuda)
    total = torch.zeros((), device=dev)

    def step() -> None:
        nonlocal total
        with amp:
            r = model(ids, mask)[:, 0].float()
        loss = objective(distribution(r[:pairs] - r[pairs:], "pairs", validate=False), zw, "reverse_kl")
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if fast:
            total = total + loss.detach()  # stays on the device: no host sync
        else:
            total = total + loss.item()  # the naive loop syncs every step

    sync = torch.cuda.synchronize if cuda else (lambda: None)
    for _ in range(warmup):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    dt = time.perf_counter() - t0
    if not math.isfinite(float(total)):
        raise RuntimeError("non-finite loss in the throughput loop")
    tokens = steps * 2 * pairs * seq
    achieved = tokens * flops_per_token(*shape[:2], seq) / dt
    del model, opt
    if cuda:
        torch.cuda.empty_cache()
    return {"seconds": dt, "steps": steps, "tokens_per_step": 2 * pairs * seq, "tokens_per_s": tokens / dt,
            "tflops": achieved / 1e12}


def section_throughput(dev: Any, tiny: bool, peak: float | None) -> dict[str, Any]:
    out = {}
    shapes = TINY if tiny else SHAPES
    pairs, seq = (2, 32) if tiny else (8, 512)
    for name in ("gpt2-medium", "gpt2-large"):
        fast = throughput(shapes[name], fast=True, dev=dev, pairs=pairs, seq=seq, steps=2 if tiny else 20,
                          warmup=1 if tiny else 5)
        naive = throughput(shapes[name], fast=False, dev=dev, pairs=pairs, seq=seq, steps=1 if tiny else 5,
                           warmup=1 if tiny else 2)
        for r in (fast, naive):
            r["mfu"] = r["tflops"] / peak if peak else None
        out[name] = {"shape": dict(zip(("layers", "d", "heads"), shapes[name])), "pairs_per_step": pairs, "seq": seq,
                     "bf16_fast": fast, "fp32_naive": naive, "speedup": fast["tokens_per_s"] / naive["tokens_per_s"]}
    return out


# -- (b) the pipeline at the paper's scale --------------------------------------------------------------


def _synthetic_pairs(path: Path, n: int, chars: int, seed: int) -> None:
    """``n`` distinct preference pairs of ``chars``-character texts; chosen = more 'good' than 'bad' words."""
    rng = random.Random(seed)
    words = ["good", "bad", "the", "film", "plot", "actor", "scene", "story"]
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            texts = []
            for _ in range(2):
                t = f"{i} " + " ".join(rng.choice(words) for _ in range(chars // 4))
                texts.append((t.count("good") - t.count("bad"), t[:chars]))
            (sa, ta), (sb, tb) = texts
            if sa == sb:
                tb = tb + " bad"
                sb -= 1
            chosen, rejected = (ta, tb) if sa > sb else (tb, ta)
            fh.write(json.dumps({"chosen": chosen, "rejected": rejected}) + "\n")


def _save_random_model(folder: Path, shape: tuple[int, int, int], positions: int) -> None:
    import torch

    from llm_experiments.models import char_tokenizer

    tok = char_tokenizer()
    with torch.random.fork_rng():
        torch.manual_seed(shape[1])
        _gpt2(shape, "sdpa", vocab=len(tok), positions=positions).save_pretrained(folder)
    tok.save_pretrained(folder)


def section_pipeline(dev: Any, tiny: bool, work: Path) -> dict[str, Any]:
    from llm_experiments.config import Config, DataConfig, ModelsConfig, RuntimeConfig, TrainConfig, W2SConfig, load_config
    from llm_experiments.run import run
    from llm_experiments.results import load_results

    shapes = TINY if tiny else SHAPES
    n, max_length = (16, 32) if tiny else (4000, 512)
    data = work / "pairs.jsonl"
    _synthetic_pairs(data, int(3.3 * n), 4 * max_length, seed=0)
    folders = {}
    for name in ("gpt2", "gpt2-medium"):
        folders[name] = str(work / name)
        _save_random_model(work / name, shapes[name], max_length)
    cfg = Config(name="gpu-check-pipeline",
                 data=DataConfig(dataset="jsonl", gt=n, weak=n, test=n, max_length=max_length,
                                 options={"path": str(data)}),
                 models=ModelsConfig(pairs=[[folders["gpt2"], folders["gpt2-medium"]]], mode="full"),
                 train=TrainConfig(epochs=1, lr=1e-5, batch_size=16, eval_batch_size=64),
                 w2s=W2SConfig(losses=["reverse_kl"], seeds=[0]),
                 runtime=RuntimeConfig(device=dev.type, progress=False))
    t0 = time.perf_counter()
    summary = run(cfg, work / "run")
    total = time.perf_counter() - t0
    stages = {s["stage"]: s["wall_s"] for s in summary["stages"].values()}
    unit = load_results(work / "run")[0]
    measured = {"weak_gpt2": stages["weak"], "ceiling_gpt2-medium": stages["ceiling"], "unit_gpt2-medium": unit["wall_s"]}
    seq = max_length
    f = {m: flops_per_token(*SHAPES[m][:2], seq) for m in SHAPES}  # projection always at the real shapes
    per_config = {}
    for fn in PAPER_GRID:
        grid = load_config(ROOT / "llm_experiments" / "configs" / fn)
        n_units = len(grid.w2s.noise) * len(grid.w2s.losses) * len(grid.w2s.seeds)
        weak_models = {w for w, _ in grid.models.pairs}
        strong_models = {s for _, s in grid.models.pairs}
        secs = sum(stages["weak"] * f[m] / f["gpt2"] for m in weak_models)
        secs += sum(stages["ceiling"] * f[m] / f["gpt2-medium"] for m in strong_models)
        secs += sum(n_units * unit["wall_s"] * f[s] / f["gpt2-medium"] for _, s in grid.models.pairs)
        per_config[grid.name] = {"units": n_units * len(grid.models.pairs), "projected_s": secs}
    return {"parts": {"gt": n, "weak": n, "test": n}, "max_length": max_length, "batch_size": 16, "epochs": 1,
            "wall_s": measured, "run_total_s": total, "acc_weak": unit["acc_weak"], "acc_ceiling": unit["acc_ceiling"],
            "acc_strong": unit["acc_strong"], "projection": per_config,
            "projected_total_s": sum(c["projected_s"] for c in per_config.values()),
            "projection_rule": "each stage's measured wall time x FLOPs/token of its model / FLOPs/token of the "
                               "measured model (6N + 12 L d T at T = max_length)"}


# -- (c) bf16 vs fp32 agreement ---------------------------------------------------------------------------


def section_agreement(dev: Any, tiny: bool) -> dict[str, Any]:
    import torch

    from llm_experiments.losses import distribution, objective
    from llm_experiments.models import Scorer

    pairs, seq = (4, 16) if tiny else (8, 256)
    torch.manual_seed(0)
    # eval mode: dropout off, so that the two passes differ only in precision (gradients still flow)
    model = Scorer(_gpt2((TINY if tiny else SHAPES)["gpt2"], "sdpa"), "decoder", 1).to(dev).eval()
    ids = torch.randint(0, 50257, (2 * pairs, seq), device=dev)
    mask = torch.ones_like(ids)
    weak = distribution(2 * torch.randn(pairs, device=dev, dtype=torch.float64), "pairs")
    out = {}
    for loss in LOSSES:
        results = {}
        for precision in ("fp32", "bf16"):
            model.zero_grad(set_to_none=True)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                r = model(ids, mask)[:, 0].float()
            value = objective(distribution(r[:pairs] - r[pairs:], "pairs"), weak, loss)
            value.backward()
            grad = torch.cat([p.grad.flatten().double() for p in model.parameters() if p.grad is not None])
            results[precision] = (float(value.detach()), grad)
        (l32, g32), (l16, g16) = results["fp32"], results["bf16"]
        out[loss] = {"loss_fp32": l32, "loss_bf16": l16, "loss_rel_diff": abs(l16 - l32) / max(abs(l32), 1e-12),
                     "grad_cosine": float(torch.nn.functional.cosine_similarity(g16, g32, dim=0)),
                     "grad_rel_l2": float((g16 - g32).norm() / g32.norm().clamp_min(1e-30))}
    return out


# -- driver -----------------------------------------------------------------------------------------------


def _write(path: Path, report: dict[str, Any]) -> None:
    from revkl_core.runfolder import atomic_write_json

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, report, indent=2, allow_nan=True)


def summary_lines(report: dict[str, Any]) -> list[str]:
    lines = [f"device {report['device']} (bf16 peak {report['peak_tflops']} TFLOP/s), torch {report['torch']}"]
    for name, r in report.get("throughput", {}).items():
        for kind in ("bf16_fast", "fp32_naive"):
            x = r[kind]
            mfu = f"MFU {100 * x['mfu']:.1f}%" if x["mfu"] is not None else "MFU n/a"
            lines.append(f"(a) {name:<12} {kind:<10} {x['tokens_per_s']:>12,.0f} tokens/s {x['tflops']:8.2f} TFLOP/s {mfu}")
        lines.append(f"(a) {name:<12} speedup {r['speedup']:.2f}x")
    if "pipeline" in report:
        p = report["pipeline"]
        lines.append("(b) pipeline " + ", ".join(f"{k} {v:.1f}s" for k, v in p["wall_s"].items())
                     + f"; projected paper GPT-2 grid {p['projected_total_s'] / 3600:.1f} h")
    for loss, a in report.get("agreement", {}).items():
        lines.append(f"(c) {loss:<10} loss rel diff {a['loss_rel_diff']:.2e}, grad cosine {a['grad_cosine']:.5f}, "
                     f"grad rel L2 {a['grad_rel_l2']:.2e}")
    lines.append(f"wall {report['wall_s']:.1f}s")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", default=os.environ.get("GPU_CHECK_TINY") == "1",
                    help="tiny shapes and data on whatever device is there (CPU: seconds); or GPU_CHECK_TINY=1")
    ap.add_argument("--out", default=os.environ.get("GPU_CHECK_OUT", "gpu_check.json"),
                    help="JSON report path (default $GPU_CHECK_OUT or ./gpu_check.json)")
    ap.add_argument("--sections", default="throughput,agreement,pipeline",
                    help="comma-separated subset, run in this order (the longest last: a timeout keeps the others)")
    args = ap.parse_args(argv)

    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not args.tiny:
        print("gpu_check: no CUDA device; use --tiny (or GPU_CHECK_TINY=1) to exercise it on CPU", file=sys.stderr)
        return 2
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(sections) - {"throughput", "pipeline", "agreement"})
    if unknown:
        print(f"gpu_check: unknown section(s) {unknown}", file=sys.stderr)
        return 2
    dev = torch.device("cuda" if cuda else "cpu")
    name = torch.cuda.get_device_name(dev) if cuda else "cpu"
    peak = peak_tflops(name) if cuda else None
    out = Path(args.out)
    t0 = time.perf_counter()
    report: dict[str, Any] = {"device": name, "peak_tflops": peak, "torch": torch.__version__, "tiny": args.tiny,
                              "wall_s": 0.0}
    runners: dict[str, Callable[[], dict[str, Any]]] = {
        "throughput": lambda: section_throughput(dev, args.tiny, peak),
        "agreement": lambda: section_agreement(dev, args.tiny),
    }
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as work:
        runners["pipeline"] = lambda: section_pipeline(dev, args.tiny, Path(work))
        for s in sections:
            t = time.perf_counter()
            report[s] = runners[s]()
            report.setdefault("section_s", {})[s] = time.perf_counter() - t
            report["wall_s"] = time.perf_counter() - t0
            _write(out, report)  # after every section: a timeout keeps what finished
    print("\n".join(summary_lines(report)))
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
