"""Benchmark: faiss search against NumPy brute force at 10k, 100k and 1M gallery vectors, one query at a time.

Real vectors come first (the cached LFW embeddings of ``--embedder`` when the retrieval chapter has run, else
Gaussian vectors, said so in the output); the rest are synthetic rows drawn from a Gaussian fitted to them, for
latency and HNSW recall against exact search only. Prints build seconds, ms per query, queries per second,
recall@10, NumPy's ms per query and the NumPy / faiss ratio. First (``--closed-set ROWS``), LFW as a closed set
in a gallery of ROWS rows: each person's first image enrolled among synthetic distractors, the person's other
images as queries; rank-1 and ms per query of exact search, the half-precision scan and HNSW, and how often each
top-1 is exact's.

Run: ``.venv/bin/python benchmarks/bench_search.py [--sizes 10000 100000 1000000] [--queries 200]``
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from facekit.search import scaling_table


def real_vectors(embedder: str) -> tuple[np.ndarray, np.ndarray | None, str, str]:
    """LFW embeddings of ``embedder`` (computed or read from the embedding cache) with each row's person, or
    Gaussian stand-ins (no people) when they cannot be had."""
    try:
        from facekit.data import lfw
        from facekit.studies.retrieval import LFW_PATHS

        fp = LFW_PATHS[embedder]
        imgs = lfw.images()
        out = fp.embed(list(imgs.path), progress=True)
        metric = fp.build_embedder().metric
        return (out.embeddings[out.ok], imgs.name.to_numpy()[out.ok],
                f"LFW embeddings of {embedder} ({int(out.ok.sum())} rows)", metric)
    except Exception as exc:  # noqa: BLE001 - a benchmark falls back and says why
        rng = np.random.default_rng(0)
        return rng.normal(size=(13233, 256)).astype(np.float32), None, f"Gaussian stand-ins ({exc})", "cosine"


def closed_set_rank1(real: np.ndarray, names: np.ndarray, size: int, metric: str, hnsw_m: int,
                     ef_search: tuple[int, ...]) -> list[dict]:
    """LFW as a closed set inside a ``size``-row gallery: each person's first image enrolled, the rest of the
    gallery synthetic distractors; every other image of an enrolled person a query, searched one at a time.
    Rank-1 identity accuracy and ms per query of exact search, of the half-precision scan with exact re-scoring
    and of HNSW at each width, and the share of queries whose top-1 row is the exact search's."""
    import time

    from facekit.search import SearchIndex, synthetic_distractors

    first = ~pd.Series(names).duplicated().to_numpy()
    enrolled = set(names[first])
    probes = np.flatnonzero(~first & np.isin(names, list(enrolled)))
    gallery = np.concatenate([real[first], synthetic_distractors(real, max(0, size - int(first.sum())))])
    labels = np.concatenate([names[first], np.full(len(gallery) - int(first.sum()), "")])
    queries = real[probes]
    rows, exact_top = [], None
    for kind, ef in (("flat", None), ("fp16", None), *(("hnsw", e) for e in ef_search)):
        if kind != "hnsw" or ef == ef_search[0]:
            t0 = time.perf_counter()
            index = SearchIndex.build(gallery, metric, kind, hnsw_m=hnsw_m, ef_search=ef or 128)
            build = time.perf_counter() - t0
        else:
            index.index.hnsw.efSearch = ef
        t0 = time.perf_counter()
        top = np.array([index.search(q[None], 1)[1][0, 0] for q in queries])
        per_query = (time.perf_counter() - t0) / len(queries)
        exact_top = top if kind == "flat" else exact_top
        rows.append({"gallery": len(gallery), "enrolled people": int(first.sum()), "queries": len(queries),
                     "index": kind, "ef_search": ef, "build s": build, "ms per query": 1000 * per_query,
                     "rank-1": float(np.mean(labels[top] == names[probes])),
                     "top-1 as exact": float(np.mean(top == exact_top))})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--embedder", default="insightface-mbf", help="the command line's default where calibrated")
    ap.add_argument("--hnsw-m", type=int, default=32)
    ap.add_argument("--ef-search", type=int, nargs="+", default=[256, 1024], help="HNSW search widths to try")
    ap.add_argument("--closed-set", type=int, default=100_000, metavar="ROWS",
                    help="first, LFW's rank-1 in a gallery of ROWS rows, exact vs HNSW (0: skip)")
    args = ap.parse_args()
    real, names, what, metric = real_vectors(args.embedder)
    print(f"real rows: {what}; metric {metric}; the rest synthetic")
    pd.set_option("display.width", 200)
    if names is not None and args.closed_set:
        print(f"closed set: LFW people enrolled in a gallery of {args.closed_set:,} rows (synthetic distractors)")
        print(pd.DataFrame(closed_set_rank1(real, names, args.closed_set, metric, args.hnsw_m,
                                            tuple(args.ef_search))).round(4).to_string(index=False), flush=True)
    rows = scaling_table(real, tuple(args.sizes), args.queries, metric, hnsw_m=args.hnsw_m,
                         ef_search=tuple(args.ef_search))
    print(pd.DataFrame(rows).round(4).to_string(index=False))
    threads(real, min(args.sizes), args.queries)


def threads(real: np.ndarray, size: int, n_queries: int) -> None:
    """One query at a time through exact search three ways, side by side: faiss with its OpenMP pool, faiss
    with one thread, and ``SearchIndex.search`` (NumPy's matrix product over faiss's rows, the faster here)."""
    import time

    import faiss

    from facekit.search import SearchIndex, _single_threaded, synthetic_distractors

    gallery = np.concatenate([real, synthetic_distractors(real, max(0, size - len(real)))])[:size]
    index = SearchIndex.build(gallery)
    queries = np.ascontiguousarray(gallery[:n_queries])
    timings = {}
    ways = (("faiss pool", index.index.search), ("faiss one thread", lambda q, k: _single_threaded(
        index.index.search, q, k)), ("SearchIndex", index.search))
    for label, search in ways:
        search(queries[:1], 1)
        t0 = time.perf_counter()
        for q in queries:
            search(q[None], 1)
        timings[label] = 1000 * (time.perf_counter() - t0) / len(queries)
    print(f"exact search of one query at {size:,} rows: faiss {timings['faiss pool']:.2f} ms with its pool of "
          f"{faiss.omp_get_max_threads()} threads, {timings['faiss one thread']:.2f} ms with one; SearchIndex "
          f"(NumPy) {timings['SearchIndex']:.2f} ms (SearchIndex / faiss one thread = "
          f"{timings['SearchIndex'] / timings['faiss one thread']:.2f})")


if __name__ == "__main__":
    main()
