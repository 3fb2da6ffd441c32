"""dlib: HOG and MMOD CNN face detectors, 68-point shape predictor (face-recognition-models weights)."""

from __future__ import annotations

from functools import cached_property

import numpy as np

from facekit.detect.base import BaseDetector, Detection, logistic, register
from facekit.landmarks import five_points


class DlibDetector(BaseDetector):
    """dlib HOG (``mode="hog"``) or MMOD CNN (``mode="cnn"``) boxes; five landmarks from the 68-point predictor.

    The five points follow the 300-W convention (eye centres = means of the eye contours, nose tip, mouth
    corners); all 68 are kept in ``extra["landmarks68"]``. Scores are the logistic of dlib's detection margin.
    """

    version = "1"
    has_landmarks = True

    def __init__(self, mode: str = "hog", upsample: int | None = None, threshold: float = 0.0, landmarks: bool = True,
                 max_side: int = 1024, min_side: int = 112) -> None:
        if mode not in ("hog", "cnn"):
            raise ValueError(f"dlib mode must be 'hog' or 'cnn', got {mode!r}")
        # HOG needs faces of ~80 px, so it looks at a 2x image; the CNN finds ~40 px faces at 1x and is slow at 2x
        upsample = (1 if mode == "hog" else 0) if upsample is None else upsample
        self.mode, self.upsample, self.threshold, self.landmarks = mode, upsample, threshold, landmarks
        self.max_side, self.min_side = max_side, min_side
        self.name = f"dlib-{mode}"
        self.has_landmarks = landmarks
        self.weights = tuple((["dlib-shape-68"] if landmarks else []) + (["dlib-mmod"] if mode == "cnn" else []))

    # the models load on the first image, so that a run served from the detection cache needs neither file
    @cached_property
    def _det(self):
        import dlib

        from facekit import weights

        if self.mode == "hog":
            return dlib.get_frontal_face_detector()
        return dlib.cnn_face_detection_model_v1(str(weights.resolve("dlib-mmod")))

    @cached_property
    def _sp(self):
        import dlib

        from facekit import weights

        return dlib.shape_predictor(str(weights.resolve("dlib-shape-68"))) if self.landmarks else None

    def config(self) -> dict:
        return {"upsample": self.upsample, "threshold": self.threshold, "landmarks": self.landmarks,
                **super().config()}

    def _detect(self, image: np.ndarray) -> list[Detection]:
        if self.mode == "hog":
            rects, scores, _ = self._det.run(image, self.upsample, self.threshold)
            found = list(zip(rects, scores, strict=True))
        else:
            found = [(m.rect, m.confidence) for m in self._det(image, self.upsample)
                     if m.confidence >= self.threshold]
        out = []
        h, w = image.shape[:2]
        for rect, score in found:
            box = np.array([max(rect.left(), 0), max(rect.top(), 0), min(rect.right() + 1, w),
                            min(rect.bottom() + 1, h)], dtype=np.float32)
            lm, extra = None, {}
            if self._sp is not None:
                shape = self._sp(image, rect)
                pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
                lm, extra = five_points(pts), {"landmarks68": pts}
            out.append(Detection(box, logistic(score), lm, extra))
        return out


@register("dlib-hog", "dlib HOG detector + 68-point landmarks", weights=("dlib-shape-68",))
def _hog(**kwargs) -> DlibDetector:
    return DlibDetector(mode="hog", **kwargs)


@register("dlib-cnn", "dlib MMOD CNN detector + 68-point landmarks", weights=("dlib-shape-68", "dlib-mmod"))
def _cnn(**kwargs) -> DlibDetector:
    return DlibDetector(mode="cnn", **kwargs)
