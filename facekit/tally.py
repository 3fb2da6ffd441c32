"""Work counters: how many detections, crops and embeddings a run computed, and how many it read from the caches.

`facekit book` points ``FACEKIT_TALLY`` at one file per chapter; each cached pass (in the chapter's kernel) appends
one line there, and the book sums them per chapter. Without the variable nothing is written.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: the kinds of work counted, in the order they are shown
KINDS = ("detections", "crops", "embeddings")
ENV = "FACEKIT_TALLY"


def record(kind: str, computed: int, read: int) -> None:
    """Add one pass's counts of ``kind`` (one of ``KINDS``) to the file ``FACEKIT_TALLY`` names, if any."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of work {kind!r}; known: {', '.join(KINDS)}")
    target = os.environ.get(ENV)
    if not target or (computed == 0 and read == 0):
        return
    with open(target, "a", encoding="utf-8") as f:
        f.write(json.dumps({"kind": kind, "computed": int(computed), "read": int(read)}) + "\n")


def total(path: str | Path) -> dict[str, dict[str, int]]:
    """The sums per kind of a tally file: ``{kind: {"computed": n, "read": m}}`` for every kind (zeros where
    absent); a missing file or a torn last line counts as nothing."""
    out = {k: {"computed": 0, "read": 0} for k in KINDS}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            row = json.loads(line)
            out[row["kind"]]["computed"] += int(row["computed"])
            out[row["kind"]]["read"] += int(row["read"])
        except (ValueError, KeyError, TypeError):
            continue
    return out


@contextmanager
def collecting() -> Iterator[dict[str, dict[str, int]]]:
    """Point ``FACEKIT_TALLY`` at a fresh file while the block runs (processes started inside inherit it); on
    exit the yielded dict holds the sums (see ``total``) and the variable is restored."""
    fd, name = tempfile.mkstemp(prefix="facekit-tally-", suffix=".jsonl")
    os.close(fd)
    before = os.environ.get(ENV)
    os.environ[ENV] = name
    out: dict[str, dict[str, int]] = {}
    try:
        yield out
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before
        out.update(total(name))
        Path(name).unlink(missing_ok=True)


def describe(counts: dict[str, dict[str, int]]) -> str:
    """``"detections 120/13,233 · crops 0/0 · embeddings 5/40"`` (computed/read); "-" when nothing was counted."""
    parts = [f"{k} {c['computed']:,}/{c['read']:,}" for k, c in counts.items() if c["computed"] or c["read"]]
    return " · ".join(parts) if parts else "-"
