"""Nearest-neighbour search over a gallery of embeddings with faiss: exact, a compressed exact scan, or HNSW for
large galleries.

Scores are always "higher is more similar", in the embedder's own unit: the dot product of unit vectors for a
cosine embedder, minus the euclidean distance for a euclidean one (dlib), so thresholds calibrated on either
read the same way as ``models.embedders.similarity``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facekit.models.embedders import l2_normalise

#: exact (faiss flat; one query through NumPy), a compressed exact scan (half-precision rows, the best
#: candidates re-scored from the full rows), or an HNSW graph
KINDS = ("flat", "fp16", "hnsw")
#: A gallery of at least this many rows is scanned in half precision (faiss ``IndexScalarQuantizer`` fp16): half
#: the memory to read per query, and the ``REFINE_K_FACTOR`` x k best candidates re-scored from the full rows, so
#: scores are exact and only a mate ranked below them could change an answer. Measured on the 2-core build machine
#: with LFW's InsightFace MobileFaceNet vectors (512-d, the command line's default embedder) among synthetic
#: distractors, 100,000 rows, 7,484 LFW queries one at a time (benchmarks/bench_search.py --closed-set): the fp16
#: scan with re-scoring 4.8 ms against exact search's 9.7 ms in the same run, with exact search's top-1 for every
#: query; HNSW (M 32) at width 512 4.1 ms and at 768 6.0-6.2 ms (exact search 8.6 ms in that run), with 0.4 % and
#: 0.2 % of the queries answered otherwise than by exact search.
APPROXIMATE_FROM = 50_000
#: ... and from this many rows through an HNSW graph, whose cost grows far slower than a scan's. The scan's grows
#: with the rows (9.8 ms at 200,000, so about 25 ms expected at 500,000; 1 GB read per query at 1,000,000), but at
#: 200,000 rows HNSW at width 768 (7.3 ms) already answered 1.1 % of the 7,484 LFW queries otherwise than exact
#: search (``--closed-set 200000``): the graph is kept for galleries where a scan would be too slow.
HNSW_FROM = 500_000
#: how many candidates per answer the fp16 scan hands to the exact re-scoring
REFINE_K_FACTOR = 8
#: the HNSW search width of a gallery
GALLERY_EF_SEARCH = 768


@dataclass
class SearchIndex:
    """A faiss index over gallery rows; ``search(queries, k)`` gives (scores, row indices), best first."""

    metric: str
    kind: str
    index: object  # faiss.Index
    size: int

    @classmethod
    def build(cls, vectors: np.ndarray, metric: str = "cosine", kind: str = "flat", hnsw_m: int = 32,
              ef_construction: int = 80, ef_search: int = 128) -> SearchIndex:
        """Index ``vectors`` (n, d). ``cosine`` rows are L2-normalised and searched by inner product;
        ``euclidean`` by L2 distance. ``fp16`` scans half-precision rows and re-scores the best candidates from the
        full ones; ``hnsw`` is approximate (graph of ``hnsw_m`` links per node)."""
        import faiss

        if metric not in ("cosine", "euclidean"):
            raise ValueError(f"metric {metric!r}: use cosine or euclidean")
        if kind not in KINDS:
            raise ValueError(f"index kind {kind!r}: use {' or '.join(KINDS)}")
        x = _prepare(vectors, metric)
        d = x.shape[1]
        faiss_metric = faiss.METRIC_INNER_PRODUCT if metric == "cosine" else faiss.METRIC_L2
        if kind == "flat":
            index = faiss.IndexFlatIP(d) if metric == "cosine" else faiss.IndexFlatL2(d)
        elif kind == "fp16":
            index = faiss.IndexRefineFlat(faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_fp16, faiss_metric))
            index.k_factor = REFINE_K_FACTOR
        else:
            index = faiss.IndexHNSWFlat(d, hnsw_m, faiss_metric)
            index.hnsw.efConstruction = ef_construction
            index.hnsw.efSearch = ef_search
        index.add(x)
        return cls(metric, kind, index, len(x))

    @classmethod
    def for_gallery(cls, vectors: np.ndarray, metric: str = "cosine") -> SearchIndex:
        """The index a gallery of ``vectors`` is searched with (one place for that choice): exact below
        ``APPROXIMATE_FROM`` rows, the fp16 scan with exact re-scoring from there, HNSW at ``GALLERY_EF_SEARCH``
        from ``HNSW_FROM``."""
        return cls.build(vectors, metric, gallery_kind(len(vectors)), ef_search=GALLERY_EF_SEARCH)

    def add(self, vectors: np.ndarray) -> None:
        """Append rows (their indices continue from ``size``)."""
        x = _prepare(vectors, self.metric)
        self.index.add(x)
        self.size += len(x)

    def search(self, queries: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, indices) per query, best first; indices are -1 past the gallery's size."""
        q = _prepare(queries, self.metric)
        k = max(1, min(k, self.size)) if self.size else 1
        if not self.size:
            return np.full((len(q), k), -np.inf, np.float32), np.full((len(q), k), -1, np.int64)
        if len(q) == 1 and self.kind == "flat":  # one query: NumPy's matrix product beats faiss's scan here
            return _topk(self._rows(), q, k, self.metric)
        scores, idx = _single_threaded(self.index.search, q, k) if len(q) == 1 else self.index.search(q, k)
        if self.metric == "euclidean":  # faiss gives squared distances
            scores = -np.sqrt(np.maximum(scores, 0))
        return scores.astype(np.float32), idx.astype(np.int64)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def _rows(self) -> np.ndarray:
        """The flat index's stored (prepared) rows as a NumPy view of faiss's memory, no copy."""
        import faiss

        return faiss.rev_swig_ptr(self.index.get_xb(), self.size * self.dim).reshape(self.size, self.dim)

    def save(self, path) -> None:
        """Write the faiss index to ``path`` (metric and kind go into the caller's manifest)."""
        import faiss

        faiss.write_index(self.index, str(path))

    def to_bytes(self) -> bytes:
        """The index serialised as ``save`` writes it (for an atomic write by the caller)."""
        import faiss

        return faiss.serialize_index(self.index).tobytes()

    @classmethod
    def load(cls, path, metric: str, kind: str | None = None) -> SearchIndex:
        """An index ``save`` wrote (its kind read from the file when not given; an HNSW graph searched at
        ``GALLERY_EF_SEARCH``); RuntimeError (faiss's) for an unreadable file."""
        import faiss

        index = faiss.read_index(str(path))
        if kind is None:
            kind = ("hnsw" if isinstance(index, faiss.IndexHNSW) else "fp16" if isinstance(index, faiss.IndexRefine)
                    else "flat")
        if kind == "hnsw":
            index.hnsw.efSearch = GALLERY_EF_SEARCH
        return cls(metric, kind, index, index.ntotal)


def gallery_kind(rows: int) -> str:
    """The index kind a gallery of ``rows`` rows is searched with (``APPROXIMATE_FROM``, ``HNSW_FROM``)."""
    return "hnsw" if rows >= HNSW_FROM else "fp16" if rows >= APPROXIMATE_FROM else "flat"


def _single_threaded(fn, *args):
    """``fn`` with faiss's OpenMP pool at one thread: one query is too little work to share, and on a busy
    2-core machine the threads' hand-off cost 2.5x (bench_search.py prints both)."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return fn(*args)
    finally:
        faiss.omp_set_num_threads(before)


def _prepare(vectors: np.ndarray, metric: str) -> np.ndarray:
    x = np.ascontiguousarray(np.asarray(vectors, np.float32))
    if x.ndim != 2:
        raise ValueError(f"expected (n, d) vectors, got shape {x.shape}")
    return np.ascontiguousarray(l2_normalise(x)) if metric == "cosine" else x


def brute_force(gallery: np.ndarray, queries: np.ndarray, k: int, metric: str = "cosine",
                ) -> tuple[np.ndarray, np.ndarray]:
    """The same search in NumPy (the benchmark's baseline and the tests' reference)."""
    return _topk(_prepare(gallery, metric), _prepare(queries, metric), k, metric)


def _topk(g: np.ndarray, q: np.ndarray, k: int, metric: str, g_sq: np.ndarray | None = None,
          ) -> tuple[np.ndarray, np.ndarray]:
    """Top-k by a matrix product; ``g_sq`` (the gallery's squared norms) spares recomputing them per query."""
    if metric == "cosine":
        s = q @ g.T
    else:
        g_sq = (g * g).sum(1) if g_sq is None else g_sq
        s = -np.sqrt(np.maximum((q * q).sum(1)[:, None] - 2 * q @ g.T + g_sq[None], 0))
    k = min(k, len(g))
    part = np.argpartition(-s, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(part, np.argsort(-np.take_along_axis(s, part, 1), axis=1), 1)
    return np.take_along_axis(s, order, 1).astype(np.float32), order.astype(np.int64)


def recall_at_k(approx: np.ndarray, exact: np.ndarray) -> float:
    """Mean fraction of the exact top-k indices that the approximate search also returned."""
    k = exact.shape[1]
    hits = [len(set(a[:k]) & set(e)) / k for a, e in zip(approx, exact, strict=True)]
    return float(np.mean(hits)) if hits else float("nan")


def synthetic_distractors(real: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` synthetic vectors drawn from a Gaussian fitted to ``real`` (mean and covariance), so that their
    spread resembles real embeddings. For latency and approximate-search recall only, never for accuracy."""
    real = np.asarray(real, np.float64)
    rng = np.random.default_rng(seed)
    mean, cov = real.mean(0), np.cov(real, rowvar=False) + 1e-6 * np.eye(real.shape[1])
    chol = np.linalg.cholesky(cov)
    out = np.empty((n, real.shape[1]), np.float32)
    for i in range(0, n, 100_000):  # in chunks: 1M x 256 doubles would be 2 GB at once
        m = min(100_000, n - i)
        out[i:i + m] = mean + rng.standard_normal((m, real.shape[1])) @ chol.T
    return out


def scaling_table(real: np.ndarray, sizes: tuple[int, ...], n_queries: int = 200, metric: str = "cosine",
                  hnsw_m: int = 32, ef_search: int | tuple[int, ...] = 128, seed: int = 0, progress: bool = True,
                  ) -> list[dict[str, float]]:
    """Exact (flat) and HNSW search over galleries of ``sizes`` rows: ``real`` rows first, synthetic distractors
    after. Queries are real rows (``n_queries``, seeded) searched one at a time. Per size and index: build
    seconds, ms per query, queries per second, recall@k against exact search, and NumPy brute force beside it."""
    import time

    from tqdm.auto import tqdm

    k = 10
    rng = np.random.default_rng(seed)
    real = np.asarray(real, np.float32)
    queries = real[rng.choice(len(real), min(n_queries, len(real)), replace=False)]
    extra = synthetic_distractors(real, max(0, max(sizes) - len(real)), seed)
    rows = []
    for size in tqdm(sizes, desc="search scaling", disable=not progress):
        gallery = np.concatenate([real[:size], extra[:max(0, size - len(real))]])
        exact = None
        efs = (ef_search,) if isinstance(ef_search, int) else tuple(ef_search)
        for kind, ef in (("flat", None), *(("hnsw", e) for e in efs)):
            t0 = time.perf_counter()
            if kind == "flat" or ef == efs[0]:
                index = SearchIndex.build(gallery, metric, kind, hnsw_m=hnsw_m, ef_search=ef or 128)
                build = time.perf_counter() - t0
            else:  # the same graph searched wider
                index.index.hnsw.efSearch = ef
            index.search(queries[:5], k)  # warm-up
            t0 = time.perf_counter()
            found = np.concatenate([index.search(q[None], k)[1] for q in queries])
            per_query = (time.perf_counter() - t0) / len(queries)
            if kind == "flat":
                exact = found
            row = {"gallery": size, "synthetic rows": max(0, size - len(real)), "index": kind,
                   "ef_search": ef, "dim": gallery.shape[1], "build s": build, "ms per query": 1000 * per_query,
                   "queries per s": 1 / per_query, f"recall@{k} vs exact": recall_at_k(found, exact)}
            if kind == "flat":
                g, qs = _prepare(gallery, metric), _prepare(queries, metric)
                g_sq = (g * g).sum(1) if metric == "euclidean" else None  # computed once, as an index would
                n_np = min(len(queries), 20)
                t0 = time.perf_counter()
                for q in qs[:n_np]:
                    _topk(g, q[None], k, metric, g_sq)
                np_ms = 1000 * (time.perf_counter() - t0) / n_np
                row["numpy ms per query"] = np_ms
                row["numpy / faiss"] = np_ms / row["ms per query"]
            rows.append(row)
    return rows
