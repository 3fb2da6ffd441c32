"""Benchmark: what the Lightning fit costs on the CPU against a bare step loop doing the same work.

Two units of the book's training, each timed through ``facekit.train.fit`` (best/last checkpoints, CSV log,
validation every epoch) and through a plain loop (same model, loss, batches, optimizer, validation, no
checkpoints), side by side:
- a cosine head on frozen features, as the heads chapter trains 120+ of them (3,023 x 256 features, 20 epochs,
  a whole epoch per Lightning step as ``classify.train_head`` does);
- a report-001 model on synthetic uint8 crops at the chapter's cpu budget per step (one epoch).

Run: ``.venv/bin/python benchmarks/bench_train.py [--repeats 3]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from facekit.classify import HEAD_GROUP
from facekit.models.heads import CosineHead
from facekit.train import Run, Task, fit


def bare(model, loss_fn, batches, validate, optimizer, epochs: int) -> None:
    """The plain loop: what ``fit`` does minus Lightning, checkpoints and logs."""
    opt = optimizer(list(model.parameters()))
    for epoch in range(epochs):
        model.train()
        for x, y in batches(epoch, torch.device("cpu")):
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            validate()


def head_case(epochs: int = 20):
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(3023, 256)), dtype=torch.float32)
    y = torch.tensor(rng.integers(0, 62, 3023))
    tr, va = torch.arange(0, 2400), torch.arange(2400, 3023)

    def batches(epoch, device):
        order = tr[torch.randperm(len(tr), generator=torch.Generator().manual_seed(epoch))]
        for i in range(0, len(order), 64):
            yield x[order[i:i + 64]], y[order[i:i + 64]]

    def make():
        torch.manual_seed(0)
        model = CosineHead(256, 62, 32)
        return model, lambda: float((model(x[va]).argmax(1) == y[va]).float().mean())

    return "cosine head, 3023x256, 20 epochs", make, F.cross_entropy, batches, epochs, HEAD_GROUP


def model_case():
    from facekit.batches import CropBatches
    from facekit.metric_training import build_model
    from facekit.studies.metric_learning import REPORT_001

    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (640, 112, 112, 3), dtype=np.uint8)
    labels = np.arange(640) % 160
    spec = REPORT_001[1]  # inception-triplet at the chapter's 64 px
    from pytorch_metric_learning import losses

    loss = losses.TripletMarginLoss(margin=0.2)
    feed = CropBatches(crops, labels, 64, seed=0)

    def make():
        torch.manual_seed(0)
        model = build_model(spec, 64)
        val = torch.tensor(crops[:64]).permute(0, 3, 1, 2).float()
        return model, lambda: float(model(val).sum())

    return "inception-triplet, 640 crops at 64 px, 1 epoch", make, loss, feed, 1, 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(2)
    print(f"{'case':48s} {'bare s':>8s} {'fit s':>8s} {'fit/bare':>8s}")
    for label, make, loss_fn, batches, epochs, group in (head_case(), model_case()):
        t_bare, t_fit = [], []
        for _ in range(args.repeats):
            model, validate = make()
            t0 = time.perf_counter()
            bare(model, loss_fn, batches, validate, lambda p: torch.optim.AdamW(p, lr=1e-3), epochs)
            t_bare.append(time.perf_counter() - t0)
            model, validate = make()
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                fit(Task(model, loss_fn, batches, validate, lambda p: torch.optim.AdamW(p, lr=1e-3)),
                    Run(epochs, checkpoint_dir=Path(tmp), device="cpu", progress=False, group=group))
                t_fit.append(time.perf_counter() - t0)
        b, f = min(t_bare), min(t_fit)
        print(f"{label:48s} {b:8.2f} {f:8.2f} {f / b:8.2f}")
    print("best of the repeats; fit includes the Trainer's set-up, two checkpoints per epoch and the CSV log")


if __name__ == "__main__":
    main()
