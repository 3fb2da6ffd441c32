"""Report 000's classification heads on frozen embeddings: bias-free cosine-softmax layers.

``CosineHead`` normalises its input and each class weight, so a logit is ``s * cos(angle)``: the scale ``s`` sets
how peaked the softmax can get, and the decision depends on direction only, as the embedder's own metric does.
``MultiHead`` puts an identity head and a sex head on the same features, each with its own scale.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CosineHead(nn.Module):
    """Logits ``s * cos(x, w_c)`` for each class ``c``: no bias, input and weights L2-normalised.

    Class weights start small (normal, std 0.01): only their direction matters, and a small norm lets Adam's
    fixed-size steps turn them quickly; with Xavier's larger initial weights the heads learned markedly slower."""

    def __init__(self, in_dim: int, n_classes: int, s: float = 32.0) -> None:
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"a classification head needs at least 2 classes, got {n_classes}")
        self.s = float(s)
        self.weight = nn.Parameter(torch.empty(n_classes, in_dim))
        nn.init.normal_(self.weight, std=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.s * F.linear(F.normalize(x, dim=1), F.normalize(self.weight, dim=1))


class MultiHead(nn.Module):
    """Identity and sex heads on the same frozen features; ``forward`` returns (identity logits, sex logits)."""

    def __init__(self, in_dim: int, n_identities: int, s_identity: float = 32.0, s_sex: float = 32.0,
                 n_sex: int = 2) -> None:
        super().__init__()
        self.identity = CosineHead(in_dim, n_identities, s_identity)
        self.sex = CosineHead(in_dim, n_sex, s_sex)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.identity(x), self.sex(x)


def multi_head_loss(lambda_identity: float = 1.0, lambda_sex: float = 1.0):
    """Loss of a ``MultiHead``: ``λ_id * CE(identity) + λ_sex * CE(sex)``; targets are (n, 2) [identity, sex]."""

    def loss(outputs: tuple[torch.Tensor, torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        ident, sex = outputs
        return lambda_identity * F.cross_entropy(ident, target[:, 0]) + lambda_sex * F.cross_entropy(sex, target[:, 1])

    return loss
