"""Matched units of LLM run folders under ``seed_scope = "head"`` (several seeds on one split): the report's win
table and ``suite.compare_runs`` count one unit per seed, and two records of one unit raise in each of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_experiments import results as R
from llm_experiments.config import config_from_dict, to_toml
from llm_experiments.report import format_report
from llm_experiments.suite import compare_runs
from revkl_core.runfolder import UserError
from tests.figures.conftest import write_llm_run

PAIRS, SEEDS, LEVELS, LOSSES = ("w->s",), 3, (0.0, 0.3), 4


def _head_run(path: Path, effect: float = 0.02) -> Path:
    """A head-scope run folder (``tests.figures.conftest.write_llm_run``) with a config.toml the report accepts."""
    write_llm_run(path, pairs=PAIRS, seeds=SEEDS, levels=LEVELS, effect=effect, seed_scope="head")
    cfg = config_from_dict({"name": path.name, "data": {"dataset": "movie-pairs"},
                            "models": {"pairs": [["tiny-gpt2", "tiny-gpt2-wide"]]}, "w2s": {"seed_scope": "head"}})
    (path / R.CONFIG_FILE).write_text(to_toml(cfg))
    return path


def test_report_win_table_has_one_unit_per_seed(tmp_path: Path) -> None:
    text = format_report(_head_run(tmp_path / "run"))
    for comparison in ("reverse_kl>forward_kl", "rce>ce"):
        rows = [line for line in text.splitlines() if f"| {comparison} |" in line]
        assert len(rows) == len(LEVELS) and all(f"| {comparison} | {SEEDS} |" in line for line in rows)


def test_compare_runs_matches_every_seed(tmp_path: Path) -> None:
    c = compare_runs(_head_run(tmp_path / "a"), _head_run(tmp_path / "b"))
    assert c["strong"].n == len(PAIRS) * SEEDS * len(LEVELS) * LOSSES and c["strong"].ties == c["strong"].n
    assert c["weak"].n == 1  # one split


def test_two_records_of_one_unit_raise_in_report_and_suite(tmp_path: Path) -> None:
    run = _head_run(tmp_path / "run")
    R.append_record(run, {**R.load_results(run)[0], "key": "twin"})
    with pytest.raises(UserError, match="record twin: a second"):
        format_report(run)
    with pytest.raises(ValueError, match="two records of one unit"):
        compare_runs(run, _head_run(tmp_path / "other"))
