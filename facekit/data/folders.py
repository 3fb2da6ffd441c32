"""Identity-per-folder datasets (the Kaggle Pins layout ``pins_<Name>/``, CASIA-style ``<id>/``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from facekit.data.splits import SEX, identity_disjoint_split, label_closed_set, make_pairs
from facekit.io import ImageError, Skipped, list_images


def read_identity_folders(folder: str | Path, prefix: str = "", min_images: int = 1,
                          skipped: list[Skipped] | None = None) -> pd.DataFrame:
    """``path``, ``identity`` for each image in ``folder/<prefix><identity>/``; sorted, deterministic.

    Folders without the prefix or with fewer than ``min_images`` images are appended to ``skipped`` with the
    reason (not dropped silently).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(folder, "dataset folder not found; see `facekit data status`")
    skipped = skipped if skipped is not None else []
    rows = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if prefix and not sub.name.startswith(prefix):
            skipped.append(Skipped(sub, f"folder name lacks the prefix {prefix!r}"))
            continue
        files = list_images(sub, recursive=False)
        if len(files) < min_images:
            skipped.append(Skipped(sub, f"{len(files)} images < min_images={min_images}"))
            continue
        identity = sub.name[len(prefix):].replace("_", " ").strip() if prefix else sub.name
        rows.extend((f, identity) for f in files)
    return pd.DataFrame(rows, columns=["path", "identity"])


def folder_split(folder: Path, val_people: float = 0.02, val_pairs: int = 600, min_images: int = 2,
                 seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """An identity-per-folder training set (CASIA-WebFace, MS1M): (train with labels, validation pairs drawn
    from a held-out ``val_people`` share of its identities). None of these people is in LFW's folds by design of
    those datasets' authors, which is why the full profile tests on all ten folds."""
    df = read_identity_folders(folder, min_images=min_images).rename(columns={"identity": "name"})
    share = max(val_people, 2.0 / max(df.name.nunique(), 1))  # at least two held-out people, to make pairs
    split = identity_disjoint_split(df.name, (1 - share, share, 0.0), seed=seed)
    train = df[split == "train"].reset_index(drop=True)
    train["label"] = train.name.map({n: i for i, n in enumerate(sorted(set(train.name)))})
    return train, make_pairs(df[split == "val"], val_pairs, seed)


def closed_set_folder(folder: str | Path, prefix: str = "pins_", min_images: int = 20, seed: int = 0,
                      dataset: str = "pins105") -> pd.DataFrame:
    """A Pins-style closed set (``folder/pins_<Name>/``, full profile). Sex comes from ``folder/sex.csv``
    (columns ``name,sex`` with female/male) when present; without it ``sex`` is empty and ``sex_label`` -1, and
    the chapter skips the sex parts with a note. ``dataset`` is the registry name recorded with the results."""
    df = read_identity_folders(folder, prefix=prefix, min_images=min_images).rename(columns={"identity": "name"})
    sex_file = Path(folder) / "sex.csv"
    sex = pd.read_csv(sex_file).set_index("name")["sex"] if sex_file.exists() else pd.Series(dtype=object)
    bad = set(sex.dropna()) - set(SEX)
    if bad:
        raise ValueError(f"{sex_file}: sex must be one of {SEX}, found {sorted(bad)}")
    out = label_closed_set(df.assign(sex=df.name.map(sex)), seed)
    out.attrs["dataset"] = dataset
    return out
