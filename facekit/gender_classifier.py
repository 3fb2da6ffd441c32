"""Report 003's gender classifiers: a linear probe on frozen face embeddings, and a recognition network
fine-tuned with the report's recipe (BCE with logits, AdamW lr 1e-4, weight decay 5e-3, StepLR(3, 0.3)).
"Gender" is the dataset's binary label, not a person's identity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from facekit.models.embedders import TorchEmbedder
from facekit.train import CropSet, FitResult, Run, Task, fit, predict, seed_everything


def probe(x_train: np.ndarray, y_train: np.ndarray, seed: int = 0):
    """Logistic regression on L2-normalised embeddings (scikit-learn), classes weighted by their inverse
    frequency (LFW is three quarters men, and balanced accuracy is what is reported): a fitted classifier whose
    ``predict_proba(x)[:, 1]`` is P(man)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer

    clf = LogisticRegression(C=1.0, max_iter=5000, class_weight="balanced", random_state=seed)
    return make_pipeline(Normalizer(), clf).fit(x_train, np.asarray(y_train, bool))


class GenderNet(nn.Module):
    """A recognition trunk (its embedding) followed by one logit for "man"."""

    def __init__(self, trunk: nn.Module, dim: int) -> None:
        super().__init__()
        self.trunk, self.head = trunk, nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x)).squeeze(1)


class _Batches:
    """Seeded shuffled batches of uint8 crops, scaled as the embedder was trained and flipped half the time."""

    def __init__(self, crops: np.ndarray, y: np.ndarray, scale, batch_size: int, seed: int) -> None:
        self.crops, self.y, self.scale, self.batch_size, self.seed = crops, np.asarray(y, np.float32), scale, \
            batch_size, seed

    def __call__(self, epoch: int, device):
        rng = np.random.default_rng(self.seed * 1000 + epoch)
        order = rng.permutation(len(self.y))
        flips = torch.from_numpy(rng.random(len(order)) < 0.5)
        for i in range(0, len(order) - self.batch_size + 1, self.batch_size):
            b = order[i:i + self.batch_size]
            x = self.scale(torch.from_numpy(np.ascontiguousarray(self.crops[b])).permute(0, 3, 1, 2).to(device))
            f = flips[i:i + self.batch_size].to(device).view(-1, 1, 1, 1)
            yield torch.where(f, torch.flip(x, dims=[3]), x), torch.from_numpy(self.y[b]).to(device)


def _scaler(embedder: TorchEmbedder):
    mean, std = embedder._mean, embedder._std

    def scale(x: torch.Tensor) -> torch.Tensor:
        return (x.float() - mean.to(x.device)) / std.to(x.device)

    return scale


def predict_prob(model: GenderNet, crops: np.ndarray, embedder: TorchEmbedder, batch: int = 128) -> np.ndarray:
    """P(man) for uint8 crops."""
    logits = predict(model, crops, _scaler(embedder), batch)
    return (1.0 / (1.0 + np.exp(-logits.astype(np.float64)))).astype(np.float32)


@dataclass(frozen=True)
class GenderRecipe:
    """How the gender network is fine-tuned: AdamW, the learning rate cut by ``gamma`` every ``step`` epochs (report
    003's StepLR), batches of ``batch_size``."""

    batch_size: int
    lr: float = 1e-4
    weight_decay: float = 5e-3
    step: int = 3
    gamma: float = 0.3


def train_gender_net(embedder: TorchEmbedder, data: CropSet, recipe: GenderRecipe, run: Run,
                     ) -> tuple[GenderNet, FitResult]:
    """Fine-tune ``embedder``'s network (pretrained) with a new logit on aligned crops of its preprocessing
    (``data``: crops, 0/1 labels, and ``val`` = (crops, labels)); the epoch kept is the best by balanced accuracy
    on ``val``."""
    crops, y, val = data.crops, data.labels, data.val
    from sklearn.metrics import balanced_accuracy_score

    seed_everything(run.seed)
    model = GenderNet(embedder.net.train(), embedder.dim if embedder.flip != "concat" else embedder.dim // 2)
    loss = nn.BCEWithLogitsLoss()

    def validate() -> float:
        p = predict_prob(model, val[0], embedder)
        return float(balanced_accuracy_score(np.asarray(val[1], bool), p >= 0.5))

    task = Task(model, lambda logits, t: loss(logits.float(), t),
                _Batches(crops, y, _scaler(embedder), recipe.batch_size, run.seed), validate,
                lambda params: torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay),
                scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, recipe.step, recipe.gamma))
    result = fit(task, run)
    return model.eval(), result


__all__ = ["GenderNet", "GenderRecipe", "predict_prob", "probe", "train_gender_net"]
