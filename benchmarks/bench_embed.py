"""Benchmark: embeddings per second of every runnable embedder on 2 threads, on aligned crops (alignment and
detection excluded), batched; the report-001 architectures are timed with random weights at their cpu-profile
input size, since only their speed matters here.

Run: ``.venv/bin/python benchmarks/bench_embed.py [--crops 128]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from facekit.metric_training import as_embedder, build_model
from facekit.models.embedders import available, get_embedder
from facekit.studies import metric_learning as ml
from facekit.studies.metric_learning import REPORT_001
from facekit.weights import WeightsMissing


def _rate(emb, n: int) -> float:
    w, h = emb.preprocessing.size
    crops = [np.random.default_rng(i).integers(0, 255, (h, w, 3), dtype=np.uint8) for i in range(n)]
    emb.embed(crops[:4])  # warm-up
    t0 = time.perf_counter()
    emb.embed(crops)
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--crops", type=int, default=128)
    args = ap.parse_args()
    torch.set_num_threads(2)
    rows = []
    for name in available():
        try:
            emb = get_embedder(name)
        except WeightsMissing:
            rows.append((name, None, "weights absent"))
            continue
        rows.append((name, _rate(emb, args.crops), f"{emb.dim}-d, {emb.preprocessing.size[0]}x"
                                                    f"{emb.preprocessing.size[1]}"))
    cpu = ml.CHAPTER.params("cpu")
    for spec in REPORT_001:
        size = cpu.training(spec).input_size
        emb = as_embedder(spec, build_model(spec, size).eval(), size)
        rows.append((f"{spec.name} (random weights)", _rate(emb, args.crops), f"{spec.dim}-d, 112 -> {size} px"))
    base = next(r[1] for r in rows if r[0] == "dlib-resnet")
    print(f"{'embedder':38s} {'emb/s':>8s} {'x dlib':>7s}  input")
    for name, rate, what in rows:
        if rate is None:
            print(f"{name:38s} {'-':>8s} {'-':>7s}  {what}")
        else:
            print(f"{name:38s} {rate:8.1f} {rate / base:7.2f}  {what}")


if __name__ == "__main__":
    main()
