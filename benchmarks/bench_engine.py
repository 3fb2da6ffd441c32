"""Benchmark: RetinaFace and each torch embedder run by torch (the old engine) and by ONNX Runtime (the CPU
default), side by side on the same LFW photos in one process. RetinaFace detects the decoded photos (landmark
refinement included, as in the chapters); the embedders embed the same aligned crops (RetinaFace detections from
the cache; alignment done once, outside the timing). Prints images/s of each engine, the ratio, the core
utilisation of each (CPU time / wall / cores) and the agreement: the largest landmark difference in pixels for
RetinaFace, the lowest cosine between the two engines' vectors for an embedder. Each engine runs a warm-up first.

Run: ``.venv/bin/python benchmarks/bench_engine.py [--images 300] [--embedders mobilefacenet-casia,...]
[--no-detector]``
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from facekit.data import lfw
from facekit.face_path import FacePath
from facekit.models.embedders import get_embedder

EMBEDDERS = "mobilefacenet-casia,facenet-casia,facenet-128"


def _crops(paths: list, embedder: str) -> np.ndarray:
    """The embedder's aligned crops of the faces the chapters' face path chooses (failed alignments left out)."""
    fp = FacePath("retinaface", embedder)
    crops, source = fp.align(*fp.faces(paths, progress=False), progress=False)
    return crops[[not s.startswith("failed") for s in source]]


def _timed(run, items) -> tuple[object, float, float]:
    """(output, items/s, core utilisation) of ``run(items)``."""
    c0, t0 = os.times(), time.perf_counter()
    out = run(items)
    wall, c1 = time.perf_counter() - t0, os.times()
    return out, len(items) / wall, ((c1.user - c0.user) + (c1.system - c0.system)) / wall / (os.cpu_count() or 1)


def _row(name: str, rates: dict, utils: dict, agreement: str) -> None:
    print(f"{name:<22} {rates['torch']:>11.1f} {rates['onnxruntime']:>17.1f} "
          f"{rates['onnxruntime'] / rates['torch']:>6.2f} {utils['torch']:>10.0%} {utils['onnxruntime']:>8.0%} "
          f"{agreement:>16}", flush=True)


def _detector_row(paths: list) -> None:
    from facekit.detect import get_detector
    from facekit.io import read_image

    images = [read_image(p) for p in paths]
    rates, utils, found = {}, {}, {}
    for engine in ("torch", "onnxruntime"):
        det = get_detector("retinaface", engine=engine)
        det.detect(images[0])
        found[engine], rates[engine], utils[engine] = _timed(lambda ims, d=det: [d.detect(im) for im in ims], images)
    pairs = list(zip(found["torch"], found["onnxruntime"], strict=True))
    same = all(len(x) == len(y) for x, y in pairs)
    worst = max((float(abs(a.landmarks - b.landmarks).max()) for x, y in pairs if len(x) == len(y)
                 for a, b in zip(x, y, strict=True)), default=0.0)
    _row("retinaface (detect)", rates, utils, f"{worst:.1e} px" if same else "faces differ")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--embedders", default=EMBEDDERS)
    ap.add_argument("--no-detector", dest="detector", action="store_false", help="leave RetinaFace out")
    args = ap.parse_args()
    paths = list(lfw.images().path[:args.images])
    cores = os.cpu_count() or 1
    print(f"{len(paths)} LFW photos, {cores} cores; torch threads {__import__('torch').get_num_threads()}",
          flush=True)
    print(f"{'':<22} {'torch img/s':>11} {'onnxruntime img/s':>17} {'ratio':>6} {'util torch':>10} "
          f"{'util ort':>8} {'agreement':>16}")
    if args.detector:
        _detector_row(paths)
    for name in args.embedders.split(","):
        engines = {e: get_embedder(name, engine=e) for e in ("torch", "onnxruntime")}
        crops = _crops(paths, name)
        rates, utils, vectors = {}, {}, {}
        for engine, emb in engines.items():
            emb.embed(crops[:emb.batch_size])  # warm-up: first-call allocations are not the engine's speed
            vectors[engine], rates[engine], utils[engine] = _timed(emb.embed, crops)
        _row(name, rates, utils, f"cos {float((vectors['torch'] * vectors['onnxruntime']).sum(1).min()):.6f}")


if __name__ == "__main__":
    main()
