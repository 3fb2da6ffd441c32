"""Benchmark: report 003's person bootstrap (1,000 draws of ``binary_metrics`` over resampled people, as chapter 05
runs it for every scored classifier) with the scikit-learn composition it used before and with today's counts-based
metrics, side by side: seconds, the ratio, and whether every interval is the same number.

Run it alone: ``.venv/bin/python benchmarks/bench_bootstrap.py [--images 2000] [--people 400] [--draws 1000]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from facekit.metrics import binary_metrics, bootstrap_by_group, sklearn_binary_metrics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--people", type=int, default=400)
    ap.add_argument("--draws", type=int, default=1000)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    people = rng.integers(0, a.people, a.images)
    male = (people % 2).astype(bool)
    prob = np.clip(male * 0.6 + rng.normal(0.2, 0.25, a.images), 0, 1)  # a classifier of about 0.9 accuracy
    times, intervals = {}, {}
    for name, fn in (("scikit-learn (before)", sklearn_binary_metrics), ("counts (now)", binary_metrics)):
        t0 = time.perf_counter()
        intervals[name] = bootstrap_by_group(fn, people, male, prob, n_boot=a.draws, seed=0)
        times[name] = time.perf_counter() - t0
    base = times["scikit-learn (before)"]
    print(f"{a.draws} draws over {a.people} people ({a.images} images):")
    for name, sec in times.items():
        print(f"  {name:22s} {sec:7.2f} s  {base / sec:6.1f}x")
    same = intervals["scikit-learn (before)"] == intervals["counts (now)"]
    print("every interval the same number:", "yes" if same else "NO")


if __name__ == "__main__":
    main()
