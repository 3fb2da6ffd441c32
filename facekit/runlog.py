"""The book's run log: one JSON line per chapter execution of a profile (when, how long, outcome, peak memory,
CPU time, device, commit, reuse key), under ``results/<profile>/book-runs.jsonl``. The book appends to it; the
status page, chapter reuse and the console's expected times read it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from facekit import paths


def path(profile: str) -> Path:
    """Where ``profile``'s run log lives."""
    return paths.results_dir() / profile / "book-runs.jsonl"


def append(profile: str, entry: dict[str, Any]) -> None:
    """Add one chapter execution to the log."""
    p = path(profile)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("a") as f:
        f.write(json.dumps(entry) + "\n")


def read(profile: str) -> list[dict[str, Any]]:
    """Every chapter execution logged for ``profile`` (oldest first); unreadable lines are skipped."""
    p = path(profile)
    out = []
    for line in p.read_text().splitlines() if p.exists() else ():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def last_ok_seconds(profile: str, chapter: str) -> float | None:
    """How long the chapter's latest successful execution took (None when it never ran here)."""
    ok = [r for r in read(profile) if r.get("chapter") == chapter and r.get("ok")]
    return float(ok[-1]["seconds"]) if ok else None


def utilisation(entries: list[dict[str, Any]]) -> float | None:
    """Core utilisation of logged executions: their CPU time / their wall time / the cores each was given (1.0: every
    core busy all the time); None where no entry recorded its CPU time (runs logged before it was sampled)."""
    timed = [e for e in entries if e.get("cpu_seconds") is not None and e.get("seconds") and e.get("cpus")]
    if not timed:
        return None
    return sum(e["cpu_seconds"] for e in timed) / sum(e["seconds"] * e["cpus"] for e in timed)
