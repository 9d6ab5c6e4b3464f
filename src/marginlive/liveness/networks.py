"""Liveness networks by name (PyTorch; a training dependency only).

Every network takes float (N, 3, S, S) BGR in [0, 1] and returns one logit per image
(positive = real). ``Deployable`` wraps one with the uint8 NHWC input of the model file.
"""
from __future__ import annotations

import math

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

    Stem conv 3x3/24 stride 1 (``stem="conv"``) or a space-to-depth stem (2x2 pixels to 12
    channels, then conv 3x3/24: the same pixels at half the side, about a third of the time),
    then residual depthwise-separable stages 32-64-96-128 (each stride 2), global average pooling
    (so the net looks at texture everywhere instead of memorising where things are) and one
    logit. ~60k parameters. Input (N, 3, size, size), size a multiple of 32. stem_width: the
    first map's channels (24; ``minires-16`` / ``minires-32``: ONNX Runtime computes 24 as 32 on an
    AVX-512 CPU, so 16 costs less and 32 the same; docs/research/2026-12-05-sixteen-channel-student.md).
    """

    def __init__(self, size: int = 64, width: int = 32, dropout: float = 0.3, stem: str = "conv",
                 stem_width: int = 24):
        super().__init__()
        w, s = width, stem_width
        if stem not in ("conv", "space-to-depth"):
            raise ValueError(f"unknown stem {stem!r}; choose conv or space-to-depth")
        # "space-to-depth": each 2x2 block of pixels becomes 12 channels before the first
        # convolution, so the first map is half the side (a quarter of the memory traffic that
        # makes a batch cost more per face than one face) while no pixel is dropped, as a
        # strided 3x3 would drop the finest texture (a screen's pixel grid)
        first = ([nn.Conv2d(3, s, 3, 1, 1, bias=False)] if stem == "conv"
                 else [nn.PixelUnshuffle(2), nn.Conv2d(12, s, 3, 1, 1, bias=False)])
        self.features = nn.Sequential(
            *first, nn.BatchNorm2d(s), nn.ReLU(inplace=True),
            _DWBlock(s, w, 2), _DWBlock(w, w, 1),
            _DWBlock(w, 2 * w, 2), _DWBlock(2 * w, 2 * w, 1),
            _DWBlock(2 * w, 3 * w, 2), _DWBlock(3 * w, 3 * w, 1),
            _DWBlock(3 * w, 4 * w, 2),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(4 * w, 1))

    def forward(self, x):
        return self.head(self.features(x)).squeeze(1)


class CDConv2d(nn.Conv2d):
    """3x3 central difference convolution (Yu et al., "Searching Central Difference
    Convolutional Networks for Face Anti-Spoofing", CVPR 2020): a plain convolution minus
    ``theta`` times the centre pixel weighted by the kernel's sum, so it responds to local
    differences (print dots, screen pixels, moire) as well as to intensity. That is one
    convolution whose centre tap is ``w_c - theta * sum(w)``: ``plain()`` returns it, and the
    exported graph holds only ordinary convolutions."""

    def __init__(self, cin: int, cout: int, stride: int = 1, theta: float = 0.7):
        super().__init__(cin, cout, 3, stride, 1, bias=False)
        self.theta = float(theta)
        centre = torch.zeros(1, 1, 3, 3)
        centre[0, 0, 1, 1] = 1.0
        self.register_buffer("centre", centre, persistent=False)

    def effective_weight(self) -> torch.Tensor:
        if not self.theta:
            return self.weight
        return self.weight - self.theta * self.weight.sum((2, 3), keepdim=True) * self.centre

    def forward(self, x):
        return self._conv_forward(x, self.effective_weight(), None)

    def plain(self) -> nn.Conv2d:
        conv = nn.Conv2d(self.in_channels, self.out_channels, 3, self.stride, 1, bias=False)
        conv.weight.data.copy_(self.effective_weight().detach())
        return conv


class CDCNet(nn.Module):
    """A small central-difference network with pixel-wise supervision (DeepPixBiS, George and
    Marcel, ICB 2019): it scores every cell of a coarse map (16x16 at 128 px) and trains each
    cell to say real or fake, so each patch of the view must carry evidence on its own instead
    of one global shortcut (a room, a pose). The image's logit is the mean of the map's.

    Stem CDC 3->24 stride 2, CDC 24->32 + max-pool, CDC 32->48 + max-pool, CDC 48->64, each
    with batch norm and ReLU, then a 1x1 convolution to one logit per cell. About 40k
    parameters, ~50M multiply-adds at 128 px. ``theta=0`` gives the same network with plain
    convolutions (the ablation)."""

    widths = (24, 32, 48, 64)

    def __init__(self, size: int = 128, theta: float = 0.7):
        super().__init__()
        w = self.widths

        def block(cin, cout, stride=1):
            return [CDConv2d(cin, cout, stride, theta), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*block(3, w[0], 2), *block(w[0], w[1]), nn.MaxPool2d(2),
                                      *block(w[1], w[2]), nn.MaxPool2d(2), *block(w[2], w[3]))
        self.cell = nn.Conv2d(w[3], 1, 1)

    def maps(self, x):
        """(N, 3, S, S) -> (N, S/8, S/8) logits, one per cell."""
        return self.cell(self.features(x)).squeeze(1)

    def forward(self, x):
        return self.maps(x).mean((1, 2))


def plain_convolutions(net: nn.Module) -> nn.Module:
    """``net`` with every central difference convolution replaced by its equivalent plain one
    (in place; for export: the same function, fewer operators)."""
    for name, child in net.named_children():
        if isinstance(child, CDConv2d):
            setattr(net, name, child.plain().to(child.weight.device))
        else:
            plain_convolutions(child)
    return net


def _lit_mean(values, x):
    """(N, C, 1, 1): the mean of ``values`` (N, C, S, S) over the pixels of ``x`` (N, 3, S, S) that are
    not black (a margin crop's padding), 0 where none is lit."""
    lit = (x.sum(1, keepdim=True) > 0).float()
    return (values * lit).sum((2, 3), keepdim=True) / lit.sum((2, 3), keepdim=True).clamp_min(1.0)


class ToneNorm(nn.Module):
    """Each image brought to one brightness: the gamma that takes the mean luma of its non-black
    pixels (the margin crop's padding left out) to ``target`` (0.48: their median on the training
    collections), limited to 1/``limit``-``limit`` (1.8). (N, 3, S, S) BGR in [0, 1] in and out;
    a camera's tone curve is not a cue to learn (docs/research/2026-12-04-fast-model-tone.md)."""

    def __init__(self, target: float = 0.48, limit: float = 1.8):
        super().__init__()
        self.target, self.limit = target, limit

    def forward(self, x):
        luma = 0.114 * x[:, 0] + 0.587 * x[:, 1] + 0.299 * x[:, 2]
        mean = _lit_mean(luma[:, None], x)[:, 0, 0, 0]
        gamma = math.log(self.target) / torch.log(mean.clamp(1e-3, 0.999))
        gamma = gamma.clamp(1.0 / self.limit, self.limit)
        # x ** gamma written as exp(gamma log x): the same values (within 6e-8), and ONNX Runtime's
        # Exp and Log take half the time of its Pow on one thread (0.07 against 0.15 ms at 96 px)
        return torch.exp(gamma[:, None, None, None] * torch.log(x.clamp_min(1e-6)))


class GreyWorld(nn.Module):
    """Each image's colour cast taken out: every channel scaled so that its mean over the non-black
    pixels (the margin crop's padding left out) is the mean of the three, each gain limited to
    1/``limit``-``limit`` (2.0). (N, 3, S, S) BGR in [0, 1] in and out, clipped to 1. Meant to keep a
    camera's white balance from being a cue; measured, students taught behind it ranked never-seen faces
    worse than without it (docs/research/2026-12-06-grey-world-student.md): an option, not the recipe's."""

    def __init__(self, limit: float = 2.0):
        super().__init__()
        self.limit = limit

    def forward(self, x):
        means = _lit_mean(x, x)
        gain = means.mean(1, keepdim=True) / means.clamp_min(1e-3)
        return (x * gain.clamp(1.0 / self.limit, self.limit)).clamp_max(1.0)


ARCHS = {"livenessnet": LivenessNet, "minires": MiniResNet, "cdcnet": CDCNet,
         "minires-s2d": lambda size=64: MiniResNet(size, stem="space-to-depth"),
         "minires-16": lambda size=64: MiniResNet(size, stem_width=16),
         "minires-32": lambda size=64: MiniResNet(size, stem_width=32),
         "minires-tone": lambda size=64: nn.Sequential(ToneNorm(), MiniResNet(size)),
         "minires-grey": lambda size=64: nn.Sequential(GreyWorld(), MiniResNet(size))}


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
