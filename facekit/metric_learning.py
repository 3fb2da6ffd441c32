"""Report 001's metric-learning models trained from scratch on LFW identities: MobileNetV3 + ArcFace,
a compact Inception + triplet loss on random triplets, VGG16 + triplet loss with online semi-hard then hard
mining (losses, miners and samplers from pytorch-metric-learning); evaluation on held-out LFW folds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from facekit.data import lfw
from facekit.metrics import best_threshold
from facekit.models.embedders import Preprocessing, TorchEmbedder
from facekit.models.metric_nets import EmbeddingNet, backbone
from facekit.train import FitResult, fit, seed_everything


@dataclass(frozen=True)
class MetricModelSpec:
    """One model of report 001: trunk, embedding size, loss, and the accuracy the report gave (for display)."""

    name: str
    backbone: str
    dim: int
    loss: str  # "arcface", "triplet-random" or "triplet-mined"
    reported_accuracy: float
    reported_as: str


REPORT_001 = (
    MetricModelSpec("mobilenetv3-arcface", "mobilenet_v3_small", 128, "arcface", 0.9593,
                    "MobileNetV3 + ArcFace"),
    MetricModelSpec("inception-triplet", "inception", 128, "triplet-random", 0.8687, "InceptionV2 + triplet loss"),
    MetricModelSpec("vgg16-triplet-mined", "vgg16", 256, "triplet-mined", 0.7735,
                    "VGG16 + online triplet mining"),
)
REPORTED_SOURCE = "report 001, LFW verification table"


@dataclass
class LfwSplit:
    """Identity-disjoint use of LFW: training people, validation pairs (one fold), test pairs (other folds)."""

    train: pd.DataFrame  # path, name, label
    val_pairs: pd.DataFrame
    test_pairs: pd.DataFrame
    val_fold: int
    test_folds: tuple[int, ...]


def lfw_split(val_fold: int = 5, test_folds: tuple[int, ...] = (6, 7, 8, 9, 10), min_images: int = 2,
              max_people: int | None = None, seed: int = 0) -> LfwSplit:
    """Train on everyone outside the validation and test folds' pairs who has at least ``min_images`` images
    (optionally a seeded sample of ``max_people``); validate on ``val_fold``'s pairs; test on ``test_folds``."""
    pairs = lfw.pairs()
    allowed = set(lfw.identities_outside_folds(pairs, [val_fold, *test_folds]))
    imgs = lfw.images()
    imgs = imgs[imgs.name.isin(allowed)]
    counts = imgs.groupby("name").size()
    keep = sorted(counts[counts >= min_images].index)
    if max_people is not None and max_people < len(keep):
        keep = sorted(np.random.default_rng(seed).choice(keep, size=max_people, replace=False).tolist())
    train = imgs[imgs.name.isin(keep)].reset_index(drop=True)
    train["label"] = train.name.map({n: i for i, n in enumerate(keep)})
    return LfwSplit(train, pairs[pairs.fold == val_fold].reset_index(drop=True),
                    pairs[pairs.fold.isin(test_folds)].reset_index(drop=True), val_fold, tuple(test_folds))


def make_pairs(df: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` verification pairs (half matched, half mismatched) drawn with a seed from ``df`` (path, name)."""
    rng = np.random.default_rng(seed)
    by_name = {k: list(g.path) for k, g in df.groupby("name")}
    multi = [k for k, v in by_name.items() if len(v) >= 2]
    names = list(by_name)
    if not multi or len(names) < 2:
        raise ValueError("need people with two images and at least two people to make pairs")
    rows = []
    for _ in range(n // 2):
        k = multi[rng.integers(len(multi))]
        a, b = rng.choice(len(by_name[k]), size=2, replace=False)
        rows.append((by_name[k][a], by_name[k][b], True))
        k1, k2 = rng.choice(len(names), size=2, replace=False)
        p1, p2 = by_name[names[k1]], by_name[names[k2]]
        rows.append((p1[rng.integers(len(p1))], p2[rng.integers(len(p2))], False))
    return pd.DataFrame(rows, columns=["path1", "path2", "same"])


def folder_split(folder: Path, val_people: float = 0.02, val_pairs: int = 600, min_images: int = 2,
                 seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """An identity-per-folder training set (CASIA-WebFace, MS1M): (train with labels, validation pairs drawn
    from a held-out ``val_people`` share of its identities). None of these people is in LFW's folds by design of
    those datasets' authors, which is why the full profile tests on all ten folds."""
    from facekit.data.folders import read_identity_folders
    from facekit.data.splits import identity_disjoint_split

    df = read_identity_folders(folder, min_images=min_images).rename(columns={"identity": "name"})
    share = max(val_people, 2.0 / max(df.name.nunique(), 1))  # at least two held-out people, to make pairs
    split = identity_disjoint_split(df.name, (1 - share, share, 0.0), seed=seed)
    train = df[split == "train"].reset_index(drop=True)
    train["label"] = train.name.map({n: i for i, n in enumerate(sorted(set(train.name)))})
    return train, make_pairs(df[split == "val"], val_pairs, seed)


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
    import hashlib

    pre = Preprocessing((112, 112), "RGB", f"(x - 127.5) / 128, resized to {input_size} px inside the model",
                        "arcface112")
    emb = TorchEmbedder(spec.name, model, pre, spec.dim, 127.5, 128.0)
    # the weights are part of the identity of a trained embedder: embedding caches must not outlive a retraining
    h = hashlib.sha1()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().numpy().tobytes())
    emb.version = f"trained-{h.hexdigest()[:12]}"
    return emb


def _scale(x: torch.Tensor) -> torch.Tensor:
    return (x.float() - 127.5) / 128.0


def pair_accuracy(embed, crops_a: np.ndarray, crops_b: np.ndarray, same: np.ndarray) -> float:
    """Best-threshold accuracy on one set of pairs (for checkpoint choice only, never for the reported test)."""
    ea, eb = embed(crops_a), embed(crops_b)  # unit vectors: cosine
    return best_threshold(np.sum(ea * eb, axis=1), same)[1]


def train_metric_model(spec: MetricModelSpec, crops: np.ndarray, labels: np.ndarray, val: tuple, *,
                       epochs: int, batch_size: int, input_size: int, lr: float = 1e-3, weight_decay: float = 5e-4,
                       m_per_class: int = 2, checkpoint_dir: Path | None = None, seed: int = 0,
                       device: str = "cpu", progress: bool = True) -> tuple[nn.Module, FitResult]:
    """Train one report-001 model on aligned crops (uint8 N x 112 x 112 x 3) with integer identity labels; pick
    the epoch with the best validation pair accuracy. ``val`` is (crops_a, crops_b, same)."""
    from pytorch_metric_learning import losses, miners, samplers

    seed_everything(seed)
    model = build_model(spec, input_size).to(device)
    x_all = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2)  # uint8 NCHW
    y_all = torch.as_tensor(np.array(labels), dtype=torch.long)
    n_classes = int(y_all.max()) + 1
    params = list(model.parameters())
    miner = None
    if spec.loss == "arcface":
        loss_obj = losses.ArcFaceLoss(n_classes, spec.dim, margin=28.6, scale=64).to(device)
        params += list(loss_obj.parameters())
    elif spec.loss == "triplet-random":
        loss_obj = losses.TripletMarginLoss(margin=0.2)  # every valid triplet of a randomly sampled batch
    elif spec.loss == "triplet-mined":
        loss_obj = losses.TripletMarginLoss(margin=0.2)
        miner = miners.TripletMarginMiner(margin=0.2, type_of_triplets="semihard")
    else:
        raise KeyError(f"unknown loss {spec.loss!r}")
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    sampler = samplers.MPerClassSampler(labels, m=m_per_class, batch_size=batch_size,
                                        length_before_new_iter=len(labels))
    gen = torch.Generator().manual_seed(seed)

    def on_epoch(epoch: int) -> None:  # online mining: semi-hard triplets first, hard ones in the second half
        if miner is not None:
            miner.type_of_triplets = "semihard" if epoch < epochs // 2 else "hard"

    def loss_fn(emb: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return loss_obj(emb, y, miner(emb, y)) if miner is not None else loss_obj(emb, y)

    def batches(epoch: int):
        torch.manual_seed(seed * 1000 + epoch)
        idx = torch.as_tensor(list(iter(sampler)), dtype=torch.long)
        for i in range(0, len(idx) - batch_size + 1, batch_size):
            b = idx[i:i + batch_size]
            x = _scale(x_all[b])
            flip = torch.rand(len(b), generator=gen) < 0.5
            x[flip] = torch.flip(x[flip], dims=[3])
            yield x, y_all[b]

    def embed(c: np.ndarray) -> np.ndarray:
        out = []
        with torch.no_grad():
            for i in range(0, len(c), 256):
                x = _scale(torch.from_numpy(np.ascontiguousarray(c[i:i + 256])).permute(0, 3, 1, 2)).to(device)
                out.append(model(x).cpu().numpy())
        return np.concatenate(out)

    result = fit(model, loss_fn, batches, lambda: pair_accuracy(embed, *val), optimizer, epochs,
                 checkpoint_dir=checkpoint_dir, scheduler=scheduler, device=device, progress=progress,
                 on_epoch=on_epoch)
    return model.eval(), result
