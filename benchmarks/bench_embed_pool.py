"""Benchmark: a single-threaded embedder (dlib's ResNet) over LFW photos in one process vs spread over a pool of
processes, side by side on the same images and detections (read from the detection cache; alignment included,
as in a chapter's pass). Prints images/s of each, the ratio, core utilisation of each (CPU time of this process and
its children / wall / cores) and whether the vectors are identical.

Run: ``.venv/bin/python benchmarks/bench_embed_pool.py [--images 400] [--embedder dlib-resnet]``
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import psutil

from facekit.data import lfw
from facekit.embed import embed_chosen, embed_processes
from facekit.face_path import FacePath
from facekit.runtime import workers


def _cpu() -> float:
    """CPU seconds (user + system) of this process and its children, including finished ones."""
    t = os.times()
    me = psutil.Process()
    live = sum(sum(c.cpu_times()[:2]) for c in me.children(recursive=True))
    return t.user + t.system + t.children_user + t.children_system + live


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=400)
    ap.add_argument("--embedder", default="dlib-resnet")
    args = ap.parse_args()
    paths = list(lfw.images().path[:args.images])
    fp = FacePath("retinaface", args.embedder)
    emb = fp.build_embedder()
    detected, chosen = fp.faces(paths, progress=True)  # detections cached first: only embedding is timed
    n_pool = max(2, workers())
    print(f"{args.embedder} on {len(paths)} LFW photos (RetinaFace detections from the cache), {os.cpu_count()} "
          f"cores; the chapters' rule would use {embed_processes(emb, len(paths))} process(es) here", flush=True)
    rows, vectors = [], []
    for processes in (1, n_pool):
        c0, t0 = _cpu(), time.perf_counter()
        out = embed_chosen(detected, chosen, emb, None, fp.aligned_with(emb), progress=False, processes=processes)
        wall, cpu = time.perf_counter() - t0, _cpu() - c0
        vectors.append(out.embeddings)
        rows.append((processes, len(paths) / wall, cpu / wall / (os.cpu_count() or 1)))
    base = rows[0][1]
    print(f"{'processes':>9}  {'images/s':>8}  {'x one':>6}  {'core utilisation':>16}")
    for processes, rate, util in rows:
        print(f"{processes:>9}  {rate:>8.1f}  {rate / base:>6.2f}  {util:>16.0%}")
    print(f"vectors identical: {np.array_equal(vectors[0], vectors[1])}")


if __name__ == "__main__":
    main()
