"""benchmarks/gpu_check.py: its CPU tiny mode computes every section and writes the JSON report."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_tiny_cpu_run_writes_every_section(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    gc = _load()
    out = tmp_path / "gpu_check.json"
    assert gc.main(["--tiny", "--out", str(out)]) == 0
    rep = json.loads(out.read_text())
    assert rep["tiny"] and set(rep["section_s"]) == {"throughput", "pipeline", "agreement"}
    for name in ("gpt2-medium", "gpt2-large"):
        r = rep["throughput"][name]
        for kind in ("bf16_fast", "fp32_naive"):
            x = r[kind]
            assert x["tokens_per_s"] > 0
            layers, d = r["shape"]["layers"], r["shape"]["d"]
            assert x["tflops"] * 1e12 == pytest.approx(x["tokens_per_s"] * gc.flops_per_token(layers, d, r["seq"]))
        assert r["speedup"] == pytest.approx(r["bf16_fast"]["tokens_per_s"] / r["fp32_naive"]["tokens_per_s"])
    p = rep["pipeline"]
    assert set(p["wall_s"]) == {"weak_gpt2", "ceiling_gpt2-medium", "unit_gpt2-medium"}
    assert all(v > 0 for v in p["wall_s"].values()) and 0 <= p["acc_strong"] <= 1
    # the projection covers the paper's three GPT-2 configs; noise sweep: 1 pair x 5 noise x 4 losses x 3 seeds
    assert p["projection"]["gpt2-noise-cai-harmless"]["units"] == 60
    assert p["projected_total_s"] == pytest.approx(sum(c["projected_s"] for c in p["projection"].values()))
    for loss in ("forward_kl", "reverse_kl", "ce", "rce"):
        a = rep["agreement"][loss]
        # bf16 autocast on CPU: the same model, the same inputs, dropout off; only precision differs
        assert a["loss_rel_diff"] < 0.05 and a["grad_cosine"] > 0.99, a
    assert "(c) reverse_kl" in capsys.readouterr().out


def test_flops_per_token_matches_the_parameter_count() -> None:
    from transformers import GPT2Config, GPT2Model

    gc = _load()
    layers, d, heads = 2, 64, 4
    m = GPT2Model(GPT2Config(n_layer=layers, n_embd=d, n_head=heads, vocab_size=11, n_positions=8))
    blocks = sum(p.numel() for n, p in m.named_parameters() if n.startswith("h.") and p.ndim == 2)
    assert gc.flops_per_token(layers, d, seq=0) == 6 * blocks  # N = 12 L d^2: the block matrices


def test_shell_script_writes_to_out(tmp_path: Path) -> None:
    env = {**os.environ, "OUT": str(tmp_path), "PYTHON": os.environ.get("PYTHON", "python3")}
    import sys

    env["PYTHON"] = sys.executable
    run = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--tiny", "--sections", "agreement"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "gpu_check.json").read_text())["agreement"]["rce"]["grad_cosine"] > 0.99


def test_no_cuda_message(capsys: pytest.CaptureFixture) -> None:
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    assert _load().main(["--out", os.devnull]) == 2
    assert "no CUDA device" in capsys.readouterr().err
