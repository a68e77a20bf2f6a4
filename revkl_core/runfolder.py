"""The run-folder core every study uses (stdlib only; part of the ground floor, revkl_core).

A run folder holds ``config.toml``, ``results.jsonl``, ``summary.json`` and ``log.txt``; this module
owns the mechanisms behind them, once:

* **User errors.** :class:`UserError` marks a mistake in the user's config, data or arguments;
  ``revkl`` prints it as one line and exits with code 2.
* **Atomic writes.** :func:`atomic_write` and its text/JSON forms write to a temporary file in the
  target's folder, fsync it and ``os.replace`` it into place: a reader sees the old file or the new
  one, never half of one, and a kill leaves no partial target. The file gets the mode a plain
  ``open`` would give (0666 less the umask: 0644 under umask 022), so collaborators can read results.
* **The JSONL append/resume rule.** Records are appended in *batches*; one batch is one ``write``
  under an exclusive lock, and every record of it carries ``batch`` (the batch id) and
  ``batch_size``. The file is therefore always a sequence of complete batches followed by at most
  one torn batch at the end (a writer killed mid-write). :func:`append_batch` cuts that torn tail
  before it writes, and :func:`read_records` ignores it. A batch id written twice (a unit re-run by
  a second process) counts once: the first complete copy wins. Hence any kill point, any torn
  line, and any resume give the same final records as an uninterrupted run.
* **Config hashing.** :func:`config_hash` hashes a config's canonical JSON without its runtime
  fields (threads, device, progress: they never change a number), so changing them never refuses a
  resume. :func:`content_digest` hashes the *content* of a local file or folder, so a cache key that
  includes it changes when the data or the model on disk changes.
* **TOML.** :func:`dumps_toml` is the one TOML writer (``tomllib`` reads it back to equal values).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping


class UserError(ValueError):
    """A mistake in the user's config, data or arguments: shown as one line, exit code 2."""


# -- atomic writes -----------------------------------------------------------------------------------


def _via_temp(path: Path, write: Callable[[Path], None], place: Callable[[Path, Path], None]) -> None:
    """``write(tmp)`` on a temporary path beside ``path``, fsync, ``place(tmp, path)``; the temp file never stays."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 whatever the umask
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        place(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    """The process umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary path beside ``path``, fsync it, then rename it to ``path``.

    ``write`` may be any writer that takes a path (``torch.save``, ``np.save`` wrapped, ``savefig``).
    On any error the temporary file is removed and ``path`` is left as it was.
    """
    _via_temp(Path(path), write, os.replace)


def publish_once(path: str | Path, write: Callable[[Path], None]) -> bool:
    """Like :func:`atomic_write`, but never replace: the first complete copy wins; True when this one did.

    The file is hard-linked into place, and ``link`` (unlike rename) fails when ``path`` exists, so
    processes computing the same cached stage concurrently all read the same bytes afterwards.
    """
    try:
        _via_temp(Path(path), write, os.link)
        return True
    except FileExistsError:
        return False


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: str | Path, obj: Any, *, indent: int | None = 1, allow_nan: bool = False) -> None:
    """Write ``obj`` as JSON (sorted keys) to ``path`` atomically."""
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=True, allow_nan=allow_nan) + "\n")


def check_writable_file(path: str | Path, what: str = "--out") -> Path:
    """Refuse, before any work, an output file path that is a folder or cannot be created.

    The nearest existing folder on the way to ``path`` is probed with a temporary file (removed at once),
    so a read-only file system is found before the computation, not after it; nothing stays behind.
    """
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{what}: {path} is a folder; give a file name such as {path / 'out.json'}")
    folder = path.parent if str(path.parent) else Path(".")
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise UserError(f"{what}: {folder} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise UserError(f"{what}: cannot write to folder {folder} ({err.strerror})") from None
    return path


def read_json_object(path: str | Path) -> dict[str, Any]:
    """A JSON file holding an object, as a dict; UserError naming the file when it is not valid UTF-8 JSON or not an object."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: not valid JSON ({err.msg}, line {err.lineno})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, inf) replaced by None, so ``json.dumps(allow_nan=False)`` is valid JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def prepare_out_dir(path: str | Path, what: str = "--out") -> Path:
    """Create the run folder ``path`` (and parents); one-line UserError when that is impossible."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{what}: {path} exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"{what}: cannot create folder {path} ({err.strerror})") from None
    if not os.access(path, os.W_OK):
        raise UserError(f"{what}: folder {path} is not writable")
    return path


# -- the JSONL append/resume rule ---------------------------------------------------------------------


@contextlib.contextmanager
def locked(path: str | Path) -> Iterator[int]:
    """An exclusive advisory lock on ``path`` (created if absent) for the duration of the block."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


#: The folder of a run folder that holds one claim file per unit being computed (:func:`claim`).
CLAIMS_DIR = ".claims"


@contextlib.contextmanager
def claim(run_dir: str | Path, unit: str) -> Iterator[bool]:
    """Claim the unit ``unit`` of the run folder for this process for the duration of the block: True when this
    process holds it, False when another process does (it is computing that unit now: skip it).

    A non-blocking exclusive ``flock`` on ``DIR/.claims/<unit>``: two processes running the same config into one
    folder never compute a unit twice. The kernel drops the lock when its holder exits, even by ``kill -9``, so a
    killed run's units are free for its resume. The holder must check, after claiming, that the unit is not done.
    """
    folder = Path(run_dir) / CLAIMS_DIR
    folder.mkdir(exist_ok=True)
    fd = os.open(folder / hashlib.sha256(unit.encode()).hexdigest()[:32], os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _scan(lines: list[bytes]) -> tuple[list[list[dict[str, Any]]], int, int]:
    """Split ``lines`` into complete batches; also return the bytes and the lines they span.

    Within the file every batch is contiguous, so the scan stops at the first line that does not
    continue or complete a batch: a torn write, which :func:`read_records` then checks is the tail.
    """
    batches: list[list[dict[str, Any]]] = []
    pending: list[dict[str, Any]] = []
    good = pos = n_good = 0
    for i, raw in enumerate(lines):
        if not raw.endswith(b"\n"):
            break  # unterminated last line: a torn write
        try:
            rec = json.loads(raw)
            batch, size = rec["batch"], int(rec["batch_size"])
        except (ValueError, KeyError, TypeError):
            break
        if pending and pending[0]["batch"] != batch:
            break  # the previous batch stopped short
        pending.append(rec)
        pos += len(raw)
        if len(pending) == size:
            batches.append(pending)
            pending, good, n_good = [], pos, i + 1
    return batches, good, n_good


def _is_torn_tail(rest: list[bytes]) -> bool:
    """True when ``rest`` is the start of one batch: whole lines of it, then perhaps an unterminated one."""
    head: dict[str, Any] | None = None
    for i, raw in enumerate(rest):
        if not raw.endswith(b"\n"):
            return True  # the unterminated last line (readlines puts it last), parseable or not
        try:
            rec = json.loads(raw)
            batch, size = rec["batch"], int(rec["batch_size"])
        except (ValueError, KeyError, TypeError):
            return False
        if head is None:
            head = {"batch": batch, "size": size}
        if batch != head["batch"] or i + 1 >= head["size"]:
            return False
    return True


def _read_lines(path: Path) -> list[bytes]:
    with open(path, "rb") as fh:
        return fh.readlines()


def append_batch(path: str | Path, batch: str, records: list[dict[str, Any]]) -> None:
    """Append ``records`` as one batch with id ``batch``: one locked write, flushed and fsynced.

    A torn batch left at the end of the file by a killed writer is cut off first. Each record
    gets the fields ``batch`` and ``batch_size``; non-finite floats are written as ``NaN`` /
    ``Infinity`` (Python's JSON), which :func:`read_records` reads back.
    """
    if not records:
        return
    path = Path(path)
    blob = _batch_text(batch, records).encode()
    with locked(path) as fd:
        st = os.fstat(fd)
        good = st.st_size if _ENDS_CLEAN.get(str(path.resolve())) == _stamp(st) else _scan(_read_lines(path))[1]
        os.ftruncate(fd, good)
        os.lseek(fd, good, os.SEEK_SET)
        os.write(fd, blob)
        os.fsync(fd)
        _ENDS_CLEAN[str(path.resolve())] = _stamp(os.fstat(fd))


def _batch_text(batch: str, records: list[dict[str, Any]]) -> str:
    """The lines of one batch: each record with ``batch`` and ``batch_size``, sorted keys, no spaces."""
    return "".join(json.dumps({**r, "batch": batch, "batch_size": len(records)}, sort_keys=True, separators=(",", ":"))
                   + "\n" for r in records)


def write_batches(path: str | Path, batches: Iterable[tuple[str, list[dict[str, Any]]]]) -> None:
    """Write a whole JSONL file of complete ``(batch id, records)`` batches atomically, in the given order.

    The same lines :func:`append_batch` writes, so :func:`read_records` reads it back; meant for
    canonical copies of a run's records (``figures.records``), not for a run in progress.
    """
    atomic_write_text(path, "".join(_batch_text(b, recs) for b, recs in batches if recs))


#: path -> (inode, size, mtime) right after this process's last complete append: while the file still has that
#: stamp nobody wrote since, so it ends on a complete batch and the next append need not scan it.
_ENDS_CLEAN: dict[str, tuple[int, int, int]] = {}


def _stamp(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_ino, st.st_size, st.st_mtime_ns


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of every complete batch in ``path``, in file order ([] when it does not exist).

    A torn batch at the end is ignored; a batch id written twice counts once (its first copy).
    Anything else that does not parse cannot come from a killed writer: UserError naming the line.
    """
    path = Path(path)
    if not path.exists():
        return []
    lines = _read_lines(path)
    batches, _, n_good = _scan(lines)
    if not _is_torn_tail(lines[n_good:]):
        raise UserError(f"{path}:{n_good + 1}: malformed record (not written by revkl, or the file was edited)")
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    for b in batches:
        if b[0]["batch"] not in seen:
            seen.add(b[0]["batch"])
            out.extend(b)
    return out


# -- hashing ------------------------------------------------------------------------------------------


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no spaces: equal values give equal text (tuples read as lists)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(config: Mapping[str, Any], runtime: Iterable[str] = ("runtime",)) -> str:
    """A 16-hex-digit hash of ``config`` without its runtime keys (top-level names in ``runtime``).

    Runtime fields say where and how fast work runs (threads, device, progress bars), never what it
    computes, so they are left out: changing them never refuses a resume or invalidates a cache.
    """
    kept = {k: v for k, v in config.items() if k not in set(runtime)}
    return hashlib.sha256(canonical_json(kept).encode()).hexdigest()[:16]


_DIGESTS: dict[tuple[str, int, int, int, int], str] = {}


def _file_digest(path: Path) -> str:
    """sha256 of a file's bytes, memoised per process on (path, inode, size, mtime, ctime): any write
    changes ctime, even one that restores the size and mtime."""
    st = path.stat()
    key = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        _DIGESTS[key] = h.hexdigest()
    return _DIGESTS[key]


def content_digest(path: str | Path) -> str:
    """A 16-hex-digit digest of the content of a local file, or of every file below a folder.

    A folder's digest covers each file's path relative to it and its bytes (hidden files and
    ``__pycache__`` are skipped), so renaming, editing, adding or deleting a file changes it.
    """
    path = Path(path)
    if path.is_file():
        return _file_digest(path)[:16]
    if not path.is_dir():
        raise UserError(f"{path}: no such file or folder")
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = f.relative_to(path)
        if any(part.startswith(".") or part == "__pycache__" for part in rel.parts):
            continue
        h.update(f"{rel.as_posix()}\0{_file_digest(f)}\n".encode())
    return h.hexdigest()[:16]


# -- TOML ---------------------------------------------------------------------------------------------


def _toml_str(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped, the rest literal."""
    esc = {'"': '\\"', "\\": "\\\\"}
    return '"' + "".join(esc.get(c) or (f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else c) for c in text) + '"'


def _toml_key(key: str) -> str:
    return key if key and key.replace("_", "").replace("-", "").isascii() and key.replace("_", "").replace("-", "").isalnum() else _toml_str(key)


def _toml_value(v: Any, where: str) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x, where) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x, where)}" for k, x in v.items() if x is not None) + "}"
    raise TypeError(f"{where}: cannot write {type(v).__name__} to TOML")


def dumps_toml(data: Mapping[str, Any]) -> str:
    """``data`` as TOML: scalars and lists at the top, then one ``[section]`` per nested mapping.

    ``None`` values are left out (TOML has no null); mappings inside lists become inline tables.
    ``tomllib.loads(dumps_toml(d))`` equals ``d`` for such data (tuples come back as lists).
    """
    top = [f"{_toml_key(k)} = {_toml_value(v, k)}" for k, v in data.items()
           if v is not None and not isinstance(v, Mapping)]
    sections = []
    for k, v in data.items():
        if isinstance(v, Mapping):
            body = [f"{_toml_key(kk)} = {_toml_value(vv, f'{k}.{kk}')}" for kk, vv in v.items() if vv is not None]
            sections.append("\n".join([f"[{_toml_key(k)}]", *body]))
    return "\n\n".join(["\n".join(top), *sections]).lstrip("\n") + "\n"
