"""Build chapters at two commits, each in a clone of its own with empty caches and results, one after the other
(never two torch-heavy builds at once), then compare their records with ``compare_results.py``: the check that a
change left every number where it was. A clone that exists is reused, so an interrupted comparison resumes from
its caches (fetching the commit from this checkout when the clone predates it); each build's console goes to
``WORKDIR/<commit>.log``. ``--tables`` compares the chapters' CSV tables too (``compare_results --tables``).

The clones use this checkout's ``.venv`` and its data and weights mirrors (``facekit.paths``), so both commits run
on the same packages and the same files; only the code differs. ``--engine torch`` pins ``FACEKIT_ENGINE`` on both
sides (a commit before ONNX Runtime ran in torch). Exit status: compare_results's (0 equal, 1 a difference), 2 for a
commit git does not know or a build that failed.

Run: ``.venv/bin/python benchmarks/results_at_commits.py OLD NEW --chapters 06_arcface_resnet [--profile cpu]
[--engine torch] [--records GLOB ...] [--tables] [--workdir DIR] [--dry-run]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from compare_results import ResultsError, compare, compare_tables, report  # noqa: E402

from facekit import paths  # noqa: E402


def resolve(commit: str) -> str:
    """The full hash of ``commit`` in this checkout; SystemExit(2) with one line when git does not know it."""
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"results_at_commits: {commit!r} is not a commit of {ROOT}: name one `git log` lists")
    return out.stdout.strip()


def environment(clone: Path, engine: str | None) -> dict[str, str]:
    """The environment of one clone's build: its own root, code, caches and results; this checkout's mirrors."""
    env = {**os.environ, "FACEKIT_ROOT": str(clone), "PYTHONPATH": str(clone),
           "YOLO_CONFIG_DIR": str(clone / "data" / "cache" / "ultralytics"),
           "DEEPFACE_HOME": str(clone / "data" / "cache" / "deepface")}
    for var in ("FACEKIT_DATA", "FACEKIT_CACHE", "FACEKIT_RESULTS"):
        env.pop(var, None)  # the clone's own folders, never this checkout's
    env["FACEKIT_MIRROR"] = str(paths.mirror_dir() or "")
    env["FACEKIT_WEIGHTS"] = str(paths.weights_mirror_dir() or "")
    if engine:
        env["FACEKIT_ENGINE"] = engine
    return env


def build(commit: str, workdir: Path, chapters: list[str], profile: str, engine: str | None,
          dry_run: bool = False) -> Path:
    """Clone (or reuse) ``workdir/<short hash>`` at ``commit`` and build ``00_data`` and ``chapters`` there;
    returns the clone."""
    clone = workdir / commit[:10]
    cmd = [str(clone / ".venv" / "bin" / "facekit"), "book", "--profile", profile, "--only", "00_data", *chapters,
           "--no-html"]
    if dry_run:
        print(f"{commit[:10]}: {' '.join(cmd)}  (in {clone})")
        return clone
    try:
        if not clone.exists():
            subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        elif subprocess.run(["git", "-C", str(clone), "cat-file", "-e", f"{commit}^{{commit}}"],
                            capture_output=True).returncode != 0:
            subprocess.run(["git", "-C", str(clone), "fetch", "-q", "origin"], check=True)  # a clone of before
        subprocess.run(["git", "-C", str(clone), "checkout", "-q", "--detach", commit], check=True)
    except subprocess.CalledProcessError as exc:
        step = exc.cmd[3] if exc.cmd[1] == "-C" else exc.cmd[1]  # clone, fetch or checkout
        raise SystemExit(f"results_at_commits: git {step} failed for {clone} (exit {exc.returncode}): "
                         "remove that folder and run again") from None
    if not os.path.lexists(clone / ".venv"):
        (clone / ".venv").symlink_to(ROOT / ".venv")
    log = workdir / f"{commit[:10]}.log"
    print(f"{commit[:10]}: building {', '.join(chapters)} ({profile}); console in {log}", flush=True)
    with open(log, "a") as out:
        done = subprocess.run(cmd, cwd=clone, env=environment(clone, engine), stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"results_at_commits: the build at {commit[:10]} failed (exit {done.returncode}): see {log}")
    return clone


def compared(records: list[str] | tuple[str, ...], chapters: list[str]) -> tuple[str, ...]:
    """The records to compare: ``records`` when given, else the built chapters' (a kept clone may hold other
    chapters from earlier comparisons, built on one side only: 124 lines of "only in" when 04 was compared in a
    clone that also held 01, 03, 05 and 06)."""
    return tuple(records) or tuple(f"{ch}/*" for ch in chapters)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--chapters", nargs="+", required=True)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--engine", choices=("torch", "onnxruntime"), default=None)
    ap.add_argument("--records", nargs="*", default=(),
                    help="compare only these records: globs of study/name (default: the chapters' own)")
    ap.add_argument("--tables", action="store_true", help="compare the CSV tables too, cell for cell")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/facekit-commits"))
    ap.add_argument("--dry-run", action="store_true", help="print what would be built, build nothing")
    args = ap.parse_args(argv)
    try:
        old, new = resolve(args.old), resolve(args.new)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    args.workdir.mkdir(parents=True, exist_ok=True)
    try:
        sides = [build(c, args.workdir, args.chapters, args.profile, args.engine, args.dry_run) for c in (old, new)]
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.dry_run:
        return 0
    only = compared(args.records, args.chapters)
    try:
        lines = compare(sides[0] / "results", sides[1] / "results", args.profile, only=only)
        if args.tables:
            lines += compare_tables(sides[0] / "results", sides[1] / "results", args.profile, only)
    except ResultsError as exc:
        print(f"results_at_commits: {exc}", file=sys.stderr)
        return 2
    return report(lines, f"{old[:10]} -> {new[:10]} ({args.profile}, {', '.join(args.chapters)})")


if __name__ == "__main__":
    sys.exit(main())
