"""MPNet feature pass on CPU, fp32 vs bf16 autocast (``[models] feature_bf16``): texts/s and feature drift.

Scores the same SMS messages (the sms-spam study's texts) with ``encode.encode_texts`` both ways,
alternating the order over ``--rounds`` so machine load hits both alike, and prints texts/s per
round, the speed-up, and the largest relative difference of the pooled features.

    python benchmarks/bench_feature_bf16.py --texts 256 --rounds 2 --threads 2
"""

from __future__ import annotations

import argparse
import os
import time

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from llm_experiments.config import DataConfig  # noqa: E402
from llm_experiments.datasets import load_dataset  # noqa: E402
from llm_experiments.models import load_scorer, load_tokenizer  # noqa: E402
from llm_experiments.encode import encode_texts, tokenize  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mpnet")
    ap.add_argument("--texts", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset(DataConfig(dataset="sms-spam", gt=args.texts // 3, weak=args.texts // 3,
                                   test=args.texts - 2 * (args.texts // 3), max_length=64,
                                   options={"examples": args.texts}))
    tok = load_tokenizer(args.model)
    ids = tokenize(tok, data.texts, 64, args.model)
    scorer = load_scorer(args.model, 1, seed=0, mode="last_layer").eval()
    cpu = torch.device("cpu")
    rates: dict[bool, list[float]] = {False: [], True: []}
    feats: dict[bool, torch.Tensor] = {}
    with torch.no_grad():
        encode_texts(scorer.features, ids[:8], tok.pad_token_id, 8, cpu, progress=False)  # warm-up
        for r in range(args.rounds):
            for bf16 in ((False, True) if r % 2 == 0 else (True, False)):
                t0 = time.perf_counter()
                feats[bf16] = encode_texts(scorer.features, ids, tok.pad_token_id, args.batch_size, cpu,
                                           progress=False, bf16=bf16)
                rates[bf16].append(len(ids) / (time.perf_counter() - t0))
                print(f"round {r} {'bf16' if bf16 else 'fp32'}: {rates[bf16][-1]:.1f} texts/s", flush=True)
    fp32, bf16 = (sum(rates[b]) / len(rates[b]) for b in (False, True))
    drift = ((feats[True] - feats[False]).norm(dim=1) / feats[False].norm(dim=1)).max().item()
    print(f"{args.model}, {len(ids)} texts, {args.threads} threads: fp32 {fp32:.1f} texts/s, bf16 {bf16:.1f} texts/s, "
          f"speed-up {bf16 / fp32:.2f}x; largest relative feature difference {drift:.4f}")


if __name__ == "__main__":
    main()
