"""Report 004's training: ResNet18 to 512-d with an ArcFace loss whose margin warms up linearly to its target,
a learning-rate decay that starts only when the margin is there (adaptive, on a plateau of the validation score, as
the report's; or scheduled), and mixed precision on CUDA. The margin and the
decay are functions of the epoch (``facekit.models.schedules``), so a resumed run continues both."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from facekit.batches import CropBatches, scale_crops
from facekit.metrics import pair_accuracy
from facekit.models.embedders import Network, Preprocessing, TorchEmbedder
from facekit.models.face_resnet import FaceResNet18
from facekit.models.schedules import DecaySchedule, DelayedPlateau, MarginSchedule, delayed_decay
from facekit.train import CropSet, FitResult, Run, Task, fit, predict, seed_everything, weights_version


@dataclass(frozen=True)
class Recipe:
    """One training recipe: the margin schedule (radians), whether the decay waits for the margin, and the
    optimisation around them (SGD with momentum, as the ArcFace paper trains on CASIA-WebFace)."""

    margin: float = 0.35
    margin_start: float = 0.0
    warmup_epochs: int = 3
    decay_start: int | None = None  # None: when the margin reaches its target (the report's delayed decay)
    # "plateau": the report's adaptive decay, lr x ``gamma`` after ``patience`` epochs without a better validation
    # score; "cosine", or "multistep" with ``milestones`` counted from the decay's start: scheduled decays
    decay: str = "plateau"
    milestones: tuple[int, ...] = ()
    gamma: float = 0.1
    patience: int = 2
    scale: float = 64.0
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    dim: int = 512
    dropout: float = 0.4
    stem: str = "imagenet"
    input_size: tuple[int, int] = (112, 96)

    def margin_schedule(self) -> MarginSchedule:
        return MarginSchedule(self.margin, self.margin_start, self.warmup_epochs)

    def start(self) -> int:
        """The first epoch whose learning rate may decay."""
        return self.margin_schedule().warmup_epochs if self.decay_start is None else self.decay_start

    def scheduler(self, optimizer: torch.optim.Optimizer, epochs: int) -> Any:
        """The decay as a torch scheduler, stepped once an epoch (the plateau with that epoch's validation score)."""
        if self.decay == "plateau":
            return DelayedPlateau(optimizer, self.start(), self.gamma, self.patience)
        factor = self.lr_factor(epochs)
        # a plain function, not the schedule object: LambdaLR would save a callable object's fields in the
        # checkpoint and load them back over this run's (a stale ``total`` after a changed budget)
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: factor(e))

    def lr_factor(self, epochs: int):
        """The learning-rate factor per epoch of a scheduled decay (``LambdaLR``)."""
        if self.decay_start is None:
            return delayed_decay(self.margin_schedule(), epochs, self.decay, self.milestones, self.gamma)
        return DecaySchedule(epochs, self.decay_start, self.decay, self.milestones, self.gamma)


def build_model(recipe: Recipe) -> nn.Module:
    return FaceResNet18(recipe.dim, recipe.input_size, recipe.stem, recipe.dropout)


def as_embedder(name: str, model: nn.Module, aligner: str) -> TorchEmbedder:
    """A trained model as an Embedder of 96x112 RGB crops from ``aligner``, scaled (x - 127.5) / 128; its version
    is a hash of its weights, so embedding caches never outlive a retraining."""
    size = getattr(model, "input_size", (112, 96))
    note = "" if tuple(size) == (112, 96) else f", resized to {size[1]}x{size[0]} inside the network"
    pre = Preprocessing((96, 112), "RGB", f"(x - 127.5) / 128{note}", aligner)
    emb = TorchEmbedder(name, Network(model, getattr(model, "dim", 512), 127.5, 128.0), pre)
    emb.version = weights_version(model)
    return emb


def embed_crops(model: nn.Module, crops: np.ndarray, batch: int = 256) -> np.ndarray:
    """Unit embeddings of uint8 crops (n, 112, 96, 3) with the model where it is."""
    return predict(model, crops, scale_crops, batch)


def train_arcface(data: CropSet, recipe: Recipe, run: Run, batch_size: int) -> tuple[nn.Module, FitResult, list[float]]:
    """Train ResNet18 + ArcFace on aligned uint8 crops (N x 112 x 96 x 3, a memory map is fine) with integer
    labels, in batches of ``batch_size`` (two images per person); the best epoch by validation pair accuracy
    (``data.val`` = crops_a, crops_b, same) is kept. Returns the model, the history and the margin of every epoch
    (the one the loss used, read back from it)."""
    crops, labels, val, epochs, seed = data.crops, data.labels, data.val, run.epochs, run.seed
    from pytorch_metric_learning import losses

    seed_everything(seed)
    model = build_model(recipe)
    labels = np.asarray(labels)
    loss = losses.ArcFaceLoss(int(labels.max()) + 1, recipe.dim, margin=np.degrees(recipe.margin),
                              scale=recipe.scale)
    schedule = recipe.margin_schedule()
    margins: dict[int, float] = {}

    def on_epoch(epoch: int, task) -> None:
        margins[epoch] = schedule.apply(loss, epoch)

    def loss_fn(emb: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return loss(emb.float(), y)

    task = Task(model, loss_fn, CropBatches(crops, labels, batch_size, 2, seed),
                lambda: pair_accuracy(lambda c: embed_crops(model, c), *val),
                lambda params: torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum,
                                               weight_decay=recipe.weight_decay),
                scheduler=lambda opt: recipe.scheduler(opt, epochs),
                loss_module=loss, on_epoch=on_epoch)
    result = fit(task, run)
    for row in result.history:
        row["margin"] = margins.get(int(row["epoch"]), schedule.value(int(row["epoch"])))
    return model.eval(), result, [schedule.value(e) for e in range(epochs)]


def plateau_rates(recipe: Recipe, scores: Sequence[float]) -> list[float]:
    """The learning rate of each epoch that ``recipe``'s plateau decay gives a run whose validation scores are
    ``scores`` (one per epoch, in order), without training: its decisions read nothing else."""
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=recipe.lr)
    decay = recipe.scheduler(opt, len(scores))
    rates = []
    for score in scores:
        rates.append(opt.param_groups[0]["lr"])
        decay.step(float(score))
    return rates


def trains_as(recipe: Recipe, other: Recipe, scores: Sequence[float]) -> bool:
    """Whether ``other`` trains bitwise as ``recipe`` did in a run that scored ``scores`` (same data, seed and
    threads): it differs only in its plateau decay's settings (start, patience, factor), and on those scores both
    decays set the same rate every epoch. By induction: the same rates so far give the same weights, so the same
    score, so the same next rate. (On a GPU, whose kernels are not deterministic, it is the same procedure: a second
    run would differ only by that noise.)"""
    plateau = {"decay_start": recipe.decay_start, "patience": recipe.patience, "gamma": recipe.gamma}
    if recipe.decay != "plateau" or other.decay != "plateau" or dataclasses.replace(other, **plateau) != recipe:
        return False
    return plateau_rates(recipe, scores) == plateau_rates(other, scores)


__all__ = ["Recipe", "as_embedder", "build_model", "embed_crops", "plateau_rates", "train_arcface", "trains_as"]
