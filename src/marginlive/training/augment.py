"""Batch augmentation on tensors (no per-image Python loops).

Geometry follows the paper's Keras ImageDataGenerator: rotation 20 degrees, width/height
shift 0.2, zoom 0.15 (x and y each in [0.85, 1.15]), shear 0.15 (Keras reads it as degrees,
so it is nearly nothing; kept for fidelity), horizontal flip, fill "nearest". Sampling is
from a crop twice as wide as the margin crop, so a shift or zoom-out shows the real
surroundings; where even that runs out, the border pixels repeat ("nearest").

Photometric options (off in the paper's recipe, used by the generalisation recipe):
brightness/contrast/saturation, per-channel gain (white balance), gamma, blur, noise,
JPEG-like blockiness via down-up sampling.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class AugmentConfig:
    """What ``augment`` draws per image; the defaults are the paper's geometry with no photometric
    change (module docstring). ``rotation``, ``shift``, ``zoom``, ``shear`` and ``colour``: the largest
    change drawn, either way; ``blur`` and ``resample``: the share of images so changed; ``noise``: the
    largest standard deviation of the noise on the 0-1 scale (each image's drawn below it). 0 turns an
    option off."""
    rotation: float = 20.0       # degrees
    shift: float = 0.2           # fraction of the crop
    zoom: float = 0.15
    shear: float = 0.15          # degrees (Keras semantics)
    flip: bool = True
    colour: float = 0.0          # strength of brightness/contrast/saturation/white-balance jitter
    blur: float = 0.0            # probability of a random blur
    noise: float = 0.0           # std of Gaussian camera noise (0..1 scale)
    resample: float = 0.0        # probability of down-up resampling (compression / low-res camera)

    @classmethod
    def paper(cls):
        return cls()

    @classmethod
    def strong(cls):
        return cls(colour=0.3, blur=0.3, noise=0.02, resample=0.3)

    @classmethod
    def none(cls):
        return cls(rotation=0, shift=0, zoom=0, shear=0, flip=False)


def affine_batch(wide: torch.Tensor, out_size: int, frac: float, cfg: AugmentConfig,
                 gen: torch.Generator | None, train: bool = True) -> torch.Tensor:
    """Sample (N, 3, out, out) crops from (N, 3, W, W) wide crops; ``frac`` is the share of the
    wide crop the margin crop covers. With train=False this is the plain centre crop."""
    n = wide.shape[0]
    dev = wide.device

    def U(lo, hi):
        return torch.rand(n, generator=gen, device=dev) * (hi - lo) + lo

    if train:
        a = U(-cfg.rotation, cfg.rotation) * math.pi / 180
        sh = U(-cfg.shear, cfg.shear) * math.pi / 180
        zx, zy = U(1 - cfg.zoom, 1 + cfg.zoom), U(1 - cfg.zoom, 1 + cfg.zoom)
        tx, ty = U(-cfg.shift, cfg.shift) * 2 * frac, U(-cfg.shift, cfg.shift) * 2 * frac
        flip = ((torch.rand(n, generator=gen, device=dev) < 0.5) if cfg.flip else
                torch.zeros(n, dtype=torch.bool, device=dev))
    else:
        a = sh = tx = ty = torch.zeros(n, device=dev)
        zx = zy = torch.ones(n, device=dev)
        flip = torch.zeros(n, dtype=torch.bool, device=dev)
    cos, sin = torch.cos(a), torch.sin(a)
    # output coords -> input coords: frac * R(a) * Shear * Zoom * Flip
    fx = torch.where(flip, -1.0, 1.0)
    m00 = frac * (cos * zx * fx)
    m01 = frac * (-sin + cos * torch.tan(sh)) * zy
    m10 = frac * (sin * zx * fx)
    m11 = frac * (cos + sin * torch.tan(sh)) * zy
    theta = torch.stack([torch.stack([m00, m01, tx], 1), torch.stack([m10, m11, ty], 1)], 1)
    grid = F.affine_grid(theta, (n, 3, out_size, out_size), align_corners=False)
    return F.grid_sample(wide, grid, mode="bilinear", padding_mode="border", align_corners=False)


def photometric(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator | None) -> torch.Tensor:
    """Colour, blur, noise and resampling jitter on (N, 3, S, S) floats in [0, 1] (``gen`` on
    the device of ``x``)."""
    n, dev = x.shape[0], x.device

    def U(lo, hi, *shape):
        return torch.rand(n, *shape, generator=gen, device=dev) * (hi - lo) + lo

    if cfg.colour > 0:
        c = cfg.colour
        gain = U(1 - c / 2, 1 + c / 2, 3, 1, 1)                     # white balance
        x = x * gain * U(1 - c, 1 + c, 1, 1, 1)                     # brightness
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * U(1 - c, 1 + c, 1, 1, 1) + mean            # contrast
        grey = x.mean(dim=1, keepdim=True)
        x = (x - grey) * U(1 - c, 1 + c, 1, 1, 1) + grey            # saturation
        x = x.clamp(0, 1) ** U(1 - c / 2, 1 + c / 2, 1, 1, 1)       # gamma
    if cfg.blur > 0:
        sel = torch.rand(n, generator=gen, device=dev) < cfg.blur
        if sel.any():
            k = torch.tensor([1.0, 2.0, 1.0], device=dev)
            k = (k[:, None] * k[None, :]) / 16
            w = k.expand(3, 1, 3, 3).contiguous()
            x = x.clone()
            x[sel] = F.conv2d(F.pad(x[sel], (1, 1, 1, 1), mode="replicate"), w, groups=3)
    if cfg.resample > 0:
        sel = torch.rand(n, generator=gen, device=dev) < cfg.resample
        if sel.any():
            s = x.shape[-1]
            f = float(torch.empty(1, device=dev).uniform_(0.35, 0.7, generator=gen))
            small = F.interpolate(x[sel], scale_factor=f, mode="area")
            x = x.clone()
            x[sel] = F.interpolate(small, size=(s, s), mode="bilinear", align_corners=False)
    if cfg.noise > 0:
        x = x + (torch.randn(x.shape, generator=gen, device=dev) * cfg.noise *
                 torch.rand(n, 1, 1, 1, generator=gen, device=dev))
    return x.clamp(0, 1)
