"""OpenCV Haar cascade (frontal face, shipped in cv2.data): boxes only."""

from __future__ import annotations

import numpy as np

from facekit.detect.base import BaseDetector, Detection, logistic, register


class HaarDetector(BaseDetector):
    """Viola-Jones frontal face cascade; score = logistic of the last stage's level weight."""

    name = "haar"
    version = "1"
    has_landmarks = False
    weights = ("haar-frontalface-default",)

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 5, min_size: int = 30,
                 max_side: int = 1024, min_side: int = 112) -> None:
        import cv2

        from facekit import weights

        self._cv2 = cv2
        self._cascade = cv2.CascadeClassifier(str(weights.resolve("haar-frontalface-default")))
        self.scale_factor, self.min_neighbors, self.min_size = scale_factor, min_neighbors, min_size
        self.max_side, self.min_side = max_side, min_side

    def config(self) -> dict:
        return {"scale_factor": self.scale_factor, "min_neighbors": self.min_neighbors,
                "min_size": self.min_size, **super().config()}

    def _detect(self, image: np.ndarray) -> list[Detection]:
        gray = self._cv2.cvtColor(image, self._cv2.COLOR_RGB2GRAY)
        rects, _levels, weights = self._cascade.detectMultiScale3(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(self.min_size, self.min_size), outputRejectLevels=True)
        return [Detection(np.array([x, y, x + w, y + h], dtype=np.float32), logistic(float(s)))
                for (x, y, w, h), s in zip(np.asarray(rects).reshape(-1, 4), np.asarray(weights).reshape(-1),
                                           strict=True)]


@register("haar", "OpenCV Haar cascade (frontal), box only", weights=("haar-frontalface-default",))
def _factory(**kwargs) -> HaarDetector:
    return HaarDetector(**kwargs)
