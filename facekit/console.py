"""What a long book build shows on the console: cell-level progress of the chapter being executed (cell k of n,
elapsed, the last run's total), while the kernel's native log lines (glog/absl from MediaPipe, TensorFlow Lite's
notices, library warnings) go to the chapter's log file instead of scrolling past.

Progress comes from a papermill engine that reports each cell as it starts; the log capture points the process's
own stdout and stderr file descriptors at the log file while the chapter runs, so the kernel (and every worker
process it starts) inherits them, and writes the progress to a duplicate of the original terminal.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

ENGINE = "facekit-progress"


def clock(seconds: float) -> str:
    """``1:02:05`` / ``3:05``: elapsed time for a console line."""
    s = int(round(seconds))
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


class Progress:
    """One chapter's progress line: which code cell runs (k of n), time in the chapter and in the cell, and the
    last successful run's total. On a terminal the line is redrawn every second; elsewhere (a log, CI) a line is
    written when a cell starts at least ``every`` seconds after the last one written, and every ``every`` seconds
    inside a long cell."""

    def __init__(self, chapter: str, out: IO[str], expected: float | None = None, every: float = 60.0) -> None:
        self.chapter, self.out, self.expected, self.every = chapter, out, expected, every
        self.ordinal: dict[int, int] = {}
        self.total = 0
        self.tty = out.isatty()
        self.t0 = self.cell_t0 = time.perf_counter()
        self.current = 0
        self.last_write = -float("inf")
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._tick, daemon=True)

    def line(self) -> str:
        now = time.perf_counter()
        expected = f" (last run {clock(self.expected)})" if self.expected else ""
        cell = f", this cell {clock(now - self.cell_t0)}" if now - self.cell_t0 >= 10 else ""
        return f"  {self.chapter}: cell {self.current}/{self.total}, {clock(now - self.t0)}{expected}{cell}"

    def _write(self, final: bool = False) -> None:
        with self._lock:
            text = self.line()
            if self.tty:
                self.out.write("\r\033[K" + text + ("\n" if final else ""))
            else:
                self.out.write(text + "\n")
            self.out.flush()
            self.last_write = time.perf_counter()

    def notebook(self, cells: list) -> None:
        """The notebook as papermill runs it (its parameters injected): which cells are code."""
        code = [i for i, c in enumerate(cells) if c.get("cell_type") == "code"]
        self.ordinal, self.total = {index: k for k, index in enumerate(code, 1)}, len(code)

    def cell(self, index: int) -> None:
        """A cell starts (papermill's index over all cells; markdown cells are passed over)."""
        if index not in self.ordinal:
            return
        self.current, self.cell_t0 = self.ordinal[index], time.perf_counter()
        if self.tty or time.perf_counter() - self.last_write >= self.every:
            self._write()

    def _tick(self) -> None:
        while not self._stop.wait(1.0 if self.tty else 5.0):
            if self.tty or time.perf_counter() - self.last_write >= self.every:
                self._write()

    def __enter__(self) -> Progress:
        _ACTIVE.append(self)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        _ACTIVE.remove(self)
        if self.tty:
            self.out.write("\r\033[K")
            self.out.flush()


_ACTIVE: list[Progress] = []  # the Progress of the chapter being executed (one at a time)
_REGISTERED: list[str] = []


def engine_name() -> str:
    """The name of papermill's nbclient engine extended to report each cell's start to the active ``Progress``,
    registered with papermill on first use (importing papermill is slow)."""
    if not _REGISTERED:
        from papermill.engines import NBClientEngine, papermill_engines

        class Engine(NBClientEngine):
            @classmethod
            def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
                if _ACTIVE:
                    listener, start = _ACTIVE[-1], nb_man.cell_start
                    listener.notebook(nb_man.nb.cells)

                    def cell_start(cell, cell_index=None, **kw):
                        listener.cell(cell_index)
                        return start(cell, cell_index, **kw)

                    nb_man.cell_start = cell_start
                return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

        papermill_engines.register(ENGINE, Engine)
        _REGISTERED.append(ENGINE)
    return ENGINE


@contextmanager
def native_output_to(log: Path) -> Iterator[IO[str]]:
    """While the block runs, this process's stdout and stderr file descriptors (inherited by the kernel and its
    workers) write to ``log``; the block gets a stream to the original stdout for its own messages."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    console = os.fdopen(os.dup(1), "w", buffering=1)
    with open(log, "a") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield console
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            console.close()
