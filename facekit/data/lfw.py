"""LFW: people, images, the View 2 pairs with their folds, and the image-level gender lists."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from facekit.data import sources

IMAGE_DIR = "lfw-deepfunneled"


def root() -> Path:
    """The verified local LFW folder (fetched from the mirror or the official URL on first use)."""
    return sources.ensure("lfw")


def image_path(name: str, index: int, base: Path | None = None) -> Path:
    """Path of ``Name/Name_NNNN.jpg`` (``index`` is LFW's 1-based image number)."""
    base = base or root()
    return base / IMAGE_DIR / name / f"{name}_{index:04d}.jpg"


def people(base: Path | None = None) -> pd.DataFrame:
    """One row per person from ``lfw-names.txt``: ``name``, ``count`` (number of images)."""
    base = base or root()
    df = pd.read_csv(base / "lfw-names.txt", sep="\t", header=None, names=["name", "count"],
                     dtype={"name": str, "count": int}, keep_default_na=False)
    return df


def images(base: Path | None = None) -> pd.DataFrame:
    """One row per image file: ``name``, ``index``, ``path``; checked against ``lfw-names.txt`` counts."""
    base = base or root()
    rows = []
    for person_dir in sorted((base / IMAGE_DIR).iterdir()):
        if not person_dir.is_dir():
            continue
        for f in sorted(person_dir.glob("*.jpg")):
            stem = f.stem
            rows.append((person_dir.name, int(stem.rsplit("_", 1)[1]), f))
    df = pd.DataFrame(rows, columns=["name", "index", "path"])
    counts = df.groupby("name").size()
    listed = people(base).set_index("name")["count"]
    diff = listed.sub(counts, fill_value=0)
    bad = diff.index[diff != 0]
    if len(bad):
        raise sources.DataError(f"{base / IMAGE_DIR}: image counts differ from lfw-names.txt for "
                                f"{len(bad)} people (first: {list(bad[:3])}); run `facekit data status`")
    return df


def pairs(base: Path | None = None) -> pd.DataFrame:
    """View 2 pairs: ``fold`` (1-10), ``name1``, ``index1``, ``name2``, ``index2``, ``same``, ``path1``, ``path2``.

    ``pairs.txt`` starts with ``<folds>\\t<n>``; each fold has ``n`` matched lines (``name i j``) then ``n``
    mismatched lines (``name1 i name2 j``).
    """
    base = base or root()
    path = base / "pairs.txt"
    lines = path.read_text().splitlines()
    n_folds, n = (int(x) for x in lines[0].split())
    body = [ln.split() for ln in lines[1:] if ln.strip()]
    if len(body) != n_folds * 2 * n:
        raise sources.DataError(f"{path}: {len(body)} pair lines, header promises {n_folds * 2 * n}")
    rows = []
    for k, parts in enumerate(body):
        fold = k // (2 * n) + 1
        same = (k % (2 * n)) < n
        if same and len(parts) == 3:
            rows.append((fold, parts[0], int(parts[1]), parts[0], int(parts[2]), True))
        elif not same and len(parts) == 4:
            rows.append((fold, parts[0], int(parts[1]), parts[2], int(parts[3]), False))
        else:
            raise sources.DataError(f"{path}: line {k + 2} {' '.join(parts)!r} does not fit fold {fold}'s "
                                    f"{'matched' if same else 'mismatched'} block")
    df = pd.DataFrame(rows, columns=["fold", "name1", "index1", "name2", "index2", "same"])
    df["path1"] = [image_path(a, i, base) for a, i in zip(df.name1, df.index1, strict=True)]
    df["path2"] = [image_path(b, j, base) for b, j in zip(df.name2, df.index2, strict=True)]
    return df


def fold_identities(pair_table: pd.DataFrame) -> dict[int, set[str]]:
    """The people that appear in each fold's pairs (View 2 folds are meant to be identity-disjoint)."""
    out: dict[int, set[str]] = {}
    for fold, g in pair_table.groupby("fold"):
        out[int(fold)] = set(g.name1) | set(g.name2)
    return out


def identities_outside_folds(pair_table: pd.DataFrame, folds: list[int], base: Path | None = None) -> list[str]:
    """People usable for training when ``folds`` are evaluated: everyone not appearing in those folds."""
    held_out: set[str] = set().union(*(fold_identities(pair_table).get(f, set()) for f in folds))
    return [n for n in people(base).name if n not in held_out]


@dataclass(frozen=True)
class GenderLabels:
    """Image-level sex labels; ``conflicts`` are images in both lists, ``unlabelled`` images in neither."""

    table: pd.DataFrame  # name, index, file, sex ("male" / "female" / None)
    conflicts: list[str]
    unlabelled: list[str]

    def by_person(self) -> pd.Series:
        """Majority sex per person over that person's labelled, unambiguous images."""
        t = self.table.dropna(subset=["sex"])
        return t.groupby("name")["sex"].agg(lambda s: s.value_counts().index[0])


def gender(base: Path | None = None) -> GenderLabels:
    """Read ``gender/{male,female}_names.txt`` (CRLF file lists); report images listed twice or not at all."""
    base = base or root()

    def read(fname: str) -> set[str]:
        names = (base / "gender" / fname).read_text().splitlines()
        return {Path(n.strip()).stem for n in names if n.strip()}

    male, female = read("male_names.txt"), read("female_names.txt")
    conflicts = sorted(male & female)
    table = images(base)
    table["file"] = [p.stem for p in table.path]
    sex = []
    for f in table.file:
        m, w = f in male, f in female
        sex.append("male" if m and not w else "female" if w and not m else None)
    table["sex"] = sex
    unlabelled = sorted(set(table.file) - male - female)
    return GenderLabels(table[["name", "index", "file", "sex"]], conflicts, unlabelled)
