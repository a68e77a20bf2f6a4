"""Progress for long loops, decided in one place: a bar on a terminal, log lines everywhere else.

:func:`meter` is the one switch every package uses. On an interactive stderr it draws a tqdm bar;
otherwise (a log file, ``revkl reproduce`` writing to a pipe, a cluster job) it emits
``what: done/total (pct), rate, ETA`` lines every ``interval`` seconds and once at the end, so long
work is never silent and no log fills with carriage-return bars. :func:`quiet_library_bars` applies the
same rule to the bars of libraries (transformers' "Loading weights", hub downloads): off a terminal, none.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from typing import Any, Callable


def quiet_library_bars() -> None:
    """Off a terminal, turn off every third-party tqdm bar (``TQDM_DISABLE`` and
    the hub's own switch): they would write carriage-return bars into log files. tqdm reads the variable when it is
    first imported, so ``revkl`` calls this first, before any handler imports a library."""
    if not sys.stderr.isatty():
        os.environ.setdefault("TQDM_DISABLE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


class Progress:
    """Log ``what: done/total (pct), rate, ETA`` every ``interval`` seconds (and once at the end)."""

    def __init__(self, what: str, total: int, logger: logging.Logger | Callable[[str], None],
                 interval: float = 30.0, unit: str = "items") -> None:
        self.what, self.total, self.unit, self.interval = what, total, unit, interval
        self._emit = logger.info if isinstance(logger, logging.Logger) else logger
        self.done = 0
        self._start = self._last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= self.interval or self.done >= self.total:
            self._last = now
            self._emit(self.line(now))

    def line(self, now: float | None = None) -> str:
        elapsed = (time.monotonic() if now is None else now) - self._start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else math.inf
        eta = "?" if math.isinf(left) else f"{left:.0f}s"
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return f"{self.what}: {self.done}/{self.total} {self.unit} ({pct:.0f}%), {rate:.1f} {self.unit}/s, ETA {eta}"


def _stderr_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class Meter:
    """A tqdm bar when ``show`` and stderr is a terminal; otherwise :class:`Progress` lines to ``emit``.

    ``emit`` defaults to stderr when ``show`` and to nothing otherwise; a caller that keeps a log
    file passes its own ``emit`` and gets lines there whether or not ``show`` is set.
    """

    def __init__(self, what: str, total: int, unit: str = "items", *, show: bool = True,
                 emit: Callable[[str], None] | logging.Logger | None = None, interval: float = 30.0) -> None:
        self.bar: Any = None
        self.lines: Progress | None = None
        if show and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=what, unit=unit, leave=False)
        elif emit is not None or show:
            self.lines = Progress(what, total, emit if emit is not None else _stderr_line, interval, unit)

    def update(self, n: int = 1, note: str | None = None) -> None:
        if self.bar is not None:
            self.bar.update(n)
            if note:
                self.bar.set_postfix_str(note)
        if self.lines is not None:
            self.lines.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> "Meter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
