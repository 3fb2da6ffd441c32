"""Landmark conventions shared by detectors and datasets: the iBUG 68-point indices and the 5 points derived
from them (left eye, right eye, nose tip, left and right mouth corners; image-left first)."""

from __future__ import annotations

import numpy as np

#: iBUG 0-based indices: 36-41 and 42-47 are the two eye contours, 30 the nose tip, 48 / 54 the mouth corners.
LEFT_EYE = list(range(36, 42))  # the subject's right eye, image-left on a frontal face
RIGHT_EYE = list(range(42, 48))
NOSE_TIP = 30
MOUTH_LEFT, MOUTH_RIGHT = 48, 54


def five_points(landmarks68: np.ndarray) -> np.ndarray:
    """facekit's 5 points from 68 iBUG points: eye-contour centres, nose tip, mouth corners."""
    lm = np.asarray(landmarks68)
    return np.stack([lm[LEFT_EYE].mean(0), lm[RIGHT_EYE].mean(0), lm[NOSE_TIP], lm[MOUTH_LEFT], lm[MOUTH_RIGHT]])


def interocular(landmarks68: np.ndarray) -> float:
    """Distance between the eye centres (means of the six eye-contour points): the NME normaliser."""
    five = five_points(landmarks68)
    return float(np.linalg.norm(five[0] - five[1]))


def box_from_landmarks(landmarks68: np.ndarray) -> np.ndarray:
    """The tight box ``[x1, y1, x2, y2]`` around all 68 points (brows to chin; the convention used for IoU)."""
    lm = np.asarray(landmarks68)
    return np.array([lm[:, 0].min(), lm[:, 1].min(), lm[:, 0].max(), lm[:, 1].max()])
