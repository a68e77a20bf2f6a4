"""Training throughput of the reward-model path on a GPU: tokens/s and model FLOPs utilisation (MFU).

A randomly initialised GPT-2-medium-shaped backbone (24 layers, d=1024, 16 heads, context 1024)
with the scalar reward head trains in bf16 autocast on preference pairs (both texts of a pair
in one forward pass, z = r(chosen) - r(rejected)) against random weak logits with reverse KL
from ``bounds``, for a fixed number of steps. FLOPs per token = 6 N + 12 L d T (N non-embedding
parameters, the attention term of Kaplan et al. / PaLM). MFU = achieved FLOP/s / peak bf16 FLOP/s.

    python benchmarks/gpu_throughput.py                       # CUDA, GPT-2-medium shape
    python benchmarks/gpu_throughput.py --device cpu --steps 2 --tiny   # exercise the script on CPU
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: Dense bf16 peak TFLOP/s by device-name fragment (NVIDIA datasheets, SXM parts).
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 70.0, "4090": 165.0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    ap.add_argument("--steps", type=int, default=30, help="timed optimiser steps (after --warmup untimed ones)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--pairs", type=int, default=8, help="preference pairs per step (2x sequences)")
    ap.add_argument("--seq", type=int, default=1024, help="tokens per sequence")
    ap.add_argument("--tiny", action="store_true", help="a 2-layer d=64 model, 64 tokens: for CPU smoke runs")
    ap.add_argument("--compile", action="store_true", help="torch.compile the backbone")
    ap.add_argument("--peak-tflops", type=float, default=None, help="override the peak bf16 TFLOP/s used for MFU")
    args = ap.parse_args(argv)

    import torch
    from transformers import GPT2Config, GPT2Model

    from llm_experiments.losses import distribution, objective
    from llm_experiments.models import Scorer

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_throughput: no CUDA device found; run with --device cpu --steps 2 --tiny to exercise it on CPU",
              file=sys.stderr)
        return 2
    if args.steps < 1 or args.pairs < 1:
        print("gpu_throughput: --steps and --pairs must be >= 1", file=sys.stderr)
        return 2
    dev = torch.device(args.device)
    layers, d, heads, seq = (2, 64, 4, min(args.seq, 64)) if args.tiny else (24, 1024, 16, args.seq)
    cfg = GPT2Config(n_layer=layers, n_embd=d, n_head=heads, n_positions=max(seq, 1024), vocab_size=50257,
                     attn_implementation="sdpa")
    torch.manual_seed(0)
    model = Scorer(GPT2Model(cfg), "decoder", 1).to(dev)
    if args.compile:
        model.backbone = torch.compile(model.backbone)
    n_params = sum(p.numel() for n, p in model.named_parameters() if "wte" not in n and "wpe" not in n)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=dev.type == "cuda")
    B = 2 * args.pairs
    ids = torch.randint(0, cfg.vocab_size, (B, seq), device=dev)
    mask = torch.ones_like(ids)
    zw = torch.randn(args.pairs, device=dev)
    amp = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda")

    def step() -> None:
        with amp:
            r = model(ids, mask)[:, 0].float()
        z = r[: args.pairs] - r[args.pairs:]
        loss = objective(distribution(z, "pairs"), distribution(zw, "pairs"), "reverse_kl")
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    for _ in range(args.warmup):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync()
    dt = time.perf_counter() - t0
    tokens = args.steps * B * seq
    flops_per_token = 6 * n_params + 12 * layers * d * seq
    achieved = tokens * flops_per_token / dt
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    peak = args.peak_tflops or next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
    print(f"device {name}; model {layers} layers d={d} ({n_params / 1e6:.1f}M non-embedding params), "
          f"{B} x {seq} tokens/step, {args.steps} steps in {dt:.2f}s")
    print(f"tokens/s {tokens / dt:,.0f}; {achieved / 1e12:.2f} TFLOP/s; "
          + (f"MFU {100 * achieved / (peak * 1e12):.1f}% of {peak:g} TFLOP/s bf16 peak" if peak else "MFU n/a (unknown peak; pass --peak-tflops)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
