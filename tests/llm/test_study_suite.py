"""The study suite wired into `revkl reproduce`: configs that load, default vs --full stages, missing configs refused."""

import argparse
from pathlib import Path

import pytest

from llm_experiments.config import load_config
from llm_experiments.datasets import load_dataset
from revkl import reproduce as R
from revkl_core.runfolder import UserError

MOVIE_PAIRS = R.LLM_CONFIG_DIR / "offline-movie-pairs.toml"
PRESENT = [s for s in R.LLM_STUDIES if (R.LLM_CONFIG_DIR / s.config).exists()]


def test_suite_has_four_tasks_with_a_multiclass_and_a_non_sentiment_one() -> None:
    cfgs = [load_config(R.LLM_CONFIG_DIR / s.config) for s in PRESENT]
    datasets = {c.data.dataset for c in cfgs}
    assert len(datasets) >= 4 and {"sms-spam", "bbc-news"} <= datasets
    assert any(c.data.dataset == "bbc-news" for c in cfgs)  # k = 5, topic: multi-class and not sentiment
    assert not [s for s in R.LLM_STUDIES if not s.full_only and s not in PRESENT]  # the default run has every config


@pytest.mark.parametrize("study", [s for s in PRESENT if not s.full_only], ids=lambda s: s.config)
def test_study_config_grid(study: R.LLMStudy) -> None:
    """The default suite's grid (the --full studies are the decoder and full fine-tuning runs of issue 11)."""
    cfg, ref = load_config(R.LLM_CONFIG_DIR / study.config), load_config(MOVIE_PAIRS)
    assert set(cfg.w2s.losses) == {"forward_kl", "reverse_kl", "ce", "rce"}
    assert cfg.w2s.noise == ref.w2s.noise and cfg.name == Path(study.config).stem
    if cfg.w2s.seed_scope == "pipeline":
        assert len(cfg.w2s.seeds) >= 5


def test_four_tasks_with_five_whole_pipeline_seeds() -> None:
    cfgs = [load_config(R.LLM_CONFIG_DIR / s.config) for s in PRESENT]
    tasks = {c.data.dataset for c in cfgs if c.w2s.seed_scope == "pipeline" and len(c.w2s.seeds) >= 5}
    assert len(tasks) >= 4


@pytest.mark.parametrize("name", ["offline-sms-spam.toml", "offline-bbc-news.toml", "offline-movie-sentiment3.toml"])
def test_new_study_data_loads_with_the_requested_sizes(name: str) -> None:
    cfg = load_config(R.LLM_CONFIG_DIR / name)
    d = load_dataset(cfg.data)
    assert [len(d.parts[p]) for p in ("gt", "weak", "test")] == [cfg.data.gt, cfg.data.weak, cfg.data.test]


def test_full_only_stages_run_with_full_alone(tmp_path: Path) -> None:
    ran: list[str] = []

    def mark(name: str):
        return lambda _args: ran.append(name) or "ok"

    stages = (R.Stage("a", "always", mark("a")), R.Stage("b", "full only", mark("b"), full_only=True))
    for full, want in ((False, ["a"]), (True, ["a", "b"])):
        ran.clear()
        args = argparse.Namespace(full=full, out=str(tmp_path / str(full)), figures=str(tmp_path / "figs"))
        assert R.reproduce(args, stages) == 0 and ran == want


def test_missing_study_config_is_refused_before_any_stage(tmp_path: Path) -> None:
    args = argparse.Namespace(full=True, out=str(tmp_path), figures=str(tmp_path))
    with pytest.raises(UserError, match="no-such-study.toml"):
        R.check_llm(R.LLMStudy("no-such-study.toml", full_only=True))(args)


def test_full_finetune_twin_differs_only_in_mode_and_training() -> None:
    """The last-layer twin uses the same data, splits, pair, losses and seeds: its results compare with full mode's."""
    full = load_config(R.LLM_CONFIG_DIR / "full-finetune-movie-pairs.toml")
    twin = load_config(R.LLM_CONFIG_DIR / "full-finetune-movie-pairs-lastlayer.toml")
    assert (full.models.mode, twin.models.mode) == ("full", "last_layer")
    assert full.data == twin.data and full.models.pairs == twin.models.pairs and full.w2s == twin.w2s
    assert {s.config for s in R.LLM_STUDIES if s.full_only} >= {"full-finetune-movie-pairs.toml",
                                                                   "full-finetune-movie-pairs-lastlayer.toml"}
