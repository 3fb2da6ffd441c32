"""Deterministic splits: stratified by identity for closed-set tasks, identity-disjoint for open-set tasks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

SPLITS = ("train", "val", "test")
#: The binary sex label of the datasets here (LFW's gender lists, CelebA's ``Male``), in label order.
SEX = ("female", "male")


def _counts(n: int, fractions: Sequence[float]) -> list[int]:
    """Split ``n`` by ``fractions``: val/test get round(n * f) but at least 1 while train keeps at least 1."""
    val = max(1, round(n * fractions[1])) if n >= 3 else 0
    test = max(1, round(n * fractions[2])) if n >= 2 else 0
    return [n - val - test, val, test]


def stratified_split(labels: Sequence, fractions: Sequence[float] = (0.7, 0.1, 0.2), seed: int = 0) -> np.ndarray:
    """Split name ("train"/"val"/"test") per sample, each identity divided by ``fractions`` (closed set).

    Identities are processed in sorted order with one seeded generator, so the split depends only on the labels
    and the seed. An identity with fewer than 3 samples cannot appear in all three splits (train first).
    """
    if abs(sum(fractions) - 1.0) > 1e-6 or len(fractions) != 3:
        raise ValueError(f"fractions must be three numbers summing to 1, got {fractions}")
    labels = np.asarray(labels)
    out = np.empty(len(labels), dtype=object)
    rng = np.random.default_rng(seed)
    for label in sorted(set(labels.tolist()), key=str):
        idx = np.flatnonzero(labels == label)
        idx = idx[rng.permutation(len(idx))]
        n_train, n_val, _ = _counts(len(idx), fractions)
        out[idx[:n_train]] = "train"
        out[idx[n_train:n_train + n_val]] = "val"
        out[idx[n_train + n_val:]] = "test"
    return out


def identity_disjoint_split(labels: Sequence, fractions: Sequence[float] = (0.7, 0.1, 0.2),
                            seed: int = 0) -> np.ndarray:
    """Split name per sample with every identity wholly in one split (open set: test people are unseen)."""
    if abs(sum(fractions) - 1.0) > 1e-6 or len(fractions) != 3:
        raise ValueError(f"fractions must be three numbers summing to 1, got {fractions}")
    labels = np.asarray(labels)
    ids = np.array(sorted(set(labels.tolist()), key=str), dtype=object)
    ids = ids[np.random.default_rng(seed).permutation(len(ids))]
    n_val, n_test = round(len(ids) * fractions[1]), round(len(ids) * fractions[2])
    assign = {i: "val" for i in ids[:n_val]}
    assign.update({i: "test" for i in ids[n_val:n_val + n_test]})
    return np.array([assign.get(x, "train") for x in labels.tolist()], dtype=object)


def split_sizes(splits: Sequence, labels: Sequence | None = None) -> pd.DataFrame:
    """Images (and identities when ``labels`` is given) per split, the table every chapter prints."""
    df = pd.DataFrame({"split": np.asarray(splits)})
    out = df.groupby("split").size().rename("images").to_frame()
    if labels is not None:
        df["label"] = np.asarray(labels)
        out["identities"] = df.groupby("split")["label"].nunique()
    return out.reindex([s for s in SPLITS if s in out.index])


def label_closed_set(df: pd.DataFrame, seed: int = 0, fractions: Sequence[float] = (0.7, 0.1, 0.2)) -> pd.DataFrame:
    """A closed set (``name``, ``sex``) with ``label`` (sorted names), ``sex_label`` (-1 where unknown) and a
    ``split`` stratified by identity, seeded."""
    names = sorted(df.name.unique())
    df["label"] = df.name.map({n: i for i, n in enumerate(names)})
    df["sex_label"] = df.sex.map({s: i for i, s in enumerate(SEX)}).fillna(-1).astype(int)
    df["split"] = stratified_split(df.label, fractions, seed=seed)
    return df


def make_pairs(df: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` verification pairs (half matched, half mismatched) drawn with a seed from ``df`` (path, name)."""
    rng = np.random.default_rng(seed)
    by_name = {k: list(g.path) for k, g in df.groupby("name")}
    multi = [k for k, v in by_name.items() if len(v) >= 2]
    names = list(by_name)
    if not multi or len(names) < 2:
        raise ValueError("need people with two images and at least two people to make pairs")
    rows = []
    for _ in range(n // 2):
        k = multi[rng.integers(len(multi))]
        a, b = rng.choice(len(by_name[k]), size=2, replace=False)
        rows.append((by_name[k][a], by_name[k][b], True))
        k1, k2 = rng.choice(len(names), size=2, replace=False)
        p1, p2 = by_name[names[k1]], by_name[names[k2]]
        rows.append((p1[rng.integers(len(p1))], p2[rng.integers(len(p2))], False))
    return pd.DataFrame(rows, columns=["path1", "path2", "same"])
