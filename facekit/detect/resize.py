"""Input size policy shared by the backends: huge images are shrunk and tiny ones enlarged before detection."""

from __future__ import annotations

import cv2
import numpy as np


def fit(image: np.ndarray, max_side: int | None, min_side: int | None) -> tuple[np.ndarray, float]:
    """Resize so the longer side is <= ``max_side`` and the shorter >= ``min_side``; return (image, factor).

    Coordinates found on the returned image are divided by ``factor`` to go back to the input image.
    """
    h, w = image.shape[:2]
    factor = 1.0
    if max_side and max(h, w) > max_side:
        factor = max_side / max(h, w)
    elif min_side and min(h, w) < min_side:
        factor = min_side / min(h, w)
    if factor == 1.0:
        return image, 1.0
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, size, interpolation=interp), factor
