"""The "no detector" of report 002: the whole image is the face (one box over all of it, no landmarks)."""

from __future__ import annotations

import numpy as np

from facekit.detect.base import BaseDetector, Detection, register


class WholeImage(BaseDetector):
    """One detection covering the whole image, score 1; for sets of pre-cropped faces such as LFW."""

    name = "whole-image"
    version = "1"
    has_landmarks = False
    max_side = min_side = None

    def config(self) -> dict:
        return {}

    def _detect(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        return [Detection(np.array([0, 0, w, h], np.float32), 1.0)]


@register("whole-image", "no detector: the whole image is the face (report 002's baseline)")
def _factory(**kwargs) -> WholeImage:
    return WholeImage(**kwargs)
