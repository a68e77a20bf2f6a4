"""``revkl llm run --dry-run``: units, models, data and the work estimate, without loading models."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import pytest

from llm_experiments import models, plan
from llm_experiments.config import load_config
from llm_experiments.datasets import load_dataset

CONFIGS = Path(__file__).resolve().parents[2] / "llm_experiments" / "configs"


def test_smoke_plan_counts_units_steps_and_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_model(*_: object, **__: object) -> None:
        raise AssertionError("the dry run loaded a model")

    monkeypatch.setattr(models, "load_scorer", no_model)
    monkeypatch.setattr(models, "load_tokenizer", no_model)
    cfg = load_config(CONFIGS / "smoke.toml")
    p = plan.build_plan(cfg)
    assert p["units"] == len(cfg.w2s.noise) * len(cfg.w2s.losses) * len(cfg.w2s.seeds) == 8
    assert all(m["offline"] for m in p["models"].values()) and p["data"]["offline"] and p["data"]["exact"]
    data = load_dataset(cfg.data)
    assert p["data"]["texts"] == len(data.texts)
    # tiny models tokenise per character: the token count is exact
    assert p["data"]["tokens"] == sum(min(cfg.data.max_length, len(t)) for t in data.texts)
    gt = len(data.parts["gt"])
    steps = math.ceil(cfg.train.epochs * math.ceil(gt / cfg.train.batch_size))
    weak = next(s for s in p["stages"] if s["stage"] == "weak")
    assert weak["steps"] == steps and weak["train_tokens"] == p["data"]["parts"]["gt"]["tokens"]
    w2s = next(s for s in p["stages"] if s["stage"] == "w2s")
    assert w2s["runs"] == 8
    assert p["total"]["steps"] == sum(s["runs"] * s["steps"] for s in p["stages"])


def test_grad_accum_and_shared_stages() -> None:
    cfg = load_config(CONFIGS / "smoke.toml")
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, grad_accum=4, epochs=2.0),
                              models=dataclasses.replace(cfg.models, pairs=[["tiny-gpt2", "tiny-gpt2-wide"],
                                                                            ["tiny-gpt2", "tiny-gpt2"]]))
    p = plan.build_plan(cfg)
    gt = p["data"]["parts"]["gt"]["items"]
    weak = [s for s in p["stages"] if s["stage"] == "weak"]
    assert len(weak) == 1  # the same weak model for both pairs: one cached stage
    assert weak[0]["steps"] == math.ceil(2 * math.ceil(gt / 16) / 4)
    assert len([s for s in p["stages"] if s["stage"] == "ceiling"]) == 2
    assert p["units"] == 16


def test_hub_config_is_an_upper_bound_and_not_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty HF cache
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = load_config(CONFIGS / "gpt2-noise-cai-harmless.toml")
    p = plan.build_plan(cfg)
    assert not p["data"]["offline"] and not p["data"]["exact"]
    assert p["data"]["parts"]["gt"]["tokens"] == 4000 * 2 * 512
    assert p["units"] == 5 * 4 * 3
    assert not any(m["offline"] for m in p["models"].values())
    text = plan.format_plan(p)
    assert "NOT available offline" in text and "60 units" in text


def test_cli_dry_run(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "revkl", "llm", "run", "--config", str(CONFIGS / "smoke.toml"),
                          "--dry-run"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "config smoke: 8 units" in out.stdout and "tiny-gpt2-wide (decoder)" in out.stdout
    assert not list(tmp_path.iterdir())
    bad = tmp_path / "bad.toml"
    bad.write_text((CONFIGS / "smoke.toml").read_text().replace('"tiny-gpt2-wide"', '"bert-huge"'))
    out = subprocess.run([sys.executable, "-m", "revkl", "llm", "run", "--config", str(bad), "--dry-run"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "bert-huge" in out.stderr and len(out.stderr.strip().splitlines()) == 1
