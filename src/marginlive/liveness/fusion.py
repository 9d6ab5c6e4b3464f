"""Several branches, each on its own view of the 4x context, fused into one P(real)."""
from __future__ import annotations

import torch
from torch import nn

from .views import block_sums, context_tensor, context_view, view_spec


class MultiScale(nn.Module):
    """Several branches fused, each looking at the face at its own margin (the MiniFASNet pair's
    idea, and issue 8's "tight crop + wide crop").

    Input: the 4x context crop, uint8 BGR NHWC (N, 256, 256, 3), exactly what
    ``marginlive collect`` stores. Each branch cuts the centre at its margin and shrinks it to
    its input size by an integer average pool (e.g. margins 1, 2 and 4 at 64 px: 64, 128 and
    256 px pooled by 1, 2 and 4), the same arithmetic as the training crops, so training and
    inference see identical pixels. ``branches`` maps a margin to a network, or to a
    (network, input size) pair; or is a list of (margin, network[, input size]). Output: P(real) = sigmoid of the weighted mean of the
    branches' logits (equal weights unless ``weights`` says otherwise).
    """

    def __init__(self, branches: dict, context_margin: float = 4.0, context_size: int = 256,
                 size: int = 64, weights=None):
        super().__init__()
        self.specs, nets = [], []
        items = branches.items() if isinstance(branches, dict) else [(b[0], b[1:]) for b in branches]
        for m, b in items:
            b = b if isinstance(b, tuple) else (b,)
            net, sz = b[0], (b[1] if len(b) > 1 else size)
            self.specs.append(view_spec(m, sz, context_margin, context_size))
            nets.append(net)
        self.nets = nn.ModuleList(nets)
        w = torch.ones(len(nets)) if weights is None else torch.as_tensor(weights, dtype=torch.float32)
        if w.shape != (len(nets),) or bool((w < 0).any()) or float(w.sum()) <= 0:
            raise ValueError(f"need one non-negative weight per branch, got {weights}")
        self.register_buffer("weights", w / w.sum())
        self.context_size = context_size

    def logits(self, x):
        """(N, 256, 256, 3) uint8 context crops -> (branches, N) logits.

        The context is pooled once per factor (``pooled``) and each branch slices its view from its
        level: where the crop offset is a multiple of the factor this is the same average as
        cropping first (to the bit: sums of whole levels, scaled once), and it shares the pooling
        between branches."""
        x = x if isinstance(x, torch.Tensor) else torch.from_numpy(x)
        levels, out = self.pooled(x), []
        for (side, k), net in zip(self.specs, self.nets):
            off = (self.context_size - side) // 2
            if k in levels and off % k == 0:
                n, o = side // k, off // k
                out.append(net(levels[k][:, :, o:o + n, o:o + n] * (1.0 / (k * k * 255.0))))
                continue
            if 1 not in levels:   # the full-resolution view, or one not aligned with the blocks
                levels[1] = context_tensor(x)
            out.append(net(context_view(levels[1], side, k, self.context_size)))
        return torch.stack(out, 0)

    def pooled(self, x) -> dict:
        """The uint8 contexts (N, S, S, 3) summed over k x k blocks, (N, 3, S/k, S/k) floats, for every
        factor k > 1 of a view whose offset is a multiple of k. The finest comes from the bytes: one
        strided convolution (``views.block_sums``) where k >= 4, which is cheaper than the layout
        change of the whole crop, else the whole crop in NCHW (kept as level 1) averaged (at a batch
        of 8 faces: 0.39 against 0.56 ms for k = 4, but 0.83 against 0.56 for k = 2); coarser ones by
        2^j x 2^j sums of a finer one. All exact: sums of whole levels."""
        need = sorted({k for side, k in self.specs if k > 1 and (self.context_size - side) // 2 % k == 0})
        levels = {}
        for k in need:
            finer = [j for j in levels if k % j == 0 and not (k // j) & (k // j - 1)]
            if not finer and k < 4 and not k & (k - 1):
                levels[1] = context_tensor(x)
                finer = [1]
            if finer:
                m = k // max(finer)
                levels[k] = torch.nn.functional.avg_pool2d(levels[max(finer)], m) * float(m * m)
            else:
                levels[k] = block_sums(x, k)
        return levels

    def forward(self, x):
        return torch.sigmoid((self.logits(x) * self.weights[:, None]).sum(0))
