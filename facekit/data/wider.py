"""WIDER FACE ground truth from the official evaluation kit's ``.mat`` files (boxes and labels per image)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io

from facekit.data import sources


def root() -> Path:
    """The verified local folder with the four ``wider_*_val.mat`` files."""
    return sources.ensure("widerface_val_gt")


def _str(cell: np.ndarray) -> str:
    return str(np.asarray(cell).ravel()[0])


def read_ground_truth(mat_path: str | Path, difficulty_mat: str | Path | None = None) -> pd.DataFrame:
    """One row per image: ``event``, ``image``, ``boxes`` (n, 4) xywh, ``invalid`` (n,) and ``keep`` (n,).

    ``keep`` is the box mask of a difficulty file (``wider_{easy,medium,hard}_val.mat``'s ``gt_list``, 1-based
    indices); without one, every valid box is kept.
    """
    mat = scipy.io.loadmat(str(mat_path))
    need = ("event_list", "file_list", "face_bbx_list", "invalid_label_list")
    if any(k not in mat for k in need):
        raise sources.DataError(f"{mat_path}: not a WIDER FACE ground-truth file (needs {need})")
    gt_lists = scipy.io.loadmat(str(difficulty_mat))["gt_list"] if difficulty_mat else None
    rows = []
    for e in range(mat["event_list"].shape[0]):
        event = _str(mat["event_list"][e, 0])
        files, bbx, invalid = mat["file_list"][e, 0], mat["face_bbx_list"][e, 0], mat["invalid_label_list"][e, 0]
        for i in range(files.shape[0]):
            boxes = np.asarray(bbx[i, 0], dtype=np.float64).reshape(-1, 4)
            inv = np.asarray(invalid[i, 0]).ravel().astype(bool)
            if gt_lists is not None:
                keep = np.zeros(len(boxes), bool)
                idx = np.asarray(gt_lists[e, 0][i, 0]).ravel().astype(int) - 1
                keep[idx[(idx >= 0) & (idx < len(boxes))]] = True
            else:
                keep = ~inv
            rows.append({"event": event, "image": _str(files[i, 0]), "boxes": boxes, "invalid": inv, "keep": keep})
    return pd.DataFrame(rows)
