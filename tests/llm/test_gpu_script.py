"""benchmarks/gpu_throughput.py runs on CPU in its tiny form, and refuses CUDA cleanly when absent."""

import importlib.util
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_throughput.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_throughput", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_tiny_cpu_run(capsys) -> None:
    assert _load().main(["--device", "cpu", "--steps", "1", "--warmup", "0", "--tiny", "--pairs", "2"]) == 0
    assert "tokens/s" in capsys.readouterr().out


def test_no_cuda_message(capsys) -> None:
    if torch.cuda.is_available():
        return
    assert _load().main([]) == 2
    assert "no CUDA device" in capsys.readouterr().err
