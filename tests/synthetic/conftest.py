"""Shared fixtures: a tiny study config that runs in seconds."""

from __future__ import annotations

import pytest
import torch

from synthetic.config import config_from_dict


def tiny_dict(**over: object) -> dict:
    """A small study as a TOML-shaped dict; keyword arguments override top-level fields."""
    raw = {
        "name": "tiny", "seed": 3, "tasks": 4, "chunk": 2,
        "head_classes": ["stochastic_matrix", "softmax_mixture"], "K": [2],
        "losses": ["forward_kl", "reverse_kl"], "methods": ["exact", "sgd"],
        "data": {"d": 4, "m": 4, "k": 3, "hidden": 8, "n_weak_train": 40, "n_transfer": 60, "n_val": 30, "n_test": 80},
        "representation": {"kind": "controlled", "deltas": [0.0], "weak_dim": 2},
        "weak": {"steps": 50, "noise": [{"kind": "none"}, {"kind": "swap_top", "rate": 0.2}]},
        "sgd": {"max_epochs": 8, "batch_size": 32},
    }
    raw.update(over)
    return raw


@pytest.fixture
def tiny():
    return config_from_dict(tiny_dict())


@pytest.fixture(autouse=True)
def one_thread():
    """Small batched ops run fastest single-threaded (and the CI machine has 2 cores)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
