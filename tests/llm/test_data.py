import json
from pathlib import Path

import numpy as np
import pytest

from llm_experiments.config import DataConfig
from llm_experiments.data import load_dataset, read_movie_snippets


def _write(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _texts(data, part):
    return {data.texts[i] for i in data.parts[part].items.ravel()}


def test_jsonl_pairs_split_disjoint_and_seeded(tmp_path: Path) -> None:
    rows = [{"chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(60)] + [{"chosen": "good 0", "rejected": "bad 0"}]
    path = _write(tmp_path / "p.jsonl", rows)
    cfg = DataConfig(dataset="jsonl", gt=20, weak=20, test=20, options={"path": str(path)})
    d = load_dataset(cfg)
    assert d.task == "pairs" and [len(d.parts[p]) for p in ("gt", "weak", "test")] == [20, 20, 20]
    assert not (_texts(d, "gt") & _texts(d, "test")) and not (_texts(d, "gt") & _texts(d, "weak"))
    d2 = load_dataset(cfg)
    assert np.array_equal(d.parts["test"].items, d2.parts["test"].items)


def test_jsonl_classify(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.jsonl", [{"text": f"t{i}", "label": i % 3} for i in range(30)])
    d = load_dataset(DataConfig(dataset="jsonl", gt=10, weak=10, test=10, options={"path": str(path)}))
    assert d.task == "classify" and d.num_classes == 3 and d.parts["gt"].items.shape == (10, 1)


def test_malformed_line_reports_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.jsonl", [{"chosen": "a", "rejected": "b"}, '{"chosen": "c", "rejected"'])
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: malformed JSON"):
        load_dataset(DataConfig(dataset="jsonl", options={"path": str(path)}))


def test_missing_field_and_empty_split(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.jsonl", [{"chosen": "a", "rejected": "b"}, {"chosen": "c"}])
    with pytest.raises(ValueError, match=r"record 2 lacks field\(s\) \['rejected'\]"):
        load_dataset(DataConfig(dataset="jsonl", options={"path": str(path)}))
    path = _write(tmp_path / "s.jsonl", [{"chosen": f"a{i}", "rejected": f"b{i}"} for i in range(2)])
    with pytest.raises(ValueError, match="part is empty"):
        load_dataset(DataConfig(dataset="jsonl", options={"path": str(path)}))


def test_unknown_dataset_and_option() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        load_dataset(DataConfig(dataset="nope"))
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['colour'\]"):
        load_dataset(DataConfig(dataset="synthetic-pairs", options={"colour": 1}))


def test_movie_snippets_real_file() -> None:
    pytest.importorskip("numpy")
    snippets = read_movie_snippets()
    assert len(snippets) > 10_000 and all(-4 <= s <= 4 for _, s in snippets)
    d = load_dataset(DataConfig(dataset="movie-pairs", gt=200, weak=200, test=200, options={"min_margin": 1.5}))
    score = dict(snippets)
    for c, r in d.parts["test"].items[:50]:
        assert score[d.texts[c]] - score[d.texts[r]] >= 1.5
    assert not (_texts(d, "gt") & _texts(d, "weak")) and not (_texts(d, "weak") & _texts(d, "test"))
    s = load_dataset(DataConfig(dataset="movie-sentiment", gt=100, weak=100, test=100, options={"num_classes": 3}))
    assert s.num_classes == 3 and set(s.parts["gt"].labels) <= {0, 1, 2}
