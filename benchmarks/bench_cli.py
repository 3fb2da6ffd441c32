"""Benchmark: where the time of one ``facekit verify`` / ``facekit identify`` in a fresh process goes.

Each step is timed in a new Python process, as a user's command runs: imports, building the detector and the
embedder (weights loading), detecting, embedding (alignment included) and, for identify, the gallery search.
The full commands are timed end to end beside the split.

With ``--enroll N`` it first builds the gallery G from N LFW photos (whole people, in name order, copied into
person folders) with an empty cache, as a new user would, and times that enrolment (photos per second) and two
identifies. Then it prices the gallery's safety, side by side on the same vectors: a save under the writer lock
(content-named files flushed to disk, manifest last, clean-up) against a bare save (``np.save`` +
``faiss.write_index`` + ``json.dump``, no lock, no flush), and a checked load against a bare one, each as a share
of the enrolment and of one identify.

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
from facekit.studies.calibration import enroll_path
from facekit.io import read_image
from facekit.align import align
t_import = time.perf_counter()
fp = enroll_path(sys.argv[1])
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
    cache = tempfile.mkdtemp(prefix="facekit-cache-")
    env = {**os.environ, "FACEKIT_CACHE": cache}
    shutil.rmtree(gallery, ignore_errors=True)
    exe = [sys.executable, "-m", "facekit.cli"]
    t0 = time.perf_counter()
    # a stated threshold: the enrolment's time does not depend on it, and no book build is needed
    out = subprocess.run([*exe, "enroll", str(folder), "--gallery", gallery, "--embedder", embedder, "--quiet",
                          "--threshold", "0.5"], env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr)
    t_enroll = time.perf_counter() - t0
    print(out.stdout.strip() or out.stderr.strip()[-500:])
    runs = []
    for _ in range(2):
        t0 = time.perf_counter()
        res = subprocess.run([*exe, "identify", probe, "--gallery", gallery], env=env, capture_output=True, text=True)
        runs.append((time.perf_counter() - t0, res.returncode, res.stdout.strip()))
    shutil.rmtree(folder, ignore_errors=True)  # the copied photos and the cache: about 200 MB at 10,000
    shutil.rmtree(cache, ignore_errors=True)
    photos = int(counts[keep].sum())
    print(f"cold enrol of {photos} photos of {len(keep)} people: {t_enroll:.1f} s ({photos / t_enroll:.1f} photos/s); "
          f"identify {runs[0][0]:.2f} s then {runs[1][0]:.2f} s (exit {runs[1][1]}): {runs[1][2][-160:]}")
    safety_cost(gallery, t_enroll, runs[1][0])


def _best(fn, repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def safety_cost(gallery: str, t_enroll: float, t_identify: float) -> None:
    """The lock, the flushed content-named save and the checked load, against bare writes and reads."""
    import json
    import tempfile
    from pathlib import Path

    import faiss
    import numpy as np

    from facekit.gallery import MANIFEST, Gallery, writing
    from facekit.search import SearchIndex

    g = Gallery.load(gallery)
    vectors = np.asarray(g.vectors)
    manifest = json.loads((Path(gallery) / MANIFEST).read_text())
    bare = Path(tempfile.mkdtemp(prefix="facekit-bare-"))

    def bare_save() -> None:
        np.save(bare / "vectors.npy", vectors)
        faiss.write_index(SearchIndex.build(vectors, g.metric).index, str(bare / "index.faiss"))
        (bare / "gallery.json").write_text(json.dumps(manifest))

    def safe_save() -> None:
        with writing(gallery):
            g.save()

    def bare_load() -> None:
        json.loads((bare / "gallery.json").read_text())
        np.load(bare / "vectors.npy")
        faiss.read_index(str(bare / "index.faiss"))

    bare_save()
    t_bare, t_safe = _best(bare_save), _best(safe_save)
    l_bare, l_safe = _best(bare_load), _best(lambda: Gallery.load(gallery))
    print(f"save of {len(vectors)} x {vectors.shape[1]} vectors: safe {1000 * t_safe:.1f} ms vs bare "
          f"{1000 * t_bare:.1f} ms; the difference is {100 * (t_safe - t_bare) / t_enroll:.3f} % of the enrolment")
    print(f"load: checked {1000 * l_safe:.1f} ms vs bare {1000 * l_bare:.1f} ms; the difference is "
          f"{100 * (l_safe - l_bare) / t_identify:.2f} % of one identify")
    import shutil

    shutil.rmtree(bare, ignore_errors=True)


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
