"""LFW View 2 verification: embed the pair images through a ``FacePath``, score pairs in the embedder's metric,
and apply the protocol (threshold per fold chosen on the other folds; ROC over the pairs evaluated); and the
comparison of one pair of photos against a calibrated threshold."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from facekit.data import lfw
from facekit.embed import EmbeddedSet
from facekit.face_path import FacePath
from facekit.metrics import best_threshold, kfold_verification, roc_metrics
from facekit.models.embedders import Embedder, l2_normalise, similarity


def pair_scores(embedded: EmbeddedSet, pairs: pd.DataFrame) -> np.ndarray:
    """Similarity of each pair in the embedder's metric (cosine, or minus the euclidean distance); NaN where an
    image failed."""
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


def kfold_mean_subtracted(embedded: EmbeddedSet, pairs: pd.DataFrame) -> dict:
    """The 10-fold protocol with FaceNet's ``--subtract_mean``: for each test fold, the mean embedding of the
    other folds' pairs is subtracted from every vector before the cosine, and the threshold is chosen on the
    other folds as usual (davidsandberg/facenet's ``validate_on_lfw``). Returns ``kfold_verification``'s keys."""
    index = {p: i for i, p in enumerate(embedded.paths)}
    ia, ib = np.array([index[p] for p in pairs.path1]), np.array([index[p] for p in pairs.path2])
    a, b = embedded.embeddings[ia].astype(np.float64), embedded.embeddings[ib].astype(np.float64)
    failed = ~(embedded.ok[ia] & embedded.ok[ib])  # such a pair is always "different", as in evaluate_pairs
    same, folds = pairs.same.to_numpy(), pairs.fold.to_numpy()
    accs, thrs = [], []
    for f in sorted(set(folds.tolist())):
        train = folds != f
        mu = np.concatenate([a[train & ~failed], b[train & ~failed]]).mean(0)
        scores = similarity(l2_normalise(a - mu), l2_normalise(b - mu), "cosine")
        scores[failed] = -2.0  # below every cosine
        thr, _ = best_threshold(scores[train], same[train])
        thrs.append(thr)
        accs.append(float(np.mean((scores[~train] >= thr) == same[~train])))
    return {"accuracy": float(np.mean(accs)), "accuracy_std": float(np.std(accs)), "fold_accuracy": accs,
            "fold_threshold": thrs, "folds": sorted(set(folds.tolist()))}


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


def evaluate_lfw(face_path: FacePath, folds: Sequence[int] | None = None, progress: bool = True,
                 pairs_per_fold: int | None = None, embedder: Embedder | None = None, cache: bool = True,
                 ) -> tuple[dict, dict, pd.DataFrame]:
    """Embed every image of the selected folds' pairs through ``face_path`` and apply the protocol; returns
    (metrics, k-fold detail, per-pair table). ``embedder`` passes a model trained in the chapter."""
    pairs = select_pairs(folds, pairs_per_fold)
    images = list(dict.fromkeys([*pairs.path1, *pairs.path2]))
    embedded = face_path.embed(images, embedder=embedder, progress=progress, cache=cache)
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


def verify_pair(path_a: str | Path, path_b: str | Path, face_path: FacePath, threshold: float) -> dict:
    """Compare two photos through ``face_path`` (the calibrated one, without the set's mean face, which one
    pair cannot give): the score in the embedder's metric against ``threshold``, and how many faces each
    photo holds."""
    from facekit.io import ImageError, load_image

    for p in (path_a, path_b):
        try:
            load_image(p)
        except ImageError as exc:
            raise VerifyError(f"{exc.path}: {exc.reason}") from None
    single = face_path.replace(fallback=None)
    detected, chosen = single.faces([path_a, path_b], progress=False)
    for p, (det, kind) in zip((path_a, path_b), chosen, strict=True):
        if det is None:
            tried = face_path.detector + (f" and {face_path.backup}" if face_path.backup else "")
            raise VerifyError(f"{Path(p)}: {kind.removeprefix('failed: ')} (tried {tried})")
    embedded = single.embed([path_a, path_b], progress=False)
    score = float(similarity(embedded.embeddings[0], embedded.embeddings[1], embedded.metric))
    return {"same": score >= threshold, "score": score, "metric": embedded.metric, "threshold": threshold,
            "faces_found": [len(d.detections) for d in detected], "source": embedded.source,
            "boxes": [[round(float(v)) for v in det.box] for det, _ in chosen], "policy": face_path.policy,
            "face_path": face_path.describe()}


# ---------------------------------------------------------------------------------------------------- by sex
def all_pair_scores(embedded: EmbeddedSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair of the set's readable images (i < j): (scores, i, j). The LFW view-2 images give about 30 million
    pairs, so false match rates near 1e-3 rest on thousands of errors rather than on three."""
    ok = np.flatnonzero(embedded.ok)
    x = embedded.embeddings[ok]
    i, j = np.triu_indices(len(ok), k=1)
    if embedded.metric == "cosine":
        s = (x @ x.T)[i, j]
    else:  # minus the euclidean distance, from the Gram matrix
        sq = (x * x).sum(1)
        s = -np.sqrt(np.maximum(sq[i] + sq[j] - 2 * (x @ x.T)[i, j], 0))
    return s.astype(np.float32), ok[i], ok[j]


def rates_by_sex(embedded: EmbeddedSet, people: Sequence[str], sexes: Sequence[str | None], far: float = 1e-3,
                 n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """False match and false non-match rates per sex at one global threshold: the score whose false match rate
    over all impostor pairs is ``far``. Impostor pairs are grouped by the two people's sexes (female, male, mixed),
    genuine pairs by the person's; intervals resample people (a person's pairs are not independent), each pair
    counted under both of its people. ``sexes`` holds one label per person of ``people`` (None: unlabelled)."""
    names, person = np.unique(np.asarray(people, object), return_inverse=True)
    code = np.array([{"female": 1, "male": 2}.get(x, 0) for x in sexes], np.int8)  # 0: unlabelled
    scores, i, j = all_pair_scores(embedded)
    i, j = i.astype(np.int32), j.astype(np.int32)
    same = person[i] == person[j]
    threshold = float(np.quantile(scores[~same], 1 - far, method="higher"))
    accept = scores >= threshold
    si, sj = code[i], code[j]
    groups = [("genuine", "female", same & (si == 1)), ("genuine", "male", same & (si == 2)),
              ("impostor", "female", ~same & (si == 1) & (sj == 1)),
              ("impostor", "male", ~same & (si == 2) & (sj == 2)),
              ("impostor", "mixed", ~same & (si > 0) & (sj > 0) & (si != sj))]
    rows = []
    rng = np.random.default_rng(seed)
    for kind, sex, mask in groups:
        errors = (~accept[mask]) if kind == "genuine" else accept[mask]
        # per person: pairs and errors, each pair under both people
        n = np.bincount(person[i[mask]], minlength=len(names)) + np.bincount(person[j[mask]], minlength=len(names))
        e = (np.bincount(person[i[mask]], errors, len(names)) + np.bincount(person[j[mask]], errors, len(names)))
        members = np.flatnonzero(n)
        draws = []
        for _ in range(n_boot):
            pick = rng.choice(members, len(members))
            draws.append(e[pick].sum() / max(n[pick].sum(), 1))
        rate = float(errors.mean()) if errors.size else float("nan")
        lo, hi = (np.percentile(draws, [2.5, 97.5]) if draws else (np.nan, np.nan))
        rows.append({"pairs": kind, "sex": sex, "rate": "FNMR" if kind == "genuine" else "FMR", "value": rate,
                     "low": float(lo), "high": float(hi), "errors": int(errors.sum()), "n_pairs": int(mask.sum()),
                     "people": len(members), "threshold": threshold, "far": far})
    return pd.DataFrame(rows)
