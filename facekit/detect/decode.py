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


def suppress(boxes: np.ndarray, scores: np.ndarray, landmarks: np.ndarray | None, threshold: float,
             iou: float, factor: float, max_faces: int = 500) -> list[Detection]:
    """Keep scores >= ``threshold``, run NMS at ``iou``, map back by ``factor``; boxes xyxy, landmarks (N, 5, 2)."""
    import torch
    from torchvision.ops import nms

    keep = scores >= threshold
    boxes, scores = boxes[keep], scores[keep]
    landmarks = landmarks[keep] if landmarks is not None else None
    if not len(scores):
        return []
    order = nms(torch.from_numpy(np.ascontiguousarray(boxes, np.float32)),
                torch.from_numpy(np.ascontiguousarray(scores, np.float32)), iou).numpy()[:max_faces]
    return [Detection(boxes[i] / factor, float(np.clip(scores[i], 0, 1)),
                      None if landmarks is None else landmarks[i] / factor) for i in order]


def xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    """Centre, width, height -> corners."""
    half = xywh[:, 2:4] / 2
    return np.concatenate([xywh[:, :2] - half, xywh[:, :2] + half], axis=1)


def onnx_session(path: str):
    """A CPU onnxruntime session with quiet logs (threads: onnxruntime's default, all cores)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
