"""One fit loop for every trained model: AMP on CUDA, best-validation checkpoint, early stop, resume from the last
epoch, and an Optuna pruning hook. Checkpoints are written atomically, so an interrupted run resumes."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm


@dataclass
class FitResult:
    """Per-epoch history (loss, validation score, seconds), the best epoch and its score."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_score: float = float("-inf")
    resumed_from: int = 0
    stopped_early: bool = False


def _atomic_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pt")
    os.close(fd)
    torch.save(obj, tmp)
    os.replace(tmp, path)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA)."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def fit(model: torch.nn.Module, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        batches: Callable[[int], Iterable[tuple[torch.Tensor, torch.Tensor]]], validate: Callable[[], float],
        optimizer: torch.optim.Optimizer, epochs: int, checkpoint_dir: Path | None = None,
        scheduler: torch.optim.lr_scheduler.LRScheduler | None = None, patience: int | None = None,
        trial=None, device: str = "cpu", progress: bool = True, on_epoch: Callable[[int], None] | None = None,
        ) -> FitResult:
    """Train ``epochs`` epochs; ``batches(epoch)`` yields (inputs, labels); ``validate()`` returns a score where
    higher is better. The best model is kept in ``checkpoint_dir/best.pt`` and the last state in ``last.pt``
    (with optimizer, scheduler and history), from which a rerun continues. ``trial`` (optuna) gets the score
    each epoch and may prune. Returns the history; the model is left with the best weights loaded."""
    amp = device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    result = FitResult()
    start = 0
    last = checkpoint_dir / "last.pt" if checkpoint_dir else None
    if last is not None and last.exists():
        state = torch.load(last, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler"):
            scheduler.load_state_dict(state["scheduler"])
        result.history, result.best_epoch, result.best_score = state["history"], state["best_epoch"], state["best"]
        start = result.resumed_from = state["epoch"] + 1
    since_best = 0 if not result.history else start - 1 - result.best_epoch
    for epoch in range(start, epochs):
        if on_epoch is not None:
            on_epoch(epoch)
        model.train()
        t0, total, n = time.perf_counter(), 0.0, 0
        for x, y in tqdm(batches(epoch), desc=f"epoch {epoch + 1}/{epochs}", leave=False, disable=not progress):
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device_type="cuda" if amp else "cpu", enabled=amp):
                loss = loss_fn(model(x), y)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            total, n = total + float(loss.detach()) * len(x), n + len(x)
        if scheduler is not None:
            scheduler.step()
        model.eval()
        with torch.no_grad():
            score = float(validate())
        result.history.append({"epoch": epoch, "loss": total / max(n, 1), "val": score,
                               "seconds": time.perf_counter() - t0, "lr": optimizer.param_groups[0]["lr"]})
        if score > result.best_score:
            result.best_score, result.best_epoch, since_best = score, epoch, 0
            if checkpoint_dir is not None:
                _atomic_save(model.state_dict(), checkpoint_dir / "best.pt")
        else:
            since_best += 1
        if last is not None:
            _atomic_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                          "scheduler": scheduler.state_dict() if scheduler is not None else None,
                          "history": result.history, "best_epoch": result.best_epoch, "best": result.best_score,
                          "epoch": epoch}, last)
        if trial is not None:
            trial.report(score, epoch)
            if trial.should_prune():
                import optuna

                raise optuna.TrialPruned()
        if patience is not None and since_best >= patience:
            result.stopped_early = True
            break
    if checkpoint_dir is not None and (checkpoint_dir / "best.pt").exists():
        model.load_state_dict(torch.load(checkpoint_dir / "best.pt", map_location=device, weights_only=True))
    return result
