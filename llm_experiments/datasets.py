"""The data-set registry, complete: look data sets up here.

:mod:`llm_experiments.data` defines the registry (``DATASETS``, ``register``), the checks every loader's output
passes, and the built-in loaders; :mod:`llm_experiments.datasets_offline` registers the study suite's offline
loaders on it. This module imports both, so its ``DATASETS`` holds every loader, and neither of them needs to
import the other back.
"""

from __future__ import annotations

from llm_experiments import datasets_offline  # noqa: F401 - registers the study suite's offline loaders
from llm_experiments.data import DATASETS, check_dataset_name, load_dataset

__all__ = ["DATASETS", "check_dataset_name", "load_dataset"]
