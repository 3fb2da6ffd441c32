"""Splits are deterministic, stratified by identity (closed set) or identity-disjoint (open set)."""

from __future__ import annotations

import numpy as np
import pytest

from facekit.data.splits import identity_disjoint_split, split_sizes, stratified_split


def _labels():
    rng = np.random.default_rng(1)
    return np.repeat([f"p{i}" for i in range(30)], rng.integers(3, 40, 30))


def test_stratified_split_is_deterministic_and_covers_every_identity():
    y = _labels()
    a, b, c = stratified_split(y, seed=0), stratified_split(y, seed=0), stratified_split(y, seed=1)
    assert (a == b).all() and not (a == c).all()
    for split in ("train", "val", "test"):
        assert set(y[a == split]) == set(y)  # closed set: everyone everywhere
    frac = {s: float((a == s).mean()) for s in ("train", "val", "test")}
    assert frac["train"] == pytest.approx(0.7, abs=0.05) and frac["test"] == pytest.approx(0.2, abs=0.05)


def test_stratified_split_does_not_depend_on_row_order():
    y = _labels()
    perm = np.random.default_rng(5).permutation(len(y))
    a = stratified_split(y, seed=0)
    b = stratified_split(y[perm], seed=0)
    # same number per identity and split whatever the row order
    for label in set(y):
        for s in ("train", "val", "test"):
            assert ((y == label) & (a == s)).sum() == ((y[perm] == label) & (b == s)).sum()


def test_identity_disjoint_split():
    y = _labels()
    s = identity_disjoint_split(y, seed=0)
    groups = {split: set(y[s == split]) for split in ("train", "val", "test")}
    assert not groups["train"] & groups["test"] and not groups["train"] & groups["val"]
    assert not groups["val"] & groups["test"]
    assert (len(groups["val"]), len(groups["test"])) == (3, 6)
    assert (identity_disjoint_split(y, seed=0) == s).all()


def test_split_sizes_table_and_bad_fractions():
    y = _labels()
    t = split_sizes(stratified_split(y), y)
    assert list(t.index) == ["train", "val", "test"] and t.images.sum() == len(y)
    assert (t.identities == 30).all()
    with pytest.raises(ValueError, match="sum"):
        stratified_split(y, fractions=(0.5, 0.2, 0.2))
