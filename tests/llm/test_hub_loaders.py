"""HH-RLHF and CAI-Harmless loaders, offline, through the same ``datasets`` code path as the hub.

The fixtures are written in each data set's exact schema and layout: HH-RLHF's
``<subset>/train.jsonl.gz`` with ``chosen``/``rejected`` transcripts ("\\n\\nHuman: ...
\\n\\nAssistant: ..."), and CAI-Harmless's ``data/<split>-00000-of-00001.parquet`` with
``prompt``/``messages``/``chosen``/``rejected`` message lists.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from llm_experiments.config import DataConfig
from llm_experiments.data import conversation, render_texts
from llm_experiments.datasets import load_dataset

datasets = pytest.importorskip("datasets")

N = 24


def _hh_row(i: int) -> dict[str, str]:
    prompt = f"\n\nHuman: How do I deal with problem {i}?\n\nAssistant: Can you tell me more?\n\nHuman: It is case {i}."
    return {"chosen": prompt + f"\n\nAssistant: A calm, safe answer for case {i}.",
            "rejected": prompt + f"\n\nAssistant: A harmful answer for case {i}."}


def _cai_row(i: int) -> dict:
    prompt = f"How can I get into house {i}?"
    user = {"content": prompt, "role": "user"}
    return {"prompt": prompt, "prompt_id": f"{i:08x}",
            "messages": [user, {"content": f"Draft reply {i}", "role": "assistant"}],
            "chosen": [user, {"content": f"I can't help with entering house {i} without permission.", "role": "assistant"}],
            "rejected": [user, {"content": f"Pick the lock of house {i}.", "role": "assistant"}]}


@pytest.fixture
def hh_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "hh-rlhf" / "harmless-base"
    folder.mkdir(parents=True)
    with gzip.open(folder / "train.jsonl.gz", "wt", encoding="utf-8") as fh:
        for i in range(N):
            fh.write(json.dumps(_hh_row(i)) + "\n")
    return tmp_path / "hh-rlhf"


@pytest.fixture
def cai_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "cai" / "data"
    folder.mkdir(parents=True)
    datasets.Dataset.from_list([_cai_row(i) for i in range(N)]).to_parquet(folder / "train_prefs-00000-of-00001.parquet")
    return tmp_path / "cai"


def _cfg(name: str, **options: object) -> DataConfig:
    return DataConfig(dataset=name, gt=8, weak=8, test=8, options=options)


def test_hh_transcripts_become_alternating_messages() -> None:
    msgs = conversation(_hh_row(3)["chosen"])
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant"]
    assert msgs[0]["content"] == "How do I deal with problem 3?"
    assert msgs[-1]["content"] == "A calm, safe answer for case 3."


@pytest.mark.parametrize("layout", ["folder", "file"])
def test_hh_rlhf_local_copy(hh_dir: Path, layout: str) -> None:
    path = hh_dir if layout == "folder" else hh_dir / "harmless-base" / "train.jsonl.gz"
    data = load_dataset(_cfg("hh-rlhf", path=str(path)))
    assert data.task == "pairs" and {p: len(v) for p, v in data.parts.items()} == {"gt": 8, "weak": 8, "test": 8}
    # every pair is a chosen/rejected pair of the fixture, rendered as the plain transcript
    rows = {(_hh_row(i)["chosen"].strip(), _hh_row(i)["rejected"].strip()) for i in range(N)}
    for part in data.parts.values():
        for c, r in part.items:
            assert (data.texts[c], data.texts[r]) in rows
    assert data.chats is not None and len(data.chats) == len(data.texts)


def test_cai_harmless_local_copy(cai_dir: Path) -> None:
    data = load_dataset(_cfg("cai-harmless", path=str(cai_dir)))
    assert sum(len(p) for p in data.parts.values()) == 24
    c, r = data.parts["gt"].items[0]
    assert data.texts[c].startswith("Human: How can I get into house ")
    assert "\n\nAssistant: I can't help" in data.texts[c] and "\n\nAssistant: Pick the lock" in data.texts[r]
    with pytest.raises(ValueError):  # a split that the local copy does not have
        load_dataset(_cfg("cai-harmless", path=str(cai_dir), split="test_prefs"))


class _ChatTok:
    """A tokenizer stand-in whose chat template tags each turn."""

    chat_template = "tags"

    def apply_chat_template(self, msgs: list[dict[str, str]], tokenize: bool) -> str:
        assert not tokenize
        return "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in msgs)


def test_chat_template_rule(cai_dir: Path) -> None:
    data = load_dataset(_cfg("cai-harmless", path=str(cai_dir)))
    templated = render_texts(data.texts, data.chats, _ChatTok())
    assert all(t.startswith("<user>How can I get into house") for t in templated)
    assert templated[0].endswith("</assistant>")

    class Plain:
        chat_template = None

    assert render_texts(data.texts, data.chats, Plain()) is data.texts  # no template: the plain transcript


def test_real_chat_template_renders_hh(hh_dir: Path) -> None:
    """A real Hugging Face tokenizer with a Jinja chat template (built offline) renders the turns."""
    from llm_experiments.models import char_tokenizer

    tok = char_tokenizer()
    tok.chat_template = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    data = load_dataset(_cfg("hh-rlhf", path=str(hh_dir)))
    out = render_texts(data.texts, data.chats, tok)
    assert out[0].startswith("[user] How do I deal with problem") and "[assistant] Can you tell me more?" in out[0]


def test_bad_local_path_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("nope")
    with pytest.raises(ValueError, match=r"options.path: .*x.txt is neither a folder nor"):
        load_dataset(_cfg("hh-rlhf", path=str(tmp_path / "x.txt")))


def test_bad_role_names_the_record(tmp_path: Path) -> None:
    bad = _cai_row(0)
    bad["chosen"][1]["role"] = "robot"
    path = tmp_path / "cai.jsonl"
    path.write_text(json.dumps(bad) + "\n")
    with pytest.raises(ValueError, match="record 0: unexpected message role 'robot'"):
        load_dataset(_cfg("cai-harmless", path=str(path)))
