"""Runs: T4 on every probability-convex task of the quick config, resumption, the result reader, the report."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from synthetic import results as R
from synthetic.config import load_config
from synthetic.report import report
from synthetic.run import plan, run_study

ROOT = Path(__file__).resolve().parents[2]
VOLATILE = ("chunk_offset",)


def _stable(records: list[dict]) -> list[dict]:
    return sorted((json.dumps({k: v for k, v in r.items() if k not in VOLATILE}, sort_keys=True) for r in records))


def test_t4_holds_on_every_probability_convex_task_of_quick(tmp_path: Path) -> None:
    cfg = load_config(ROOT / "synthetic/configs/quick.toml")
    cfg = replace(cfg, head_classes=("stochastic_matrix", "mixture"))
    run_study(cfg, tmp_path, progress=False)
    recs = R.load_results(tmp_path)
    convex = [r for r in recs if r["probability_convex"] and r["loss"] == "reverse_kl"]
    realizable_exact = [r for r in convex if r["delta"] == 0.0 and r["method"] == "exact"]
    assert len(realizable_exact) == cfg.tasks * 2 * len(cfg.weak.noise)
    for r in realizable_exact:
        t4 = next(c for c in r["checks"] if c["name"] == "T4")
        assert t4["hypotheses_met"], r["setting"]
        assert t4["holds"] and r["t4_slack"] >= -r["t4_tolerance"], (r["setting"], r["task"], r["t4_slack"])
    # Within its Frank-Wolfe gap every reverse-KL fit on a realizable convex class satisfies T4 (SGD too).
    for r in convex:
        if r["delta"] == 0.0:
            assert r["t4_slack"] >= -r["t4_tolerance"], (r["setting"], r["method"], r["t4_slack"], r["t4_tolerance"])
    assert all(c["holds"] for r in recs for c in r["checks"] if c["hypotheses_met"])


def test_resume_after_interruption(tiny, tmp_path: Path) -> None:
    full, cut = tmp_path / "full", tmp_path / "cut"
    run_study(tiny, full, progress=False)
    run_study(tiny, cut, progress=False, max_chunks=1)
    assert len(R.completed_chunks(cut)) == 1
    # A kill in the middle of the next chunk's write: half its lines and a torn one.
    lines = (full / R.RESULTS_FILE).read_text().splitlines()
    second = [ln for ln in lines if json.loads(ln)["chunk"] == plan(tiny)[1].id]
    with open(cut / R.RESULTS_FILE, "a") as fh:
        fh.write("\n".join(second[: len(second) // 2]) + "\n" + second[-1][:40])
    assert len(R.completed_chunks(cut)) == 1
    run_study(tiny, cut, progress=False)  # the same command again
    assert R.completed_chunks(cut) == R.completed_chunks(full) == {c.id for c in plan(tiny)}
    assert _stable(R.load_results(cut)) == _stable(R.load_results(full))
    before = (cut / R.RESULTS_FILE).stat().st_size
    run_study(tiny, cut, progress=False)  # nothing left to do: nothing appended
    assert (cut / R.RESULTS_FILE).stat().st_size == before


def test_same_seed_same_numbers_and_fields(tiny, tmp_path: Path) -> None:
    run_study(tiny, tmp_path / "a", progress=False)
    run_study(tiny, tmp_path / "b", progress=False)
    a, b = R.load_results(tmp_path / "a"), R.load_results(tmp_path / "b")
    assert _stable(a) == _stable(b)
    for rec in a:
        assert set(R.RECORD_FIELDS) <= set(rec), set(R.RECORD_FIELDS) - set(rec)
    summary = R.load_summary(tmp_path / "a")
    assert summary["records"] == len(a) and summary["groups"]
    text = report(str(tmp_path / "a"))
    assert "T4 cert." in text and "PGR" in text and "Findings" in text


def test_other_config_refused(tiny, tmp_path: Path) -> None:
    import pytest

    run_study(tiny, tmp_path, progress=False, max_chunks=1)
    with pytest.raises(ValueError, match="different config"):
        run_study(replace(tiny, seed=4), tmp_path, progress=False)
