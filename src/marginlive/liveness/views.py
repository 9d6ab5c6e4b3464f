"""Views of the 4x context crop (uint8 (N, 256, 256, 3), what ``marginlive collect`` stores): the
centre that a margin covers, pooled to a branch's input size, with the arithmetic of the training
crops so that training and inference see the same pixels."""
from __future__ import annotations

import torch


def view_spec(margin: float, size: int, context_margin: float = 4.0, context_size: int = 256) -> tuple[int, int]:
    """(side, pool): the centre ``side`` px of the context crop that a ``margin`` view covers,
    and the integer pool that shrinks it to ``size`` px; ValueError where there is none."""
    side = context_size * margin / context_margin
    if abs(side - round(side)) > 1e-6 or round(side) % size:
        raise ValueError(f"margin {margin:g} does not cut a whole multiple of {size} px from the context")
    return int(round(side)), int(round(side)) // size


def context_view(x, side: int, pool: int, context_size: int = 256):
    """float NCHW context crops in 0..255 -> float (N, 3, side/pool, side/pool) in [0, 1]: the
    centre ``side`` px averaged over pool x pool blocks (scaled after pooling: less work)."""
    c = context_size // 2
    v = x if side == context_size else x[:, :, c - side // 2:c + side // 2, c - side // 2:c + side // 2]
    if pool > 1:
        v = torch.nn.functional.avg_pool2d(v, pool)
    return v * (1.0 / 255.0)


def context_tensor(crops) -> torch.Tensor:
    """uint8 NHWC context crops (tensor or array) -> float NCHW 0..255 (the layout change on
    bytes, before widening them: cheaper)."""
    x = crops if isinstance(crops, torch.Tensor) else torch.from_numpy(crops)
    return x.permute(0, 3, 1, 2).float()


def block_sums(crops: torch.Tensor, k: int) -> torch.Tensor:
    """uint8 NHWC (N, S, S, 3) context crops -> float NCHW (N, 3, S/k, S/k): each channel summed over
    k x k blocks (exact: whole levels). One strided convolution of the bytes read as a (N, 1, S, 3S)
    image, its kernel 1 on the block's pixels of one channel: the layout change and the pooling in one
    step, on the pooled size (at a batch of 8 faces, 0.56 -> 0.40 ms against transposing the whole
    crop and averaging it in 2 x 2 steps)."""
    n, s = crops.shape[0], crops.shape[1]
    if s % k:
        raise ValueError(f"a {s} px context does not split into {k} px blocks")
    kernel = torch.zeros(3, 1, k, 3 * k)
    for c in range(3):
        kernel[c, 0, :, c::3] = 1.0
    return torch.nn.functional.conv2d(crops.float().reshape(n, 1, s, 3 * s), kernel.to(crops.device),
                                      stride=(k, 3 * k))
