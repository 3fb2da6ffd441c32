"""InsightFace SCRFD-2.5G with 5 keypoints (ONNX from the weights mirror), decoded here.

The network takes RGB (x - 127.5) / 128 at 640 x 640 (letterboxed). For strides 8, 16 and 32 it gives, per cell
and per each of 2 anchors, a score (already a probability), four distances from the cell corner to the box sides
and ten keypoint offsets, all in units of the stride. Keypoints come image-left eye first, as ``Detection`` wants.
"""

from __future__ import annotations

import numpy as np

from facekit.detect.base import BaseDetector, Detection, register
from facekit.detect.decode import grid_centres, letterbox, suppress
from facekit.engines import onnx_session

STRIDES = (8, 16, 32)
ANCHORS_PER_CELL = 2


class SCRFDDetector(BaseDetector):
    """SCRFD-2.5G-KPS: box + 5 landmarks; one image per run (the export has no batch axis in its outputs)."""

    name = "scrfd"
    device = "cpu"  # runs on the CPU (OpenCV / ONNX Runtime): nothing asks torch which device
    version = "1"
    has_landmarks = True
    weights = ("scrfd-2.5g-kps",)

    def __init__(self, threshold: float = 0.5, iou: float = 0.4, input_size: int = 640) -> None:
        from facekit import weights

        self._session = onnx_session(weights.resolve("scrfd-2.5g-kps"))
        self._input = self._session.get_inputs()[0].name
        self.threshold, self.iou, self.input_size = threshold, iou, input_size
        self.max_side = self.min_side = None  # the letterbox sets the scale

    def config(self) -> dict:
        return {"threshold": self.threshold, "iou": self.iou, "input_size": self.input_size}

    def _detect(self, image: np.ndarray) -> list[Detection]:
        size = self.input_size
        padded, factor = letterbox(image, size)
        blob = ((padded.astype(np.float32) - 127.5) / 128.0).transpose(2, 0, 1)[None]
        outs = self._session.run(None, {self._input: blob})
        boxes, scores, points = [], [], []
        for k, stride in enumerate(STRIDES):
            centres = grid_centres(size // stride, size // stride, stride, ANCHORS_PER_CELL)
            dist = outs[k + 3] * stride
            kps = outs[k + 6].reshape(-1, 5, 2) * stride
            boxes.append(np.concatenate([centres - dist[:, :2], centres + dist[:, 2:]], axis=1))
            scores.append(outs[k][:, 0])
            points.append(centres[:, None, :] + kps)
        return suppress(np.concatenate(boxes), np.concatenate(scores), np.concatenate(points), self.threshold,
                        self.iou, factor)


@register("scrfd", "InsightFace SCRFD-2.5G-KPS (ONNX, WIDER FACE; non-commercial weights), box + 5 landmarks",
          weights=("scrfd-2.5g-kps",))
def _factory(**kwargs) -> SCRFDDetector:
    return SCRFDDetector(**kwargs)
