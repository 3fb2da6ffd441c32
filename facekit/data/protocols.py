"""Identification protocols on a table of face images (``name``, ``path``; LFW's by default): which images form
the gallery and which query it. Every split is seeded and by person, so that a protocol can be rerun exactly.

- ``report002``: report 002's shape. A gallery of all images of a set of people (about 3,000 images) and one
  held-out query image for each of ~107 of them.
- ``closed_set``: one gallery image per person for everyone; every other image of the people with two or more
  images is a query. People with one image only are distractors in the gallery.
- ``open_set``: people with two or more images are split into enrolled and held out. The gallery has one image
  per enrolled person, plus the one-image people as distractors. Queries are the other images of the enrolled
  ("mates") and every image of the held out ("non-mates"). Queries are then split by person into a calibration
  half, where the open-set threshold is chosen, and a test half, where it is scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Protocol:
    """Gallery rows (path, name) and query rows (path, name, mate, split); ``mate``: the person is enrolled."""

    name: str
    gallery: pd.DataFrame
    queries: pd.DataFrame
    description: str

    def summary(self) -> dict[str, int | str]:
        q = self.queries
        return {"protocol": self.name, "gallery images": len(self.gallery),
                "gallery people": self.gallery.name.nunique(), "queries": len(q),
                "mate queries": int(q.mate.sum()), "non-mate queries": int((~q.mate).sum()),
                "query people": q.name.nunique()}


def _lfw_images() -> pd.DataFrame:
    from facekit.data import lfw

    return lfw.images()


def _people(images: pd.DataFrame, min_images: int) -> np.ndarray:
    counts = images.groupby("name").size()
    return np.array(sorted(counts[counts >= min_images].index))


def _one_per_person(images: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """A seeded random image of every person in ``images``."""
    pick = images.groupby("name", sort=True).apply(lambda g: g.iloc[rng.integers(len(g))], include_groups=False)
    return pick.reset_index()


def report002(images: pd.DataFrame | None = None, gallery_size: int = 3000, n_queries: int = 107, seed: int = 0,
              ) -> Protocol:
    """People (with >= 2 images, in seeded order) are added until their images fill ``gallery_size``; one image
    of each of ``n_queries`` of them is held out as a query. The gallery keeps the rest of their images."""
    images = _lfw_images() if images is None else images
    rng = np.random.default_rng(seed)
    people = rng.permutation(_people(images, 2))
    by_name = dict(tuple(images.groupby("name", sort=False)))
    chosen, total = [], 0
    for person in people:
        chosen.append(person)
        total += len(by_name[person])
        if len(chosen) >= n_queries and total - n_queries >= gallery_size:
            break
    if len(chosen) < n_queries:
        raise ValueError(f"only {len(chosen)} people fill a gallery of {gallery_size}; ask for fewer queries")
    query_people = set(rng.choice(np.array(chosen), n_queries, replace=False).tolist())
    rows = pd.concat([by_name[p] for p in chosen])
    queries = _one_per_person(rows[rows.name.isin(query_people)], rng)
    gallery = rows[~rows.path.isin(set(queries.path))]
    queries = queries.assign(mate=True, split="test")
    return Protocol("report-002 style", _cols(gallery), _cols(queries, True),
                    f"{len(chosen)} people with all their images in the gallery ({len(gallery)} images) but one "
                    f"held-out image for each of {n_queries} of them (queries); seed {seed}")


def closed_set(images: pd.DataFrame | None = None, seed: int = 0) -> Protocol:
    """One gallery image per person (everyone); all other images of the people with >= 2 images query it."""
    images = _lfw_images() if images is None else images
    rng = np.random.default_rng(seed)
    gallery = _one_per_person(images, rng)
    queries = images[~images.path.isin(set(gallery.path))].assign(mate=True, split="test")
    return Protocol("closed set", _cols(gallery), _cols(queries, True),
                    f"one seeded image of each of {gallery.name.nunique()} people in the gallery "
                    f"({int((images.groupby('name').size() == 1).sum())} of them with no other image: distractors); "
                    f"the {len(queries)} other images query it; seed {seed}")


def open_set(images: pd.DataFrame | None = None, held_out: float = 0.5, calibration: float = 0.5, seed: int = 0,
             ) -> Protocol:
    """Enrolled vs held-out people (of those with >= 2 images, share ``held_out`` held out); queries split by
    person into ``calibration`` (threshold choice) and test."""
    images = _lfw_images() if images is None else images
    rng = np.random.default_rng(seed)
    multi = rng.permutation(_people(images, 2))
    n_out = int(round(held_out * len(multi)))
    out_people, enrolled = set(multi[:n_out]), set(multi[n_out:])
    singles = set(_people(images, 1)) - set(multi)
    gallery = _one_per_person(images[images.name.isin(enrolled | singles)], rng)
    queries = images[(images.name.isin(enrolled) & ~images.path.isin(set(gallery.path)))
                     | images.name.isin(out_people)].copy()
    queries["mate"] = queries.name.isin(enrolled)
    names = rng.permutation(np.array(sorted(queries.name.unique())))
    calib = set(names[:int(round(calibration * len(names)))])
    queries["split"] = np.where(queries.name.isin(calib), "calibration", "test")
    return Protocol("open set", _cols(gallery), _cols(queries, True),
                    f"{len(enrolled)} enrolled people (one gallery image each) plus {len(singles)} one-image "
                    f"distractors; {len(out_people)} people held out; queries split by person into calibration "
                    f"and test halves; seed {seed}")


def _cols(df: pd.DataFrame, query: bool = False) -> pd.DataFrame:
    cols = ["path", "name", *(["mate", "split"] if query else [])]
    return df[cols].sort_values("path", key=lambda s: s.astype(str)).reset_index(drop=True)
