"""Cosine-softmax heads trained on frozen, cached embeddings (report 000): one fit per call, seconds per run.

The backbone is frozen, so the features are computed once (``facekit.embed``) and a head trains on an (n, d)
array. ``train_head`` trains an identity head (``CosineHead``) or an identity + sex head (``MultiHead``) with
AdamW through ``facekit.train.fit`` (best epoch by validation accuracy, optuna pruning, early stopping on a rising
validation loss as report 000 did); ``search_space`` is the
report's hyper-parameter space, sampled by an optuna trial.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from facekit.models.heads import CosineHead, MultiHead, multi_head_loss
from facekit.train import FitResult, Run, Task, fit, seed_everything

SCALES = (16, 32, 48, 64)


def search_space(trial, multi: bool = False) -> dict[str, Any]:
    """Report 000's space: lr in [3e-4, 3e-3] (log), s in {16, 32, 48, 64}, weight decay in [1e-5, 5e-4] (log);
    for the multi-head also the sex head's scale and the two loss weights."""
    p = {"lr": trial.suggest_float("lr", 3e-4, 3e-3, log=True),
         "s": trial.suggest_categorical("s", SCALES),
         "weight_decay": trial.suggest_float("weight_decay", 1e-5, 5e-4, log=True)}
    if multi:
        p.update(s_sex=trial.suggest_categorical("s_sex", SCALES),
                 lambda_identity=trial.suggest_float("lambda_identity", 0.5, 2.0, log=True),
                 lambda_sex=trial.suggest_float("lambda_sex", 0.1, 2.0, log=True))
    return p


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(1) == y).float().mean())


HEAD_GROUP = 1024  # a whole epoch of head batches per Lightning step: its hooks cost more than a head's step


@dataclass
class HeadData:
    """Frozen features (n, d) with integer identities (and sex, for a multi-head), the training and validation
    rows (boolean masks) and the number of classes (default: the largest identity + 1)."""

    x: np.ndarray
    identity: np.ndarray
    train: np.ndarray
    val: np.ndarray
    sex: np.ndarray | None = None
    n_classes: int | None = None


def train_head(data: HeadData, params: dict[str, Any], run: Run, batch_size: int = 64,
               ) -> tuple[torch.nn.Module, FitResult]:
    """Train a cosine head on ``data``'s training rows with AdamW (``params``: lr, weight_decay, s, and for a
    multi-head s_sex, lambda_identity, lambda_sex), picking the epoch by accuracy on its validation rows (with
    ``sex``: a ``MultiHead``, scored by the mean of identity and sex accuracy); the validation loss is recorded
    each epoch, and ``run`` may stop on it (``stop_on="val_loss"``)."""
    x, identity, train, val, sex = data.x, data.identity, data.train, data.val, data.sex
    seed, n_classes = run.seed, data.n_classes
    seed_everything(seed)
    n_classes = int(n_classes or identity.max() + 1)
    xt = torch.tensor(np.asarray(x), dtype=torch.float32)
    multi = sex is not None
    if multi:
        y = torch.tensor(np.stack([identity, sex], 1), dtype=torch.int64)
        model = MultiHead(xt.shape[1], n_classes, params["s"], params.get("s_sex", params["s"]))
        loss_fn = multi_head_loss(params.get("lambda_identity", 1.0), params.get("lambda_sex", 1.0))
    else:
        y = torch.tensor(np.asarray(identity), dtype=torch.int64)
        model = CosineHead(xt.shape[1], n_classes, params["s"])
        loss_fn = F.cross_entropy
    tr, va = np.flatnonzero(train), np.flatnonzero(val)
    if not len(tr) or not len(va):
        raise ValueError(f"a head needs training and validation rows; got {len(tr)} and {len(va)}")
    placed: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def on(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:  # features go to the device once
        if str(device) not in placed:
            placed.clear()
            placed[str(device)] = (xt.to(device), y.to(device))
        return placed[str(device)]

    def batches(epoch: int, device: torch.device):
        xd, yd = on(device)
        gen = torch.Generator().manual_seed(seed * 1000 + epoch)
        order = torch.as_tensor(tr)[torch.randperm(len(tr), generator=gen)].to(device)
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            yield xd[idx], yd[idx]

    def validate() -> float:
        xd, yd = on(next(model.parameters()).device)
        out = model(xd[va])
        if multi:
            return (_accuracy(out[0], yd[va, 0]) + _accuracy(out[1], yd[va, 1])) / 2
        return _accuracy(out, yd[va])

    def val_loss() -> float:  # the training loss on the validation rows: report 000 stopped when it rose
        xd, yd = on(next(model.parameters()).device)
        with torch.no_grad():
            return float(loss_fn(model(xd[va]), yd[va]))

    task = Task(model, loss_fn, batches, validate,
                lambda ps: torch.optim.AdamW(ps, lr=params["lr"], weight_decay=params["weight_decay"]),
                val_loss=val_loss)
    result = fit(task, replace(run, group=HEAD_GROUP))
    model.eval()
    return model, result


def predict(model: torch.nn.Module, x: np.ndarray) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Class indices (a pair of arrays, identity and sex, for a ``MultiHead``)."""
    with torch.no_grad():
        out = model(torch.as_tensor(np.asarray(x, np.float32)).to(next(model.parameters()).device))
    if isinstance(out, tuple):
        return out[0].argmax(1).cpu().numpy(), out[1].argmax(1).cpu().numpy()
    return out.argmax(1).cpu().numpy()
