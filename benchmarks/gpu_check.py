"""GPU check: the report-001 models and a ResNet18 + ArcFace trained through ``facekit.train.fit`` (Lightning)
on synthetic uint8 crops, then resumed; images per second of the whole fit beside a bare step loop on the same
model, loss and batch size, so the ratio shows how close the feeding gets to the compute.

Synthetic crops (random faces' worth of pixels, ``--people`` identities) measure speed only, never accuracy.

Run: ``PYTHONPATH=. python benchmarks/gpu_check.py`` on a GPU box (``--quick`` for a seconds-long CPU check).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from facekit.batches import scale_crops
from facekit.metric_training import MetricModelSpec, MetricRecipe, build_model, train_metric_model
from facekit.models.losses import LOSSES
from facekit.runtime import describe, device
from facekit.studies.metric_learning import REPORT_001
from facekit.train import CropSet, Run, precision_for

RESNET18 = MetricModelSpec("resnet18-arcface", "resnet18", 512, "arcface", float("nan"), "report 004's model")
#: (spec, input size, batch size): the cpu profile's input sizes, batches a GPU box would use
MODELS = [(REPORT_001[0], 112, 256), (REPORT_001[1], 64, 256), (REPORT_001[2], 64, 128), (RESNET18, 112, 256)]


def synthetic(n: int, people: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uint8 112x112 crops of ``people`` identities (a per-person base image plus noise)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % people
    base = rng.integers(0, 256, (people, 112, 112, 3), dtype=np.uint8)
    noise = rng.integers(-24, 24, (n, 112, 112, 3), dtype=np.int16)
    return np.clip(base[labels] + noise, 0, 255).astype(np.uint8), labels


def bare_loop(spec: MetricModelSpec, input_size: int, batch: int, n_classes: int, steps: int, dev: str) -> float:
    """Images per second of a plain step loop: one batch already scaled on the device, AdamW, autocast."""
    torch.manual_seed(0)
    model = build_model(spec, input_size).to(dev).train()
    loss_obj, miner = LOSSES.get(spec.loss, n_classes=n_classes, dim=spec.dim, epochs=1)
    loss_obj = loss_obj.to(dev)
    opt = torch.optim.AdamW([*model.parameters(), *loss_obj.parameters()], lr=1e-3)
    x = scale_crops(torch.randint(0, 256, (batch, 3, 112, 112), dtype=torch.uint8, device=dev))
    y = torch.randint(0, n_classes, (batch,), device=dev)
    amp = precision_for(dev)
    dtype = torch.bfloat16 if amp.startswith("bf16") else torch.float16

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type="cuda" if dev.startswith("cuda") else "cpu", dtype=dtype,
                            enabled=amp != "32-true"):
            emb = model(x).float()
        loss = loss_obj(emb, y, miner(emb, y)) if miner is not None else loss_obj(emb, y)
        loss.backward()
        opt.step()

    for _ in range(3):  # warm-up (cuDNN autotuning, allocator)
        step()
    if dev.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if dev.startswith("cuda"):
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=16384)
    ap.add_argument("--people", type=int, default=512)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30, help="steps of the bare loop")
    ap.add_argument("--models", nargs="*", help="model names (default: all)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, for a CPU test of the script")
    ap.add_argument("--json", type=Path, help="also write the rows here")
    ap.add_argument("--chapter-budgets", action="store_true",
                    help="also train the three report-001 models with the metric-learning chapter's cpu-profile "
                         "budgets (epochs, batch, input size) on a synthetic set of the chapter's size")
    args = ap.parse_args()
    if args.quick:
        args.images, args.people, args.steps = 64, 8, 2
    dev = device()
    print(f"device: {describe(dev)}; precision {precision_for(dev)}; torch {torch.__version__}")
    crops, labels = synthetic(args.images, args.people)
    pairs = min(256, args.images // 2)
    val = (crops[:pairs], crops[pairs:2 * pairs], labels[:pairs] == labels[pairs:2 * pairs])
    rows = []
    for spec, size, batch in MODELS:
        if args.models and spec.name not in args.models:
            continue
        batch = min(batch, 16) if args.quick else batch
        size = min(size, 32) if args.quick else size
        with tempfile.TemporaryDirectory() as tmp:
            if dev.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
            data, recipe = CropSet(crops, labels, val), MetricRecipe(batch, size)
            _, res = train_metric_model(spec, data, recipe, Run(args.epochs, checkpoint_dir=Path(tmp), device=dev,
                                                                progress=False))
            wall = time.perf_counter() - t0
            per_epoch = (len(crops) // batch) * batch
            last = res.history[-1]["seconds"]
            _, resumed = train_metric_model(spec, data, recipe, Run(args.epochs + 1, checkpoint_dir=Path(tmp),
                                                                    device=dev, progress=False))
            peak = torch.cuda.max_memory_allocated() / 2**30 if dev.startswith("cuda") else float("nan")
        bare = bare_loop(spec, size, batch, args.people, args.steps, dev)
        fit_rate = per_epoch / last
        row = {"model": spec.name, "input": size, "batch": batch, "fit_images_per_s": round(fit_rate, 1),
               "bare_images_per_s": round(bare, 1), "bare_over_fit": round(bare / fit_rate, 2),
               "fit_wall_s": round(wall, 1), "resumed_from": resumed.resumed_from,
               "epochs_after_resume": len(resumed.history), "peak_gib": round(peak, 2)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n{'model':22s} {'input':>5s} {'batch':>5s} {'fit img/s':>10s} {'bare img/s':>11s} {'bare/fit':>8s} "
          f"{'resume':>7s} {'peak GiB':>8s}")
    for r in rows:
        ok = r["resumed_from"] == args.epochs and r["epochs_after_resume"] == args.epochs + 1
        print(f"{r['model']:22s} {r['input']:5d} {r['batch']:5d} {r['fit_images_per_s']:10.1f} "
              f"{r['bare_images_per_s']:11.1f} {r['bare_over_fit']:8.2f} {'ok' if ok else 'WRONG':>7s} "
              f"{r['peak_gib']:8.2f}")
    print("fit img/s: the last epoch of the Lightning fit (feeding, steps, validation on 256 pairs); bare: the "
          "same model and loss on one batch already on the device")
    if args.chapter_budgets:
        rows += chapter_budgets(dev, args.quick)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


def chapter_budgets(dev: str, quick: bool = False) -> list[dict]:
    """The metric-learning chapter's cpu-profile training (3,593 crops of 674 people there) on synthetic crops of
    that size: minutes of training per model on this device, to set beside the chapter's CPU minutes."""
    from facekit.studies import metric_learning as ml

    n, people = (160, 40) if quick else (3593, 674)
    crops, labels = synthetic(n, people, seed=1)
    half = min(300, n // 2)
    val = (crops[:half], crops[half:2 * half], labels[:half] == labels[half:2 * half])
    out = []
    print(f"\nthe chapter's cpu-profile budgets on {describe(dev)}, {n} synthetic crops of {people} people")
    for spec in ml.REPORT_001:
        tp = ml.CHAPTER.params("cpu").training(spec)
        epochs = 1 if quick else tp.epochs
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            _, res = train_metric_model(spec, CropSet(crops, labels, val), MetricRecipe(tp.batch_size, tp.input_size),
                                        Run(epochs, checkpoint_dir=Path(tmp), device=dev, progress=False))
            wall = time.perf_counter() - t0
        row = {"model": spec.name, "budget": f"{epochs} epochs, batch {tp.batch_size}, {tp.input_size} px",
               "train_seconds": round(sum(h["seconds"] for h in res.history), 1), "wall_seconds": round(wall, 1)}
        print(json.dumps(row), flush=True)
        out.append(row)
    return out


if __name__ == "__main__":
    main()
