"""Binary gender labels for report 003, per image and per person: LFW's gender lists and CelebA's ``Male``
attribute. "Gender" here is the dataset's binary label of a photographed person, not anyone's identity.

Every table carries where each label came from (``label_source``), and the splits are by person by default,
because report 003 split by image and let one celebrity sit in train and test."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from facekit.data import celeba, lfw
from facekit.data.splits import identity_disjoint_split

LFW_SOURCE = "LFW gender lists (gender/male_names.txt, female_names.txt)"
CELEBA_SOURCE = "CelebA Male attribute"


@dataclass(frozen=True)
class GenderSet:
    """Images with a binary label (``male``), the person each shows, and how the labels were obtained."""

    images: pd.DataFrame  # path, name, male (bool), label_source
    report: dict[str, Any]


def lfw_gender() -> GenderSet:
    """Every image of every LFW person whose labelled images agree (the person's label goes to all of them);
    people whose images disagree and images listed as both are counted and left out."""
    g = lfw.gender()
    t = g.table.copy()
    labelled = t.dropna(subset=["sex"])
    per_person = labelled.groupby("name")["sex"].agg(lambda s: s.iloc[0] if s.nunique() == 1 else None)
    mixed = sorted(per_person[per_person.isna()].index)
    sex = per_person.dropna()
    imgs = lfw.images()
    imgs = imgs[imgs.name.isin(sex.index)].copy()
    imgs["male"] = imgs.name.map(sex).eq("male")
    labelled_files = set(labelled.file)
    imgs["label_source"] = [LFW_SOURCE if Path(p).stem in labelled_files else f"{LFW_SOURCE}, from the person's "
                            "other images" for p in imgs.path]
    report = {"people": int(len(sex)), "images": int(len(imgs)), "male_people": int((sex == "male").sum()),
              "female_people": int((sex == "female").sum()), "images_in_both_lists": len(g.conflicts),
              "images_in_neither_list": len(g.unlabelled), "people_with_disagreeing_images": len(mixed),
              "people_left_out": mixed[:20]}
    return GenderSet(imgs[["path", "name", "male", "label_source"]].reset_index(drop=True), report)


def celeba_gender(base: Path | None = None) -> GenderSet:
    """The CelebA subset with ``Male`` propagated within each identity where the identity's attribute rows agree
    (images without a row take it); identities whose rows disagree are left out and counted."""
    imgs = celeba.subset_images(base)
    known = imgs.dropna(subset=["male"])
    agree = known.groupby("identity")["male"].agg(lambda s: bool(s.iloc[0]) if s.nunique() == 1 else None)
    inconsistent = sorted(int(i) for i in agree[agree.isna()].index)
    value = agree.dropna()
    out = imgs[imgs.identity.isin(value.index)].copy()
    out["label_source"] = np.where(out.male.isna(), f"{CELEBA_SOURCE}, propagated within the identity",
                                   CELEBA_SOURCE)
    out["male"] = out.identity.map(value).astype(bool)
    out["name"] = [f"celeba-{i}" for i in out.identity]
    report = {"identities": int(out.identity.nunique()), "images": int(len(out)),
              "images_with_attribute": int(imgs.male.notna().sum()),
              "images_propagated": int((out.label_source != CELEBA_SOURCE).sum()),
              "identities_without_any_attribute": int(imgs.identity.nunique() - known.identity.nunique()),
              "identities_disagreeing": inconsistent,
              "male_identities": int(value.astype(bool).sum()),
              "female_identities": int((~value.astype(bool)).sum())}
    return GenderSet(out[["path", "name", "male", "label_source"]].reset_index(drop=True), report)


def person_split(images: pd.DataFrame, fractions: tuple[float, float, float] = (0.7, 0.1, 0.2),
                 seed: int = 0) -> np.ndarray:
    """train / val / test per image with every person wholly on one side, drawn separately for each label so
    both sides keep the set's balance of men and women."""
    out = np.empty(len(images), dtype=object)
    for value in (False, True):
        sel = (images.male == value).to_numpy()
        out[sel] = identity_disjoint_split(images.name[sel], fractions, seed=seed)
    return out


def image_split(images: pd.DataFrame, fractions: tuple[float, float, float] = (0.7, 0.2, 0.1),
                seed: int = 0) -> np.ndarray:
    """Report 003's split: a seeded random split of images (``torch.utils.data.random_split``'s kind), blind to
    who is in them."""
    n = len(images)
    order = np.random.default_rng(seed).permutation(n)
    n_train, n_val = int(round(fractions[0] * n)), int(round(fractions[1] * n))
    out = np.empty(n, dtype=object)
    out[order[:n_train]], out[order[n_train:n_train + n_val]], out[order[n_train + n_val:]] = "train", "val", "test"
    return out


def shared_people(images: pd.DataFrame, split: np.ndarray) -> int:
    """How many people have images both in the training split and in the test split (leakage)."""
    split = np.asarray(split)
    train, test = set(images.name[split == "train"]), set(images.name[split == "test"])
    return len(train & test)


__all__ = ["CELEBA_SOURCE", "LFW_SOURCE", "GenderSet", "celeba_gender", "image_split", "lfw_gender",
           "person_split", "shared_people"]
