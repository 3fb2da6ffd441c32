"""Benchmark: where the time of one ``facekit verify`` / ``facekit identify`` in a fresh process goes.

Each step is timed in a new Python process, as a user's command runs: imports, building the detector and the
embedder (weights loading), detecting, embedding (alignment included) and, for identify, the gallery search.
The full commands are timed end to end beside the split.

With ``--enroll N`` it first builds the gallery G from N LFW photos (whole people, in name order, copied into
person folders) with an empty cache, as a new user would, and times that enrolment and two identifies.

Run: ``.venv/bin/python benchmarks/bench_cli.py IMAGE_A IMAGE_B --gallery G [--enroll 1000]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

SPLIT = r'''
import sys, time
t0 = time.perf_counter()
from facekit.gallery import Gallery
from facekit.studies import retrieval
from facekit.io import read_image
from facekit.align import align
t_import = time.perf_counter()
fp = retrieval.enroll_path(sys.argv[1])
det, emb = fp.build_detector(), fp.build_embedder()
t_load = time.perf_counter()
img = read_image(sys.argv[2])
faces = det.detect(img)
t_detect = time.perf_counter()
vec = emb.embed([align(fp.aligned_with(emb), img, f) for f in faces])
t_embed = time.perf_counter()
g = Gallery.load(sys.argv[3]); g.search(vec, 5)
t_search = time.perf_counter()
print(t_import - t0, t_load - t_import, t_detect - t_load, t_embed - t_detect, t_search - t_embed)
'''


def timed(cmd: list[str]) -> tuple[float, int]:
    t0 = time.perf_counter()
    rc = subprocess.run(cmd, capture_output=True, text=True).returncode
    return time.perf_counter() - t0, rc


def cold_enroll(n: int, gallery: str, embedder: str, probe: str) -> None:
    """Enrol ``n`` LFW photos into ``gallery`` with an empty cache; time it and two identifies of ``probe``."""
    import os
    import shutil
    import tempfile
    from pathlib import Path

    from facekit.data import lfw

    imgs = lfw.images().sort_values(["name", "index"])
    counts = imgs.groupby("name").size()
    keep = counts[counts.cumsum() <= n].index
    folder = Path(tempfile.mkdtemp(prefix="facekit-people-"))
    for row in imgs[imgs.name.isin(keep)].itertuples():
        (folder / row.name).mkdir(exist_ok=True)
        shutil.copy(row.path, folder / row.name / Path(row.path).name)
    env = {**os.environ, "FACEKIT_CACHE": tempfile.mkdtemp(prefix="facekit-cache-")}
    shutil.rmtree(gallery, ignore_errors=True)
    exe = [sys.executable, "-m", "facekit.cli"]
    t0 = time.perf_counter()
    out = subprocess.run([*exe, "enroll", str(folder), "--gallery", gallery, "--embedder", embedder, "--quiet"],
                         env=env, capture_output=True, text=True)
    t_enroll = time.perf_counter() - t0
    print(out.stdout.strip() or out.stderr.strip()[-500:])
    runs = []
    for _ in range(2):
        t0 = time.perf_counter()
        res = subprocess.run([*exe, "identify", probe, "--gallery", gallery], env=env, capture_output=True, text=True)
        runs.append((time.perf_counter() - t0, res.returncode, res.stdout.strip()))
    print(f"cold enrol of {int(counts[keep].sum())} photos of {len(keep)} people: {t_enroll:.1f} s; identify "
          f"{runs[0][0]:.2f} s then {runs[1][0]:.2f} s (exit {runs[1][1]}): {runs[1][2][:160]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--gallery", required=True)
    ap.add_argument("--embedder", default="mobilefacenet-casia")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--enroll", type=int, default=0, help="first build the gallery from this many LFW photos")
    args = ap.parse_args()
    if args.enroll:
        cold_enroll(args.enroll, args.gallery, args.embedder, args.a)
    py, exe = sys.executable, [sys.executable, "-m", "facekit.cli"]
    t_start, _ = timed([py, "-c", "pass"])
    print(f"python start-up alone: {t_start:.2f} s")
    names = ("imports", "model loading", "detection", "embedding", "search")
    splits = []
    for _ in range(args.repeats):
        out = subprocess.run([py, "-c", SPLIT, args.embedder, args.a, args.gallery], capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(out.stderr[-2000:])
        splits.append([float(x) for x in out.stdout.split()[-5:]])
    best = [min(s[i] for s in splits) for i in range(5)]
    print("split of identify (best of repeats, s): " + ", ".join(f"{n} {v:.2f}" for n, v in zip(names, best,
                                                                                              strict=True)))
    for label, cmd in (("identify", [*exe, "identify", args.a, "--gallery", args.gallery]),
                       ("verify", [*exe, "verify", args.a, args.b, "--embedder", args.embedder])):
        runs = [timed(cmd) for _ in range(args.repeats)]
        print(f"facekit {label}: {min(t for t, _ in runs):.2f} s end to end (best of {args.repeats}; exit "
              f"{runs[-1][1]})")


if __name__ == "__main__":
    main()
