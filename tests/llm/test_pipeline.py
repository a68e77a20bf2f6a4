"""The whole pipeline end to end: smoke.toml, resume, stale inputs, seed scopes, progress, bad configs."""

import json
import logging
import tomllib
from pathlib import Path

import pytest

from llm_experiments import results
from llm_experiments.config import config_from_dict, load_config
from llm_experiments.run import run
from llm_experiments.units import plan_units
from llm_experiments.report import report
from revkl_core.runfolder import UserError, dumps_toml

CONFIGS = Path(__file__).resolve().parents[2] / "llm_experiments" / "configs"
SMOKE = CONFIGS / "smoke.toml"


def _smoke(**override) -> dict:
    raw = tomllib.loads(SMOKE.read_text())
    raw["data"].update(gt=32, weak=32, test=32)  # smaller than smoke.toml: these tests check plumbing only
    for section, values in override.items():
        raw[section].update(values)
    return raw


def _write_classify(path: Path, n: int = 60, flip: bool = False) -> Path:
    """A 2-class JSONL file: the label says whether the text has more 'good' than 'bad' words."""
    rows = []
    for i in range(n):
        good, bad = i % 4, (i // 4) % 3
        text = " ".join(["good"] * good + ["bad"] * bad + [f"item{i}"])
        label = int(good > bad)
        rows.append({"text": text, "label": 1 - label if flip else label})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _fast(data_path: Path, **w2s) -> dict:
    """Last-layer heads on tiny random GPT-2 features over a local JSONL file: a few seconds."""
    return {"name": "fast", "data": {"dataset": "jsonl", "gt": 16, "weak": 16, "test": 16, "max_length": 24,
                                     "options": {"path": str(data_path), "num_classes": 2}},
            "models": {"pairs": [["tiny-gpt2", "tiny-gpt2-wide"]], "mode": "last_layer"},
            "train": {"epochs": 2, "lr": 1e-2, "batch_size": 8},
            "w2s": {"losses": ["forward_kl", "reverse_kl"], "seeds": [0], "noise": [{"kind": "none"}], **w2s},
            "runtime": {"progress": False}}


def test_smoke_config_runs_end_to_end(tmp_path: Path) -> None:
    summary = run(SMOKE, tmp_path / "run")
    recs = results.load_results(tmp_path / "run")
    assert summary["complete"] and len(recs) == 8 == summary["n_units"]
    for r in recs:
        assert set(results.RECORD_FIELDS) <= set(r) and r["batch"] == r["key"]
        assert 0 <= r["acc_strong"] <= 1 and r["misfit"] == r[f"misfit_{r['direction']}"]
        assert r["gain"] == pytest.approx(r["err_weak"] - r["err_strong"])
        assert set(r["checks"]) == {"T1", "T2", "T3"} and all(c["holds"] for c in r["checks"].values())
        assert r["seed_scope"] == "pipeline" and r["split_seed"] == r["seed"]
    # forward KL and CE differ by the weak entropy only: same gradients, so the same model
    by = {(r["loss"], r["noise_level"]): r for r in recs}
    assert by[("forward_kl", 0)]["acc_strong"] == by[("ce", 0)]["acc_strong"]
    text = report(tmp_path / "run")
    assert "| forward_kl | reverse_kl | ce | rce |" in text and (tmp_path / "run" / "report.md").read_text() == text
    assert results.load_summary(tmp_path / "run")["n_results"] == 8


def test_shipped_configs_load() -> None:
    for name in ("smoke", "offline-movie-pairs"):
        cfg = load_config(CONFIGS / f"{name}.toml")
        assert len(plan_units(cfg)) == len(cfg.models.pairs) * len(cfg.w2s.noise) * len(cfg.w2s.losses) * len(cfg.w2s.seeds)


def test_resume_after_interruption_gives_same_numbers(tmp_path: Path) -> None:
    cfg = config_from_dict(_fast(_write_classify(tmp_path / "d.jsonl"), seeds=[0, 1]))
    full = tmp_path / "full"
    run(cfg, full)
    ref = {r["key"]: r["acc_strong"] for r in results.load_results(full)}
    # simulate a kill: keep the first record, leave a half-written second one, drop the summary
    part = tmp_path / "part"
    run(cfg, part)
    lines = (part / "results.jsonl").read_text().splitlines(keepends=True)
    (part / "results.jsonl").write_text(lines[0] + lines[1][:20])
    (part / "summary.json").unlink()
    assert len(results.load_results(part)) == 1
    summary = run(cfg, part)
    recs = results.load_results(part)
    assert summary["complete"] and {r["key"]: r["acc_strong"] for r in recs} == ref
    # nothing left to do: a third run adds no records; the summary keeps the total and the last call's time
    again = run(cfg, part)
    assert len(results.load_results(part)) == len(recs) == 4
    assert again["calls_s"] > again["last_call_s"] > 0 and again["compute_s"] >= summary["compute_s"] > 0


def test_edited_data_file_recomputes_and_matches_a_fresh_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = _write_classify(tmp_path / "d.jsonl")
    cfg = config_from_dict(_fast(data))
    out = tmp_path / "run"
    run(cfg, out)
    _write_classify(data, flip=True)  # same texts, every label flipped
    with caplog.at_level(logging.INFO, logger="llm_experiments"):
        summary = run(cfg, out)
    assert f"input {data.resolve()} changed since the last run" in caplog.text and "2 of 2 units to run" in caplog.text
    assert len(list((out / "cache").glob("weak-*.pt"))) == 2  # the weak stage was recomputed
    assert len(list((out / "cache").glob("features-*.pt"))) == 2  # texts unchanged: features reused
    fresh = run(cfg, tmp_path / "fresh")
    cur = {r["key"]: r["acc_strong"] for r in results.current_records(out)}
    assert cur == {r["key"]: r["acc_strong"] for r in results.load_results(tmp_path / "fresh")}
    assert summary["table"] == fresh["table"] and len(results.load_results(out)) == 4  # old records kept, not used
    assert "changed" in (out / "log.txt").read_text()


def test_seed_scope_pipeline_redraws_split_and_weak_model(tmp_path: Path) -> None:
    data = _write_classify(tmp_path / "d.jsonl", n=90)
    pipe = run(config_from_dict(_fast(data, seeds=[0, 1], losses=["ce"])), tmp_path / "p")
    head = run(config_from_dict(_fast(data, seeds=[0, 1], losses=["ce"], seed_scope="head")), tmp_path / "h")
    p_recs, h_recs = results.load_results(tmp_path / "p"), results.load_results(tmp_path / "h")
    assert sorted(r["split_seed"] for r in p_recs) == [0, 1] and [r["split_seed"] for r in h_recs] == [0, 0]
    assert {r["seed_scope"] for r in h_recs} == {"head"}
    weak = lambda s: sorted(v["split_seed"] for v in s["stages"].values() if v["stage"] == "weak")  # noqa: E731
    assert weak(pipe) == [0, 1] and weak(head) == [0]
    assert len(list((tmp_path / "p" / "cache").glob("features-*.pt"))) == 2  # one pass per model over every split


def test_progress_lines_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    raw = _fast(_write_classify(tmp_path / "d.jsonl"), losses=["ce"])
    raw["runtime"] = {"progress": True, "progress_interval": 1e-9}
    run(config_from_dict(raw), tmp_path / "run")
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "features tiny-gpt2: " in log and "texts/s, ETA" in log
    assert "weak tiny-gpt2 split 0: 4/4 batches (100%)" in log


def test_bf16_features_change_the_features_key(tmp_path: Path) -> None:
    data = _write_classify(tmp_path / "d.jsonl")
    out = tmp_path / "run"
    run(config_from_dict(_fast(data, losses=["ce"])), out)
    raw = _fast(data, losses=["ce"])
    raw["models"]["feature_bf16"] = True
    raw["name"] = "fast"
    with pytest.raises(UserError, match="different config"):
        run(config_from_dict(raw), out)
    run(config_from_dict(raw), tmp_path / "bf16")
    assert {p.name for p in (out / "cache").glob("features-*")}.isdisjoint(
        p.name for p in (tmp_path / "bf16" / "cache").glob("features-*"))


def test_bad_names_and_changed_config(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"config: \[w2s\]\.losses: unknown value 'kl2'"):
        config_from_dict(_smoke(w2s={"losses": ["kl2"]}))
    with pytest.raises(UserError, match=r"\[w2s\]\.losses: unknown value 'symmetric_kl'"):  # a bounds loss with no single misfit direction
        config_from_dict(_smoke(w2s={"losses": ["symmetric_kl"]}))
    with pytest.raises(UserError, match=r"config: \[train\]\.lr_max: unknown field"):
        config_from_dict(_smoke(train={"lr_max": 1.0}))
    with pytest.raises(UserError, match=r"\[w2s\]\.symmetric: was renamed \[w2s\]\.mirror_weight"):
        config_from_dict(_smoke(w2s={"symmetric": 0.5}))
    with pytest.raises(UserError, match="unknown model 'gpt7'"):
        run(config_from_dict(_smoke(models={"pairs": [["gpt7", "tiny-gpt2"]]})), tmp_path / "a")
    assert not (tmp_path / "a").exists()
    data = _write_classify(tmp_path / "d.jsonl")
    first = run(config_from_dict(_fast(data, losses=["ce"])), tmp_path / "b")
    with pytest.raises(UserError, match="different config"):
        run(config_from_dict(_fast(data, losses=["rce"])), tmp_path / "b")
    # Runtime settings change no number: the same run resumes (nothing left to do) under other threads.
    raw = _fast(data, losses=["ce"])
    raw["runtime"]["threads"] = 1
    again = run(config_from_dict(raw), tmp_path / "b")
    assert again["complete"] and again["n_results"] == first["n_results"] == len(results.load_results(tmp_path / "b"))


def test_folder_without_finished_work_accepts_a_corrected_config(tmp_path: Path) -> None:
    data = _write_classify(tmp_path / "d.jsonl")
    out = tmp_path / "run"
    out.mkdir()
    wrong = config_from_dict(_fast(data, losses=["rce"]))
    from llm_experiments.config import to_toml

    (out / "config.toml").write_text(to_toml(wrong))  # e.g. left by a run killed before its first stage
    summary = run(config_from_dict(_fast(data, losses=["ce"])), out)
    assert summary["complete"] and load_config(out / "config.toml").w2s.losses == ["ce"]


def test_relative_data_path_resolves_against_the_config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cfgs").mkdir()
    _write_classify(tmp_path / "cfgs" / "d.jsonl")
    raw = _fast(Path("d.jsonl"))
    (tmp_path / "cfgs" / "c.toml").write_text(dumps_toml(raw))
    monkeypatch.chdir(tmp_path)  # the working directory has no d.jsonl
    cfg = load_config(Path("cfgs") / "c.toml")
    assert cfg.data.options["path"] == str((tmp_path / "cfgs" / "d.jsonl").resolve())


def test_plan_units_and_running_a_subset(tmp_path: Path) -> None:
    """A launcher's view: plan_units lists the keys, run(only=...) runs those and nothing else."""
    cfg = config_from_dict(_fast(_write_classify(tmp_path / "d.jsonl"), seeds=[0, 1]))
    units = plan_units(cfg)
    assert len(units) == 4 and len({u.key for u in units}) == 4
    assert [u.split_seed for u in units] == sorted(u.split_seed for u in units)  # grouped by split
    out = tmp_path / "run"
    part = run(cfg, out, only=[units[0].key])
    assert [r["key"] for r in results.load_results(out)] == [units[0].key] and not part["complete"]
    with pytest.raises(UserError, match="not units of this config"):
        run(cfg, out, only=["0123456789abcdef"])
    assert run(cfg, out)["complete"] and sorted(r["key"] for r in results.load_results(out)) == sorted(u.key for u in units)


def test_a_changed_registry_entry_changes_every_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A registry model redefined in code (another source, other pooling) must never be served its old stages."""
    import dataclasses

    from llm_experiments import models

    cfg = config_from_dict(_smoke())
    before = [u.key for u in plan_units(cfg)]
    spec = models.MODELS["tiny-gpt2"]
    monkeypatch.setitem(models.MODELS, "tiny-gpt2", dataclasses.replace(spec, source=spec.source + ",1"))
    after = [u.key for u in plan_units(cfg)]
    assert len(before) == len(after) and set(before).isdisjoint(after)
