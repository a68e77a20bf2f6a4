"""The study-suite table: weak-ceiling gap over seeds with its t-interval, and its significance label."""

from pathlib import Path

import pytest
from scipy import stats

from llm_experiments.suite import LOSSES, gap, study_table
from revkl_core.runfolder import append_batch


def _records(weak: list[float], ceiling: list[float]) -> list[dict]:
    out = []
    for seed, (w, c) in enumerate(zip(weak, ceiling)):
        for loss in LOSSES:
            for level in (0.0, 0.2):
                s = w + 0.5 * (c - w)
                out.append({"key": f"{seed}{loss}{level}", "name": "t", "dataset": "d", "num_classes": 2, "pair": "a->b",
                            "seed": seed, "split_seed": seed, "loss": loss,
                            "noise_level": level, "acc_weak": w, "acc_ceiling": c, "acc_strong": s,
                            "pgr": (s - w) / (c - w) if c != w else None})
    return out


def test_gap_is_the_t_interval_of_per_seed_differences() -> None:
    weak, ceiling = [0.70, 0.72, 0.69, 0.71, 0.70], [0.80, 0.79, 0.83, 0.80, 0.81]
    g = gap(_records(weak, ceiling))
    d = [c - w for w, c in zip(weak, ceiling)]
    lo, hi = stats.t.interval(0.95, len(d) - 1, loc=sum(d) / len(d), scale=stats.sem(d))
    assert g.n == 5 and g.lo == pytest.approx(lo) and g.hi == pytest.approx(hi)


def test_table_flags_a_gap_inside_the_noise(tmp_path: Path) -> None:
    for name, weak, ceiling, flag in (("big", [0.7, 0.71, 0.69], [0.8, 0.82, 0.81], "(significant)"),
                                      ("none", [0.7, 0.75, 0.69], [0.72, 0.70, 0.71], "NOT significant")):
        run = tmp_path / name
        run.mkdir()
        for r in _records(weak, ceiling):
            append_batch(run / "results.jsonl", r["key"], [r])
        text = study_table(run)
        assert flag in text and text.count("\n| ") == 3  # header + one row per noise level
        assert "| 0.2 | 75.5 [" in text or name == "none"  # strong accuracy halfway between weak and ceiling


def test_seeds_must_agree_on_weak_accuracy() -> None:
    recs = _records([0.7], [0.8])
    recs[1]["acc_weak"] = 0.6
    with pytest.raises(ValueError, match="split 0 disagree on acc_weak"):
        gap(recs)


def test_compare_runs_pairs_matched_units(tmp_path: Path) -> None:
    from llm_experiments.suite import compare_runs

    for name, shift in (("a", 0.01), ("b", 0.0)):
        run = tmp_path / name
        run.mkdir()
        for r in _records([0.7, 0.71, 0.69], [0.8, 0.82, 0.81]):
            r["noise"] = {"kind": "flip" if r["noise_level"] else "none"}
            r["acc_strong"] += shift * (1 + r["seed"])
            append_batch(run / "results.jsonl", r["key"], [r])
    c = compare_runs(tmp_path / "a", tmp_path / "b")
    assert c["strong"].n == 24 and c["strong"].mean_diff == pytest.approx(0.02) and c["strong"].wins == 24
    assert c["weak"].n == 3 and c["weak"].mean_diff == 0 and c["weak"].ties == 3


def test_one_split_has_no_interval_and_no_verdict(tmp_path: Path) -> None:
    run = tmp_path / "head"
    run.mkdir()
    for r in _records([0.7], [0.8]):
        append_batch(run / "results.jsonl", r["key"], [r])
    assert "one split: no interval" in study_table(run)
