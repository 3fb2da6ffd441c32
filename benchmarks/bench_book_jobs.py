"""Benchmark: a cold book (profile smoke by default) with its chapters one after another and side by side
(``facekit book --jobs``), each into empty caches and results, side by side in one table: wall time, the sum of
the chapters' times, CPU time, core utilisation and the ratio to one job; then how many of the records' metrics
differ between the runs (fewer threads per chapter can move a number's last digits).

Both runs read the same fetched data (``data/raw``); nothing of the project's own results, caches or executed
notebooks is touched (each run has a project root of its own that links the notebooks). Run it alone on the
machine: ``.venv/bin/python benchmarks/bench_book_jobs.py [--profile smoke] [--jobs 1 2]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(profile: str, jobs: int, where: Path) -> dict:
    """One cold build of ``profile`` with ``jobs`` into ``where``; its wall time and run-log entries."""
    (where / "notebooks").symlink_to(ROOT / "notebooks")
    env = {**os.environ, "FACEKIT_ROOT": str(where), "FACEKIT_CACHE": str(where / "cache"),
           "FACEKIT_RESULTS": str(where / "results"), "FACEKIT_DATA": str(ROOT / "data" / "raw")}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "facekit.cli", "book", "--profile", profile, "--no-html",
                           "--jobs", str(jobs)], env=env, cwd=where, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(f"the build with --jobs {jobs} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    log = where / "results" / profile / "book-runs.jsonl"
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    return {"wall": wall, "entries": entries}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--profile", default="smoke")
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    spec = importlib.util.spec_from_file_location("compare_results", ROOT / "benchmarks" / "compare_results.py")
    compare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compare)
    cores = os.cpu_count() or 1
    from facekit import book

    book.fetch_missing(args.profile, [c.stem for c in book.chapters()])  # the data once, before either clock
    out = {}
    with tempfile.TemporaryDirectory(prefix="bench-book-jobs-") as tmp:
        for jobs in args.jobs:
            where = Path(tmp) / f"jobs-{jobs}"
            where.mkdir()
            print(f"--jobs {jobs}: building the {args.profile} book cold ...", flush=True)
            out[jobs] = run(args.profile, jobs, where)
        head = f"{'jobs':>4s} {'wall':>8s} {'sum of chapters':>16s} {'CPU':>8s} {'utilisation':>12s} {'ratio':>6s}"
        print(f"\n{args.profile} book, cold, {cores} cores\n{head}\n{'-' * len(head)}")
        base = out[args.jobs[0]]["wall"]
        for jobs, r in out.items():
            cpu = sum(e.get("cpu_seconds") or 0 for e in r["entries"])
            chapters = sum(e["seconds"] for e in r["entries"])
            print(f"{jobs:4d} {r['wall']:7.0f}s {chapters:15.0f}s {cpu:7.0f}s {cpu / r['wall'] / cores:12.0%} "
                  f"{base / r['wall']:5.2f}x")
        first = Path(tmp) / f"jobs-{args.jobs[0]}" / "results"
        for jobs in args.jobs[1:]:
            diffs = compare.compare(first, Path(tmp) / f"jobs-{jobs}" / "results", args.profile)
            by_chapter: dict[str, int] = {}
            for d in diffs:
                chapter = d.split("/")[0].removeprefix(f"only in {first}: ")
                by_chapter[chapter] = by_chapter.get(chapter, 0) + 1
            print(f"records of --jobs {jobs} vs --jobs {args.jobs[0]}: {len(compare.records(first, args.profile))} "
                  f"records, {len(diffs)} metrics differ"
                  + "".join(f"\n  {c}: {n}" for c, n in sorted(by_chapter.items()))
                  + "".join(f"\n    {d}" for d in diffs[:12]))


if __name__ == "__main__":
    main()
