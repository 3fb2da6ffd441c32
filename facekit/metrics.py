"""Metrics: detection (IoU, one-to-one matching, recall) and landmarks (NME, failure rate, CDF).

Verification, retrieval and classification metrics join this module with the studies that need them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.integrate import trapezoid
from scipy.optimize import linear_sum_assignment


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between boxes ``a`` (n, 4) and ``b`` (m, 4), xyxy (torchvision's ``box_iou``)."""
    import torch
    from torchvision.ops import box_iou as tv_box_iou

    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    return tv_box_iou(torch.from_numpy(a), torch.from_numpy(b)).numpy()


def match_boxes(gt: np.ndarray, pred: np.ndarray, iou_threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matching maximising total IoU; returns (pred index per gt or -1, IoU per gt or 0).

    A pair counts only when its IoU reaches ``iou_threshold``.
    """
    iou = box_iou(gt, pred)
    match = np.full(len(iou), -1, dtype=int)
    best = np.zeros(len(iou))
    if iou.size:
        rows, cols = linear_sum_assignment(-iou)
        for r, c in zip(rows, cols, strict=True):
            if iou[r, c] >= iou_threshold:
                match[r], best[r] = c, iou[r, c]
    return match, best


def nme(pred: np.ndarray, gt: np.ndarray, norm: float) -> float:
    """Mean point-to-point error of ``pred`` vs ``gt`` (n, 2), divided by ``norm`` (e.g. inter-ocular)."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"shape mismatch {pred.shape} vs {gt.shape}")
    if norm <= 0:
        raise ValueError("normaliser must be positive")
    return float(np.linalg.norm(pred - gt, axis=1).mean() / norm)


def failure_rate(errors: np.ndarray, threshold: float = 0.1) -> float:
    """Share of faces whose NME exceeds ``threshold``; missed faces are passed as ``inf`` and count as failures."""
    errors = np.asarray(errors, np.float64)
    return float(np.mean(~(errors <= threshold))) if errors.size else float("nan")


def cdf(errors: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Share of faces with error <= each grid value (missed faces, ``inf``, never count)."""
    errors = np.asarray(errors, np.float64)
    return np.array([np.mean(errors <= g) for g in grid]) if errors.size else np.full(len(grid), np.nan)


def auc_at(errors: np.ndarray, limit: float = 0.1, steps: int = 1001) -> float:
    """Area under the NME CDF up to ``limit``, normalised to [0, 1] (the usual landmark AUC@0.1)."""
    grid = np.linspace(0, limit, steps)
    return float(trapezoid(cdf(errors, grid), grid) / limit)


# ---------------------------------------------------------------------------------------------------- verification
def best_threshold(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """The similarity threshold maximising accuracy of ``score >= t`` on these pairs: (threshold, accuracy).

    Candidates are midpoints between consecutive distinct scores (plus both ends), so the result does not depend
    on a grid; ties go to the lowest threshold.
    """
    scores, same = np.asarray(scores, np.float64), np.asarray(same, bool)
    order = np.argsort(scores, kind="mergesort")
    s, y = scores[order], same[order]
    uniq = np.unique(s)
    cands = np.concatenate([[uniq[0] - 1e-6], (uniq[:-1] + uniq[1:]) / 2, [uniq[-1] + 1e-6]])
    # accuracy(t) = (#same with score >= t + #different with score < t) / n, for every candidate at once
    idx = np.searchsorted(s, cands, side="left")  # pairs below the threshold
    same_below = np.concatenate([[0], np.cumsum(y)])[idx]
    diff_below = idx - same_below
    acc = (y.sum() - same_below + diff_below) / len(s)
    k = int(np.argmax(acc))
    return float(cands[k]), float(acc[k])


def kfold_verification(scores: np.ndarray, same: np.ndarray, folds: np.ndarray) -> dict:
    """LFW protocol: for each fold, the threshold is chosen on the other folds and accuracy measured on it.

    Returns mean and std (population, as the LFW benchmark reports it) of the per-fold accuracies, the
    per-fold accuracies and thresholds, and the folds used.
    """
    scores, same, folds = np.asarray(scores, np.float64), np.asarray(same, bool), np.asarray(folds)
    accs, thrs = [], []
    fold_ids = sorted(set(folds.tolist()))
    if len(fold_ids) < 2:
        raise ValueError("k-fold verification needs at least two folds")
    for f in fold_ids:
        test = folds == f
        thr, _ = best_threshold(scores[~test], same[~test])
        thrs.append(thr)
        accs.append(float(np.mean((scores[test] >= thr) == same[test])))
    return {"accuracy": float(np.mean(accs)), "accuracy_std": float(np.std(accs)), "fold_accuracy": accs,
            "fold_threshold": thrs, "folds": fold_ids}


def rates_at(scores: np.ndarray, same: np.ndarray, threshold: float | np.ndarray) -> dict[str, float]:
    """Accuracy, false accept rate (different pairs at or above the threshold) and false reject rate (same pairs
    below it) of ``score >= threshold``; ``threshold`` may be one value per pair (a k-fold threshold)."""
    scores, same = np.asarray(scores, np.float64), np.asarray(same, bool)
    accept = scores >= np.asarray(threshold, np.float64)
    far = float(np.mean(accept[~same])) if (~same).any() else float("nan")
    frr = float(np.mean(~accept[same])) if same.any() else float("nan")
    return {"accuracy": float(np.mean(accept == same)), "far": far, "frr": frr}


def roc_metrics(scores: np.ndarray, same: np.ndarray, fars: Sequence[float] = (1e-1, 1e-2, 1e-3)) -> dict:
    """ROC over all pairs (scikit-learn's ``roc_curve``): AUC, EER, and TPR at each FAR with its threshold.

    TPR at a FAR is the highest TPR whose false accept rate does not exceed it (no interpolation).
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    scores, same = np.asarray(scores, np.float64), np.asarray(same, bool)
    fpr, tpr, thr = roc_curve(same, scores)
    out: dict = {"roc_auc": float(roc_auc_score(same, scores))}
    k = int(np.argmin(np.abs(fpr - (1 - tpr))))
    out["eer"] = float((fpr[k] + 1 - tpr[k]) / 2)
    for far in fars:
        ok = np.flatnonzero(fpr <= far)
        j = ok[-1]
        tag = f"{far:.0e}".replace("e-0", "e-")
        out[f"tpr_at_far_{tag}"] = float(tpr[j])
        out[f"threshold_at_far_{tag}"] = float(min(thr[j], 1e9))
    return out


# ---------------------------------------------------------------------------------------------------- classification
def classification_metrics(y_true: Sequence, y_pred: Sequence) -> dict:
    """Accuracy, balanced accuracy, macro precision / recall / F1 and Cohen's kappa (scikit-learn); macro averages
    run over the classes present in ``y_true``. Kappa is None where it is undefined (one class only)."""
    import warnings

    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        cohen_kappa_score,
        precision_recall_fscore_support,
    )

    labels = np.unique(np.asarray(y_true))
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    with warnings.catch_warnings():  # one class only: sklearn warns about the confusion matrix's shape
        warnings.simplefilter("ignore", UserWarning)
        balanced = float(balanced_accuracy_score(y_true, y_pred))
    kappa = float(cohen_kappa_score(y_true, y_pred)) if len(np.union1d(labels, np.unique(y_pred))) > 1 else None
    return {"accuracy": float(accuracy_score(y_true, y_pred)),
            "balanced_accuracy": balanced,
            "macro_precision": float(p), "macro_recall": float(r), "macro_f1": float(f),
            "cohen_kappa": kappa, "samples": int(len(y_true)),
            "classes": int(len(labels))}


def binary_metrics(y_true: Sequence, prob: Sequence, threshold: float = 0.5) -> dict:
    """A binary classifier scored from its probabilities of the positive class: accuracy, balanced accuracy,
    macro precision / recall / F1, Cohen's kappa, ROC AUC and the confusion counts at ``threshold``.

    The numbers are scikit-learn's (``classification_metrics``, ``roc_auc_score``; a test holds them equal bit for
    bit), computed from the four counts and the ROC curve's points without scikit-learn's input checks, which were
    most of a bootstrap draw's time (``benchmarks/bench_bootstrap.py``)."""
    y = np.asarray(y_true, bool)
    p = np.asarray(prob, np.float64)
    if y.ndim != 1 or y.shape != p.shape or not len(y) or not np.isfinite(p).all():  # scikit-learn's refusals
        raise ValueError(f"binary_metrics needs as many finite probabilities as labels, at least one: got "
                         f"{y.shape} labels, {p.shape} probabilities, {int((~np.isfinite(p)).sum())} not finite")
    pred = p >= threshold
    tp, fn = int(np.count_nonzero(y & pred)), int(np.count_nonzero(y & ~pred))
    fp, tn = int(np.count_nonzero(~y & pred)), int(np.count_nonzero(~y & ~pred))
    n = tp + fn + fp + tn
    # per class present in y_true (False, True): its hits, predicted count and true count, as scikit-learn's macro
    present = [(hits, hits + missed_other, hits + missed) for hits, missed, missed_other in
               ((tn, fp, fn), (tp, fn, fp)) if hits + missed > 0]
    precision = np.array([h / pred_n if pred_n else 0.0 for h, pred_n, _ in present])
    recall = np.array([h / true_n for h, _, true_n in present])
    f1 = np.array([2.0 * h / (1.0 * true_n + pred_n) if true_n + pred_n else 0.0 for h, pred_n, true_n in present])
    classes_seen = ((tn + fp > 0) or (tn + fn > 0)) + ((tp + fn > 0) or (tp + fp > 0))
    return {"accuracy": float(np.float64(tp + tn) / n),
            "balanced_accuracy": float(np.mean(recall)),
            "macro_precision": float(np.mean(precision)), "macro_recall": float(np.mean(recall)),
            "macro_f1": float(np.mean(f1)),
            "cohen_kappa": _kappa(tn, fp, fn, tp) if classes_seen > 1 else None,
            "samples": n, "classes": len(present),
            "roc_auc": _roc_auc(y, p) if 0 < tp + fn < n else None,
            "tn": tn, "fp": fp, "fn": fn, "tp": tp}


def sklearn_binary_metrics(y_true: Sequence, prob: Sequence, threshold: float = 0.5) -> dict:
    """``binary_metrics`` composed from scikit-learn's functions, as it was computed before: the reference its test
    and ``benchmarks/bench_bootstrap.py`` hold it to."""
    from sklearn.metrics import confusion_matrix, roc_auc_score

    y, p = np.asarray(y_true, bool), np.asarray(prob, np.float64)
    pred = p >= threshold
    out = classification_metrics(y, pred)
    out["roc_auc"] = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else None
    tn, fp, fn, tp = confusion_matrix(y, pred, labels=[False, True]).ravel()
    return {**out, "tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)}


def _kappa(tn: int, fp: int, fn: int, tp: int) -> float:
    """Cohen's kappa of a 2x2 confusion matrix, in scikit-learn's order of operations (its numbers, bit for bit)."""
    predicted, actual, n = (np.float64(tn + fn), np.float64(fp + tp)), (np.float64(tn + fp), np.float64(fn + tp)), \
        np.float64(tn + fp + fn + tp)
    expected_off = predicted[0] * actual[1] / n + predicted[1] * actual[0] / n
    return float(1 - np.float64(fp + fn) / expected_off) if expected_off else float("nan")


def _roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """The area under the ROC curve by trapezoids over scikit-learn's points (one per distinct score, collinear
    points dropped): its ``roc_auc_score``, bit for bit, for two classes."""
    order = np.argsort(p, kind="stable")[::-1]
    last = np.r_[np.flatnonzero(np.diff(p[order])), len(p) - 1]
    tps = np.cumsum(y[order], dtype=np.float64)[last]
    fps = 1 + last.astype(np.float64) - tps
    if len(fps) > 2:
        keep = np.flatnonzero(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])
        fps, tps = fps[keep], tps[keep]
    fps, tps = np.r_[0.0, fps], np.r_[0.0, tps]
    return float(trapezoid(tps / tps[-1], fps / fps[-1]))


def bootstrap_by_group(fn, groups: Sequence, *arrays: Sequence, n_boot: int = 1000, seed: int = 0,
                       level: float = 0.95) -> dict[str, tuple[float, float]]:
    """Percentile intervals of every number ``fn(*arrays)`` returns, resampling whole groups (people) with
    replacement: images of one person are not independent, so resampling images would understate the spread."""
    groups = np.asarray(groups)
    arrays = tuple(np.asarray(a) for a in arrays)
    ids, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == k) for k in range(len(ids))]
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {}
    for _ in range(n_boot):
        idx = np.concatenate([members[k] for k in rng.integers(0, len(ids), len(ids))])
        for key, value in fn(*(a[idx] for a in arrays)).items():
            if isinstance(value, int | float | np.floating) and value is not None and np.isfinite(value):
                draws.setdefault(key, []).append(float(value))
    lo, hi = (1 - level) / 2 * 100, (1 + level) / 2 * 100
    return {k: (float(np.percentile(v, lo)), float(np.percentile(v, hi))) for k, v in draws.items()}


def wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``p`` measured on ``n`` trials (95 % by default)."""
    if n <= 0:
        return float("nan"), float("nan")
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def mean_interval(values: Sequence[float], z: float = 1.96) -> tuple[float, float, float]:
    """Mean of per-fold (or per-seed) values and its normal-approximation interval, mean +- z * sd / sqrt(k)."""
    v = np.asarray(values, dtype=float)
    m = float(v.mean())
    half = float(z * v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0
    return m, m - half, m + half


def per_class_f1(y_true: Sequence, y_pred: Sequence, names: Sequence[str] | None = None):
    """F1, precision, recall and support of each class (a DataFrame sorted worst first)."""
    import pandas as pd
    from sklearn.metrics import precision_recall_fscore_support

    labels = np.unique(np.asarray(y_true))
    p, r, f, n = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    cls = [names[i] for i in labels] if names is not None else labels
    return pd.DataFrame({"class": cls, "f1": f, "precision": p, "recall": r, "support": n}).sort_values(
        ["f1", "support"]).reset_index(drop=True)


def pair_accuracy(embed, crops_a: np.ndarray, crops_b: np.ndarray, same: np.ndarray) -> float:
    """Best-threshold accuracy on one set of pairs (for checkpoint choice only, never for the reported test)."""
    ea, eb = embed(crops_a), embed(crops_b)  # unit vectors: cosine
    return best_threshold(np.sum(ea * eb, axis=1), same)[1]
