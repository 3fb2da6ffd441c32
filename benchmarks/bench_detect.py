"""Benchmark: seconds per image of every detector backend (single vs batched, detect + align) on LFW 250x250
images and on CelebA originals, 2 threads, with the ratio to report 000's published 2.07 s and 4.65 s.

Run: ``.venv/bin/python benchmarks/bench_detect.py [--lfw 100] [--celeba 30] [--backends mtcnn retinaface ...]``
"""

from __future__ import annotations

import argparse

import torch

from facekit.data import celeba, lfw
from facekit.detect import available
from facekit.face_path import FacePath
from facekit.io import read_image
from facekit.studies.cosine_heads import REPORTED_TIMES as REPORTED_000
from facekit.timing import time_detection


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lfw", type=int, default=100)
    ap.add_argument("--celeba", type=int, default=30)
    ap.add_argument("--backends", nargs="*", default=["mediapipe", "retinaface", "mtcnn", "dlib-hog", "haar",
                                                      "dlib-cnn"])
    args = ap.parse_args()
    torch.set_num_threads(2)
    sets = {"lfw": [read_image(p) for p in lfw.images().sample(args.lfw, random_state=0).path],
            "celeba": [read_image(p) for p in celeba.subset_images().path[: args.celeba]]}
    print(f"backends available: {', '.join(available())}")
    head = (f"{'backend':12s} {'set':7s} {'single med':>11s} {'batched':>9s} {'det+align':>10s} "
            f"{'x faster than 2.07 s':>21s} {'x than 4.65 s':>14s}")
    print(head)
    print("-" * len(head))
    for name in args.backends:
        fp = FacePath(name, aligner="arcface112")
        for set_name, images in sets.items():
            t = time_detection(fp, images)
            da = t.get("detect_align_median", t["single_median"])
            print(f"{name:12s} {set_name:7s} {t['single_median'] * 1e3:8.1f} ms {t['batched_mean'] * 1e3:6.1f} ms "
                  f"{da * 1e3:7.1f} ms {REPORTED_000['yolo_person_seconds_per_image'] / da:21.0f} "
                  f"{REPORTED_000['retinaface_dlib_seconds_per_image'] / da:14.0f}")
    print(f"(reported by {REPORTED_000['source']}: YOLO person detection 2.07 s/image, RetinaFace + dlib "
          "extraction 4.65 s/image, on their hardware)")


if __name__ == "__main__":
    main()
