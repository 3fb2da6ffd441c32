"""One Lightning setup for every trained model: what is learnt (a ``Task``: model, loss, batches, validation
score, optimizer and schedule) is injected, and how it runs (a ``Run``: epochs, checkpoints, device) is a config.

``fit(task, run)`` wraps the model and its loss module (whose trainable parts, e.g. ArcFace's class centres, are
saved with it) in a ``LightningModule`` and runs one ``Trainer``: mixed precision on CUDA, ``best.ckpt`` by
validation score and ``last.ckpt`` after every epoch (``EpochCheckpoints``, through the Trainer's public
``save_checkpoint``), which an interrupted run resumes from, early stopping, Optuna pruning (optuna-integration's
callback), a CSV log of every epoch, and DDP when ``devices > 1``. Each training kind (``classify.train_head``,
``metric_training.train_metric_model``, ...) reads top to bottom: its data, its model and loss, its optimizer and
schedule, then ``fit``.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from facekit.runtime import device as default_device

Batches = Callable[[int, torch.device], Iterable[tuple[torch.Tensor, torch.Tensor]]]


@dataclass
class FitResult:
    """Per-epoch history (loss, validation score, seconds, learning rate), the best epoch and its score."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_score: float = float("-inf")
    resumed_from: int = 0
    stopped_early: bool = False
    checkpoint: Path | None = None


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA)."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def weights_version(model: nn.Module) -> str:
    """``trained-<sha1 of the weights>``: the version of a model trained in a chapter, so that embedding and
    detection caches keyed by it never outlive a retraining."""
    import hashlib

    h = hashlib.sha1()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().numpy().tobytes())
    return f"trained-{h.hexdigest()[:12]}"


def predict(model: nn.Module, crops, scale: Callable[[torch.Tensor], torch.Tensor], batch: int = 256):
    """The model's outputs (a float32 array) for uint8 crops (n, h, w, 3), scaled by ``scale`` on the model's
    device, in eval mode without gradients; the model's train/eval mode is restored."""
    import numpy as np

    dev = next(model.parameters()).device
    out = []
    was = model.training
    model.eval()
    with torch.no_grad():
        for i in range(0, len(crops), batch):
            x = torch.from_numpy(np.ascontiguousarray(crops[i:i + batch])).permute(0, 3, 1, 2).to(dev)
            out.append(model(scale(x)).float().cpu().numpy())
    model.train(was)
    return np.concatenate(out) if out else np.zeros((0,), np.float32)


def precision_for(dev: str) -> str:
    """Mixed precision on CUDA (bf16 where the GPU has it), full precision elsewhere."""
    if dev.startswith("cuda"):
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def _cheap_cuda_check() -> None:
    """Importing Lightning sets ``PYTORCH_NVML_BASED_CUDA_CHECK=1``. Without a GPU, that makes every optimizer
    step try to load NVML again (``torch.accelerator`` asks whether CUDA is there), about 0.2 ms a step: 20 % of
    a small head's training. Where no CUDA device exists the plain check is as safe, so drop the variable."""
    import os

    if os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK") == "1" and torch.cuda.device_count() == 0:
        os.environ.pop("PYTORCH_NVML_BASED_CUDA_CHECK")


def _quiet_lightning() -> None:
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*IterableDataset.*__len__.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*ckpt_path.*last.*")
    warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
    warnings.filterwarnings("ignore", message=".*but have no logger configured.*")


class _EpochBatches(torch.utils.data.IterableDataset):
    """The injected ``batches(epoch, device)`` as a dataset; under DDP each rank takes every n-th batch."""

    def __init__(self, batches: Batches, task: Any, group: int = 1) -> None:
        super().__init__()
        self.batches, self.task, self.group = batches, task, group

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        trainer = self.task.trainer
        rank, world = trainer.global_rank, trainer.world_size
        # the epoch as Lightning counts it for samplers: right after a resume ``current_epoch`` still holds the
        # restored value when the first batch is fetched, ``epoch_progress`` already the epoch being run
        epoch = trainer.fit_loop.epoch_progress.current.processed
        chunk: list[tuple[torch.Tensor, torch.Tensor]] = []
        for i, batch in enumerate(self.batches(epoch, self.task.device)):
            if i % world != rank:
                continue
            chunk.append(batch)
            if len(chunk) == self.group:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


_STEP_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")


def _nothing_to_dispatch(trainer: Any) -> bool:
    """True where ``manual_backward`` and ``LightningOptimizer.step`` would only dispatch hooks that no callback
    and no module implements: full precision (no loss scaling), one process (no gradient sync), Lightning's plain
    optimizer step. Then ``training_step`` calls backward and the optimizer itself; about 10 % of a small head's
    training goes to that dispatch on the CPU (``benchmarks/bench_train.py``)."""
    from lightning.pytorch import Callback, LightningModule
    from lightning.pytorch.plugins.precision import Precision
    from lightning.pytorch.strategies import SingleDeviceStrategy

    if type(trainer.precision_plugin) is not Precision or type(trainer.strategy) is not SingleDeviceStrategy:
        return False
    if any(getattr(type(cb), h) is not getattr(Callback, h) for cb in trainer.callbacks for h in _STEP_HOOKS):
        return False
    module = type(trainer.lightning_module)
    return all(getattr(module, h) is getattr(LightningModule, h) for h in _STEP_HOOKS)


def _module_class():
    import lightning.pytorch as pl

    class TrainingModule(pl.LightningModule):
        """A ``Task`` as a LightningModule: model + loss module (its parameters are trained and checkpointed with
        the model), with one explicit zero_grad / backward / step per injected batch (manual optimisation)."""

        def __init__(self, task: Task) -> None:
            super().__init__()
            self.model = task.model
            self.loss_module = task.loss_module if task.loss_module is not None else nn.Identity()
            self.task = task
            self.history: list[dict[str, float]] = []
            self._t0, self._sum, self._n = 0.0, 0.0, 0
            # one zero_grad/backward/step per batch written out: Lightning's automatic loop wraps each step in
            # closures and hooks that cost ~2x the compute of a small head (benchmarks/bench_train.py)
            self.automatic_optimization = False

        def forward(self, x):
            return self.model(x)

        def configure_optimizers(self):
            params = [p for p in self.parameters() if p.requires_grad]
            opt = self.task.optimizer(params)
            if self.task.scheduler is None:
                return opt
            # stepped by hand in ``on_train_epoch_end`` (a ``ReduceLROnPlateau`` with the epoch's validation score)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": self.task.scheduler(opt), "interval": "epoch"}}

        def on_train_epoch_start(self) -> None:
            if self.task.on_epoch is not None:
                self.task.on_epoch(self.current_epoch, self)
            self._t0, self._sum, self._n = time.perf_counter(), 0.0, 0

        def transfer_batch_to_device(self, batch, device, dataloader_idx):
            # tensor pairs move here directly (a no-op where ``batches`` placed them already): Lightning's generic
            # walk over a chunk of a few dozen pairs costs ~10 % of a small head's training; other batches (the
            # R-CNN's lists of images and target dicts) take Lightning's way
            if isinstance(batch, list) and all(isinstance(pair, tuple | list) and len(pair) == 2 and all(
                    isinstance(t, torch.Tensor) for t in pair) for pair in batch):
                return [(x.to(device, non_blocking=True), y.to(device, non_blocking=True)) for x, y in batch]
            return super().transfer_batch_to_device(batch, device, dataloader_idx)

        def on_train_start(self) -> None:
            self._direct = _nothing_to_dispatch(self.trainer)

        def training_step(self, chunk, batch_idx):
            opt = self.optimizers()
            for x, y in chunk:  # one optimizer step per injected batch
                opt.zero_grad(set_to_none=True)
                loss = self.task.loss_fn(self.model(x), y)
                if self._direct:  # what manual_backward and opt.step do, minus dispatching hooks nobody implements
                    loss.backward()
                    opt.optimizer.step()
                else:
                    self.manual_backward(loss)
                    opt.step()
                self._sum += float(loss.detach()) * len(x)
                self._n += len(x)

        def on_train_epoch_end(self) -> None:  # after validation and the epoch's checkpoints, as Lightning does
            scheduler = self.lr_schedulers()
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                if self.history:
                    scheduler.step(self.history[-1]["val"])
            elif scheduler is not None:
                scheduler.step()

        def validation_step(self, batch, batch_idx):
            return None

        def on_validation_epoch_end(self) -> None:
            if self.trainer.sanity_checking:
                return
            score = float(self.task.validate())
            lr = self.trainer.optimizers[0].param_groups[0]["lr"]
            row = {"epoch": self.current_epoch, "loss": self._sum / max(self._n, 1), "val": score,
                   "seconds": time.perf_counter() - self._t0, "lr": lr}
            # the callbacks need "val" (and "val_loss"); the rest is for the CSV log (~2 ms an epoch per value)
            logged = {"val": score}
            if self.task.val_loss is not None:
                row["val_loss"] = logged["val_loss"] = float(self.task.val_loss())
            self.history.append(row)
            if self.trainer.loggers:
                logged.update(train_loss=row["loss"], lr=lr, epoch_seconds=row["seconds"])
            self.log_dict(logged, prog_bar=False, logger=True, sync_dist=False)

        def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
            checkpoint["facekit_history"] = list(self.history)

        def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
            self.history = list(checkpoint.get("facekit_history", []))

    return TrainingModule


def _finished(checkpoint: dict[str, Any], run: Run) -> bool:
    """Whether a ``last.ckpt`` is of a run that has nothing left to do: every epoch ran, or its early stopping
    had already stopped it (the callback's saved state)."""
    if int(checkpoint["epoch"]) + 1 >= run.epochs:
        return True
    if run.patience is None:
        return False
    return any(key.startswith("EarlyStopping") and (state.get("stopped_epoch", 0) > 0
                                                     or state.get("wait_count", 0) >= run.patience)
               for key, state in (checkpoint.get("callbacks") or {}).items())


def _checkpoints_class():
    from lightning.pytorch import Callback

    class EpochCheckpoints(Callback):
        """``best.ckpt`` whenever the validation score beats every earlier epoch's (the first of equal scores),
        ``last.ckpt`` after every epoch; written through the Trainer's ``save_checkpoint`` to a temporary file
        moved into place, so a run killed while saving resumes from the previous epoch. An epoch that is both
        is written once: ``last.ckpt`` is then a hard link to ``best.ckpt`` (a copy where the file system has
        none), which the next epoch's ``last.ckpt`` replaces without touching. The best score travels in the
        checkpoint, so a resumed run keeps comparing against it."""

        def __init__(self, folder: Path) -> None:
            self.folder, self.best = Path(folder), float("-inf")

        def _save(self, trainer, name: str) -> None:
            tmp = self.folder / f".{name}.partial"
            if trainer.is_global_zero:  # a partial left by a killed run may be a link to best.ckpt: never write
                tmp.unlink(missing_ok=True)  # through it
            trainer.save_checkpoint(tmp)
            if trainer.is_global_zero:
                tmp.replace(self.folder / name)

        def _same_as(self, trainer, name: str, saved: str) -> None:
            if not trainer.is_global_zero:
                return
            tmp = self.folder / f".{name}.partial"
            tmp.unlink(missing_ok=True)
            try:
                os.link(self.folder / saved, tmp)
            except OSError:  # no hard links here
                shutil.copyfile(self.folder / saved, tmp)
            tmp.replace(self.folder / name)

        def on_train_start(self, trainer, pl_module) -> None:
            # a run resumed from a checkpoint that holds no state of this callback (one saved by an older facekit)
            # still compares against the best epoch of its restored history
            if self.best == float("-inf") and pl_module.history:
                self.best = max(float(h["val"]) for h in pl_module.history)

        def on_validation_end(self, trainer, pl_module) -> None:
            if trainer.sanity_checking or not pl_module.history:
                return
            self.folder.mkdir(parents=True, exist_ok=True)
            score = pl_module.history[-1]["val"]
            if score > self.best:  # best first: a run killed before its last.ckpt replays the epoch
                self.best = score
                self._save(trainer, "best.ckpt")
                self._same_as(trainer, "last.ckpt", "best.ckpt")
            else:
                self._save(trainer, "last.ckpt")

        def state_dict(self) -> dict[str, float]:
            return {"best": self.best}

        def load_state_dict(self, state_dict: dict[str, float]) -> None:
            self.best = float(state_dict.get("best", float("-inf")))

    return EpochCheckpoints


class _OneBatch(torch.utils.data.Dataset):
    """The validation loop's single dummy item: the score itself comes from the injected ``validate``."""

    def __len__(self) -> int:
        return 1

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.zeros(1)


@dataclass
class CropSet:
    """A training set of aligned uint8 crops (n, h, w, 3; a memory map is fine) with integer labels, and what
    the epoch is chosen on (``val``: validation pairs (crops_a, crops_b, same), or (crops, labels))."""

    crops: Any
    labels: Any
    val: tuple


@dataclass
class Task:
    """What a training learns and how: the model, the loss (``loss_fn(outputs, labels)``, with ``loss_module``
    holding its trainable parameters, checkpointed and resumed with the model), ``batches(epoch, device)`` yielding
    (inputs, labels), ideally already on the device, ``validate()`` returning a score where higher is better,
    ``optimizer(params)`` and ``scheduler(optimizer)`` (stepped once an epoch; a ``ReduceLROnPlateau`` with the
    epoch's validation score), and ``on_epoch(epoch, module)``
    called as each epoch starts; ``val_loss()``, where given, is recorded each epoch and may drive early stopping."""

    model: nn.Module
    loss_fn: Callable[[Any, torch.Tensor], torch.Tensor]
    batches: Batches
    validate: Callable[[], float]
    optimizer: Callable[[list[nn.Parameter]], torch.optim.Optimizer]
    scheduler: Callable[[torch.optim.Optimizer], Any] | None = None
    loss_module: nn.Module | None = None
    on_epoch: Callable[[int, Any], None] | None = None
    val_loss: Callable[[], float] | None = None  # the loss on the validation rows, for ``Run.stop_on="val_loss"``


@dataclass
class Run:
    """How a training runs, whatever it learns: ``epochs``; ``checkpoint_dir`` (the best epoch in ``best.ckpt``,
    the last state in ``last.ckpt``, from which a rerun continues); early stopping after ``patience`` epochs
    without improvement of ``stop_on`` (the validation score, or ``"val_loss"``: the task's validation loss, lower
    is better; the epoch kept is still the best by score); an optuna ``trial`` that may prune; the device(s) and
    precision (mixed on CUDA by default); progress bars; ``group`` consecutive batches per Lightning step (still
    one optimizer step each: for tiny models, where Lightning's per-step work costs more than the compute); and
    the ``seed``."""

    epochs: int
    checkpoint_dir: Path | None = None
    patience: int | None = None
    stop_on: str = "val"
    trial: Any = None
    device: str | None = None
    devices: int = 1
    precision: str | None = None
    progress: bool = True
    group: int = 1
    seed: int = 0


def fit(task: Task, run: Run) -> FitResult:
    """Train ``task`` as ``run`` says; returns the history. The model is left with the best epoch's weights
    loaded, in eval mode."""
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import EarlyStopping
    from lightning.pytorch.loggers import CSVLogger

    _quiet_lightning()
    _cheap_cuda_check()
    dev = run.device or default_device()
    accelerator = "gpu" if dev.startswith("cuda") else "cpu"
    module = _module_class()(task)
    checkpoint_dir = Path(run.checkpoint_dir) if run.checkpoint_dir is not None else None
    callbacks: list[Any] = []
    if run.patience is not None:
        if run.stop_on not in ("val", "val_loss") or (run.stop_on == "val_loss" and task.val_loss is None):
            raise ValueError(f"stop_on={run.stop_on!r}: use 'val', or 'val_loss' with a task that has a val_loss")
        # checked as validation ends and before the epoch's checkpoints are written, so that ``last.ckpt`` holds
        # this epoch's decision (a resumed run continues the count, or knows it had stopped)
        callbacks.append(EarlyStopping(monitor=run.stop_on, mode="min" if run.stop_on == "val_loss" else "max",
                                       patience=run.patience, check_finite=False, check_on_train_epoch_end=False))
    if checkpoint_dir is not None:
        callbacks.append(_checkpoints_class()(checkpoint_dir))
    if run.trial is not None:
        from optuna_integration import PyTorchLightningPruningCallback

        callbacks.append(PyTorchLightningPruningCallback(run.trial, monitor="val"))
    logger = CSVLogger(save_dir=str(checkpoint_dir), name="logs", version=0) if checkpoint_dir else False
    trainer = pl.Trainer(
        max_epochs=run.epochs, accelerator=accelerator, devices=run.devices if accelerator == "gpu" else 1,
        strategy="ddp" if run.devices > 1 else "auto", precision=run.precision or precision_for(dev),
        callbacks=callbacks, logger=logger, enable_checkpointing=False,
        enable_progress_bar=run.progress, enable_model_summary=False, num_sanity_val_steps=0,
        limit_val_batches=1, check_val_every_n_epoch=1, deterministic=False, log_every_n_steps=50,
        default_root_dir=str(checkpoint_dir) if checkpoint_dir else None)
    last = checkpoint_dir / "last.ckpt" if checkpoint_dir is not None else None
    resumed, done = 0, False
    if last is not None and last.exists():
        state = torch.load(last, map_location="cpu", weights_only=False)
        resumed, done = int(state["epoch"]) + 1, _finished(state, run)
        if done:  # nothing left to train: Lightning would still start a loop (and early stopping would find no
            module.history = list(state.get("facekit_history", []))  # metric to check); the best epoch loads below
    if not done:
        train_dl = torch.utils.data.DataLoader(_EpochBatches(task.batches, module, run.group), batch_size=None)
        val_dl = torch.utils.data.DataLoader(_OneBatch(), batch_size=1)
        trainer.fit(module, train_dl, val_dl, ckpt_path=str(last) if resumed else None)
    history = module.history
    result = FitResult(history=history, resumed_from=resumed)
    if (trainer.should_stop or done) and len(history) < run.epochs:
        result.stopped_early = True
    if history:
        best = max(range(len(history)), key=lambda i: (history[i]["val"], -i))
        result.best_epoch, result.best_score = int(history[best]["epoch"]), float(history[best]["val"])
    if checkpoint_dir is not None and (checkpoint_dir / "best.ckpt").exists():
        result.checkpoint = checkpoint_dir / "best.ckpt"
        state = torch.load(result.checkpoint, map_location="cpu", weights_only=False)["state_dict"]
        module.load_state_dict(state)
    module.to(torch.device(dev) if accelerator == "gpu" else "cpu")
    task.model.eval()
    return result
