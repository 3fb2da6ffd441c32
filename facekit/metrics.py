"""Metrics: detection (IoU, one-to-one matching, recall) and landmarks (NME, failure rate, CDF).

Verification, retrieval and classification metrics join this module with the studies that need them.
"""

from __future__ import annotations

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
