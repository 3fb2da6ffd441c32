"""OpenCV Zoo's YuNet (2023mar ONNX from the weights mirror) through ``cv2.FaceDetectorYN``.

The network is static 640 x 640 and takes BGR 0-255; the image is letterboxed to that size here, and OpenCV
decodes the outputs (priors, NMS). Each face row is box (x, y, w, h), ten landmark coordinates image-left eye
first, then the score.
"""

from __future__ import annotations

import numpy as np

from facekit.detect.base import BaseDetector, Detection, register
from facekit.detect.decode import letterbox

INPUT = 640


class YuNetDetector(BaseDetector):
    """YuNet through OpenCV: box + 5 landmarks."""

    name = "yunet"
    device = "cpu"  # runs on the CPU (OpenCV / ONNX Runtime): nothing asks torch which device
    version = "1"
    has_landmarks = True
    weights = ("yunet-2023mar",)

    def __init__(self, threshold: float = 0.6, iou: float = 0.3, top_k: int = 5000) -> None:
        import cv2

        from facekit import weights

        self._net = cv2.FaceDetectorYN.create(str(weights.resolve("yunet-2023mar")), "", (INPUT, INPUT),
                                              threshold, iou, top_k)
        self.threshold, self.iou, self.top_k = threshold, iou, top_k
        self.max_side = self.min_side = None  # the letterbox sets the scale

    def config(self) -> dict:
        return {"threshold": self.threshold, "iou": self.iou, "top_k": self.top_k}

    def _detect(self, image: np.ndarray) -> list[Detection]:
        padded, factor = letterbox(image, INPUT)
        _, faces = self._net.detect(np.ascontiguousarray(padded[:, :, ::-1]))
        out = []
        for row in (faces if faces is not None else []):
            x, y, w, h = row[:4]
            out.append(Detection(np.array([x, y, x + w, y + h]) / factor, float(np.clip(row[14], 0, 1)),
                                 row[4:14].reshape(5, 2) / factor))
        return out


@register("yunet", "OpenCV Zoo YuNet 2023mar (cv2.FaceDetectorYN, WIDER FACE), box + 5 landmarks",
          weights=("yunet-2023mar",))
def _factory(**kwargs) -> YuNetDetector:
    return YuNetDetector(**kwargs)
