"""LFW: people, images, the View 2 pairs with their folds, and the image-level gender lists."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from facekit.data import sources
from facekit.data.splits import SEX, identity_disjoint_split, label_closed_set

IMAGE_DIR = "lfw-deepfunneled"
#: LFW's face rule: images are 250 px crops centred on the named person, and a background face can be larger
#: than theirs, so of several faces the one nearest the image centre is theirs (a ``FacePath`` policy).
FACE_POLICY = "central"


def root() -> Path:
    """The verified local LFW folder (fetched from the mirror or the official URL on first use)."""
    return sources.ensure("lfw")


def image_path(name: str, index: int, base: Path | None = None) -> Path:
    """Path of ``Name/Name_NNNN.jpg`` (``index`` is LFW's 1-based image number). In a loop, pass ``base``
    (``root()`` once): without it each call verifies the folder again, a walk of its 13,233 files (0.15 s)."""
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


def closed_set(min_images: int = 20, max_people: int | None = None, max_images: int | None = None,
               seed: int = 0) -> pd.DataFrame:
    """LFW people with >= ``min_images`` images as a closed set: path, name, label, sex (the person's majority
    label in LFW's gender lists), split (70/10/20 stratified by identity, seeded). ``max_people`` keeps the people
    with the most images, half of each sex, and ``max_images`` the first images of each (smoke runs)."""
    imgs = images()
    sex = gender().by_person()
    counts = imgs.groupby("name").size()
    keep = counts[counts >= min_images].sort_values(ascending=False, kind="stable")
    if max_people:
        by_sex = [keep[keep.index.map(sex) == s].index[:max_people - max_people // 2 if s == "male" else
                                                        max_people // 2] for s in SEX]
        keep = keep[keep.index.isin(by_sex[0].union(by_sex[1]))]
    df = imgs[imgs.name.isin(keep.index)].sort_values(["name", "index"])
    if max_images:
        df = df.groupby("name").head(max_images)
    df = df.assign(sex=df.name.map(sex)).reset_index(drop=True)
    if df.sex.isna().any():
        raise ValueError(f"no sex label for {sorted(df.name[df.sex.isna()].unique())} in LFW's gender lists")
    return label_closed_set(df, seed)


def other_people(exclude: set[str], per_person: int = 1, max_people: int | None = None,
                 seed: int = 0) -> pd.DataFrame:
    """Labelled LFW people outside ``exclude`` (a closed set), up to ``per_person`` images each, split 90/10 by
    identity for training and validating an identity-disjoint sex head."""
    imgs = images()
    sex = gender().by_person()
    df = imgs[~imgs.name.isin(exclude) & imgs.name.isin(sex.index)].sort_values(["name", "index"])
    people_ = np.array(sorted(df.name.unique()))
    if max_people and len(people_) > max_people:
        people_ = np.sort(np.random.default_rng(seed).choice(people_, max_people, replace=False))
    df = df[df.name.isin(people_)].groupby("name").head(per_person).reset_index(drop=True)
    df["sex"] = df.name.map(sex)
    df["sex_label"] = df.sex.map({s: i for i, s in enumerate(SEX)})
    df["split"] = identity_disjoint_split(df.name, (0.9, 0.1, 0.0), seed=seed)
    return df


@dataclass
class LfwSplit:
    """Identity-disjoint use of LFW: training people, validation pairs (one fold), test pairs (other folds)."""

    train: pd.DataFrame  # path, name, label
    val_pairs: pd.DataFrame
    test_pairs: pd.DataFrame
    val_fold: int
    test_folds: tuple[int, ...]


def lfw_split(val_fold: int = 5, test_folds: tuple[int, ...] = (6, 7, 8, 9, 10), min_images: int = 2,
              max_people: int | None = None, seed: int = 0) -> LfwSplit:
    """Train on everyone outside the validation and test folds' pairs who has at least ``min_images`` images
    (optionally a seeded sample of ``max_people``); validate on ``val_fold``'s pairs; test on ``test_folds``."""
    pair_table = pairs()
    allowed = set(identities_outside_folds(pair_table, [val_fold, *test_folds]))
    imgs = images()
    imgs = imgs[imgs.name.isin(allowed)]
    counts = imgs.groupby("name").size()
    keep = sorted(counts[counts >= min_images].index)
    if max_people is not None and max_people < len(keep):
        keep = sorted(np.random.default_rng(seed).choice(keep, size=max_people, replace=False).tolist())
    train = imgs[imgs.name.isin(keep)].reset_index(drop=True)
    train["label"] = train.name.map({n: i for i, n in enumerate(keep)})
    return LfwSplit(train, pair_table[pair_table.fold == val_fold].reset_index(drop=True),
                    pair_table[pair_table.fold.isin(test_folds)].reset_index(drop=True), val_fold, tuple(test_folds))
