"""The run-folder core: atomic writes, the JSONL append/resume rule, hashing, TOML, progress, user errors."""

import json
import multiprocessing as mp
import os
import stat
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from revkl_core import runfolder as rf
from revkl import cli

# -- the JSONL rule ------------------------------------------------------------------------------------

records_st = st.lists(st.fixed_dictionaries({"x": st.integers(-5, 5), "s": st.text(max_size=3)}), min_size=1, max_size=4)
batches_st = st.lists(records_st, min_size=1, max_size=5)


def _write_all(path: Path, batches: list[list[dict]]) -> None:
    for i, recs in enumerate(batches):
        rf.append_batch(path, f"b{i}", recs)


@given(batches=batches_st, data=st.data())
def test_any_kill_point_then_resume_gives_the_uninterrupted_records(tmp_path_factory, batches, data):
    """Kill the writer at any byte of any batch, resume (redo the batches not read back): same records, same bytes."""
    ref_dir, run_dir = tmp_path_factory.mktemp("ref"), tmp_path_factory.mktemp("run")
    ref = ref_dir / "r.jsonl"
    _write_all(ref, batches)
    full = ref.read_bytes()
    cut = data.draw(st.integers(0, len(full)), label="kill at byte")
    path = run_dir / "r.jsonl"
    path.write_bytes(full[:cut])  # what a writer killed at byte `cut` leaves
    done = {r["batch"] for r in rf.read_records(path)}
    for i, recs in enumerate(batches):
        if f"b{i}" not in done:
            rf.append_batch(path, f"b{i}", recs)
    assert rf.read_records(path) == rf.read_records(ref)
    assert path.read_bytes() == full


@given(batches=batches_st, dup=st.integers(0, 4))
def test_a_batch_written_twice_counts_once(tmp_path_factory, batches, dup):
    path = tmp_path_factory.mktemp("d") / "r.jsonl"
    _write_all(path, batches)
    i = dup % len(batches)
    rf.append_batch(path, f"b{i}", [{"x": 99, "s": "late"}])
    got = rf.read_records(path)
    assert [r for r in got if r["batch"] == f"b{i}"] == [{**r, "batch": f"b{i}", "batch_size": len(batches[i])} for r in batches[i]]


def test_a_malformed_line_before_the_end_is_named(tmp_path):
    path = tmp_path / "r.jsonl"
    _write_all(path, [[{"x": 1}], [{"x": 2}]])
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + b"garbage\n" + lines[1])
    with pytest.raises(rf.UserError, match=r"r\.jsonl:2"):
        rf.read_records(path)


def _writer(path: str, start: int) -> None:
    for i in range(start, start + 30):
        rf.append_batch(path, f"w{i}", [{"i": i, "j": j} for j in range(3)])


def test_concurrent_writers_never_interleave(tmp_path):
    path = tmp_path / "r.jsonl"
    procs = [mp.get_context("fork").Process(target=_writer, args=(str(path), 100 * k)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    got = rf.read_records(path)
    assert len(got) == 4 * 30 * 3
    assert len(path.read_bytes().splitlines()) == 360  # every line belongs to a complete batch
    by_batch: dict[str, list[int]] = {}
    for r in got:
        by_batch.setdefault(r["batch"], []).append(r["j"])
    assert all(js == [0, 1, 2] for js in by_batch.values())


def test_non_finite_floats_round_trip(tmp_path):
    path = tmp_path / "r.jsonl"
    rf.append_batch(path, "a", [{"v": float("inf")}, {"v": float("nan")}])
    got = rf.read_records(path)
    assert got[0]["v"] == float("inf") and got[1]["v"] != got[1]["v"]


# -- atomic writes ---------------------------------------------------------------------------------------


def test_atomic_write_leaves_the_old_file_and_no_temp_on_error(tmp_path):
    path = tmp_path / "a.json"
    rf.atomic_write_json(path, {"a": 1})

    def boom(tmp: Path) -> None:
        tmp.write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        rf.atomic_write(path, boom)
    assert json.loads(path.read_text()) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_check_writable_file_refuses_a_folder(tmp_path):
    with pytest.raises(rf.UserError, match="is a folder"):
        rf.check_writable_file(tmp_path)
    assert rf.check_writable_file(tmp_path / "x.json") == tmp_path / "x.json"


def test_prepare_out_dir_refuses_a_file(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(rf.UserError, match="not a folder"):
        rf.prepare_out_dir(f)


# -- hashing ---------------------------------------------------------------------------------------------


def test_config_hash_ignores_runtime_and_key_order():
    a = {"name": "x", "data": {"n": 1, "m": 2}, "runtime": {"threads": 1}}
    b = {"runtime": {"threads": 8, "device": "cuda"}, "data": {"m": 2, "n": 1}, "name": "x"}
    assert rf.config_hash(a) == rf.config_hash(b)
    assert rf.config_hash(a) != rf.config_hash({**a, "data": {"n": 1, "m": 3}})
    assert rf.config_hash({"threads": 1, "x": 1}, runtime=("threads",)) == rf.config_hash({"threads": 2, "x": 1}, runtime=("threads",))


def test_content_digest_follows_file_and_folder_content(tmp_path):
    f = tmp_path / "d" / "a.txt"
    f.parent.mkdir()
    f.write_text("one")
    d0, f0 = rf.content_digest(f.parent), rf.content_digest(f)
    st = f.stat()
    f.write_text("owt")  # same size, and the mtime put back: the memo must still see the new content
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert rf.content_digest(f) != f0 and rf.content_digest(f.parent) != d0
    (f.parent / "b.txt").write_text("")
    d1 = rf.content_digest(f.parent)
    assert d1 != rf.content_digest(f)
    f.rename(f.parent / "c.txt")
    assert rf.content_digest(f.parent) != d1
    with pytest.raises(rf.UserError, match="no such file"):
        rf.content_digest(tmp_path / "missing")


# -- TOML ------------------------------------------------------------------------------------------------

toml_scalar = st.one_of(st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False),
                        st.text(max_size=8))
toml_key = st.text(alphabet="abcdefghij_", min_size=1, max_size=6)
toml_section = st.dictionaries(toml_key, st.one_of(toml_scalar, st.lists(toml_scalar, max_size=3),
                                                   st.lists(st.dictionaries(toml_key, toml_scalar, max_size=3), max_size=2)),
                               max_size=4)


@given(top=st.dictionaries(toml_key, toml_scalar, max_size=3), sections=st.dictionaries(toml_key.map(lambda k: "s" + k), toml_section, max_size=3))
def test_dumps_toml_round_trips(top, sections):
    data = {**top, **{k: v for k, v in sections.items() if k not in top}}
    assert tomllib.loads(rf.dumps_toml(data)) == data


# -- the one-line error ------------------------------------------------------------------------


def _parser_raising(err: Exception):
    import argparse

    parser = argparse.ArgumentParser(prog="revkl")
    parser.add_argument("--debug", action="store_true")
    sub = parser.add_subparsers(dest="command")

    def handler(args):
        raise err

    sub.add_parser("boom").set_defaults(handler=handler)
    return parser


def test_user_error_is_one_line_and_exit_2(monkeypatch, capsys):
    monkeypatch.setattr(cli, "build_parser", lambda: _parser_raising(rf.UserError("data.jsonl:3: label 5 not in [0, 2)")))
    assert cli.main(["boom"]) == 2
    assert capsys.readouterr().err == "revkl boom: data.jsonl:3: label 5 not in [0, 2)\n"
    with pytest.raises(rf.UserError):
        cli.main(["--debug", "boom"])


def test_internal_errors_keep_their_traceback(monkeypatch):
    monkeypatch.setattr(cli, "build_parser", lambda: _parser_raising(KeyError("bug")))
    with pytest.raises(KeyError):
        cli.main(["boom"])


def test_publish_once_keeps_the_first_copy(tmp_path):
    path = tmp_path / "stage.pt"
    assert rf.publish_once(path, lambda tmp: tmp.write_text("first"))
    assert not rf.publish_once(path, lambda tmp: tmp.write_text("second"))
    assert path.read_text() == "first" and sorted(p.name for p in tmp_path.iterdir()) == ["stage.pt"]


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_writes_respect_the_umask(tmp_path, mask, mode):
    """mkstemp makes 0600 files: results on a shared cluster must be readable as a plain open() would make them."""
    old = os.umask(mask)
    try:
        rf.atomic_write_text(tmp_path / "a.txt", "x")
        rf.atomic_write_json(tmp_path / "b.json", {"a": 1})
        assert rf.publish_once(tmp_path / "c.bin", lambda p: p.write_bytes(b"y"))
    finally:
        os.umask(old)
    for name in ("a.txt", "b.json", "c.bin"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name


def _hold_claim(run_dir, unit, ready, release):
    with rf.claim(run_dir, unit) as mine:
        assert mine
        ready.set()
        release.wait(30)


def _holder(run_dir):
    """A process that holds the claim on unit u1 until its ``release`` event is set."""
    ctx = mp.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    p = ctx.Process(target=_hold_claim, args=(run_dir, "u1", ready, release))
    p.start()
    assert ready.wait(30)
    return p, release


def test_a_claim_is_held_by_one_process_and_freed_when_it_exits(tmp_path):
    p, release = _holder(tmp_path)
    with rf.claim(tmp_path, "u1") as mine, rf.claim(tmp_path, "u2") as other:
        assert not mine and other  # held elsewhere; a different unit is free
    release.set()
    p.join(30)
    with rf.claim(tmp_path, "u1") as mine:
        assert mine


def test_a_killed_holder_frees_its_claim(tmp_path):
    p, _ = _holder(tmp_path)
    p.kill()  # SIGKILL: no cleanup runs, the kernel drops the flock
    p.join(30)
    with rf.claim(tmp_path, "u1") as mine:
        assert mine
