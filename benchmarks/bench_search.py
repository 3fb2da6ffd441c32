"""Benchmark: faiss search against NumPy brute force at 10k, 100k and 1M gallery vectors, one query at a time.

Real vectors come first (the cached LFW embeddings of ``--embedder`` when the retrieval chapter has run, else
Gaussian vectors, said so in the output); the rest are synthetic rows drawn from a Gaussian fitted to them, for
latency and HNSW recall against exact search only. Prints build seconds, ms per query, queries per second,
recall@10, NumPy's ms per query and the NumPy / faiss ratio.

Run: ``.venv/bin/python benchmarks/bench_search.py [--sizes 10000 100000 1000000] [--queries 200]``
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from facekit.search import scaling_table


def real_vectors(embedder: str) -> tuple[np.ndarray, str, str]:
    """LFW embeddings of ``embedder`` from the embedding cache, or Gaussian stand-ins when there are none."""
    try:
        from facekit.data import lfw
        from facekit.studies.retrieval import LFW_PATHS

        fp = LFW_PATHS[embedder]
        out = fp.embed(list(lfw.images().path), progress=True)
        metric = fp.build_embedder().metric
        return out.embeddings[out.ok], f"LFW embeddings of {embedder} ({int(out.ok.sum())} rows)", metric
    except Exception as exc:  # noqa: BLE001 - a benchmark falls back and says why
        rng = np.random.default_rng(0)
        return rng.normal(size=(13233, 256)).astype(np.float32), f"Gaussian stand-ins ({exc})", "cosine"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--embedder", default="mobilefacenet-casia")
    ap.add_argument("--hnsw-m", type=int, default=32)
    ap.add_argument("--ef-search", type=int, nargs="+", default=[256, 1024], help="HNSW search widths to try")
    args = ap.parse_args()
    real, what, metric = real_vectors(args.embedder)
    print(f"real rows: {what}; metric {metric}; the rest synthetic")
    rows = scaling_table(real, tuple(args.sizes), args.queries, metric, hnsw_m=args.hnsw_m,
                         ef_search=tuple(args.ef_search))
    pd.set_option("display.width", 200)
    print(pd.DataFrame(rows).round(4).to_string(index=False))
    threads(real, min(args.sizes), args.queries)


def threads(real: np.ndarray, size: int, n_queries: int) -> None:
    """One query at a time through exact faiss search with the OpenMP pool's threads and with one (what
    ``SearchIndex.search`` does for a single query), side by side."""
    import time

    import faiss

    from facekit.search import SearchIndex, synthetic_distractors

    gallery = np.concatenate([real, synthetic_distractors(real, max(0, size - len(real)))])[:size]
    index = SearchIndex.build(gallery)
    queries = np.ascontiguousarray(gallery[:n_queries])
    timings = {}
    for label, search in (("pool", index.index.search), ("one thread", index.search)):
        search(queries[:1], 1)
        t0 = time.perf_counter()
        for q in queries:
            search(q[None], 1)
        timings[label] = 1000 * (time.perf_counter() - t0) / len(queries)
    print(f"exact search of one query at {size:,} rows: {timings['pool']:.2f} ms with faiss's pool of "
          f"{faiss.omp_get_max_threads()} threads, {timings['one thread']:.2f} ms with one "
          f"(pool / one = {timings['pool'] / timings['one thread']:.2f})")


if __name__ == "__main__":
    main()
