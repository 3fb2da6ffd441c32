"""The metric-learning losses as small modules by name (pytorch-metric-learning's), each with its miner: one
registry, one call shape ``LOSSES.get(name, n_classes=, dim=, epochs=) -> (loss module, miner or None)``."""

from __future__ import annotations

from typing import Any

from torch import nn

from facekit.registry import Registry

LOSSES: Registry[tuple[nn.Module, Any]] = Registry("loss")


@LOSSES.register("arcface", "ArcFace (additive angular margin 0.5 rad = 28.6 deg, scale 64; pytorch-metric-learning)")
def _arcface(n_classes: int, dim: int, epochs: int) -> tuple[nn.Module, Any]:
    from pytorch_metric_learning import losses

    return losses.ArcFaceLoss(n_classes, dim, margin=28.6, scale=64), None


@LOSSES.register("triplet-random", "triplet loss (margin 0.2) on every valid triplet of a random batch")
def _triplet_random(n_classes: int, dim: int, epochs: int) -> tuple[nn.Module, Any]:
    from pytorch_metric_learning import losses

    return losses.TripletMarginLoss(margin=0.2), None


@LOSSES.register("triplet-mined", "triplet loss (margin 0.2), online semi-hard then hard mining")
def _triplet_mined(n_classes: int, dim: int, epochs: int) -> tuple[nn.Module, Any]:
    from pytorch_metric_learning import losses, miners

    return losses.TripletMarginLoss(margin=0.2), miners.TripletMarginMiner(margin=0.2, type_of_triplets="semihard")
