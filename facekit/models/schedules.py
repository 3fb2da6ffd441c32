"""Report 004's training schedules: the ArcFace margin rising linearly to its target over the first epochs, and a
learning-rate decay that may wait until the margin has reached it: scheduled (a function of the epoch alone) or
adaptive (cut on a plateau of the validation score, the report's). Both resume from a checkpoint exactly where
they stopped (the plateau's counters are in its state dict)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from torch.optim.lr_scheduler import ReduceLROnPlateau


@dataclass(frozen=True)
class MarginSchedule:
    """Additive angular margin (radians) per epoch: ``start`` at epoch 0, linear to ``target`` at
    ``warmup_epochs``, then constant. ``warmup_epochs=0`` is a fixed margin from the first epoch."""

    target: float = 0.35
    start: float = 0.0
    warmup_epochs: int = 0

    def value(self, epoch: int) -> float:
        """The margin used throughout ``epoch`` (0-based)."""
        if self.warmup_epochs <= 0 or epoch >= self.warmup_epochs:
            return float(self.target)
        return float(self.start + (self.target - self.start) * epoch / self.warmup_epochs)

    def at_target(self, epoch: int) -> bool:
        return epoch >= self.warmup_epochs

    def apply(self, loss, epoch: int) -> float:
        """Set ``loss.margin`` (pytorch-metric-learning's ``ArcFaceLoss`` reads it, in radians, every forward)
        to this epoch's value; returns it."""
        m = self.value(epoch)
        loss.margin = m
        return m


@dataclass(frozen=True)
class DecaySchedule:
    """Learning-rate factor per epoch for ``torch.optim.lr_scheduler.LambdaLR``: 1 until ``start``, then either a
    cosine from 1 to 0 over the epochs left before ``total``, or a step decay by ``gamma`` at each of
    ``milestones`` (counted from ``start``). ``start=0`` is the usual, undelayed decay."""

    total: int
    start: int = 0
    kind: str = "cosine"  # "cosine" or "multistep"
    milestones: tuple[int, ...] = field(default_factory=tuple)
    gamma: float = 0.1

    def __post_init__(self) -> None:
        if self.kind not in ("cosine", "multistep"):
            raise ValueError(f"decay kind {self.kind!r}: use 'cosine' or 'multistep'")

    def __call__(self, epoch: int) -> float:
        if epoch < self.start:
            return 1.0
        t = epoch - self.start
        if self.kind == "multistep":
            return float(self.gamma ** sum(t >= m for m in self.milestones))
        span = max(self.total - self.start, 1)
        return float(0.5 * (1 + math.cos(math.pi * min(t, span) / span)))


def delayed_decay(margin: MarginSchedule, total: int, kind: str = "cosine", milestones: tuple[int, ...] = (),
                  gamma: float = 0.1, delayed: bool = True) -> DecaySchedule:
    """Report 004's decay: it starts when ``margin`` reaches its target (``delayed``), else at epoch 0."""
    return DecaySchedule(total, margin.warmup_epochs if delayed else 0, kind, tuple(milestones), gamma)


class DelayedPlateau(ReduceLROnPlateau):
    """torch's ``ReduceLROnPlateau`` on a score where higher is better, that ignores the first ``start`` epochs'
    scores: an adaptive decay that waits for the margin (``start`` = the warm-up's length; 0: from the first
    epoch). Stepped once an epoch with that epoch's validation score."""

    def __init__(self, optimizer, start: int = 0, factor: float = 0.1, patience: int = 2) -> None:
        super().__init__(optimizer, mode="max", factor=factor, patience=patience)
        self.start, self.scored = int(start), 0

    def step(self, metrics: float, epoch: int | None = None) -> None:  # type: ignore[override]
        self.scored += 1
        if self.scored <= self.start:  # still warming up: neither a best score nor a bad epoch counts
            self._last_lr = [group["lr"] for group in self.optimizer.param_groups]
            return
        super().step(metrics)


__all__ = ["DecaySchedule", "DelayedPlateau", "MarginSchedule", "delayed_decay"]
