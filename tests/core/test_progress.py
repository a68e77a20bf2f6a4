"""The one progress switch: lines at the interval and at the end; a bar only on a terminal."""

import io
import os
import sys

from revkl_core import progress as P


def test_progress_logs_at_the_interval_and_at_the_end():
    lines: list[str] = []
    p = P.Progress("features", 10, lines.append, interval=3600, unit="texts")
    for _ in range(9):
        p.update()
    assert lines == []
    p.update()
    assert len(lines) == 1 and lines[0].startswith("features: 10/10 texts (100%)") and "ETA 0s" in lines[0]


def test_meter_writes_lines_not_a_bar_when_stderr_is_not_a_terminal(monkeypatch):
    err = io.StringIO()  # isatty() is False, as under `revkl reproduce > log`
    monkeypatch.setattr(P.sys, "stderr", err)
    with P.Meter("verify", 3, "batches") as m:
        for _ in range(3):
            m.update(1, note="T4")
    assert m.bar is None
    assert err.getvalue().splitlines() == [err.getvalue().splitlines()[0]]
    assert err.getvalue().startswith("verify: 3/3 batches (100%)") and "\r" not in err.getvalue()


def test_meter_draws_a_bar_on_a_terminal_and_honours_show(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(P.sys, "stderr", Tty())
    with P.Meter("train", 2) as m:
        assert m.bar is not None and m.lines is None
    hidden = P.Meter("train", 2, show=False)
    assert hidden.bar is None and hidden.lines is None
    logged: list[str] = []
    to_log = P.Meter("train", 1, show=False, emit=logged.append)
    to_log.update()
    assert to_log.bar is None and logged and logged[0].startswith("train: 1/1")


def test_library_bars_are_off_when_stderr_is_not_a_terminal():
    """Under `revkl reproduce` transformers' tqdm bars went raw into the logs; off a terminal they are now off.

    tqdm reads TQDM_DISABLE when it is imported, so this runs in a fresh interpreter, as `revkl` does."""
    import subprocess

    code = ("from revkl_core.progress import quiet_library_bars; quiet_library_bars(); from tqdm import tqdm; "
            "[x for x in tqdm(range(3), desc='Loading weights')]")
    env = {k: v for k, v in os.environ.items() if k not in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS")}
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stderr
    assert "Loading weights" not in err
    shown = subprocess.run([sys.executable, "-c", code.split("; ", 2)[2]], capture_output=True, text=True, env=env).stderr
    assert "Loading weights" in shown  # without the switch the bar is written: the test can fail
