"""YOLO face detectors with 5 landmarks from the weights mirror, run without their training code and decoded here.

- ``yolov8-face``: TorchScript export of a YOLOv8n pose model (derronqi/yolov8-face, WIDER FACE). Input RGB / 255,
  letterboxed to 640; output (1, 20, 8400): box centre and size in input pixels, face score, then 5 x (x, y,
  visibility), all decoded already. Only NMS is left.
- ``yolov5-face``: ONNX export of YOLO5Face's yolov5n-0.5 (deepcam-cn, WIDER FACE), the detector family of
  report 001. Input RGB / 255, letterboxed to 640; per stride 8/16/32 a raw (1, 3, H, W, 16) map: box (4),
  objectness, 10 landmark coordinates, class. The decode is YOLOv5's: sigmoids, cell grid and anchor sizes.
"""

from __future__ import annotations

import warnings

import numpy as np

from facekit.detect.base import BaseDetector, Detection, register
from facekit.detect.decode import grid_centres, letterbox, suppress, xywh_to_xyxy
from facekit.engines import onnx_session

INPUT = 640
# yolov5-face's anchors (models/yolov5n-0.5.yaml), width and height in pixels, per stride
YOLOV5_FACE_ANCHORS = {8: ((4, 5), (8, 10), (13, 16)), 16: ((23, 29), (43, 55), (73, 105)),
                       32: ((146, 217), (231, 300), (335, 433))}


class _YoloFace(BaseDetector):
    has_landmarks = True
    pad_value = 114  # YOLO's letterbox grey

    def __init__(self, threshold: float, iou: float) -> None:
        self.threshold, self.iou = threshold, iou
        self.max_side = self.min_side = None  # the letterbox sets the scale

    def config(self) -> dict:
        return {"threshold": self.threshold, "iou": self.iou}

    def _detect(self, image: np.ndarray) -> list[Detection]:
        padded, factor = letterbox(image, INPUT, self.pad_value)
        blob = np.ascontiguousarray(padded.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
        boxes, scores, landmarks = self._decode(blob)
        return suppress(boxes, scores, landmarks, self.threshold, self.iou, factor)

    def _decode(self, blob: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
        raise NotImplementedError


class YoloV8FaceDetector(_YoloFace):
    """YOLOv8n-face (TorchScript pose model): box + 5 landmarks."""

    name = "yolov8-face"
    version = "1"
    weights = ("yolov8n-face-torchscript",)

    def __init__(self, threshold: float = 0.25, iou: float = 0.45, device: str | None = None) -> None:
        import torch

        from facekit import weights
        from facekit.runtime import device as default_device

        super().__init__(threshold, iou)
        self._torch, self._device = torch, torch.device(device or default_device())
        self.device = str(self._device)
        with warnings.catch_warnings():  # torch.jit.load's deprecation notice: the file is TorchScript
            warnings.simplefilter("ignore", FutureWarning)
            self._net = torch.jit.load(str(weights.resolve("yolov8n-face-torchscript")), map_location=self._device)
        self._net.eval()

    def _decode(self, blob: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with self._torch.inference_mode():
            out = self._net(self._torch.from_numpy(blob).to(self._device))
        pred = (out[0] if isinstance(out, (tuple, list)) else out)[0].float().cpu().numpy().T  # (8400, 20)
        return xywh_to_xyxy(pred[:, :4]), pred[:, 4], pred[:, 5:].reshape(-1, 5, 3)[:, :, :2]


class YoloV5FaceDetector(_YoloFace):
    """YOLO5Face yolov5n-0.5 (ONNX, raw stride outputs): box + 5 landmarks."""

    name = "yolov5-face"
    version = "1"
    weights = ("yolov5n-0.5-face",)

    def __init__(self, threshold: float = 0.25, iou: float = 0.45) -> None:
        from facekit import weights

        super().__init__(threshold, iou)
        self._session = onnx_session(weights.resolve("yolov5n-0.5-face"))
        self._input = self._session.get_inputs()[0].name

    def _decode(self, blob: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        boxes, scores, landmarks = [], [], []
        for out, stride in zip(self._session.run(None, {self._input: blob}), (8, 16, 32), strict=True):
            _, na, h, w, _ = out.shape
            # (anchor, row, col, 16) -> rows ordered anchor-major like the output
            cells = np.tile(grid_centres(h, w, stride), (na, 1))
            anchors = np.repeat(np.asarray(YOLOV5_FACE_ANCHORS[stride], np.float32), h * w, axis=0)
            raw = out[0].reshape(-1, 16)
            sig = 1.0 / (1.0 + np.exp(-raw[:, [0, 1, 2, 3, 4, 15]]))
            xy = (sig[:, :2] * 2 - 0.5) * stride + cells
            wh = (sig[:, 2:4] * 2) ** 2 * anchors
            boxes.append(xywh_to_xyxy(np.concatenate([xy, wh], axis=1)))
            scores.append(sig[:, 4] * sig[:, 5])
            landmarks.append(raw[:, 5:15].reshape(-1, 5, 2) * anchors[:, None, :] + cells[:, None, :])
        return np.concatenate(boxes), np.concatenate(scores), np.concatenate(landmarks)


@register("yolov8-face", "YOLOv8n-face (TorchScript pose model, WIDER FACE), box + 5 landmarks",
          weights=("yolov8n-face-torchscript",))
def _v8(**kwargs) -> YoloV8FaceDetector:
    return YoloV8FaceDetector(**kwargs)


@register("yolov5-face", "YOLO5Face yolov5n-0.5 (ONNX, WIDER FACE), box + 5 landmarks", weights=("yolov5n-0.5-face",))
def _v5(**kwargs) -> YoloV5FaceDetector:
    return YoloV5FaceDetector(**kwargs)
