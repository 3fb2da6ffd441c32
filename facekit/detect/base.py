"""The detection interface: ``Detection``, the ``Detector`` protocol and a registry by name (which face of a photo
to use is the face path's rule: ``facekit.face_path.pick_face``).

Five landmarks are always in one order: left eye, right eye, nose tip, left mouth corner, right mouth corner,
where "left" means image-left (the subject's right eye on a frontal face). Boxes are ``[x1, y1, x2, y2]`` in pixels
of the image passed in. Scores are in [0, 1]; backends whose native score is a margin map it through a logistic.
"""

from __future__ import annotations

import inspect
import math
import typing
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from facekit.detect.resize import fit
from facekit.registry import Registry

LANDMARK_ORDER = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass(frozen=True)
class Detection:
    """One face: box xyxy (pixels), score in [0, 1], five landmarks (5, 2) or None, optional extra points."""

    box: np.ndarray
    score: float
    landmarks: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "box", np.asarray(self.box, dtype=np.float32).reshape(4))
        if self.landmarks is not None:
            object.__setattr__(self, "landmarks", np.asarray(self.landmarks, dtype=np.float32).reshape(5, 2))
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score {self.score} outside [0, 1]")

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    def scaled(self, factor: float) -> Detection:
        """The same detection in coordinates multiplied by ``factor`` (to undo a resize)."""
        return Detection(self.box * factor, self.score,
                         None if self.landmarks is None else self.landmarks * factor,
                         {k: v * factor for k, v in self.extra.items()})

    def to_json(self) -> dict:
        """Plain lists, for the detection cache."""
        return {"box": self.box.tolist(), "score": float(self.score),
                "landmarks": None if self.landmarks is None else self.landmarks.tolist(),
                "extra": {k: np.asarray(v).tolist() for k, v in self.extra.items()}}

    @classmethod
    def from_json(cls, d: dict) -> Detection:
        return cls(np.array(d["box"]), d["score"], None if d["landmarks"] is None else np.array(d["landmarks"]),
                   {k: np.array(v, dtype=np.float32) for k, v in d.get("extra", {}).items()})


@runtime_checkable
class Detector(Protocol):
    """A face detector: ``detect`` one RGB uint8 image, ``detect_batch`` many; never raises for "no face"."""

    name: str
    version: str  # part of every cache key: bump it when the outputs change
    has_landmarks: bool

    def detect(self, image: np.ndarray) -> list[Detection]: ...

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Detection]]: ...


class BaseDetector:
    """Shared behaviour: input checks (grayscale, RGBA), the size policy, and a loop as the default batch.

    Images longer than ``max_side`` are shrunk and images shorter than ``min_side`` enlarged before detection
    (a face crop of 25 px is found once enlarged); results are mapped back to the input's pixels.
    """

    name = "base"
    version = "1"
    has_landmarks = False
    weights: tuple[str, ...] = ()  # registry names of the weights it loads (for manifests)
    max_side: int | None = 1024
    min_side: int | None = 112

    def detect(self, image: np.ndarray) -> list[Detection]:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        out = []
        for im in images:
            small, factor = fit(as_rgb(im), self.max_side, self.min_side)
            dets = self._detect(small)
            out.append([d.scaled(1 / factor) for d in dets] if factor != 1.0 else dets)
        return out

    def _detect(self, image: np.ndarray) -> list[Detection]:  # pragma: no cover - abstract
        raise NotImplementedError

    def config(self) -> dict:
        """Parameters that change the output (they go into the cache key)."""
        return {"max_side": self.max_side, "min_side": self.min_side}


class BatchedDetector(BaseDetector):
    """A detector whose network takes a batch: images of equal size (after the size policy) go in together."""

    def _run(self, batch: list[np.ndarray]) -> list[list[Detection]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _detect(self, image: np.ndarray) -> list[Detection]:
        return self._run([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        prepared = [fit(as_rgb(im), self.max_side, self.min_side) for im in images]
        groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for i, (im, _) in enumerate(prepared):
            groups[im.shape].append(i)
        out: list[list[Detection]] = [[] for _ in images]
        for idx in groups.values():
            for i, dets in zip(idx, self._run([prepared[i][0] for i in idx]), strict=True):
                factor = prepared[i][1]
                out[i] = [d.scaled(1 / factor) for d in dets] if factor != 1.0 else dets
        return out


def as_rgb(image: np.ndarray) -> np.ndarray:
    """HxW, HxWx1, HxWx3 or HxWx4 uint8 -> contiguous HxWx3 uint8 RGB (RGBA drops alpha)."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise TypeError(f"detectors take uint8 images, got {arr.dtype}; read images with facekit.io.read_image")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    elif not (arr.ndim == 3 and arr.shape[2] == 3):
        raise ValueError(f"image of shape {arr.shape} is not HxW or HxWxC")
    return np.ascontiguousarray(arr)


def logistic(x: float) -> float:
    """Map a detector margin to (0, 1)."""
    return 1.0 / (1.0 + math.exp(-float(x)))


# ---------------------------------------------------------------------------------------------------- registry
def _load_backends() -> None:
    from facekit.detect import backends  # noqa: F401  (registers every backend; heavy imports stay lazy)


DETECTORS: Registry[Detector] = Registry("detector", _load_backends)
register = DETECTORS.register


def get_detector(name: str, **kwargs) -> Detector:
    """Build the detector registered as ``name`` (``facekit.detect.available()`` lists them)."""
    return DETECTORS.get(name, **kwargs)


def score_threshold(name: str) -> tuple[str, Any] | None:
    """The constructor argument through which detector ``name`` takes its minimum face score, and its default:
    ``threshold``, or ``thresholds`` for staged detectors (MTCNN: the last stage's gives the score it reports);
    None for a detector without a score (``whole-image``). Read from the class, nothing is loaded."""
    cls = typing.get_type_hints(DETECTORS.entry(name).factory)["return"]  # the class the factory builds
    params = inspect.signature(cls).parameters
    arg = next((a for a in ("threshold", "thresholds") if a in params), None)
    return None if arg is None else (arg, params[arg].default)


def min_score_kwargs(name: str, min_score: float | None) -> dict[str, Any]:
    """The arguments that make detector ``name`` count a face from ``min_score``: a staged detector's earlier
    (proposal) stages keep theirs, its last takes ``min_score``; None, or a detector without a score: none."""
    own = None if min_score is None else score_threshold(name)
    if own is None:
        return {}
    arg, default = own
    return {arg: (*default[:-1], min_score) if arg == "thresholds" else min_score}


def available() -> dict[str, str]:
    """Registered detector names with their one-line descriptions."""
    return DETECTORS.available()
