"""Dataset summaries computed through the loaders: the counts, balances and tables the data chapter shows."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from facekit.data import celeba, lfw, sources, w300, wider
from facekit.io import Skipped, iter_images


@dataclass
class Summary:
    """Headline counts (``counts``), the registry's expectations (``expected``) and named tables."""

    name: str
    counts: dict[str, Any]
    expected: dict[str, int]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def check(self) -> pd.DataFrame:
        """Counts side by side with what the registry expects, and whether they match."""
        rows = [{"quantity": k, "found": self.counts.get(k), "expected": v, "ok": self.counts.get(k) == v}
                for k, v in self.expected.items()]
        return pd.DataFrame(rows)


def decode_check(files: list[Path], limit: int | None, seed: int = 0) -> tuple[int, list[Skipped]]:
    """Decode ``limit`` files (all when None, else a seeded sample) through ``facekit.io``; return (read, skipped)."""
    if limit is not None and limit < len(files):
        pick = np.random.default_rng(seed).choice(len(files), size=limit, replace=False)
        files = [files[i] for i in sorted(pick)]
    skipped: list[Skipped] = []
    n = sum(1 for _ in iter_images(files, skipped))
    return n, skipped


def lfw_summary() -> Summary:
    """People, images, per-person counts, View 2 folds, sex labels (with the listed-twice / unlisted images)."""
    ppl, imgs, prs, gl = lfw.people(), lfw.images(), lfw.pairs(), lfw.gender()
    folds = lfw.fold_identities(prs)
    overlap = sum(len(folds[a] & folds[b]) for a, b in itertools.combinations(folds, 2))
    per_fold = prs.groupby("fold").agg(matched=("same", "sum"), pairs=("same", "size"))
    per_fold["mismatched"] = per_fold["pairs"] - per_fold["matched"]
    per_fold["people"] = [len(folds[f]) for f in per_fold.index]
    sex_img = gl.table.sex.fillna("unlabelled").value_counts()
    sex_person = gl.by_person().value_counts()
    ge20 = ppl[ppl["count"] >= 20]
    counts = {
        "people": len(ppl), "images": len(imgs), "pairs": len(prs), "folds": int(prs.fold.nunique()),
        "matched_pairs": int(prs.same.sum()), "people_in_pairs": len(set(prs.name1) | set(prs.name2)),
        "cross_fold_identity_overlap": overlap, "people_with_1_image": int((ppl["count"] == 1).sum()),
        "people_with_ge20_images": len(ge20), "images_of_ge20_people": int(ge20["count"].sum()),
        "male_images": int(sex_img.get("male", 0)), "female_images": int(sex_img.get("female", 0)),
        "images_in_both_lists": len(gl.conflicts), "images_in_neither_list": len(gl.unlabelled),
        "male_people": int(sex_person.get("male", 0)), "female_people": int(sex_person.get("female", 0)),
    }
    quirks = pd.DataFrame([{"image": f, "issue": "in both male and female lists"} for f in gl.conflicts]
                          + [{"image": f, "issue": "in neither list"} for f in gl.unlabelled])
    return Summary("lfw", counts, sources.get("lfw").expected,
                   {"per_fold": per_fold, "people": ppl, "images": imgs, "gender_quirks": quirks})


def celeba_subset_summary() -> Summary:
    """Images, identities, sex per identity, attribute coverage and image sizes of the CelebA subset."""
    from PIL import Image

    imgs = celeba.subset_images()
    sex = celeba.identity_sex(imgs)
    sizes = []
    for p in imgs.path:
        with Image.open(p) as im:
            sizes.append(im.size)
    imgs = imgs.assign(width=[s[0] for s in sizes], height=[s[1] for s in sizes])
    counts = {
        "images": len(imgs), "identities": int(imgs.identity.nunique()),
        "male_identities": int((sex == "male").sum()), "female_identities": int((sex == "female").sum()),
        "images_with_attributes": int(imgs.male.notna().sum()),
        "landmark_file_present": (celeba.root() / "list_landmarks_celeba.txt").exists(),
    }
    return Summary("celeba_subset", counts, sources.get("celeba_subset").expected, {"images": imgs})


def w300_summary() -> Summary:
    """Annotated faces per component, images, inter-ocular distances of the 300-W subset."""
    faces = w300.faces()
    faces = faces.assign(interocular=[w300.interocular(lm) for lm in faces.landmarks])
    counts = {
        "faces": len(faces), "images": int(faces.image.nunique()),
        "helen_images": int(faces[faces.subset == "helen"].image.nunique()),
        "afw_images": int(faces[faces.subset == "afw"].image.nunique()),
        "afw_faces": int((faces.subset == "afw").sum()),
    }
    return Summary("300w_subset", counts, sources.get("300w_subset").expected, {"faces": faces})


def wider_summary() -> Summary:
    """Events, images and boxes in the WIDER FACE validation ground truth (no images here)."""
    base = wider.root()
    gt = wider.read_ground_truth(base / "wider_face_val.mat")
    kept = {d: int(sum(k.sum() for k in wider.read_ground_truth(
        base / "wider_face_val.mat", base / f"wider_{d}_val.mat").keep)) for d in ("easy", "medium", "hard")}
    sizes = np.concatenate([b[:, 2:].max(1) for b in gt.boxes if len(b)])
    counts = {"events": int(gt.event.nunique()), "images": len(gt), "boxes": int(sum(len(b) for b in gt.boxes)),
              **{f"boxes_{d}": v for d, v in kept.items()}}
    return Summary("widerface_val_gt", counts, sources.get("widerface_val_gt").expected,
                   {"box_sizes": pd.DataFrame({"side_px": sizes})})
