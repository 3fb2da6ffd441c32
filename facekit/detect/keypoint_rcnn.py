"""A Keypoint R-CNN trained in report 003's chapter, behind the ``Detector`` interface: each face's box, score,
five keypoints and the probability that the dataset's binary label is "man" (``extra["male_prob"]``).

Not registered by name: the model is trained in the book, so the wrapper takes it and a version string (a hash
of its weights) that keys the detection cache."""

from __future__ import annotations

import numpy as np

from facekit.detect.base import BaseDetector, Detection, as_rgb

WOMAN, MAN = 1, 2


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1, y1 = np.maximum(a[0], b[:, 0]), np.maximum(a[1], b[:, 1])
    x2, y2 = np.minimum(a[2], b[:, 2]), np.minimum(a[3], b[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda r: (r[..., 2] - r[..., 0]) * (r[..., 3] - r[..., 1])  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


def faces_from_output(out: dict, min_score: float = 0.5, iou: float = 0.5) -> list[Detection]:
    """One detection per face from torchvision's per-class output: boxes of both gender classes that overlap
    (IoU >= ``iou``) are one face; its score is their summed score and ``male_prob`` the man box's share of it."""
    boxes = out["boxes"].detach().cpu().numpy()
    scores = out["scores"].detach().cpu().numpy()
    labels = out["labels"].detach().cpu().numpy()
    kps = out["keypoints"].detach().cpu().numpy()[..., :2]
    used = np.zeros(len(boxes), bool)
    faces = []
    for i in np.argsort(-scores):
        if used[i]:
            continue
        group = np.flatnonzero(~used & (_iou(boxes[i], boxes) >= iou))
        used[group] = True
        man = sum(scores[j] for j in group if labels[j] == MAN)
        woman = sum(scores[j] for j in group if labels[j] == WOMAN)
        total = man + woman
        if scores[i] < min_score or total <= 0:
            continue
        faces.append(Detection(boxes[i], float(min(total, 1.0)), kps[i],
                               {"male_prob": np.array([man / total], np.float32)}))
    return faces


class KeypointRcnnDetector(BaseDetector):
    """A trained face Keypoint R-CNN as a detector (its own resizing: no size policy here)."""

    has_landmarks = True
    max_side = None
    min_side = None

    def __init__(self, model, name: str, version: str, min_score: float = 0.5, device: str = "cpu") -> None:
        import torch

        self._torch = torch
        self.model = model.eval().to(device)
        # both gender classes of a face must come out of the per-class post-processing to read a probability
        self.model.roi_heads.score_thresh = 0.01
        self.name, self.version, self.min_score, self.device = name, version, min_score, device

    def config(self) -> dict:
        return {"min_score": self.min_score}

    def detect_batch(self, images) -> list[list[Detection]]:
        torch = self._torch
        with torch.no_grad():
            x = [torch.from_numpy(np.array(as_rgb(im))).permute(2, 0, 1).float().div(255).to(self.device)
                 for im in images]
            outs = self.model(x)
        return [faces_from_output(o, self.min_score) for o in outs]


__all__ = ["MAN", "WOMAN", "KeypointRcnnDetector", "faces_from_output"]
