"""Report 003's labels and scores: person-disjoint splits (and the image split's leak), CelebA's label propagated
within identities with its source, kappa / AUC / bootstrap on hand-made labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from facekit.data import gender
from facekit.metrics import binary_metrics, bootstrap_by_group, sklearn_binary_metrics


def test_binary_metrics_known_values():
    # pred = [T, T, F, F, F, T]: tp 2, fn 1, tn 2, fp 1; p_o = 4/6, p_e = 0.5 -> kappa 1/3; AUC 8 of 9 pairs
    m = binary_metrics([1, 1, 1, 0, 0, 0], [0.9, 0.8, 0.3, 0.2, 0.1, 0.7])
    assert (m["tp"], m["fn"], m["tn"], m["fp"]) == (2, 1, 2, 1)
    assert m["accuracy"] == pytest.approx(4 / 6) and m["cohen_kappa"] == pytest.approx(1 / 3)
    assert m["roc_auc"] == pytest.approx(8 / 9)
    # chance agreement: kappa 0 with accuracy 0.5; AUC 3 of 4 pairs
    m = binary_metrics([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1])
    assert m["cohen_kappa"] == pytest.approx(0.0) and m["roc_auc"] == pytest.approx(0.75)
    # imbalanced: everything called positive -> balanced accuracy 0.5 although accuracy is 0.8
    m = binary_metrics([1, 1, 1, 1, 0], [0.9] * 5)
    assert m["accuracy"] == pytest.approx(0.8) and m["balanced_accuracy"] == pytest.approx(0.5)
    assert binary_metrics([1, 1], [0.2, 0.9])["roc_auc"] is None  # one class: undefined, not a number


def test_binary_metrics_are_scikit_learns_numbers_bit_for_bit():
    # the bootstrap's thousand draws use the counts-based metrics; every number must be scikit-learn's exactly:
    # balanced and skewed classes, tied and coarse scores (collinear ROC points), one class, one prediction
    rng = np.random.default_rng(7)
    cases = [([1, 1, 1, 1, 0], [0.9] * 5), ([1, 1], [0.2, 0.9]), ([0, 0, 0], [0.1, 0.7, 0.2]), ([1], [0.3]),
             ([0, 1], [0.5, 0.5]), ([1, 0, 1, 0], [0.0, 1.0, 0.5, 0.5])]
    for _ in range(150):
        n = int(rng.integers(2, 400))
        y = rng.random(n) < rng.uniform(0.05, 0.95)
        prob = rng.random(n) if rng.random() < 0.5 else np.round(rng.random(n) * rng.integers(1, 12)) / 11
        cases.append((y, np.clip(prob + 0.3 * y * rng.random(), 0, 1)))
    for y, prob in cases:
        ours, theirs = binary_metrics(y, prob), sklearn_binary_metrics(y, prob)
        assert list(ours) == list(theirs)
        for key, value in theirs.items():
            assert ours[key] == value or (value != value and ours[key] != ours[key]), (key, y, prob)


def test_binary_metrics_refuse_what_scikit_learn_refused():
    # a diverged model's NaN, labels and scores of other lengths, nothing at all: an error, never a number
    for y, prob in (([1, 0], [0.9, float("nan")]), ([1, 0, 1], [0.9, 0.1]), ([1], [0.9, 0.1]), ([], [])):
        with pytest.raises(ValueError):
            sklearn_binary_metrics(y, prob)
        with pytest.raises(ValueError, match="finite probabilities as labels"):
            binary_metrics(y, prob)


def test_bootstrap_resamples_people_not_images():
    rng = np.random.default_rng(0)
    people = np.repeat(np.arange(40), 5)
    y = rng.random(200) < 0.5
    prob = np.where(people < 30, y * 0.8 + 0.1, 1 - (y * 0.8 + 0.1))  # 10 people always wrong
    point = binary_metrics(y, prob)["accuracy"]
    ci = bootstrap_by_group(binary_metrics, people, y, prob, n_boot=300, seed=1)
    lo, hi = ci["accuracy"]
    assert lo < point < hi and hi - lo > 0.1  # whole people move in and out: a wide interval
    by_image = bootstrap_by_group(binary_metrics, np.arange(200), y, prob, n_boot=300, seed=1)["accuracy"]
    assert by_image[1] - by_image[0] < hi - lo  # resampling images would understate it
    perfect = bootstrap_by_group(binary_metrics, people, y, y.astype(float), n_boot=50)["accuracy"]
    assert perfect == (1.0, 1.0)


def test_person_split_is_disjoint_and_the_image_split_leaks(mirror_data):
    lfw = gender.lfw_gender()
    assert lfw.report["people"] > 5000 and lfw.report["images"] > 12000
    assert set(lfw.images.label_source.str.startswith(gender.LFW_SOURCE)) == {True}
    split = gender.person_split(lfw.images, seed=0)
    names = {s: set(lfw.images.name[split == s]) for s in ("train", "val", "test")}
    assert not (names["train"] & names["test"]) and not (names["train"] & names["val"])
    assert not (names["val"] & names["test"])
    test = lfw.images[split == "test"]
    assert 0.1 < test.male.mean() < 0.95 and gender.shared_people(lfw.images, split) == 0
    leaky = gender.image_split(lfw.images, seed=0)
    assert pd.Series(leaky).value_counts(normalize=True)["train"] == pytest.approx(0.7, abs=0.01)
    assert gender.shared_people(lfw.images, leaky) > 100


def test_celeba_labels_propagate_within_identities_and_say_so(mirror_data):
    cs = gender.celeba_gender()
    r = cs.report
    assert r["images"] + 0 == len(cs.images) and r["identities_disagreeing"] == []
    assert r["images_propagated"] == len(cs.images) - int((cs.images.label_source == gender.CELEBA_SOURCE).sum())
    assert r["images_propagated"] > 0 and r["images_with_attribute"] == 133
    assert set(cs.images.label_source) == {gender.CELEBA_SOURCE,
                                           f"{gender.CELEBA_SOURCE}, propagated within the identity"}
    # one label per identity
    assert cs.images.groupby("name").male.nunique().max() == 1
    assert r["male_identities"] + r["female_identities"] == r["identities"]
