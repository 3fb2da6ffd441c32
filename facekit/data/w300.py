"""300-W / iBUG 68-point annotations (``.pts``) and the 5-point and box conventions derived from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from facekit.data import sources
from facekit.landmarks import (  # noqa: F401  (the 300-W conventions, re-exported)
    LEFT_EYE,
    MOUTH_LEFT,
    MOUTH_RIGHT,
    NOSE_TIP,
    RIGHT_EYE,
    box_from_landmarks,
    five_points,
    interocular,
)


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
