"""MTCNN (facenet-pytorch; P/R/O-Net weights ship in the package), batched over same-size images."""

from __future__ import annotations

import numpy as np

from facekit.detect.base import BatchedDetector, Detection, register


class MTCNNDetector(BatchedDetector):
    """facenet-pytorch MTCNN with its shipped weights; five landmarks image-left first."""

    name = "mtcnn"
    version = "1"
    has_landmarks = True
    weights = ("mtcnn-pnet", "mtcnn-rnet", "mtcnn-onet")

    def __init__(self, min_face_size: int = 20, thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
                 max_side: int = 1024, min_side: int = 112, device: str | None = None) -> None:
        import torch

        from facekit.runtime import device as default_device

        device = device or default_device()
        from facenet_pytorch import MTCNN

        from facekit import weights

        for w in self.weights:
            weights.resolve(w)  # checksum of the shipped files
        self.min_face_size, self.thresholds = min_face_size, tuple(thresholds)
        self.max_side, self.min_side, self.device = max_side, min_side, str(device)
        self._torch = torch
        self._net = MTCNN(keep_all=True, min_face_size=min_face_size, thresholds=list(thresholds),
                          post_process=False, device=device)

    def config(self) -> dict:
        return {"min_face_size": self.min_face_size, "thresholds": list(self.thresholds),
                "max_side": self.max_side, "min_side": self.min_side}

    def _run(self, batch: list[np.ndarray]) -> list[list[Detection]]:
        with self._torch.inference_mode():
            boxes, probs, points = self._net.detect(np.stack(batch), landmarks=True)
        out = []
        for b, p, pts in zip(boxes, probs, points, strict=True):
            if b is None:
                out.append([])
                continue
            b = np.asarray(np.asarray(b).tolist(), dtype=np.float32).reshape(-1, 4)
            p = np.asarray(np.asarray(p).tolist(), dtype=np.float32).reshape(-1)
            pts = np.asarray(np.asarray(pts).tolist(), dtype=np.float32).reshape(-1, 5, 2)
            out.append([Detection(bb, float(np.clip(pp, 0, 1)), ll) for bb, pp, ll in zip(b, p, pts, strict=True)])
        return out


@register("mtcnn", "MTCNN (facenet-pytorch), box + 5 landmarks", weights=("mtcnn-pnet", "mtcnn-rnet", "mtcnn-onet"))
def _factory(**kwargs) -> MTCNNDetector:
    return MTCNNDetector(**kwargs)
