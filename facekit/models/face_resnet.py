"""Report 004's network: torchvision's ResNet18 (no ImageNet weights here) on 112x96 face crops, ending in the
usual face-recognition output layer: BN, dropout, a fully connected layer to 512 on the flattened feature map
(not global pooling, so where on the face a feature sits still counts), BN."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: ``imagenet``: torchvision's stem as it is (7x7 stride-2 convolution, max pooling; a 112x96 crop ends as a
#: 4x3 map). ``face``: the stem of ArcFace's IResNets (3x3 stride-1 convolution, no pooling) with stride 2 moved
#: into the first stage, so the last map is 7x6 and the early layers see 4x more positions (4x the compute).
STEMS = ("imagenet", "face")


class FaceResNet18(nn.Module):
    """ResNet18 trunk + BN / dropout / FC / BN head. ``input_size`` (h, w) below 112x96 resizes the crop inside
    the network first (a CPU budget); the crops themselves stay 112x96."""

    def __init__(self, dim: int = 512, input_size: tuple[int, int] = (112, 96), stem: str = "face",
                 dropout: float = 0.4) -> None:
        super().__init__()
        import torchvision

        if stem not in STEMS:
            raise ValueError(f"stem {stem!r}: use one of {', '.join(STEMS)}")
        self.input_size, self.stem, self.dim = tuple(input_size), stem, dim
        net = torchvision.models.resnet18(weights=None)
        if stem == "face":
            net.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
            net.maxpool = nn.Identity()
            block = net.layer1[0]
            block.conv1.stride = (2, 2)
            block.downsample = nn.Sequential(nn.Conv2d(64, 64, 1, 2, bias=False), nn.BatchNorm2d(64))
        self.trunk = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3,
                                   net.layer4)
        self.trunk.eval()  # a shape probe must not touch the batch-norm statistics
        with torch.no_grad():
            h, w = self.trunk(torch.zeros(1, 3, *self.input_size)).shape[-2:]
        self.trunk.train()
        self.feature_map = (int(h), int(w))
        self.head = nn.Sequential(nn.BatchNorm2d(512), nn.Dropout(dropout), nn.Flatten(),
                                  nn.Linear(512 * h * w, dim), nn.BatchNorm1d(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != self.input_size:
            x = F.interpolate(x, size=self.input_size, mode="bilinear", antialias=True, align_corners=False)
        return F.normalize(self.head(self.trunk(x)), dim=1)


__all__ = ["STEMS", "FaceResNet18"]
