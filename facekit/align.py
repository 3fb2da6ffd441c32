"""Face alignment: 5-point similarity warps to the ArcFace templates, the eye-line affine of report 004, the box
crop with margin of report 000, and the quality checks of report 000 (size, yaw, blur), each with a reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from skimage.transform import SimilarityTransform

from facekit.registry import Registry

#: The standard ArcFace (insightface) 112x112 five-point template, image-left eye first.
ARCFACE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                        [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32)
#: The 112 (high) x 96 (wide) variant used by SphereFace / CosFace / MobileFaceNet: the same points, 8 px left.
ARCFACE_112x96 = ARCFACE_112 - np.array([8.0, 0.0], dtype=np.float32)


def similarity_matrix(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 least-squares similarity (rotation, uniform scale, translation) taking ``src`` points to ``dst``."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    if hasattr(SimilarityTransform, "from_estimate"):
        tform = SimilarityTransform.from_estimate(src, dst)  # falsy FailedEstimation when degenerate
    else:  # scikit-image < 0.26
        tform = SimilarityTransform()
        tform = tform if tform.estimate(src, dst) else None
    matrix = np.asarray(tform.params, dtype=np.float64)[:2] if tform else np.full((2, 3), np.nan)
    if not np.all(np.isfinite(matrix)):
        raise ValueError(f"degenerate landmarks, no similarity transform: {src.tolist()}")
    return matrix


def warp(image: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Apply a 2x3 matrix; ``size`` is (width, height). Borders are filled by replication (no black wedges)."""
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def align_5point(image: np.ndarray, landmarks: np.ndarray, size: tuple[int, int] = (112, 112)) -> np.ndarray:
    """Similarity warp of five landmarks onto the ArcFace template: (112, 112) or (96, 112) as (width, height)."""
    if size == (112, 112):
        template = ARCFACE_112
    elif size == (96, 112):
        template = ARCFACE_112x96
    else:  # scale the 112x112 template to any square size
        if size[0] != size[1]:
            raise ValueError(f"templates exist for 112x112 and 96x112 (w x h), or any square size; got {size}")
        template = ARCFACE_112 * (size[0] / 112.0)
    return warp(image, similarity_matrix(landmarks, template), size)


def eye_line_matrix(left_eye: np.ndarray, right_eye: np.ndarray, size: tuple[int, int] = (96, 112),
                    eye_row: float = 51.6, eye_distance: float = 35.2) -> np.ndarray:
    """The exact similarity putting both eyes on row ``eye_row``, ``eye_distance`` px apart, centred horizontally.

    Report 004 aligns on the pupils (Face Mesh iris centres) into 96x112 crops; the defaults match the eye row and
    eye distance of the 112x96 ArcFace template, so both aligners give crops of the same scale.
    """
    src = np.array([left_eye, right_eye], dtype=np.float64)
    cx = size[0] / 2.0
    dst = np.array([[cx - eye_distance / 2, eye_row], [cx + eye_distance / 2, eye_row]], dtype=np.float64)
    return similarity_matrix(src, dst)


def align_eyes(image: np.ndarray, landmarks: np.ndarray, size: tuple[int, int] = (96, 112), **kwargs) -> np.ndarray:
    """Eye-line alignment from the first two of five landmarks (report 004: pupils to a fixed row)."""
    lm = np.asarray(landmarks)
    return warp(image, eye_line_matrix(lm[0], lm[1], size, **kwargs), size)


def crop_box(image: np.ndarray, box: np.ndarray, margin: float = 0.2, size: tuple[int, int] | None = (224, 224),
             square: bool = True) -> np.ndarray:
    """Crop ``box`` enlarged by ``margin`` of its size on each side (report 000's extraction), padded by edge
    replication where it leaves the image, optionally made square and resized to ``size`` (width, height)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    if w <= 0 or h <= 0:
        raise ValueError(f"empty box {list(box)}")
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    w, h = w * (1 + 2 * margin), h * (1 + 2 * margin)
    if square:
        w = h = max(w, h)
    src = np.array([[cx - w / 2, cy - h / 2], [cx + w / 2, cy - h / 2], [cx - w / 2, cy + h / 2]], np.float32)
    out_w, out_h = size if size is not None else (max(1, round(w)), max(1, round(h)))
    dst = np.array([[0, 0], [out_w, 0], [0, out_h]], np.float32)
    return warp(image, cv2.getAffineTransform(src, dst), (out_w, out_h))


#: Aligners by name: each takes (image, Detection-like with .box / .landmarks) and returns a crop.
ALIGNERS: Registry[Callable[..., np.ndarray]] = Registry("aligner")
_NEEDS_LANDMARKS: set[str] = set()


def _register(name: str, needs_landmarks: bool, description: str = "", weights: tuple[str, ...] = ()):
    if needs_landmarks:
        _NEEDS_LANDMARKS.add(name)
    return ALIGNERS.register(name, description or name, weights)


@_register("arcface112", True, "5-point similarity warp to ArcFace's 112x112 template")
def _arcface112(image, det):
    return align_5point(image, det.landmarks, (112, 112))


@_register("arcface112x96", True, "5-point similarity warp to the 96x112 (w x h) template")
def _arcface112x96(image, det):
    return align_5point(image, det.landmarks, (96, 112))


@_register("eyes96x112", True, "eye-line affine: eyes level at a fixed height of a 96x112 crop")
def _eyes(image, det):
    return align_eyes(image, det.landmarks, (96, 112))


#: Face Mesh's iris centres (478-point mesh with ``refine_landmarks``): the pupils report 004 aligns on.
IRIS_CENTRES = (468, 473)


def pupils(detection) -> np.ndarray:
    """The two pupil centres of a detection, image-left first: Face Mesh's iris centres where the detection
    carries the mesh (``mediapipe``), else its first two landmarks (the set's mean face, a fallback)."""
    mesh = detection.extra.get("mesh")
    if mesh is not None:
        return np.asarray(mesh, np.float64)[list(IRIS_CENTRES)]
    if detection.landmarks is None:
        raise ValueError("the pupil aligner needs Face Mesh iris points or two eye landmarks; this detection has none")
    return np.asarray(detection.landmarks, np.float64)[:2]


@_register("pupils96x112", True, "report 004: Face Mesh pupils levelled on the template's eye row of a 96x112 crop")
def _pupils(image, det):
    left, right = pupils(det)
    return warp(image, eye_line_matrix(left, right, (96, 112)), (96, 112))


@_register("box224", False, "box with a 20 % margin, resized to 224x224")
def _box224(image, det):
    return crop_box(image, det.box, margin=0.2, size=(224, 224))


@_register("box112x96", False, "box as it is (no margin, not made square), resized to 96x112 (w x h)")
def _box112x96(image, det):
    return crop_box(image, det.box, margin=0.0, size=(96, 112), square=False)


@_register("box112", False, "box as it is (no margin), made square and resized to 112x112")
def _box112(image, det):
    return crop_box(image, det.box, margin=0.0, size=(112, 112))


@_register("box160", False, "box with a 10 % margin, resized to 160x160")
def _box160(image, det):
    return crop_box(image, det.box, margin=0.1, size=(160, 160))


_DLIB_SP5 = []


@_register("dlib-chip150", False, "dlib 5-point predictor on the box, get_face_chip 150 px",
           weights=("dlib-shape-5",))
def _dlib_chip(image, det):
    """dlib's own alignment for its ResNet: the 5-point predictor on the box, then ``get_face_chip`` (150 px,
    padding 0.25), exactly as dlib's published LFW protocol does."""
    import dlib

    from facekit import weights

    if not _DLIB_SP5:
        _DLIB_SP5.append(dlib.shape_predictor(str(weights.resolve("dlib-shape-5"))))
    x1, y1, x2, y2 = (int(round(float(v))) for v in det.box)
    shape = _DLIB_SP5[0](np.ascontiguousarray(image), dlib.rectangle(x1, y1, x2, y2))
    return np.asarray(dlib.get_face_chip(np.ascontiguousarray(image), shape, size=150, padding=0.25))


def align(name: str, image: np.ndarray, detection) -> np.ndarray:
    """Apply the aligner ``name`` (``ALIGNERS``) to one detection; ValueError if it needs landmarks it lacks."""
    fn = ALIGNERS.entry(name).factory
    if name in _NEEDS_LANDMARKS and detection.landmarks is None:
        raise ValueError(f"aligner {name!r} needs five landmarks, and this detection has none")
    return fn(image, detection)


# ---------------------------------------------------------------------------------------------------- quality
@dataclass(frozen=True)
class QualityConfig:
    """Thresholds of the sanity checks (report 000 rejected small, turned and blurred faces)."""

    min_face: int = 40  # shorter box side, px
    max_yaw: float = 45.0  # degrees, estimated from landmarks
    min_sharpness: float = 20.0  # variance of the Laplacian of the grey aligned crop
    # Off by default: scores are not comparable across detectors (a logistic of dlib's margin, BlazeFace's
    # confidence, RetinaFace's softmax), so each detector's own threshold decides what a detection is.
    min_score: float = 0.0


DEFAULT_QUALITY = QualityConfig()


def estimate_yaw(landmarks: np.ndarray) -> float:
    """A rough yaw in degrees from five points: the nose's horizontal offset from the eye midpoint, relative to
    half the eye distance, read as the sine of the head turn (0 frontal, +-90 profile; sign = image direction)."""
    lm = np.asarray(landmarks, np.float64)
    eye_mid = (lm[0] + lm[1]) / 2
    axis = lm[1] - lm[0]
    half = np.linalg.norm(axis) / 2
    if half < 1e-6:
        return 90.0
    offset = float(np.dot(lm[2] - eye_mid, axis / (2 * half)))  # along the eye line, so roll does not count
    return float(np.degrees(np.arcsin(np.clip(offset / half, -1.0, 1.0))))


def sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian of the grey crop: low for blurred faces."""
    grey = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY) if crop.ndim == 3 else crop
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def check_size(detection, cfg: QualityConfig = DEFAULT_QUALITY) -> str | None:
    """Reason string when the face box is smaller than ``min_face``, else None."""
    side = min(detection.box[2] - detection.box[0], detection.box[3] - detection.box[1])
    return f"face too small ({side:.0f} px < {cfg.min_face})" if side < cfg.min_face else None


def check_yaw(detection, cfg: QualityConfig = DEFAULT_QUALITY) -> str | None:
    """Reason string when the estimated yaw exceeds ``max_yaw`` (None without landmarks: not checkable)."""
    if detection.landmarks is None:
        return None
    yaw = estimate_yaw(detection.landmarks)
    return f"head turned (yaw {yaw:+.0f} deg, limit {cfg.max_yaw:.0f})" if abs(yaw) > cfg.max_yaw else None


def check_blur(crop: np.ndarray, cfg: QualityConfig = DEFAULT_QUALITY) -> str | None:
    """Reason string when the aligned crop is blurred (Laplacian variance below ``min_sharpness``)."""
    s = sharpness(crop)
    return f"blurred (sharpness {s:.1f} < {cfg.min_sharpness})" if s < cfg.min_sharpness else None


def check_score(detection, cfg: QualityConfig = DEFAULT_QUALITY) -> str | None:
    """Reason string when the detector's confidence is below ``min_score``."""
    return (f"low detection score ({detection.score:.2f} < {cfg.min_score})"
            if detection.score < cfg.min_score else None)


def quality_reasons(detection, crop: np.ndarray, cfg: QualityConfig = DEFAULT_QUALITY) -> list[str]:
    """Every failed check's reason (empty list: accepted)."""
    return [r for r in (check_score(detection, cfg), check_size(detection, cfg), check_yaw(detection, cfg),
                        check_blur(crop, cfg)) if r]
