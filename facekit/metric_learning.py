"""Report 001's metric-learning models trained from scratch on LFW identities: MobileNetV3 + ArcFace,
a compact Inception + triplet loss on random triplets, VGG16 + triplet loss with online semi-hard then hard
mining (losses, miners and samplers from pytorch-metric-learning); evaluation on held-out LFW folds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facekit.metrics import best_threshold
from facekit.models.embedders import Preprocessing, TorchEmbedder
from facekit.models.metric_nets import EmbeddingNet, backbone
from facekit.registry import Registry
from facekit.runtime import device as default_device
from facekit.train import FitResult, fit, predict, seed_everything, weights_version


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




class Resize(nn.Module):
    """Resizes the 112 px aligned crop to the network's training input size (part of the model)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] == self.size:
            return x
        return F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)


def build_model(spec: MetricModelSpec, input_size: int) -> nn.Module:
    """Resize + trunk + embedding head, randomly initialised."""
    return nn.Sequential(Resize(input_size), EmbeddingNet(backbone(spec.backbone), spec.dim))


def as_embedder(spec: MetricModelSpec, model: nn.Module, input_size: int) -> TorchEmbedder:
    """Wrap a trained model as an Embedder (aligned 112x112 ArcFace crops, RGB, (x - 127.5) / 128)."""
    pre = Preprocessing((112, 112), "RGB", f"(x - 127.5) / 128, resized to {input_size} px inside the model",
                        "arcface112")
    emb = TorchEmbedder(spec.name, model, pre, spec.dim, 127.5, 128.0)
    # the weights are part of the identity of a trained embedder: embedding caches must not outlive a retraining
    emb.version = weights_version(model)
    return emb


def scale_crops(x: torch.Tensor) -> torch.Tensor:
    return (x.float() - 127.5) / 128.0


def pair_accuracy(embed, crops_a: np.ndarray, crops_b: np.ndarray, same: np.ndarray) -> float:
    """Best-threshold accuracy on one set of pairs (for checkpoint choice only, never for the reported test)."""
    ea, eb = embed(crops_a), embed(crops_b)  # unit vectors: cosine
    return best_threshold(np.sum(ea * eb, axis=1), same)[1]


# ---------------------------------------------------------------------------------------------------- losses
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


# ---------------------------------------------------------------------------------------------------- batches
#: Crops up to this many bytes go to the GPU once (uint8); larger sets (CASIA-WebFace as a memory map) are
#: gathered per batch on the CPU, pinned and copied without blocking.
DEVICE_BUDGET_BYTES = 8 << 30


class CropBatches:
    """Seeded M-per-class batches of uint8 crops, scaled to (x - 127.5) / 128 and flipped on the device."""

    def __init__(self, crops: np.ndarray, labels: np.ndarray, batch_size: int, m_per_class: int = 2,
                 seed: int = 0) -> None:
        self.crops, self.labels = crops, np.asarray(labels)
        self.batch_size, self.seed, self.m_per_class = batch_size, seed, m_per_class
        self._on: dict[str, tuple[torch.Tensor | None, torch.Tensor]] = {}

    def _place(self, device: torch.device) -> tuple[torch.Tensor | None, torch.Tensor]:
        key = str(device)
        if key not in self._on:
            y = torch.tensor(np.array(self.labels), dtype=torch.long).to(device)
            whole = device.type == "cpu" or (not isinstance(self.crops, np.memmap)
                                             and self.crops.nbytes <= DEVICE_BUDGET_BYTES)
            x = torch.from_numpy(np.ascontiguousarray(self.crops)).permute(0, 3, 1, 2).to(device) if whole else None
            self._on = {key: (x, y)}
        return self._on[key]

    def order(self, epoch: int) -> list[int]:
        """The epoch's sample order: a function of (seed, epoch) alone, so a resumed run sees what an
        uninterrupted one would (pytorch-metric-learning's sampler draws from NumPy's global generator and
        shuffles its own label list in place, hence a fresh sampler and a reseeded generator per epoch)."""
        from pytorch_metric_learning import samplers

        np.random.seed((self.seed * 1000 + epoch) % 2**32)
        torch.manual_seed(self.seed * 1000 + epoch)
        sampler = samplers.MPerClassSampler(self.labels, m=self.m_per_class, batch_size=self.batch_size,
                                            length_before_new_iter=len(self.labels))
        return list(iter(sampler))

    def __call__(self, epoch: int, device: torch.device):
        device = torch.device(device)
        x_all, y_all = self._place(device)
        idx = torch.as_tensor(self.order(epoch), dtype=torch.long)
        gen = torch.Generator().manual_seed(self.seed * 1000 + epoch)
        flips = torch.rand(len(idx), generator=gen) < 0.5
        for i in range(0, len(idx) - self.batch_size + 1, self.batch_size):
            b = idx[i:i + self.batch_size]
            if x_all is not None:
                x = x_all[b.to(device)]
            else:  # per-batch gather from the (memory-mapped) array, pinned for an asynchronous copy
                x = torch.from_numpy(np.ascontiguousarray(self.crops[b.numpy()])).permute(0, 3, 1, 2)
                x = x.pin_memory().to(device, non_blocking=True)
            x = scale_crops(x)
            f = flips[i:i + self.batch_size].to(device)
            x = torch.where(f.view(-1, 1, 1, 1), torch.flip(x, dims=[3]), x)
            yield x, y_all[b.to(device)]


def train_metric_model(spec: MetricModelSpec, crops: np.ndarray, labels: np.ndarray, val: tuple, *,
                       epochs: int, batch_size: int, input_size: int, lr: float = 1e-3, weight_decay: float = 5e-4,
                       m_per_class: int = 2, checkpoint_dir: Path | None = None, seed: int = 0,
                       device: str | None = None, devices: int = 1, precision: str | None = None,
                       progress: bool = True) -> tuple[nn.Module, FitResult]:
    """Train one report-001 model on aligned crops (uint8 N x 112 x 112 x 3, a memory map is fine) with integer
    identity labels; pick the epoch with the best validation pair accuracy. ``val`` is (crops_a, crops_b, same).
    The loss's trainable parts (ArcFace's class centres) are checkpointed with the model."""
    seed_everything(seed)
    dev = device or default_device()
    model = build_model(spec, input_size)
    labels = np.asarray(labels)
    loss_obj, miner = LOSSES.get(spec.loss, n_classes=int(labels.max()) + 1, dim=spec.dim, epochs=epochs)

    def on_epoch(epoch: int, task) -> None:  # online mining: semi-hard triplets first, hard ones in the second half
        if miner is not None:
            miner.type_of_triplets = "semihard" if epoch < epochs // 2 else "hard"

    def loss_fn(emb: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        emb = emb.float()
        return loss_obj(emb, y, miner(emb, y)) if miner is not None else loss_obj(emb, y)

    def embed(c: np.ndarray) -> np.ndarray:
        return predict(model, c, scale_crops)

    result = fit(model, loss_fn, CropBatches(crops, labels, batch_size, m_per_class, seed),
                 lambda: pair_accuracy(embed, *val),
                 lambda params: torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay), epochs,
                 checkpoint_dir=checkpoint_dir,
                 scheduler=lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1)),
                 device=dev, devices=devices, precision=precision, progress=progress, on_epoch=on_epoch,
                 loss_module=loss_obj)
    return model.eval(), result
