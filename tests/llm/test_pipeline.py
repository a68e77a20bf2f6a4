"""The whole pipeline end to end on smoke.toml, resume after an interruption, and bad configs."""

import json
import tomllib
from pathlib import Path

import pytest

from llm_experiments import results
from llm_experiments.config import config_from_dict
from llm_experiments.pipeline import run
from llm_experiments.report import report

SMOKE = Path(__file__).resolve().parents[2] / "llm_experiments" / "configs" / "smoke.toml"


def _smoke(**override) -> dict:
    raw = tomllib.loads(SMOKE.read_text())
    raw["data"].update(gt=32, weak=32, test=32)  # smaller than smoke.toml: these tests check plumbing only
    for section, values in override.items():
        raw[section].update(values)
    return raw


def test_smoke_end_to_end(tmp_path: Path) -> None:
    summary = run(SMOKE, tmp_path / "run")
    recs = results.load_results(tmp_path / "run")
    assert summary["complete"] and len(recs) == 8
    for r in recs:
        assert set(results.RECORD_FIELDS) <= set(r)
        assert 0 <= r["acc_strong"] <= 1 and r["misfit"] == r[f"misfit_{r['direction']}"]
        assert r["gain"] == pytest.approx(r["err_weak"] - r["err_strong"])
        assert set(r["checks"]) == {"T1", "T2", "T3"} and all(c["holds"] for c in r["checks"].values())
    # forward KL and CE differ by the weak entropy only: same gradients, so the same model
    by = {(r["loss"], r["noise_level"]): r for r in recs}
    assert by[("forward_kl", 0)]["acc_strong"] == by[("ce", 0)]["acc_strong"]
    text = report(tmp_path / "run")
    assert "| forward_kl | reverse_kl | ce | rce |" in text and (tmp_path / "run" / "report.md").exists()
    assert results.load_summary(tmp_path / "run")["n_results"] == 8


def test_resume_after_interruption_gives_same_numbers(tmp_path: Path) -> None:
    raw = _smoke(w2s={"losses": ["forward_kl", "reverse_kl"], "noise": [{"kind": "none"}]})
    cfg = config_from_dict(raw)
    full = tmp_path / "full"
    run(cfg, full)
    ref = {r["key"]: r["acc_strong"] for r in results.load_results(full)}
    # simulate a kill: keep the first record, leave a half-written second line, drop the summary
    part = tmp_path / "part"
    run(cfg, part)
    lines = (part / "results.jsonl").read_text().splitlines(keepends=True)
    (part / "results.jsonl").write_text(lines[0] + lines[1][:20])
    (part / "summary.json").unlink()
    assert len(results.load_results(part)) == 1
    summary = run(cfg, part)
    recs = results.load_results(part)
    assert summary["complete"] and {r["key"]: r["acc_strong"] for r in recs} == ref
    # nothing left to do: a third run adds no records
    run(cfg, part)
    assert len(results.load_results(part)) == len(recs)


def test_bad_names_and_changed_config(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown loss 'kl2'"):
        config_from_dict(_smoke(w2s={"losses": ["kl2"]}))
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['lr_max'\]"):
        config_from_dict(_smoke(train={"lr_max": 1.0}))
    with pytest.raises(ValueError, match="unknown model 'gpt7'"):
        run(config_from_dict(_smoke(models={"pairs": [["gpt7", "tiny-gpt2"]]})), tmp_path / "a")
    first = run(config_from_dict(_smoke(w2s={"losses": ["ce"], "noise": [{"kind": "none"}]})), tmp_path / "b")
    with pytest.raises(ValueError, match="different config"):
        run(config_from_dict(_smoke(w2s={"losses": ["rce"], "noise": [{"kind": "none"}]})), tmp_path / "b")
    with pytest.raises(ValueError, match="threads must be >= 0"):
        config_from_dict(_smoke(runtime={"threads": -1}))
    # Runtime settings change no number: the same run resumes (nothing left to do) under other threads.
    again = run(config_from_dict(_smoke(w2s={"losses": ["ce"], "noise": [{"kind": "none"}]}, runtime={"threads": 1})), tmp_path / "b")
    assert again["complete"] and again["n_results"] == first["n_results"] == len(results.load_results(tmp_path / "b"))


def test_load_results_reports_malformed_line(tmp_path: Path) -> None:
    ok = '{"batch": "k1", "batch_size": 1}\n'
    (tmp_path / "results.jsonl").write_text(ok + 'not json\n' + ok.replace("k1", "k2"))
    with pytest.raises(ValueError, match=r"results.jsonl:2: malformed record"):
        results.load_results(tmp_path)
    with pytest.raises(ValueError, match="has no summary.json"):
        results.load_summary(tmp_path)
    assert json.loads('{"a": 1}') == {"a": 1}
