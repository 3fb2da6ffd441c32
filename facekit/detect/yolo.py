"""Ultralytics YOLO: person boxes (COCO weights, report 000) or face boxes with 5 keypoints (YOLO-face weights).

No YOLO weights exist on the build machines: ``YoloDetector("yolov8n-face")`` raises ``WeightsMissing`` naming
the file and URL there, and the code path is tested with a randomly initialised model built from a ``.yaml``.
Ultralytics is kept offline (``YOLO_OFFLINE=1``, a local config dir and font), so it makes no network lookups.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from facekit import paths
from facekit.detect.base import BaseDetector, Detection, register


def _offline_ultralytics() -> None:
    """Settings that keep ultralytics from touching the network or writing into the home folder."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    cfg = Path(os.environ.setdefault("YOLO_CONFIG_DIR", str(paths.cache_dir() / "ultralytics")))
    font = cfg / "Ultralytics" / "Arial.ttf"
    if not font.exists():
        import matplotlib

        font.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf", font)


def _undo_pil_patch() -> None:
    """Ultralytics replaces ``PIL.Image.open`` process-wide with a wrapper that, on an unidentifiable file, tries
    to pip-install a HEIF plugin. Put Pillow's own function back so that a bad file stays a clear ImageError."""
    import sys

    from PIL import Image

    patches = sys.modules.get("ultralytics.utils.patches")
    original = getattr(patches, "_image_open", None)
    if original is not None and Image.open is not original:
        Image.open = original


class YoloDetector(BaseDetector):
    """YOLO detections of ``classes`` (None: all); keypoints of a 5-point face-pose model become landmarks."""

    version = "1"

    def __init__(self, model: str = "yolov8n-face", classes: list[int] | None = None, conf: float = 0.25,
                 imgsz: int = 640, max_side: int | None = None, min_side: int | None = None) -> None:
        _offline_ultralytics()
        from ultralytics import YOLO

        _undo_pil_patch()

        from facekit import weights

        # a .yaml is the architecture with random weights (tests of the code path); a .pt path is used as given
        if model.endswith(".yaml") or (Path(model).suffix == ".pt" and Path(model).exists()):
            source, self.weights = model, ()
        else:
            source, self.weights = str(weights.resolve(model)), (model,)
        self._model = YOLO(source)
        self.model, self.classes, self.conf, self.imgsz = model, classes, conf, imgsz
        self.max_side, self.min_side = max_side, min_side
        self.name = f"yolo:{Path(model).stem}"
        self.has_landmarks = self._model.task == "pose"

    def config(self) -> dict:
        return {"model": self.model, "classes": self.classes, "conf": self.conf, "imgsz": self.imgsz}

    def _detect(self, image: np.ndarray) -> list[Detection]:
        res = self._model.predict(np.ascontiguousarray(image[:, :, ::-1]), conf=self.conf, imgsz=self.imgsz,
                                  classes=self.classes, verbose=False)[0]
        boxes = res.boxes.xyxy.cpu().numpy() if res.boxes is not None else np.zeros((0, 4))
        scores = res.boxes.conf.cpu().numpy() if res.boxes is not None else np.zeros(0)
        kps = res.keypoints.xy.cpu().numpy() if getattr(res, "keypoints", None) is not None else None
        out = []
        for i, (box, score) in enumerate(zip(boxes, scores, strict=True)):
            lm = kps[i] if kps is not None and kps.shape[1] == 5 else None
            out.append(Detection(box, float(np.clip(score, 0, 1)), lm))
        return out


@register("yolo", "Ultralytics YOLO: persons (COCO weights) or faces with 5 keypoints (YOLO-face weights)",
          weights=lambda kw: () if str(kw.get("model", "yolov8n-face")).endswith((".yaml", ".pt"))
          else (kw.get("model", "yolov8n-face"),))
def _factory(**kwargs) -> YoloDetector:
    return YoloDetector(**kwargs)
