"""Config parsing: bad configs are rejected with a message naming the field; the TOML dump round-trips."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from synthetic.config import config_from_dict, dump_toml, load_config
from tests.synthetic.conftest import tiny_dict

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "over, message",
    [
        ({"losses": ["forward_kl", "hinge"]}, "unknown loss 'hinge'"),
        ({"weak": {"noise": [{"type": "flip", "rate": -0.1}]}}, "flip rate must lie in [0, 0.5], got -0.1"),
        ({"weak": {"noise": [{"type": "shrink", "rate": 1.5}]}}, "shrink factor alpha"),
        ({"weak": {"noise": [{"type": "gaussian", "rate": 0.1}]}}, "unknown noise type 'gaussian'"),
        ({"data": {"k": 1}}, "data.k must be an integer >= 2, got 1"),
        ({"head_classes": ["transformer"]}, "unknown head class 'transformer'"),
        ({"methods": ["adam"]}, "unknown method 'adam'"),
        ({"K": [0]}, "K must be an integer >= 1"),
        ({"tasks": 0}, "tasks must be an integer >= 1"),
        ({"representation": {"deltas": [-1.0]}}, "representation.deltas must be >= 0"),
        ({"sgd": {"lr": 0.0}}, "sgd.lr must be > 0"),
        ({"sgd": {"dtype": "float16"}}, "sgd.dtype must be one of float32, float64, got 'float16'"),
        ({"colour": "red"}, "unknown field(s) ['colour']"),
    ],
)
def test_bad_config_rejected(over: dict, message: str) -> None:
    raw = tiny_dict()
    for key, value in over.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) and isinstance(raw.get(key), dict) else value
    with pytest.raises(ValueError) as err:
        config_from_dict(raw)
    assert message in str(err.value)


def test_toml_round_trip(tmp_path: Path) -> None:
    cfg = config_from_dict(tiny_dict())
    path = tmp_path / "c.toml"
    path.write_text(dump_toml(cfg))
    again = load_config(path)
    assert again == cfg and again.hash() == cfg.hash()


def test_shipped_configs_load() -> None:
    quick = load_config(ROOT / "synthetic/configs/quick.toml")
    paper = load_config(ROOT / "synthetic/configs/paper.toml")
    assert set(quick.losses) >= {"forward_kl", "reverse_kl", "ce", "rce"}
    assert paper.tasks >= 200 and set(paper.head_classes) == {"stochastic_matrix", "mixture", "softmax_linear", "softmax_mixture"}
    assert max(rate for kind, rate in paper.weak.noise if kind == "flip") == 0.5


def test_cli_rejects_bad_config(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('losses = ["forward_kl", "hinge"]\n')
    proc = subprocess.run([sys.executable, "-m", "revkl", "synthetic", "run", "--config", str(bad), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert "unknown loss 'hinge'" in proc.stderr
