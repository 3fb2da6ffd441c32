"""LFW View 2 verification: embed the pair images, score pairs by cosine similarity, and apply the protocol
(threshold per fold chosen on the other folds; ROC over the pairs evaluated)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from facekit.data import lfw
from facekit.detect.base import Detector
from facekit.embed import EmbeddedSet, embed_images
from facekit.metrics import kfold_verification, roc_metrics
from facekit.models.embedders import Embedder

# LFW's images are centred on the named person; other, sometimes larger, faces in the background are not them.
LFW_POLICY = "central"


def pair_scores(embedded: EmbeddedSet, pairs: pd.DataFrame) -> np.ndarray:
    """Similarity of each pair in the embedder's metric (cosine, or minus the euclidean distance); NaN where an
    image failed."""
    from facekit.models.embedders import similarity

    index = {p: i for i, p in enumerate(embedded.paths)}
    a = np.array([index[p] for p in pairs.path1])
    b = np.array([index[p] for p in pairs.path2])
    s = similarity(embedded.embeddings[a], embedded.embeddings[b], embedded.metric)
    ok = embedded.ok
    s[~(ok[a] & ok[b])] = np.nan
    return s


def evaluate_pairs(scores: np.ndarray, pairs: pd.DataFrame, folds: Sequence[int] | None = None,
                   ) -> tuple[dict, dict]:
    """Protocol metrics on the pairs of ``folds`` (all ten by default). A pair whose image failed entirely gets
    the lowest score (always "different"): it stays in the denominator rather than being dropped."""
    sel = pairs.fold.isin(folds).to_numpy() if folds is not None else np.ones(len(pairs), bool)
    floor = np.nanmin(scores) - 1.0 if np.isfinite(scores).any() else -1.0
    s = np.where(np.isnan(scores), floor, scores)[sel]
    y = pairs.same.to_numpy()[sel]
    kf = kfold_verification(s, y, pairs.fold.to_numpy()[sel])
    out = {"accuracy": kf["accuracy"], "accuracy_std": kf["accuracy_std"], "pairs": int(sel.sum()),
           "pairs_with_failed_image": int(np.isnan(scores[sel]).sum()), **roc_metrics(s, y)}
    return out, kf


def select_pairs(folds: Sequence[int] | None = None, pairs_per_fold: int | None = None) -> pd.DataFrame:
    """View 2 pairs of ``folds`` (all by default); ``pairs_per_fold`` keeps the first half matched and half
    mismatched pairs of each fold (smoke runs), so every fold stays balanced."""
    pairs = lfw.pairs()
    if folds is not None:
        pairs = pairs[pairs.fold.isin(folds)]
    if pairs_per_fold is not None:
        half = max(1, pairs_per_fold // 2)
        pairs = pairs.groupby(["fold", "same"], group_keys=False).head(half)
    return pairs.reset_index(drop=True)


def evaluate_lfw(embedder: Embedder, detector: Detector, folds: Sequence[int] | None = None,
                 fallback: str | None = "mean", progress: bool = True, pairs_per_fold: int | None = None,
                 policy: str = LFW_POLICY, backup: Detector | None = None) -> tuple[dict, dict, pd.DataFrame]:
    """Embed every image of the selected folds' pairs (face by ``policy``; ``backup`` detector, then ``fallback``
    where none is found) and apply the protocol; returns (metrics, k-fold detail, per-pair table)."""
    pairs = select_pairs(folds, pairs_per_fold)
    images = list(dict.fromkeys([*pairs.path1, *pairs.path2]))
    embedded = embed_images(images, embedder, detector, policy=policy, fallback=fallback, progress=progress,
                            backup=backup)
    scores = pair_scores(embedded, pairs)
    metrics, kf = evaluate_pairs(scores, pairs)
    counts = embedded.counts()
    metrics.update({"images": len(images), "images_backup": counts.get("backup", 0),
                    "images_fallback": counts.get("fallback", 0),
                    "images_failed": counts.get("failed", 0)})
    table = pairs[["fold", "name1", "index1", "name2", "index2", "same"]].assign(score=scores)
    return metrics, kf, table


class VerifyError(Exception):
    """Why a pair could not be compared (unreadable file, no face, no calibration)."""


def calibration(embedder_name: str, far: float, profile: str | None = None) -> tuple[float, dict]:
    """The threshold at ``far`` from the embedder's LFW View 2 record (the given profile, else full, cpu, smoke)."""
    from facekit.results import read_results

    tag = f"threshold_at_far_{far:.0e}".replace("e-0", "e-")
    for prof in ([profile] if profile else ["full", "cpu", "smoke"]):
        for rec in read_results(prof, "02_metric_learning"):
            if rec["name"] == f"{embedder_name}_lfw-view2" and tag in rec["metrics"]:
                return float(rec["metrics"][tag]), rec
    raise VerifyError(f"no LFW calibration of {embedder_name} at FAR {far:g} ({tag}); build the book first "
                      f"(`make book` runs notebooks/02_metric_learning.py)")


def verify_pair(path_a: str, path_b: str, embedder_name: str = "dlib-resnet", far: float = 1e-3,
                profile: str | None = None) -> dict:
    """Compare two photos: cosine similarity of their largest faces against the LFW-calibrated threshold."""
    from pathlib import Path

    from facekit.align import align
    from facekit.detect import get_detector, select_face
    from facekit.io import ImageError, read_image
    from facekit.models.embedders import get_embedder

    threshold, rec = calibration(embedder_name, far, profile)
    extra = rec.get("extra", {})
    # the calibration's own path: detector, face policy and backup detector
    det = get_detector(extra.get("detector", "retinaface"), **extra.get("detector_kwargs", {}))
    backup = get_detector(extra["backup_detector"]) if extra.get("backup_detector") else None
    policy = extra.get("policy", "largest")
    emb = get_embedder(embedder_name, **extra.get("embedder_kwargs", {}))
    crops = []
    for p in (path_a, path_b):
        try:
            img = read_image(p)
        except ImageError as exc:
            raise VerifyError(f"{exc.path}: {exc.reason}") from None
        _, face = select_face(det.detect(img), img.shape, policy)
        if face is None and backup is not None:
            _, face = select_face(backup.detect(img), img.shape, policy)
        if face is None:
            tried = det.name + (f" and {backup.name}" if backup is not None else "")
            raise VerifyError(f"{Path(p)}: no face found by {tried}")
        crops.append(align(emb.preprocessing.aligner, img, face))
    from facekit.models.embedders import similarity

    e = emb.embed(crops)
    sim = float(similarity(e[0], e[1], getattr(emb, "metric", "cosine")))
    return {"same": sim >= threshold, "similarity": sim, "metric": getattr(emb, "metric", "cosine"),
            "threshold": threshold, "far": far,
            "embedder": embedder_name, "detector": det.name, "calibrated_on": f"{rec['name']} ({rec['profile']})"}
