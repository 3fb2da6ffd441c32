"""300-W / iBUG 68-point annotations (``.pts``) and the 5-point and box conventions derived from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from facekit.data import sources

#: iBUG 0-based indices: 36-41 and 42-47 are the two eye contours, 30 the nose tip, 48 / 54 the mouth corners.
LEFT_EYE = list(range(36, 42))  # the subject's right eye, image-left on a frontal face
RIGHT_EYE = list(range(42, 48))
NOSE_TIP = 30
MOUTH_LEFT, MOUTH_RIGHT = 48, 54


def root() -> Path:
    """The verified local 300-W subset folder."""
    return sources.ensure("300w_subset")


def read_pts(path: str | Path, zero_based: bool = True) -> np.ndarray:
    """A ``.pts`` file as a (n, 2) float array; the ``version``/``{``/``}`` wrapper is optional.

    300-W coordinates follow Matlab's 1-based pixel convention; ``zero_based`` subtracts 1 so that they share
    the 0-based pixel-centre convention of numpy, OpenCV and every detector here.
    """
    path = Path(path)
    pts = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                pts.append((float(parts[0]), float(parts[1])))
            except ValueError:
                continue  # "n_points: 68"
    arr = np.asarray(pts, dtype=np.float64)
    if arr.shape != (68, 2):
        raise sources.DataError(f"{path}: expected 68 points, found {len(pts)}")
    return arr - 1.0 if zero_based else arr


def five_points(landmarks68: np.ndarray) -> np.ndarray:
    """facekit's 5 points (left eye, right eye, nose tip, left mouth, right mouth; image-left first)."""
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


def faces(base: Path | None = None) -> pd.DataFrame:
    """One row per annotated face: ``image`` path, ``pts`` path, ``subset`` (helen/afw), ``landmarks`` (68, 2)."""
    base = base or root()
    index = pd.read_csv(base / "index.csv")
    rows = []
    for rec in index.itertuples():
        rows.append({
            "image": base / rec.image, "pts": base / rec.pts,
            "subset": "helen" if rec.image.startswith("helen") else "afw",
            "landmarks": read_pts(base / rec.pts),
        })
    return pd.DataFrame(rows)
