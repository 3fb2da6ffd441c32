"""1:N identification: an exact search of every query in a gallery (``rank``), and the scores of ranked results:
CMC (rank-k identification rate) for closed sets, and for open sets the detection-and-identification rate (DIR) at
a false-alarm rate (FAR), with the threshold set on one split and applied to another (the protocol of NIST FRVT
1:N and Phillips et al.'s open-set tests).

Scores are the top-k gallery labels and scores of each query (``search.SearchIndex.search``), higher = more
similar. The retrieval chapter and report 004's chapter share this code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from facekit.search import SearchIndex


def mate_ranks(ranked_labels: np.ndarray, query_labels: Sequence) -> np.ndarray:
    """1-based rank of the first gallery entry of the query's own identity; 0 where it is not in the top-k."""
    ranked = np.asarray(ranked_labels)
    truth = np.asarray(query_labels)[:, None]
    hit = ranked == truth
    return np.where(hit.any(1), hit.argmax(1) + 1, 0)


def cmc(ranks: np.ndarray, max_rank: int) -> np.ndarray:
    """Cumulative match characteristic: entry r-1 is the share of queries whose mate is within rank r."""
    ranks = np.asarray(ranks)
    if not len(ranks):
        return np.full(max_rank, np.nan)
    found = ranks[ranks > 0]
    return np.array([(found <= r).sum() / len(ranks) for r in range(1, max_rank + 1)])


def threshold_at_far(nonmate_top1: np.ndarray, far: float) -> float:
    """The lowest threshold at which at most ``far`` of the non-mate searches raise an alarm (top-1 score >=
    threshold). With n non-mates, floor(far * n) alarms are allowed; the threshold sits just above the next
    highest score."""
    s = np.sort(np.asarray(nonmate_top1, np.float64))[::-1]
    if not len(s):
        raise ValueError("no non-mate searches to set an open-set threshold on")
    allowed = int(np.floor(far * len(s) + 1e-9))
    if allowed >= len(s):
        return float(-np.inf)
    return float(np.nextafter(s[allowed], np.inf))


def false_alarm_rate(nonmate_top1: np.ndarray, threshold: float) -> float:
    """Share of non-mate searches whose top-1 score reaches ``threshold``."""
    s = np.asarray(nonmate_top1)
    return float((s >= threshold).mean()) if len(s) else float("nan")


def dir_rate(mate_top1: np.ndarray, mate_rank: np.ndarray, threshold: float, rank: int = 1) -> float:
    """Detection-and-identification rate: share of mate searches whose mate is within ``rank`` and whose top-1
    score reaches ``threshold``."""
    s, r = np.asarray(mate_top1), np.asarray(mate_rank)
    return float(((r > 0) & (r <= rank) & (s >= threshold)).mean()) if len(s) else float("nan")


def open_set_scores(top1: np.ndarray, ranks: np.ndarray, mate: np.ndarray, calibration: np.ndarray,
                    fars: Sequence[float] = (1e-2, 1e-3)) -> list[dict[str, float]]:
    """For each target FAR: the threshold set on the calibration queries' non-mates, then DIR and the FAR it
    actually gives on the test queries (an honest check that the threshold transfers)."""
    top1, ranks, mate, calib = (np.asarray(a) for a in (top1, ranks, mate, calibration))
    test = ~calib
    out = []
    for far in fars:
        t = threshold_at_far(top1[calib & ~mate], far)
        out.append({"target FAR": far, "threshold": t,
                    "calibration non-mates": int((calib & ~mate).sum()),
                    "DIR (test)": dir_rate(top1[test & mate], ranks[test & mate], t),
                    "FAR (test)": false_alarm_rate(top1[test & ~mate], t),
                    "test mates": int((test & mate).sum()), "test non-mates": int((test & ~mate).sum())})
    return out


# ------------------------------------------------------------------------------------------------ ranking
@dataclass
class Ranked:
    """Top-k gallery rows of each query (row numbers of the whole gallery), their names and scores, and the rank
    of the query's mate (0: not within k)."""

    index: np.ndarray
    names: np.ndarray
    scores: np.ndarray
    ranks: np.ndarray
    failed_queries: int
    failed_gallery: int


def rank(gallery: pd.DataFrame, g_emb: np.ndarray, g_ok: np.ndarray, queries: pd.DataFrame, q_emb: np.ndarray,
         q_ok: np.ndarray, metric: str, k: int) -> Ranked:
    """Exact search of every query in the gallery (failed gallery faces left out, failed queries ranked 0)."""
    index = SearchIndex.build(g_emb[g_ok], metric)
    names = gallery.name.to_numpy()[g_ok]
    scores, idx = index.search(q_emb, k)
    ranked_names = np.where(idx >= 0, names[np.clip(idx, 0, None)], "")
    ranks = mate_ranks(ranked_names, queries.name.to_numpy())
    ranks[~q_ok] = 0
    scores[~q_ok] = -np.inf
    rows = np.where(idx >= 0, np.flatnonzero(g_ok)[np.clip(idx, 0, None)], -1)  # rows of the whole gallery
    return Ranked(rows, ranked_names, scores, ranks, int((~q_ok).sum()), int((~g_ok).sum()))


def rank_metrics(r: Ranked, max_rank: int) -> dict[str, Any]:
    """Rank-1, top-5 and top-10 identification rates, the CMC curve up to ``max_rank`` and the failure counts."""
    curve = cmc(r.ranks, max_rank)
    return {"rank1": float(curve[0]), "top5": float(curve[min(4, max_rank - 1)]),
            "top10": float(curve[min(9, max_rank - 1)]), "queries": len(r.ranks),
            "failed_queries": r.failed_queries, "failed_gallery": r.failed_gallery, "cmc": curve.tolist()}
