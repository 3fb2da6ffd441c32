"""Benchmark: each torch embedder run by torch (the old engine) and by ONNX Runtime (the CPU default), side by side
on the same aligned LFW crops (RetinaFace detections from the cache; alignment done once, outside the timing).
Prints images/s of each engine, the ratio, the core utilisation of each (CPU time / wall / cores) and the lowest
cosine between the two engines' vectors of the same crop. Each engine embeds a warm-up batch first.

Run: ``.venv/bin/python benchmarks/bench_engine.py [--images 300] [--embedders mobilefacenet-casia,...]``
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=300)
    ap.add_argument("--embedders", default=EMBEDDERS)
    args = ap.parse_args()
    paths = list(lfw.images().path[:args.images])
    cores = os.cpu_count() or 1
    print(f"{len(paths)} LFW photos, {cores} cores; torch threads {__import__('torch').get_num_threads()}",
          flush=True)
    print(f"{'embedder':<22} {'torch img/s':>11} {'onnxruntime img/s':>17} {'ratio':>6} {'util torch':>10} "
          f"{'util ort':>8} {'min cosine':>10}")
    for name in args.embedders.split(","):
        engines = {e: get_embedder(name, engine=e) for e in ("torch", "onnxruntime")}
        crops = _crops(paths, name)
        rates, utils, vectors = {}, {}, {}
        for engine, emb in engines.items():
            emb.embed(crops[:emb.batch_size])  # warm-up: first-call allocations are not the engine's speed
            c0, t0 = os.times(), time.perf_counter()
            vectors[engine] = emb.embed(crops)
            wall, c1 = time.perf_counter() - t0, os.times()
            rates[engine] = len(crops) / wall
            utils[engine] = ((c1.user - c0.user) + (c1.system - c0.system)) / wall / cores
        cos = float((vectors["torch"] * vectors["onnxruntime"]).sum(1).min())
        print(f"{name:<22} {rates['torch']:>11.1f} {rates['onnxruntime']:>17.1f} "
              f"{rates['onnxruntime'] / rates['torch']:>6.2f} {utils['torch']:>10.0%} {utils['onnxruntime']:>8.0%} "
              f"{cos:>10.6f}", flush=True)


if __name__ == "__main__":
    main()
