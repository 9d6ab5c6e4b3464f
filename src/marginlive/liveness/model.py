"""Liveness architectures by name (PyTorch; a training dependency only).

Every network takes float (N, 3, S, S) BGR in [0, 1] and returns one logit per image
(positive = real). ``Deployable`` wraps one with the uint8 NHWC input of the model file.
"""
from __future__ import annotations

import torch
from torch import nn


def _conv_bn(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True), nn.BatchNorm2d(cout)]


class LivenessNet(nn.Module):
    """The paper's reference [12] (Rosebrock's LivenessNet), at 64x64x3.

    Two blocks of (conv-relu-batchnorm) x2 + max-pool + dropout 0.25, with 16 then 32
    filters; then dense 64 + relu + batchnorm + dropout 0.5; one logit (the paper's
    2-way softmax with binary cross-entropy is the same model as one sigmoid logit).
    """

    def __init__(self, size: int = 64):
        super().__init__()
        self.features = nn.Sequential(
            *_conv_bn(3, 16), *_conv_bn(16, 16), nn.MaxPool2d(2), nn.Dropout(0.25),
            *_conv_bn(16, 32), *_conv_bn(32, 32), nn.MaxPool2d(2), nn.Dropout(0.25),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * (size // 4) ** 2, 64), nn.ReLU(inplace=True),
            nn.BatchNorm1d(64), nn.Dropout(0.5), nn.Linear(64, 1),
        )

    def forward(self, x):
        return self.head(self.features(x)).squeeze(1)


class _DWBlock(nn.Module):
    """Depthwise-separable residual block (MobileNetV2-style, no expansion)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin), nn.ReLU(inplace=True),
            nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout),
        )
        self.skip = (nn.Identity() if stride == 1 and cin == cout else
                     nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.act(self.body(x) + self.skip(x))


class MiniResNet(nn.Module):
    """A stronger small network that stays well inside 1 ms on a CPU core.

    Stem conv 3x3/24 stride 1, then residual depthwise-separable stages 32-64-96-128 (each
    stride 2), global average pooling (so the net looks at texture everywhere instead of
    memorising where things are) and one logit. ~60k parameters.
    """

    def __init__(self, size: int = 64, width: int = 32, dropout: float = 0.3):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(3, 24, 3, 1, 1, bias=False), nn.BatchNorm2d(24), nn.ReLU(inplace=True),
            _DWBlock(24, w, 2), _DWBlock(w, w, 1),
            _DWBlock(w, 2 * w, 2), _DWBlock(2 * w, 2 * w, 1),
            _DWBlock(2 * w, 3 * w, 2), _DWBlock(3 * w, 3 * w, 1),
            _DWBlock(3 * w, 4 * w, 2),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(4 * w, 1))

    def forward(self, x):
        return self.head(self.features(x)).squeeze(1)


ARCHS = {"livenessnet": LivenessNet, "minires": MiniResNet}


def build(arch: str, size: int = 64) -> nn.Module:
    from ..errors import DatasetError
    if arch not in ARCHS:
        raise DatasetError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")
    return ARCHS[arch](size=size)


class Deployable(nn.Module):
    """uint8 BGR NHWC crops -> P(real): the scaling lives inside the exported graph."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        x = x.permute(0, 3, 1, 2).float() / 255.0
        return torch.sigmoid(self.net(x))


class MultiScale(nn.Module):
    """Several branches fused, each looking at the face at its own margin (the MiniFASNet pair's
    idea, and issue 8's "tight crop + wide crop").

    Input: the 4x context crop, uint8 BGR NHWC (N, 256, 256, 3), exactly what
    ``marginlive collect`` stores. Each branch cuts the centre at its margin and shrinks it to
    64 px by an integer average pool (margins 1, 2 and 4: 64, 128 and 256 px), which is the same
    arithmetic as the training crops, so training and inference see identical pixels.
    Output: the mean of the branches' P(real).
    """

    def __init__(self, branches: dict[float, nn.Module], context_margin: float = 4.0,
                 context_size: int = 256, size: int = 64):
        super().__init__()
        self.specs = []
        for m in branches:
            side = context_size * m / context_margin
            if abs(side - round(side)) > 1e-6 or round(side) % size:
                raise ValueError(f"margin {m} does not cut a whole multiple of {size} px from the context")
            self.specs.append((int(round(side)), int(round(side)) // size))
        self.nets = nn.ModuleList(branches.values())
        self.context_size = context_size

    def forward(self, x):
        x = x.permute(0, 3, 1, 2).float() / 255.0
        c = self.context_size // 2
        probs = []
        for (side, k), net in zip(self.specs, self.nets):
            v = x[:, :, c - side // 2:c + side // 2, c - side // 2:c + side // 2]
            if k > 1:
                v = torch.nn.functional.avg_pool2d(v, k)
            probs.append(torch.sigmoid(net(v)))
        return torch.stack(probs, 0).mean(0)
