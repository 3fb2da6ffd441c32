"""Run jobs side by side: at most ``jobs`` at once, each only after the jobs it waits for have ended, the one on
the longest remaining path first (critical-path order), so the cores do not idle while a long job's dependants
wait. ``facekit book --jobs`` runs its chapters with it; the jobs themselves are processes it is handed.

>>> waits = {"a": set(), "b": set(), "c": {"a"}}
>>> priorities(["a", "b", "c"], waits, {"a": 10, "b": 30, "c": 25})
{'a': 35.0, 'b': 30.0, 'c': 25.0}
>>> priorities(["a", "b", "c"], waits, {})  # never run: a has c behind it
{'a': 2.0, 'b': 1.0, 'c': 1.0}
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

#: seconds between looks at the running jobs
POLL = 0.2


class Running(Protocol):
    """What ``run`` needs of a started job (``subprocess.Popen`` has it): its exit code once ended, else None."""

    def poll(self) -> int | None: ...


def priorities(names: list[str], waits: Mapping[str, Iterable[str]], expected: Mapping[str, float]) -> dict[str, float]:
    """Each job's expected time plus the longest chain of jobs that wait on it: the time from its start to the
    end of everything behind it. An unknown time (a job never run here) counts as one second, so that a cold
    build still starts the jobs with the most behind them first."""
    behind: dict[str, list[str]] = {n: [] for n in names}
    for n in names:
        for w in waits.get(n, ()):
            if w in behind:
                behind[w].append(n)
    out: dict[str, float] = {}
    for n in reversed(names):  # a job waits only on earlier ones, so its dependants are already known
        out[n] = float(expected.get(n) or 1.0) + max((out[d] for d in behind[n]), default=0.0)
    return {n: out[n] for n in names}


def run(names: list[str], waits: Mapping[str, Iterable[str]], jobs: int, start: Callable[[str, bool], Running],
        expected: Mapping[str, float] | None = None, alone: Iterable[str] = (), stop_on_failure: bool = True,
        ended: Callable[[str, int], None] = lambda name, code: None) -> dict[str, int]:
    """Start the jobs ``names`` (in dependency order: each waits only on earlier ones) with ``start(name,
    alone)``, at most ``jobs`` at once; a job waiting on one not in ``names`` treats it as done. A job in ``alone``
    (one that times itself) runs with nothing beside it, before the others; ``alone`` is also true for the last
    job when nothing runs beside it (it may take every core). ``ended(name, code)`` is called as
    each ends. After a failure (a non-zero code) and with ``stop_on_failure``, no new job starts; the running ones
    end. Returns the exit code of every job that ran."""
    prio = priorities(names, waits, expected or {})
    solo = set(alone)
    # stable sorts: the jobs that must run alone first, then the longest chain; equal ones keep the given order
    pending = sorted(sorted(names, key=lambda n: -prio[n]), key=lambda n: n not in solo)
    running: dict[str, Running] = {}
    codes: dict[str, int] = {}
    while pending or running:
        failed = stop_on_failure and any(codes.values())
        for name in [] if failed else list(pending):
            if len(running) >= jobs or solo & set(running):
                break
            if set(waits.get(name, ())) & (set(pending) | set(running)):
                continue
            if name in solo and running:
                continue
            pending.remove(name)
            running[name] = start(name, name in solo or not (running or pending))
        if not running:
            break  # everything left waits on a failure
        time.sleep(POLL)
        for name, job in list(running.items()):
            code = job.poll()
            if code is not None:
                del running[name]
                codes[name] = code
                ended(name, code)
    return codes
