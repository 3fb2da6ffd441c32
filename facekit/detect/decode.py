"""Shared pieces of the single-shot face detectors (SCRFD, YOLOv5-face, YOLOv8-face): the letterbox in front of a
fixed-size network, anchor grids, and non-maximum suppression (torchvision's ``nms``) back to ``Detection``s."""

from __future__ import annotations

import cv2
import numpy as np

from facekit.detect.base import Detection


def letterbox(image: np.ndarray, size: int, pad_value: int = 0) -> tuple[np.ndarray, float]:
    """Resize ``image`` (keeping its aspect) to fit ``size`` x ``size`` and pad right and bottom.

    Returns (padded image, factor): network coordinates divided by ``factor`` are input-image coordinates.
    """
    h, w = image.shape[:2]
    factor = size / max(h, w)
    nh, nw = min(size, round(h * factor)), min(size, round(w * factor))
    interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (nw, nh), interpolation=interp) if (nh, nw) != (h, w) else image
    out = np.full((size, size, 3), pad_value, dtype=np.uint8)
    out[:nh, :nw] = resized
    return out, factor


def grid_centres(height: int, width: int, stride: int, per_cell: int = 1) -> np.ndarray:
    """(height * width * per_cell, 2) cell corners x, y in input pixels, row-major, each repeated ``per_cell``."""
    ys, xs = np.mgrid[:height, :width]
    centres = np.stack([xs, ys], -1).reshape(-1, 2).astype(np.float32) * stride
    return np.repeat(centres, per_cell, axis=0) if per_cell > 1 else centres


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy non-maximum suppression in NumPy, torchvision's rule (boxes xyxy; a box whose IoU with a kept,
    higher-scoring box exceeds ``iou`` is dropped): the indices kept, best first. NumPy, so that an ONNX
    detector's path never imports torch (a test checks it against ``torchvision.ops.nms``)."""
    boxes = np.asarray(boxes, np.float32)
    order = np.argsort(-np.asarray(scores, np.float32), kind="stable")
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.clip(np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]), 0, None)
        h = np.clip(np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]), 0, None)
        inter = w * h
        order = rest[inter / (area[i] + area[rest] - inter) <= iou]
    return np.asarray(keep, np.int64)


def suppress(boxes: np.ndarray, scores: np.ndarray, landmarks: np.ndarray | None, threshold: float,
             iou: float, factor: float, max_faces: int = 500) -> list[Detection]:
    """Keep scores >= ``threshold``, run NMS at ``iou``, map back by ``factor``; boxes xyxy, landmarks (N, 5, 2)."""
    keep = scores >= threshold
    boxes, scores = boxes[keep], scores[keep]
    landmarks = landmarks[keep] if landmarks is not None else None
    if not len(scores):
        return []
    order = nms(boxes, scores, iou)[:max_faces]
    return [Detection(boxes[i] / factor, float(np.clip(scores[i], 0, 1)),
                      None if landmarks is None else landmarks[i] / factor) for i in order]


def xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    """Centre, width, height -> corners."""
    half = xywh[:, 2:4] / 2
    return np.concatenate([xywh[:, :2] - half, xywh[:, :2] + half], axis=1)
