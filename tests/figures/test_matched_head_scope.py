"""Matched units under ``seed_scope = "head"``: every seed shares one split (one weak model, one ceiling), so
the seed alone tells two units apart. The scorecard, the tables and the run's own summary must count one unit
per seed; a unit key without the seed would merge them, and every reader raises instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from figures.matched import clean_pairs, drop_pairs, llm_studies
from figures.results_io import load_result_set
from figures.scorecard import LLM, Verdict, empirical_rows
from llm_experiments import results as R
from revkl_core.runfolder import UserError
from tests.figures.conftest import write_llm_run

PAIRS, SEEDS, LEVELS = ("minilm->mpnet", "tiny->minilm"), 4, (0.0, 0.2)


@pytest.fixture
def head_root(tmp_path: Path) -> Path:
    write_llm_run(tmp_path / "llm" / "head-run", pairs=PAIRS, seeds=SEEDS, levels=LEVELS, seed_scope="head")
    return tmp_path


def test_head_scope_fixture_shares_one_split_per_pair(head_root: Path) -> None:
    recs = R.load_results(head_root / "llm" / "head-run")
    assert {r["split_seed"] for r in recs} == {0} and {r["seed"] for r in recs} == set(range(SEEDS))
    for pair in PAIRS:
        assert len({(r["acc_weak"], r["acc_ceiling"]) for r in recs if r["pair"] == pair}) == 1


def test_each_seed_is_its_own_matched_unit(head_root: Path) -> None:
    (study,) = llm_studies(load_result_set(head_root).llm[0])
    for units in (clean_pairs(study.obs, study.source), drop_pairs(study.obs, study.source)):
        assert {len(rev) for rev, _ in units.values()} == {len(PAIRS) * SEEDS}
    assert {len(v) for v in study.baselines.values()} == {1}  # one split: one weak model and ceiling per pair


def test_scorecard_row_counts_one_unit_per_seed(head_root: Path) -> None:
    """One split gives no weak-ceiling interval, so the study is excluded from the claims; its row still
    reports every matched unit: pairs x seeds per comparison."""
    row = next(r for r in empirical_rows(load_result_set(head_root)) if r.claim_id == "C5" and r.evidence == LLM)
    assert row.verdict is Verdict.EXCLUDED
    assert [e["n"] for e in row.effects] == [len(PAIRS) * SEEDS] * 2


def test_summary_wins_count_one_unit_per_seed(head_root: Path) -> None:
    recs = R.load_results(head_root / "llm" / "head-run")
    for counts in R.reverse_wins(recs).values():
        assert sum(counts.values()) == len(PAIRS) * SEEDS * len(LEVELS)
    assert {row["n"] for row in R.wins_by_noise(recs)} == {SEEDS}


def test_two_records_of_one_unit_raise_in_every_reader(head_root: Path) -> None:
    run = head_root / "llm" / "head-run"
    recs = R.load_results(run)
    twin = {**recs[0], "key": "twin"}
    R.append_record(run, twin)
    with pytest.raises(UserError, match="two records for one matched unit"):
        for study in llm_studies(load_result_set(head_root).llm[0]):
            clean_pairs(study.obs, study.source)
    for fn in (R.reverse_wins, R.wins_by_noise):
        with pytest.raises(UserError, match="record twin: a second .* result for the matched unit"):
            fn([*recs, twin])
