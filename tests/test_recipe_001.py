"""Report 001's recipe pieces: per-image augmentations drawn from their own seeded stream, offline triplet
batches laid out as anchors / positives / negatives, the 4096-4096 VGG16 head, and the full profile that uses
them (written in the chapter's recipe table from the params)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facekit.augment import BatchAugment
from facekit.batches import CropBatches, TripletBatches, triplet_indices
from facekit.train import CropSet, Run


def _crops(people=6, per=4, size=32, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (people, 1, size, size, 3))
    crops = np.clip(base + rng.integers(-20, 20, (people, per, size, size, 3)), 0, 255).astype(np.uint8)
    return crops.reshape(-1, size, size, 3), np.repeat(np.arange(people), per)


def test_augmentations_are_per_image_seeded_and_change_only_what_they_say():
    x = torch.rand(8, 3, 32, 32) + 0.5  # no zero pixel before erasing
    aug = BatchAugment(("crop", "rotation", "erasing"))
    a = aug(x, torch.Generator().manual_seed(3))
    b = aug(x, torch.Generator().manual_seed(3))
    assert a.shape == x.shape and torch.equal(a, b)  # a function of the generator's seed alone
    assert not torch.equal(a, aug(x, torch.Generator().manual_seed(4)))
    erased = BatchAugment(("erasing",))(x, torch.Generator().manual_seed(0))
    zeros = (erased == 0).all(1).flatten(1).sum(1)  # erased pixels per image, all channels at 0
    assert ((zeros == 0) | ((zeros >= 0.02 * 32 * 32 * 0.5) & (zeros <= 0.2 * 32 * 32 * 1.5))).all()
    assert 0 < (zeros > 0).sum() < 8  # some images erased, not all (p 0.5)
    torch.testing.assert_close(erased[zeros == 0], x[zeros == 0])
    rotated = BatchAugment(("rotation",))(x, torch.Generator().manual_seed(0))
    assert not torch.allclose(rotated, x) and (rotated - x).abs().mean() < 0.5
    assert torch.equal(BatchAugment(())(x, torch.Generator()), x)
    with pytest.raises(ValueError, match="unknown augmentation"):
        BatchAugment(("mixup",))


def test_an_augmenting_batch_stream_keeps_the_order_and_flips_of_a_plain_one():
    crops, labels = _crops()
    plain = list(CropBatches(crops, labels, 8, 2, seed=1)(0, "cpu"))
    same = list(CropBatches(crops, labels, 8, 2, seed=1, augment=lambda x, g: x)(0, "cpu"))
    assert all(torch.equal(p[0], s[0]) and torch.equal(p[1], s[1]) for p, s in zip(plain, same, strict=True))
    augmented = list(CropBatches(crops, labels, 8, 2, seed=1, augment=BatchAugment(("erasing",)))(0, "cpu"))
    assert all(torch.equal(p[1], a[1]) for p, a in zip(plain, augmented, strict=True))
    assert any(not torch.equal(p[0], a[0]) for p, a in zip(plain, augmented, strict=True))


def test_offline_triplets_are_laid_out_anchor_positive_negative_and_seeded():
    crops, labels = _crops(people=5, per=3)
    batches = TripletBatches(crops, labels, 10, seed=2)  # 3 triplets a batch (9 images)
    assert batches.batch_size == 9 and batches.order(0) == batches.order(0) and batches.order(0) != batches.order(1)
    for _, y in batches(0, "cpu"):
        a, p, n = (y[i] for i in triplet_indices(len(y)))
        assert len(y) == 9 and torch.equal(a, p) and (a != n).all()
    order = np.array(batches.order(0)).reshape(-1, 3, 3)
    assert (order[:, 0] != order[:, 1]).all()  # a positive is another image of the anchor's person
    with pytest.raises(ValueError, match="two people"):
        TripletBatches(crops[:3], labels[:3], 9)


def test_report_001_models_train_with_offline_triplets_augmentation_and_the_vgg_head():
    from facekit.metric_training import MetricRecipe, train_metric_model
    from facekit.studies.metric_learning import REPORT_001

    crops, labels = _crops(size=112)
    val = (crops[[0, 4, 8]], crops[[1, 12, 9]], np.array([True, False, True]))
    data = CropSet(crops, labels, val)
    run = Run(1, seed=0, device="cpu", progress=False)
    _, arcface, inception, vgg = (None, *REPORT_001)
    _, res = train_metric_model(inception, data, MetricRecipe(9, 32, augment=("rotation",), offline_triplets=True),
                                run)
    assert np.isfinite(res.history[0]["loss"]) and res.history[0]["loss"] > 0
    model, res = train_metric_model(vgg, data, MetricRecipe(8, 32, m_per_class=4, head="mlp4096"), run)
    assert model[1].head[0].out_features == 4096 and model[1].head[-2].out_features == vgg.dim
    with pytest.raises(ValueError, match="offline triplets"):
        train_metric_model(arcface, data, MetricRecipe(9, 32, offline_triplets=True), run)


def test_the_full_profile_follows_report_001s_recipe_and_the_table_says_so():
    from facekit.studies import metric_learning as ml

    full = ml.CHAPTER.params("full")
    assert (full.mobilenet.input_size, full.vgg16.input_size) == (224, 256)
    assert set(full.mobilenet.augment) == {"crop", "erasing"} and full.inception.augment == ("rotation",)
    assert full.inception.offline_triplets and full.vgg16.head == "mlp4096"
    assert full.vgg16.batch_size // full.vgg16.m_per_class == 4 and full.vgg16.m_per_class == 16
    cpu = ml.CHAPTER.params("cpu")
    assert cpu.vgg16.recipe() == ml.MetricRecipe(cpu.vgg16.batch_size, cpu.vgg16.input_size)  # cpu unchanged
    table = ml.recipe_table()
    assert table.loc[("vgg16-triplet-mined", "batches"), "full"].startswith("4 people x 16 images")
    assert "random erasing" in table.loc[("mobilenetv3-arcface", "augmentation"), "full"]
    assert table.loc[("inception-triplet", "batches"), "full"].startswith("offline triplets")
    assert table.loc[("mobilenetv3-arcface", "augmentation"), "cpu"] == "horizontal flip"


def test_cpu_rows_stop_at_their_plateau_full_runs_every_epoch_and_the_key_and_table_follow():
    """Early stopping is part of a budget: it changes the checkpoint key where it is on, leaves the key of a budget
    without it as it was before the field existed, is off in full (the report's recipe) and is written in the
    recipe table per profile."""
    import dataclasses

    from facekit.studies import metric_learning as ml

    cpu, full = ml.CHAPTER.params("cpu"), ml.CHAPTER.params("full")
    assert cpu.mobilenet.patience == cpu.inception.patience == ml.PATIENCE
    assert cpu.vgg16.patience is None and cpu.mobilenet_imagenet.patience is None
    assert full.mobilenet.patience is None and full.inception.patience is None
    assert "patience" not in ml.budget_key(cpu.vgg16)
    assert ml.budget_key(cpu.mobilenet)["patience"] == ml.PATIENCE
    assert ml.budget_key(dataclasses.replace(cpu.mobilenet, patience=None)) != ml.budget_key(cpu.mobilenet)
    table = ml.recipe_table()
    assert table.loc[("mobilenetv3-arcface", "stopping"), "cpu"].startswith(f"after {ml.PATIENCE} epochs")
    assert table.loc[("mobilenetv3-arcface", "stopping"), "full"].startswith("none")
    assert table.loc[("mobilenetv3-arcface", "stopping"), "report 001"] == "-"
