"""Every user mistake in `revkl llm`: exit code 2, one line on stderr naming the problem, nothing written."""

import json
from pathlib import Path

import pytest

from revkl.cli import main
from revkl_core.runfolder import dumps_toml


def _rows(n: int = 60) -> list[dict]:
    return [{"text": f"text {i} " + "good " * (i % 3), "label": int(i % 3 > 0)} for i in range(n)]


def _config(tmp_path: Path, data_path: Path, **sections) -> Path:
    raw = {"name": "cli", "data": {"dataset": "jsonl", "gt": 16, "weak": 16, "test": 16, "max_length": 24,
                                   "options": {"path": str(data_path)}},
           "models": {"pairs": [["tiny-gpt2", "tiny-gpt2-wide"]], "mode": "last_layer"},
           "train": {"epochs": 1, "lr": 1e-2, "batch_size": 8},
           "w2s": {"losses": ["ce"], "seeds": [0], "noise": [{"kind": "none"}]}, "runtime": {"progress": False}}
    for sec, values in sections.items():
        raw[sec].update(values)
    path = tmp_path / "c.toml"
    path.write_text(dumps_toml(raw))
    return path


def _jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _fails(capsys: pytest.CaptureFixture, argv: list[str], pattern: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("revkl llm: "), err
    assert pattern in err, err


def _cases(tmp_path: Path) -> list[tuple[str, dict, str]]:
    """(label, config change or data file, expected message part)."""
    good = _jsonl(tmp_path / "good.jsonl", _rows())
    malformed = _jsonl(tmp_path / "malformed.jsonl", [*_rows(3), '{"text": "x", "label"'])
    missing = _jsonl(tmp_path / "missing.jsonl", [*_rows(3), {"text": "no label"}])
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(b'{"text": "caf\xe9", "label": 0}\n')
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text('text,label\n"ok",1\n"broken "quote,0\n')
    stray = _jsonl(tmp_path / "stray.jsonl", [*_rows(10), {"text": "odd", "label": 5}, *_rows(10)])
    one = _jsonl(tmp_path / "one.jsonl", [{**r, "label": 1} for r in _rows()])
    return [
        ("unknown model", {"models": {"pairs": [["gpt7", "tiny-gpt2"]]}}, "unknown model 'gpt7'"),
        ("unknown dataset", {"data": {"dataset": "nope"}}, "unknown dataset 'nope'"),
        ("bad noise rate", {"w2s": {"noise": [{"kind": "flip", "rate": 0.7}]}}, "c.toml: [w2s].noise.rate: must be in [0, 0.5], got 0.7"),
        ("malformed JSONL", {"data": {"options": {"path": str(malformed)}}}, "malformed.jsonl:4: malformed JSON"),
        ("missing field", {"data": {"options": {"path": str(missing)}}}, "missing.jsonl:4: missing field(s) ['label']"),
        ("empty file", {"data": {"options": {"path": str(empty)}}}, "empty.jsonl: the file is empty"),
        ("non-UTF-8", {"data": {"options": {"path": str(latin)}}}, "latin.jsonl:1: not UTF-8 (byte offset 13)"),
        ("CSV parse error", {"data": {"dataset": "csv", "options": {"path": str(bad_csv)}}}, "bad.csv:3: CSV parse error"),
        ("stray label", {"data": {"options": {"path": str(stray), "num_classes": 2}}}, "stray.jsonl:11: label 5 outside [0, 2)"),
        ("missing data file", {"data": {"options": {"path": str(tmp_path / "absent.jsonl")}}}, "does not exist"),
        ("old field name", {"w2s": {"symmetric": 0.2}}, "c.toml: [w2s].symmetric: was renamed [w2s].mirror_weight"),
        # issue 15: each of these used to train and report as if nothing were wrong
        ("duplicate loss", {"w2s": {"losses": ["ce", "ce"]}}, 'c.toml: [w2s].losses: "ce" is listed twice'),
        ("duplicate noise", {"w2s": {"noise": [{"kind": "flip", "rate": 0.1}, {"kind": "flip", "rate": 0.1}]}},
         'c.toml: [w2s].noise: {kind = "flip", rate = 0.1} is listed twice'),
        ("rate on none", {"w2s": {"noise": [{"kind": "none", "rate": 0.3}]}}, "c.toml: [w2s].noise.rate: kind 'none' takes no rate"),
        ("noise without its rate", {"w2s": {"noise": [{"kind": "flip"}]}}, "c.toml: [w2s].noise: kind 'flip' needs rate"),
        ("shrink without its factor", {"w2s": {"noise": [{"kind": "shrink", "rate": 0.2}]}}, "kind 'shrink' needs factor"),
        ("old noise key", {"w2s": {"noise": [{"kind": "shrink", "rate": 0.2, "alpha": 0.5}]}},
         "c.toml: [w2s].noise.alpha: was renamed 'factor'"),
        ("more classes than labels", {"data": {"options": {"path": str(good), "num_classes": 50}}},
         "good.jsonl: [data].options.num_classes = 50, but no record has class 2..49 (labels present: 0, 1)"),
        ("one class", {"data": {"options": {"path": str(one)}}}, "one.jsonl: all 60 labels are class 1"),
        ("good", {"data": {"options": {"path": str(good)}}}, ""),
    ]


def test_each_user_mistake_is_one_line_exit_2_nothing_written(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for label, change, pattern in _cases(tmp_path):
        if label == "good":
            continue
        cfg = _config(tmp_path, tmp_path / "good.jsonl", **change)
        out = tmp_path / f"out-{label.replace(' ', '-')}"
        _fails(capsys, ["llm", "run", "--config", str(cfg), "--out", str(out)], pattern)
        assert not out.exists(), label


def test_empty_config_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    _fails(capsys, ["llm", "run", "--config", str(empty), "--out", str(tmp_path / "o")],
           "empty.toml: the config is empty; it needs at least: name, data, models")
    assert not (tmp_path / "o").exists()


def test_out_dir_mistakes_and_a_corrected_config(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    good = _jsonl(tmp_path / "good.jsonl", _rows())
    cfg = _config(tmp_path, good)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    _fails(capsys, ["llm", "run", "--config", str(cfg), "--out", str(a_file)], "exists and is not a folder")
    assert a_file.read_text() == "x"
    # a failed run writes nothing, so the corrected config runs into the same folder
    out = tmp_path / "run"
    bad = _config(tmp_path, tmp_path / "absent.jsonl")
    _fails(capsys, ["llm", "run", "--config", str(bad), "--out", str(out)], "does not exist")
    cfg = _config(tmp_path, good)
    assert main(["llm", "run", "--config", str(cfg), "--out", str(out)]) == 0
    capsys.readouterr()
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    other = _config(tmp_path, good, w2s={"losses": ["rce"]})
    _fails(capsys, ["llm", "run", "--config", str(other), "--out", str(out)], "holds a run of a different config")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_report_on_folders_that_are_not_llm_runs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    _fails(capsys, ["llm", "report", str(empty)], "not an llm run folder (no config.toml")
    _fails(capsys, ["llm", "report", str(tmp_path / "absent")], "no such run folder")
    synth = tmp_path / "synthetic-run"
    synth.mkdir()
    (synth / "config.toml").write_text('name = "s"\nseeds = [0]\n\n[teacher]\nm = 3\n')
    (synth / "results.jsonl").write_text('{"noise_type": "none", "loss": "ce", "batch": "a", "batch_size": 1}\n')
    _fails(capsys, ["llm", "report", str(synth)], "not an llm run folder")
    assert sorted(p.name for p in synth.iterdir()) == ["config.toml", "results.jsonl"]
