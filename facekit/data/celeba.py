"""CelebA: identities, the 40 binary attributes, and landmarks / boxes when those files are present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from facekit.data import sources

ATTR_SUBSET_FILE = "list_attr_celeba_000001-020000.txt"
LANDMARK_NAMES = ["lefteye", "righteye", "nose", "leftmouth", "rightmouth"]


def root(name: str = "celeba_subset") -> Path:
    """The verified local folder of ``celeba_subset`` (cpu) or ``celeba`` (full)."""
    return sources.ensure(name)


def identities(base: Path) -> pd.DataFrame:
    """``image``, ``identity`` for every line of ``identity_CelebA.txt`` (202,599 in the official file)."""
    return pd.read_csv(base / "identity_CelebA.txt", sep=r"\s+", header=None, names=["image", "identity"],
                       dtype={"image": str, "identity": int})


def _read_table(path: Path) -> pd.DataFrame:
    """CelebA's list format: a count line, a header line of column names, then ``image v1 v2 ...`` rows."""
    with open(path) as f:
        f.readline()
        header = f.readline().split()
        df = pd.read_csv(f, sep=r"\s+", header=None, dtype={0: str})
    if df.shape[1] == len(header) + 1:
        df.columns = ["image", *header]
    elif df.shape[1] == len(header):  # header already names the image column (list_bbox_celeba.txt)
        df.columns = ["image", *header[1:]]
    else:
        raise sources.DataError(f"{path}: {df.shape[1]} columns for header {header}")
    return df


def attributes(base: Path, filename: str | None = None) -> pd.DataFrame:
    """Attributes as booleans indexed by ``image`` (the -1/+1 file values mapped to False/True)."""
    fname = filename or (ATTR_SUBSET_FILE if (base / ATTR_SUBSET_FILE).exists() else "list_attr_celeba.txt")
    df = _read_table(base / fname).set_index("image")
    return df.eq(1)


def landmarks(base: Path) -> pd.DataFrame | None:
    """Five landmarks per image (``list_landmarks_celeba.txt``, unaligned images) or None when absent."""
    path = base / "list_landmarks_celeba.txt"
    return _read_table(path).set_index("image") if path.exists() else None


def boxes(base: Path) -> pd.DataFrame | None:
    """Face boxes ``x_1 y_1 width height`` per image (``list_bbox_celeba.txt``) or None when absent."""
    path = base / "list_bbox_celeba.txt"
    return _read_table(path).set_index("image") if path.exists() else None


def landmarks_array(row: pd.Series) -> np.ndarray:
    """A landmarks row as a (5, 2) float array in facekit's order (image-left eye first)."""
    return np.array([[row[f"{n}_x"], row[f"{n}_y"]] for n in LANDMARK_NAMES], dtype=np.float32)


def subset_images(base: Path | None = None) -> pd.DataFrame:
    """The images present under ``img_celeba/`` with ``identity`` and ``male`` (None where no attribute row)."""
    base = base or root()
    files = sorted((base / "img_celeba").glob("*.jpg"))
    ids = identities(base).set_index("image")["identity"]
    missing = [f.name for f in files if f.name not in ids.index]
    if missing:
        raise sources.DataError(f"{base / 'img_celeba'}: {len(missing)} images not in identity_CelebA.txt "
                                f"(first: {missing[:3]})")
    attrs = attributes(base)
    df = pd.DataFrame({"image": [f.name for f in files], "path": files})
    df["identity"] = [int(ids[n]) for n in df.image]
    df["male"] = [bool(attrs.at[n, "Male"]) if n in attrs.index else None for n in df.image]
    return df


def box_sample(n: int, seed: int = 0, base: Path | None = None) -> pd.DataFrame:
    """``n`` images of the full CelebA (seeded) with their one labelled face box as ``x1 y1 x2 y2`` (pixels of the
    in-the-wild image), from ``list_bbox_celeba.txt``: report 001's detection test."""
    base = base or root("celeba")
    table = boxes(base)
    if table is None:
        raise sources.DataError(f"{base}: list_bbox_celeba.txt is missing; get it from the CelebA homepage "
                                "(Anno/list_bbox_celeba.txt) and place it in that folder")
    chosen = table.iloc[np.sort(np.random.default_rng(seed).choice(len(table), min(n, len(table)), replace=False))]
    x1, y1 = chosen.x_1.to_numpy(float), chosen.y_1.to_numpy(float)
    return pd.DataFrame({"path": [base / "img_celeba" / name for name in chosen.index], "x1": x1, "y1": y1,
                         "x2": x1 + chosen.width.to_numpy(float), "y2": y1 + chosen.height.to_numpy(float)})


def identity_sex(images: pd.DataFrame) -> pd.Series:
    """Sex per identity from the ``Male`` attribute of its images that have one (consistent by construction)."""
    known = images.dropna(subset=["male"])
    return known.groupby("identity")["male"].agg(lambda s: "male" if s.mean() >= 0.5 else "female")
