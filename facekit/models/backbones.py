"""Network architectures written here because no installed library ships them: MobileFaceNet (to load the
CASIA-trained 112x96 weights of the mirror) and VGG-M-Face-BN (to load the published converted weights)."""

from __future__ import annotations

import torch
from torch import nn

#: MobileFaceNet bottleneck setting (expansion t, channels c, repeats n, stride s), Chen et al. 2018.
MOBILEFACENET_SETTING = ((2, 64, 5, 2), (4, 128, 1, 2), (2, 128, 6, 1), (4, 128, 1, 2), (2, 128, 2, 1))


class ConvBlock(nn.Module):
    """conv (no bias) + BN (+ PReLU unless ``linear``); depthwise when ``dw``."""

    def __init__(self, inp: int, oup: int, k, s: int, p, dw: bool = False, linear: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(inp, oup, k, s, p, groups=inp if dw else 1, bias=False)
        self.bn = nn.BatchNorm2d(oup)
        self.linear = linear
        if not linear:
            self.prelu = nn.PReLU(oup)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return x if self.linear else self.prelu(x)


class Bottleneck(nn.Module):
    """Inverted residual: 1x1 expand, 3x3 depthwise, 1x1 linear projection; residual when shapes allow."""

    def __init__(self, inp: int, oup: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = inp * expansion
        self.connect = stride == 1 and inp == oup
        self.conv = nn.Sequential(
            nn.Conv2d(inp, hidden, 1, 1, 0, bias=False), nn.BatchNorm2d(hidden), nn.PReLU(hidden),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
            nn.PReLU(hidden),
            nn.Conv2d(hidden, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.connect else self.conv(x)


class MobileFaceNet(nn.Module):
    """MobileFaceNet for 112 (high) x 96 (wide) crops, 128-d output (global depthwise conv of kernel 7x6)."""

    def __init__(self, embedding: int = 128) -> None:
        super().__init__()
        self.conv1 = ConvBlock(3, 64, 3, 2, 1)
        self.dw_conv1 = ConvBlock(64, 64, 3, 1, 1, dw=True)
        blocks, inp = [], 64
        for t, c, n, s in MOBILEFACENET_SETTING:
            for i in range(n):
                blocks.append(Bottleneck(inp, c, s if i == 0 else 1, t))
                inp = c
        self.blocks = nn.Sequential(*blocks)
        self.conv2 = ConvBlock(128, 512, 1, 1, 0)
        self.linear7 = ConvBlock(512, 512, (7, 6), 1, 0, dw=True, linear=True)
        self.linear1 = ConvBlock(512, embedding, 1, 1, 0, linear=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dw_conv1(self.conv1(x))
        x = self.conv2(self.blocks(x))
        return self.linear1(self.linear7(x)).flatten(1)


class VggMFaceBN(nn.Module):
    """VGG-M-Face with batch norm (Parkhi et al. 2015, MatConvNet ``vgg-m-face-bn``), 224x224 input.

    Layer names follow the published PyTorch conversion (``vgg_m_face_bn_dag``) so its state_dict loads strictly;
    ``forward`` returns the 4096-d fc7 features (the descriptor report 000 froze).
    """

    MEAN_RGB = (131.45376586914062, 103.98748016357422, 91.46234893798828)

    def __init__(self, classes: int = 2622) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 96, 7, stride=2)
        self.bn49 = nn.BatchNorm2d(96)
        self.pool1 = nn.MaxPool2d(3, 2)
        self.conv2 = nn.Conv2d(96, 256, 5, stride=2, padding=1)
        self.bn50 = nn.BatchNorm2d(256)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(256, 512, 3, padding=1)
        self.bn51 = nn.BatchNorm2d(512)
        self.conv4 = nn.Conv2d(512, 512, 3, padding=1)
        self.bn52 = nn.BatchNorm2d(512)
        self.conv5 = nn.Conv2d(512, 512, 3, padding=1)
        self.bn53 = nn.BatchNorm2d(512)
        self.pool5 = nn.MaxPool2d(3, 2)
        self.fc6 = nn.Conv2d(512, 4096, 6)
        self.bn54 = nn.BatchNorm2d(4096)
        self.fc7 = nn.Conv2d(4096, 4096, 1)
        self.bn55 = nn.BatchNorm2d(4096)
        self.fc8 = nn.Linear(4096, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        relu = torch.relu
        x = self.pool1(relu(self.bn49(self.conv1(x))))
        x = self.pool2(relu(self.bn50(self.conv2(x))))
        x = relu(self.bn51(self.conv3(x)))
        x = relu(self.bn52(self.conv4(x)))
        x = self.pool5(relu(self.bn53(self.conv5(x))))
        x = relu(self.bn54(self.fc6(x)))
        return relu(self.bn55(self.fc7(x))).flatten(1)
