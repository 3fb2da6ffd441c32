"""Benchmark: the detection chapter's detectors over LFW images with one worker process and with one per core,
side by side (images/s and the ratio), each into an empty cache so every image is detected.

(Sharing dlib's ResNet embedder's batches with a second process was measured too, 14.1 vs 14.1 images/s on 2
cores: no gain, so the embedders stay in one process.)

Run: ``.venv/bin/python benchmarks/bench_workers.py [--images 240] [--backends dlib-hog retinaface ...]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from facekit.data import lfw
from facekit.detect import get_detector
from facekit.detect.cache import detect_cached
from facekit.runtime import cap_threads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=240)
    ap.add_argument("--backends", nargs="*", default=["dlib-hog", "retinaface", "mtcnn", "mediapipe", "yunet",
                                                      "scrfd", "haar"])
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    paths = [Path(p) for p in lfw.images().sample(args.images, random_state=0).path]
    cores = os.cpu_count() or 1
    print(f"{len(paths)} LFW images, {cores} cores; 1 worker uses {cores} math threads, "
          f"{args.workers} workers use {max(1, cores // args.workers)} each")
    head = f"{'backend':12s} {'1 worker img/s':>15s} {f'{args.workers} workers img/s':>17s} {'ratio':>6s} {'same':>5s}"
    print(head)
    print("-" * len(head))
    for name in args.backends:
        rates, found = [], []
        for n in (1, args.workers):
            cap_threads(cores)  # the serial run gets every core, as the chapters had it
            det = get_detector(name)
            with tempfile.TemporaryDirectory() as cache:
                t0 = time.perf_counter()
                out = detect_cached(det, paths, progress=False, cache_root=Path(cache), workers=n)
                rates.append(len(paths) / (time.perf_counter() - t0))
            found.append([len(d.detections) for d in out])
        same = "yes" if found[0] == found[1] else "no"
        print(f"{name:12s} {rates[0]:15.1f} {rates[1]:17.1f} {rates[1] / rates[0]:6.2f} {same:>5s}", flush=True)


if __name__ == "__main__":
    main()
