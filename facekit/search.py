"""Nearest-neighbour search over a gallery of embeddings with faiss: exact by default, HNSW as an option.

Scores are always "higher is more similar", in the embedder's own unit: the dot product of unit vectors for a
cosine embedder, minus the euclidean distance for a euclidean one (dlib), so thresholds calibrated on either
read the same way as ``models.embedders.similarity``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facekit.models.embedders import l2_normalise

KINDS = ("flat", "hnsw")


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
        ``euclidean`` by L2 distance. ``hnsw`` is approximate (graph of ``hnsw_m`` links per node)."""
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
        else:
            index = faiss.IndexHNSWFlat(d, hnsw_m, faiss_metric)
            index.hnsw.efConstruction = ef_construction
            index.hnsw.efSearch = ef_search
        index.add(x)
        return cls(metric, kind, index, len(x))

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
        scores, idx = self.index.search(q, k)
        if self.metric == "euclidean":  # faiss gives squared distances
            scores = -np.sqrt(np.maximum(scores, 0))
        return scores.astype(np.float32), idx.astype(np.int64)

    def save(self, path) -> None:
        """Write the faiss index to ``path`` (metric and kind go into the caller's manifest)."""
        import faiss

        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path, metric: str, kind: str) -> SearchIndex:
        import faiss

        index = faiss.read_index(str(path))
        return cls(metric, kind, index, index.ntotal)


def _prepare(vectors: np.ndarray, metric: str) -> np.ndarray:
    x = np.ascontiguousarray(np.asarray(vectors, np.float32))
    if x.ndim != 2:
        raise ValueError(f"expected (n, d) vectors, got shape {x.shape}")
    return np.ascontiguousarray(l2_normalise(x)) if metric == "cosine" else x


def brute_force(gallery: np.ndarray, queries: np.ndarray, k: int, metric: str = "cosine",
                ) -> tuple[np.ndarray, np.ndarray]:
    """The same search in NumPy (the benchmark's baseline and the tests' reference)."""
    g, q = _prepare(gallery, metric), _prepare(queries, metric)
    if metric == "cosine":
        s = q @ g.T
    else:
        s = -np.sqrt(np.maximum((q * q).sum(1)[:, None] - 2 * q @ g.T + (g * g).sum(1)[None], 0))
    k = min(k, len(g))
    part = np.argpartition(-s, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(part, np.argsort(-np.take_along_axis(s, part, 1), axis=1), 1)
    return np.take_along_axis(s, order, 1).astype(np.float32), order.astype(np.int64)


def recall_at_k(approx: np.ndarray, exact: np.ndarray) -> float:
    """Mean fraction of the exact top-k indices that the approximate search also returned."""
    k = exact.shape[1]
    hits = [len(set(a[:k]) & set(e)) / k for a, e in zip(approx, exact, strict=True)]
    return float(np.mean(hits)) if hits else float("nan")
