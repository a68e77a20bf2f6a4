"""The hashed bag-of-words model: its pooled features are word frequencies, and it runs in the pipeline."""

import zlib
from collections import Counter
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_experiments.config import config_from_dict
from llm_experiments.models import load_scorer, load_tokenizer, resolve
from llm_experiments.run import run
from llm_experiments.encode import collate

DIM = 256
WORDS = st.lists(st.sampled_from(["spam", "free", "call", "now", "ok", "lar", "!", "£", "win"]), min_size=1, max_size=12)


def _features(texts: list[str]) -> torch.Tensor:
    tok = load_tokenizer("bow")
    scorer = load_scorer("bow", 2, seed=0, mode="last_layer")
    return scorer.features(*collate(tok(texts)["input_ids"], tok.pad_token_id, torch.device("cpu")))


@settings(max_examples=60)  # a hashing identity, not a theorem: fewer examples suffice
@given(WORDS, st.randoms())
def test_features_are_word_frequencies_and_order_free(words: list[str], rnd) -> None:
    shuffled = words[:]
    rnd.shuffle(shuffled)
    f = _features([" ".join(words), " ".join(shuffled), "x"])  # a short text pads the batch
    assert torch.equal(f[0], f[1])
    want = torch.zeros(DIM)
    for w, n in Counter(words).items():
        want[1 + zlib.crc32(w.encode()) % (DIM - 1)] += n / len(words)
    assert torch.allclose(f[0], want, atol=1e-6)


def test_tokenizer_case_punctuation_and_truncation() -> None:
    tok = load_tokenizer("bow")
    a, b = tok(["WIN now!", "win NOW !"])["input_ids"]
    assert a == b and len(a) == 3 and all(1 <= i < DIM for i in a)
    assert tok(["a b c d"], truncation=True, max_length=2)["input_ids"][0] == tok(["a b"])["input_ids"][0]
    assert resolve("bow").kind == "encoder"


def test_bow_weak_model_in_the_pipeline(tmp_path: Path) -> None:
    """bow -> bow on synthetic sentiment strings: the words carry the label, so the heads learn it."""
    raw = {
        "name": "bow-smoke",
        "data": {"dataset": "synthetic-classify", "gt": 200, "weak": 200, "test": 200, "max_length": 32},
        "models": {"pairs": [["bow", "bow"]], "mode": "last_layer"},
        "train": {"epochs": 10, "lr": 1e-2, "batch_size": 32},
        "w2s": {"losses": ["ce"], "seeds": [0], "noise": [{"kind": "none"}]},
        "runtime": {"progress": False, "threads": 1},
    }
    summary = run(config_from_dict(raw), tmp_path / "run")
    assert summary["complete"]
    ceiling = [s for s in summary["stages"].values() if s["stage"] == "ceiling"][0]
    assert ceiling["acc"] > 0.8
    with pytest.raises(ValueError, match="hash dimension"):
        from llm_experiments.bow import parse

        parse("bow:1")
