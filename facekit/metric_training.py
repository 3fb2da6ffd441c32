"""Metric-learning models trained from scratch on aligned crops (report 001's: MobileNetV3 + ArcFace, a compact
Inception + triplet loss on random triplets, VGG16 + triplet loss with online semi-hard then hard mining; losses,
miners and samplers from pytorch-metric-learning). ``train_metric_model(spec, data, recipe, run)`` reads top to
bottom: model, loss (and miner), batches, validation, optimizer and schedule, ``fit``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facekit.augment import BatchAugment
from facekit.batches import CropBatches, TripletBatches, scale_crops, triplet_indices
from facekit.metrics import pair_accuracy
from facekit.models.embedders import Network, Preprocessing, TorchEmbedder
from facekit.models.losses import LOSSES
from facekit.models.metric_nets import EmbeddingNet, backbone
from facekit.train import CropSet, FitResult, Run, Task, fit, predict, seed_everything, weights_version


@dataclass(frozen=True)
class MetricModelSpec:
    """One metric-learning model: trunk, embedding size, loss, and the accuracy its report gave (for display; the
    report-001 chapter declares its three)."""

    name: str
    backbone: str
    dim: int
    loss: str  # "arcface", "triplet-random" or "triplet-mined"
    reported_accuracy: float
    reported_as: str
    substitute_for: str | None = None  # the report's model this one stands in for, where it is not the same




class Resize(nn.Module):
    """Resizes the 112 px aligned crop to the network's training input size (part of the model)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] == self.size:
            return x
        return F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)


def build_model(spec: MetricModelSpec, input_size: int, head: str = "linear") -> nn.Module:
    """Resize + trunk + embedding head (``HEADS``), randomly initialised (the trunk from ImageNet where its
    registry entry says so)."""
    return nn.Sequential(Resize(input_size), EmbeddingNet(backbone(spec.backbone), spec.dim, head=head))


def as_embedder(spec: MetricModelSpec, model: nn.Module, input_size: int) -> TorchEmbedder:
    """Wrap a trained model as an Embedder (aligned 112x112 ArcFace crops, RGB, (x - 127.5) / 128)."""
    pre = Preprocessing((112, 112), "RGB", f"(x - 127.5) / 128, resized to {input_size} px inside the model",
                        "arcface112")
    # a resize inside the model is antialiased, an operator torch's ONNX exporter lacks: such a model runs in torch
    emb = TorchEmbedder(spec.name, Network(model, spec.dim, 127.5, 128.0), pre,
                        engine=None if input_size == 112 else "torch")
    # the weights are part of the identity of a trained embedder: embedding caches must not outlive a retraining
    emb.version = weights_version(model)
    return emb


@dataclass(frozen=True)
class MetricRecipe:
    """How a metric model learns: M-per-class batches (or ``offline_triplets``: triplets drawn before each
    epoch), its input size (crops resized inside the model), flips plus the ``augment`` kinds
    (``facekit.augment.KINDS``), its embedding ``head`` (``metric_nets.HEADS``), AdamW with a cosine annealing of
    the learning rate over the epochs."""

    batch_size: int
    input_size: int
    lr: float = 1e-3
    weight_decay: float = 5e-4
    m_per_class: int = 2
    augment: tuple[str, ...] = ()
    head: str = "linear"
    offline_triplets: bool = False

    def batches(self, crops: np.ndarray, labels: np.ndarray, seed: int) -> CropBatches:
        """The training batches this recipe draws."""
        augment = BatchAugment(tuple(self.augment)) if self.augment else None
        if self.offline_triplets:
            return TripletBatches(crops, labels, self.batch_size, seed, augment)
        return CropBatches(crops, labels, self.batch_size, self.m_per_class, seed, augment)


def train_metric_model(spec: MetricModelSpec, data: CropSet, recipe: MetricRecipe, run: Run,
                       ) -> tuple[nn.Module, FitResult]:
    """Train one model on aligned crops (uint8 N x 112 x 112 x 3, a memory map is fine) with integer identity
    labels; the epoch kept is the best by validation pair accuracy (``data.val`` = crops_a, crops_b, same). The
    loss's trainable parts (ArcFace's class centres) are checkpointed with the model."""
    crops, labels, val, epochs, seed = data.crops, data.labels, data.val, run.epochs, run.seed
    lr, weight_decay = recipe.lr, recipe.weight_decay
    seed_everything(seed)
    model = build_model(spec, recipe.input_size, recipe.head)
    labels = np.asarray(labels)
    loss_obj, miner = LOSSES.get(spec.loss, n_classes=int(labels.max()) + 1, dim=spec.dim, epochs=epochs)
    if recipe.offline_triplets and (miner is not None or not spec.loss.startswith("triplet")):
        raise ValueError(f"offline triplets need a triplet loss without a miner, not {spec.loss!r}")

    def on_epoch(epoch: int, task) -> None:  # online mining: semi-hard triplets first, hard ones in the second half
        if miner is not None:
            miner.type_of_triplets = "semihard" if epoch < epochs // 2 else "hard"

    def loss_fn(emb: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        emb = emb.float()
        if recipe.offline_triplets:  # exactly the batch's drawn triplets
            return loss_obj(emb, y, triplet_indices(len(y), emb.device))
        return loss_obj(emb, y, miner(emb, y)) if miner is not None else loss_obj(emb, y)

    def embed(c: np.ndarray) -> np.ndarray:
        return predict(model, c, scale_crops)

    task = Task(model, loss_fn, recipe.batches(crops, labels, seed),
                lambda: pair_accuracy(embed, *val),
                lambda params: torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay),
                scheduler=lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1)),
                loss_module=loss_obj, on_epoch=on_epoch)
    result = fit(task, run)
    return model.eval(), result
