"""MediaPipe (legacy solutions, models shipped in the 0.10.21 wheel): BlazeFace boxes + Face Mesh with iris.

Boxes and scores come from FaceDetection; each face is then cropped with a margin and passed to FaceMesh with
``refine_landmarks=True`` (478 points). The five points are the iris centres (pupils, indices 468 and 473), the
nose tip (1) and the mouth corners (61, 291); all 478 are kept in ``extra["mesh"]``.
"""

from __future__ import annotations

import numpy as np

from facekit.detect.base import BaseDetector, Detection, register

IRIS_LEFT, IRIS_RIGHT, NOSE_TIP, MOUTH_LEFT, MOUTH_RIGHT = 468, 473, 1, 61, 291


class MediaPipeDetector(BaseDetector):
    """BlazeFace (short or full range) + Face Mesh with iris refinement."""

    name = "mediapipe"
    version = "1"
    has_landmarks = True

    def __init__(self, model_selection: int = 1, min_confidence: float = 0.5, mesh: bool = True,
                 margin: float = 0.25, max_side: int = 1024, min_side: int = 112) -> None:
        import os

        # mediapipe's C++ logging (absl/glog) otherwise fills notebook outputs with INFO and W0000 lines
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import mediapipe as mp

        from facekit import weights

        sol = mp.solutions
        self.model_selection, self.min_confidence = model_selection, min_confidence
        self.mesh, self.margin = mesh, margin
        self.max_side, self.min_side = max_side, min_side
        self.has_landmarks = mesh
        self.weights = ("mediapipe-face-detection-full" if model_selection else "mediapipe-face-detection-short",
                        *(("mediapipe-face-mesh-iris",) if mesh else ()))
        for w in self.weights:
            weights.resolve(w)
        self._fd = sol.face_detection.FaceDetection(model_selection=model_selection,
                                                    min_detection_confidence=min_confidence)
        self._fm = sol.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                                          min_detection_confidence=0.3) if mesh else None

    def config(self) -> dict:
        return {"model_selection": self.model_selection, "min_confidence": self.min_confidence,
                "mesh": self.mesh, "margin": self.margin, **super().config()}

    def _mesh(self, image: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        h, w = image.shape[:2]
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        side = max(box[2] - box[0], box[3] - box[1]) * (1 + 2 * self.margin)
        x1, y1 = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
        x2, y2 = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
        if x2 - x1 < 8 or y2 - y1 < 8:
            return None
        crop = np.ascontiguousarray(image[y1:y2, x1:x2])
        res = self._fm.process(crop)
        if not res.multi_face_landmarks:
            return None
        lm = res.multi_face_landmarks[0].landmark
        return np.array([(p.x * (x2 - x1) + x1, p.y * (y2 - y1) + y1) for p in lm], dtype=np.float32)

    def _detect(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        res = self._fd.process(image)
        out = []
        for det in res.detections or []:
            rb = det.location_data.relative_bounding_box
            box = np.array([rb.xmin * w, rb.ymin * h, (rb.xmin + rb.width) * w, (rb.ymin + rb.height) * h],
                           dtype=np.float32)
            box = np.clip(box, 0, [w, h, w, h]).astype(np.float32)
            score = float(np.clip(det.score[0], 0, 1))
            mesh = self._mesh(image, box) if self._fm is not None else None
            if mesh is None:
                out.append(Detection(box, score))
                continue
            five = mesh[[IRIS_LEFT, IRIS_RIGHT, NOSE_TIP, MOUTH_LEFT, MOUTH_RIGHT]]
            out.append(Detection(box, score, five, {"mesh": mesh}))
        return out


@register("mediapipe", "MediaPipe BlazeFace + Face Mesh with iris (478 points)",
          weights=lambda kw: ("mediapipe-face-detection-full" if kw.get("model_selection", 1) else
                              "mediapipe-face-detection-short", "mediapipe-face-mesh-iris"))
def _factory(**kwargs) -> MediaPipeDetector:
    return MediaPipeDetector(**kwargs)
