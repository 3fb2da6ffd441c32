"""Identity-per-folder datasets (the Kaggle Pins layout ``pins_<Name>/``, CASIA-style ``<id>/``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

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
