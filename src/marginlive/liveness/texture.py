"""Hand-crafted texture branches as PyTorch modules (so that they export into the model file):
LBP and LPQ codes of the Y, Cr, Cb channels and histograms of oriented gradients, each scored by a
linear model on its histograms (fitted by ``training/texture.py``)."""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def bounded_logit(z, limit: float):
    """``z`` clipped to [-limit, limit] (``limit`` 0: as it is). A hand-crafted branch is a linear
    model on histograms, and a frame unlike any it was fitted on can push its logit far beyond
    anything seen in training: sensor noise on a screen replay makes the LBP branch's codes look
    like skin, its logit +9 where 99% of held-out frames stay within -5.1..+3.9, enough to outvote
    every other branch of a fusion. Clipped, one branch can lean the fusion but not decide it
    (docs/generalisation.md, docs/camera_sensitivity.md)."""
    return torch.clamp(z, -limit, limit) if limit > 0 else z


class ColourTexture(nn.Module):
    """Colour-texture branch: local binary patterns of the Y, Cr and Cb channels, scored by a
    linear model on their histograms (Boulkenafet et al.'s colour-texture cue, here on the
    wide context, where a screen's or a print's texture and colour shows around the face).

    Input: float (N, 3, S, S) BGR in [0, 1]. Pixels are taken to 8-bit levels and converted
    to YCrCb as OpenCV does (to within one level); each interior pixel gets an 8-neighbour LBP
    code per channel. With ``sigma_step`` > 0 each image and channel gets its own tolerance,
    max(``tolerance``, ceil(sigma / ``sigma_step``)), sigma being the channel's standard deviation
    over the view, so a bit means "brighter by a step relative to this image's contrast": a dim,
    flat view and a bright, contrasty one are read on comparable scales. ``histograms`` gives the
    code histograms of each channel in each cell of a ``grid`` x ``grid`` split of the view (the
    face sits at the centre, so a 2x2 grid keeps apart what lies above, below, left and right of
    it): (N, 768 * grid^2), each channel-cell block summing to 1. ``features`` maps them, bin by
    bin, with the explicit additive chi-squared kernel map (Vedaldi and Zisserman 2012, sklearn's
    ``AdditiveChi2Sampler``) when ``chi2_steps`` > 0, so that a linear model on the features acts
    like a chi-squared kernel machine on the histograms; ``forward`` gives the linear model's
    logit ``features(h) @ weight + bias`` (``weight`` a (n_features(), 1) column), (N,).
    """

    NEIGHBOURS = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))

    def __init__(self, stride: int = 1, tolerance: int = 0, chi2_steps: int = 0, chi2_interval: float = 0.5,
                 grid: int = 1, sigma_step: float = 0.0):
        super().__init__()
        self.stride = stride     # LBP codes at every stride-th pixel (a histogram needs no more)
        # a bit is set when the neighbour is at least `tolerance` levels above the centre (0: the
        # classic LBP); 2 ignores the level-sized wobble that compression and noise add
        self.tolerance = float(tolerance)
        self.sigma_step = float(sigma_step)   # > 0: tolerance adapts to each channel's contrast
        self.chi2_steps, self.chi2_interval = int(chi2_steps), float(chi2_interval)
        self.grid = int(grid)
        self._cells = {}         # (h, w) of the code map -> its constants (``_cell_bins``)
        self.logit_limit = 0.0   # > 0: the logit is clipped to +-logit_limit (see bounded_logit)
        # the linear model: a (n_features(), 1) column, which ONNX Runtime multiplies as a matrix product
        # (Gemm), several times faster than a vector; its name stays in the exported file
        self.weight = nn.Parameter(torch.zeros(self.n_features(), 1), requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(()), requires_grad=False)
        self.register_buffer("offsets", torch.arange(3).view(1, 3, 1) * 256, persistent=False)

    def n_bins(self) -> int:
        """The length of ``histograms``: 256 codes per channel and grid cell."""
        return 3 * 256 * self.grid ** 2

    def n_features(self) -> int:
        return self.n_bins() * (2 * self.chi2_steps - 1 if self.chi2_steps else 1)

    def codes(self, x):
        """(N, 3, S, S) BGR [0, 1] -> (N, 3, P) long codes, offset by 256 per channel
        (P = ((S - 2) / stride)^2, the interior pixels)."""
        return self.code_map(x).flatten(2).long() + self.offsets

    @staticmethod
    def levels(x):
        """(N, 3, S, S) BGR [0, 1] -> the same as whole 8-bit levels (floats)."""
        return torch.floor(x * 255.0 + 0.501)

    @staticmethod
    def ycrcb(x):
        """(N, 3, S, S) BGR [0, 1] -> (N, 3, S, S) float Y, Cr, Cb levels (whole numbers, 0..255)."""
        # integer arithmetic in floats (exact below 2^24), so PyTorch and ONNX Runtime agree
        # to the bit: no rounding tie can fall differently
        v = ColourTexture.levels(x)
        b, r = v[:, 0], v[:, 2]
        y = ColourTexture.luma(v)[:, 0]
        cr = torch.floor(((r - y) * 713.0 + 128500.0) / 1000.0).clamp(0, 255)
        cb = torch.floor(((b - y) * 564.0 + 128500.0) / 1000.0).clamp(0, 255)
        return torch.stack([y, cr, cb], 1)

    @staticmethod
    def luma(v):
        """(N, 3, S, S) BGR levels (whole numbers) -> (N, 1, S, S) Y levels, as ``ycrcb``'s."""
        return torch.floor((299.0 * v[:, 2:3] + 587.0 * v[:, 1:2] + 114.0 * v[:, 0:1] + 500.0) / 1000.0)

    def code_map(self, x):
        """(N, 3, S, S) BGR [0, 1] -> (N, 3, H, W) float 8-bit codes of the interior pixels."""
        v = self.ycrcb(x)
        n, s = v.shape[-1], self.stride
        level = v[:, :, 1:n - 1:s, 1:n - 1:s] + self.tolerances(v)
        code = None
        for bit, (dy, dx) in enumerate(self.NEIGHBOURS):   # shifted views: no convolution needed
            b = (v[:, :, 1 + dy:n - 1 + dy:s, 1 + dx:n - 1 + dx:s] >= level).float() * float(1 << bit)
            code = b if code is None else code + b
        return code

    def tolerances(self, v):
        """(N, 3, S, S) YCrCb levels -> the tolerance, a number or (N, 3, 1, 1) per image and channel.
        A whole number of levels, as the levels are, so PyTorch and ONNX Runtime set the same bits;
        they could differ only where sigma / ``sigma_step`` is within float rounding of a whole number."""
        if not self.sigma_step:
            return self.tolerance
        f = v.flatten(2)
        sigma = torch.sqrt(((f - f.mean(2, keepdim=True)) ** 2).mean(2))
        return torch.clamp(torch.ceil(sigma / self.sigma_step), min=self.tolerance)[:, :, None, None]

    def _cell_bins(self, h: int, w: int):
        """Per code-map pixel, the offset of its grid cell's bins (768 per cell); per bin the pixel
        count of its cell (cells as equal as whole pixels allow); and that count where every cell has
        the same, else 0. Constants of the view size, so the exported graph holds them as such."""
        h, w = int(h), int(w)           # fixed by the view size (only the batch axis is dynamic)
        if (h, w) not in self._cells:   # plain Python/NumPy: nothing here is traced into the graph
            g = self.grid
            cell = (np.arange(h) * g // h)[:, None] * g + (np.arange(w) * g // w)[None, :]
            per_cell = np.bincount(cell.ravel(), minlength=g * g)
            counts = np.repeat(per_cell, 768).astype(np.float32)
            uniform = int(per_cell[0]) if (per_cell == per_cell[0]).all() else 0
            self._cells[(h, w)] = (torch.from_numpy(cell * 768), torch.from_numpy(counts), uniform)
        return self._cells[(h, w)]

    def counts(self, x):
        """(N, 3, S, S) BGR [0, 1] -> (N, n_bins()) float code counts of each channel in each cell,
        (n_bins(),) the pixels of each bin's cell, and that number where all cells have the same, else 0
        (constants of the view size)."""
        m = self.code_map(x)
        cell, pixels, uniform = self._cell_bins(m.shape[-2], m.shape[-1])
        idx = (m.long() + self.offsets.view(1, 3, 1, 1) + cell.to(m.device)).flatten(1)
        h = torch.zeros(m.shape[0], self.n_bins(), dtype=torch.float32, device=m.device)
        counts = h.scatter_add(1, idx, torch.ones(idx.shape, dtype=torch.float32, device=m.device))
        return counts, pixels.to(m.device), uniform

    def histograms(self, x):
        counts, pixels, _ = self.counts(x)
        return counts / pixels

    def features(self, h):
        """The additive chi-squared map of histograms (N, 768) -> (N, n_features()); identity
        when ``chi2_steps`` is 0. Equal to sklearn's ``AdditiveChi2Sampler(sample_steps,
        sample_interval)``: an empty bin maps to zeros."""
        if not self.chi2_steps:
            return h
        lam = self.chi2_interval
        out = [torch.sqrt(h * lam)]
        log_h = torch.log(h.clamp(min=1e-30))   # only ever multiplied by sqrt(h) = 0 where h = 0
        for j in range(1, self.chi2_steps):
            amp = torch.sqrt(h * (2.0 * lam / math.cosh(math.pi * j * lam)))
            out += [amp * torch.cos(j * lam * log_h), amp * torch.sin(j * lam * log_h)]
        return torch.cat(out, 1)

    def forward(self, x):
        counts, pixels, uniform = self.counts(x)
        if self.chi2_steps and uniform:
            logit = self._mapped_logit(counts, uniform)
        else:
            logit = (self.features(counts / pixels) @ self.weight)[:, 0] + self.bias
        return bounded_logit(logit, self.logit_limit)

    def _mapped_logit(self, counts, pixels: int):
        """``features(counts / pixels) @ weight + bias`` where every cell has ``pixels`` pixels: a bin's
        count is then a whole number 0..pixels, so the chi-squared map of every count is a constant
        table (pixels + 1, 2 chi2_steps - 1), computed by ``features`` itself (the same floats); the
        graph looks each bin's row up instead of taking a logarithm, a sine and a cosine of every bin
        (at a batch of 8 faces, 0.22 -> 0.09 ms). Equal to the map within float rounding of the sum."""
        with torch.no_grad():
            table = self.features((torch.arange(pixels + 1, dtype=torch.float32) / float(pixels))[:, None])
        mapped = table.to(counts.device)[counts.long()].transpose(1, 2)        # (N, k, bins): the features' order
        return (mapped.reshape(counts.shape[0], -1) @ self.weight)[:, 0] + self.bias


class PhaseTexture(ColourTexture):
    """Local phase quantisation (LPQ; Ojansivu and Heikkila 2008) of the Y, Cr and Cb channels:
    the colour-texture branch with another code. Each pixel's ``window`` x ``window``
    neighbourhood is transformed at the four lowest non-zero frequencies, as (x, y): (a, 0), (0, a),
    (a, a) and (-a, a), a = 1 / ``window``; the real and imaginary parts of the four coefficients give
    the 8 bits of the code (a bit set where the part exceeds ``tolerance``). The phase at low
    frequencies survives a symmetric blur, the kind that optics, a camera's processing and JPEG
    apply, which is why LPQ is used where LBP's pixel comparisons are fragile. The tolerance (in
    levels, a part being a weighted sum of the window's levels) plays the LBP tolerance's part:
    a flat neighbourhood has parts near zero, whose signs would flip with noise; above the
    tolerance it codes 0. Everything else (grid, histograms, chi-squared map, linear model) is
    ``ColourTexture``'s. Codes of the pixels whose whole window lies inside the view, at every
    ``stride``-th one.
    """

    def __init__(self, stride: int = 1, tolerance: float = 20.0, chi2_steps: int = 0, chi2_interval: float = 0.5,
                 grid: int = 1, window: int = 7):
        super().__init__(stride, 0, chi2_steps, chi2_interval, grid)
        if window < 3 or window % 2 == 0:
            raise ValueError(f"the LPQ window must be odd and at least 3, got {window}")
        self.tolerance, self.window = float(tolerance), int(window)
        r = np.arange(window) - (window - 1) // 2
        w0, w1 = np.ones(window), np.exp(-2j * np.pi * r / window)
        kernels = []   # kernel[y, x] = wy[y] * wx[x], real and imaginary parts
        for wy, wx in ((w0, w1), (w1, w0), (w1, w1), (w1, np.conj(w1))):
            k = np.outer(wy, wx)
            kernels += [k.real, k.imag]
        self.register_buffer("kernels", torch.tensor(np.stack(kernels)[:, None], dtype=torch.float32),
                             persistent=False)
        self.register_buffer("bit_values", (2.0 ** torch.arange(8, dtype=torch.float32)).view(1, 8, 1, 1),
                             persistent=False)

    def code_map(self, x):
        v = self.ycrcb(x)
        n, c = v.shape[0], v.shape[1]
        parts = nn.functional.conv2d(v.reshape(n * c, 1, *v.shape[-2:]), self.kernels, stride=self.stride)
        code = ((parts > self.tolerance).float() * self.bit_values).sum(1)
        return code.reshape(n, c, *code.shape[-2:])


class GradientHistogram(nn.Module):
    """Histograms of oriented gradients (HOG; Dalal and Triggs 2005) of the Y channel, scored by a
    linear model: the layout of edges around the face (a phone's or a tablet's bezel, the hand
    holding it, a paper's border) and how sharp they are, which the texture codes, histograms of
    tiny neighbourhoods, do not see.

    Input: float (N, 3, S, S) BGR in [0, 1] (S a multiple of ``cells``). The Y levels (as
    ``ColourTexture.ycrcb``) get central-difference gradients (the border replicated). Each
    pixel's magnitude is shared between the two orientation bins nearest its unsigned
    orientation (``bins`` over 180 degrees), weighted by max(0, cos 2(theta - centre) - cos(360 /
    bins)), normalised: a linear-like interpolation computed from products of the gradient
    alone, no arctangent. Each pixel votes into the ``cells`` x ``cells`` grid's four nearest cell
    centres with bilinear weights; each 2x2 block of cells is L2-Hys normalised (L2, clipped at
    ``clip``, L2 again), as in Dalal and Triggs. With ``mask_padding`` the gradients next to
    pure black (0, 0, 0) pixels are zeroed: the black padding where the context square overruns
    the camera frame would otherwise give strong straight edges whose place says how large and
    where the face is, not whether it is live (masked: held-out replay AUC 0.934 -> 0.947).
    ``histograms`` gives the (N, 4 * bins * (cells - 1)^2) block vectors, ``features`` passes them
    through (the interface of the texture branches), ``forward`` the logit
    ``features(h) @ weight + bias``.
    """

    def __init__(self, cells: int = 8, bins: int = 9, clip: float = 0.2, mask_padding: bool = True):
        super().__init__()
        if cells < 2 or bins < 3:
            raise ValueError(f"HOG needs at least 2 cells a side and 3 bins, got {cells} and {bins}")
        self.cells, self.bins, self.clip, self.mask_padding = int(cells), int(bins), float(clip), bool(mask_padding)
        self.logit_limit = 0.0   # > 0: the logit is clipped to +-logit_limit (see bounded_logit)
        self.weight = nn.Parameter(torch.zeros(self.n_features(), 1), requires_grad=False)   # a column
        self.bias = nn.Parameter(torch.zeros(()), requires_grad=False)
        phi = 2 * np.pi * np.arange(bins) / bins      # bin centres, as doubled angles
        floor = np.cos(2 * np.pi / bins)              # a bin's weight is 0 from the next bin's centre on
        m = np.stack([np.cos(phi), np.sin(phi), np.full(bins, -floor)]) / (1.0 - floor)
        self.register_buffer("bin_matrix", torch.tensor(m, dtype=torch.float32), persistent=False)
        self._tents = {}

    def n_features(self) -> int:
        return 4 * self.bins * (self.cells - 1) ** 2

    def n_bins(self) -> int:
        """The length of ``histograms`` (the texture branches' interface): the features themselves."""
        return self.n_features()

    def _tent(self, side: int) -> torch.Tensor:
        """The bilinear vote of each pixel row (or column) to its two nearest cell centres (side,
        cells), a constant of the view size; the cell histograms are tent^T @ votes @ tent. (The
        outer half of a border cell gives the share it would give a cell beyond the edge to none.)"""
        if side not in self._tents:
            c = side // self.cells
            u = np.arange(side) + 0.5                       # pixel centres
            centres = (np.arange(self.cells) + 0.5) * c
            t = np.clip(1 - np.abs(u[:, None] - centres[None, :]) / c, 0, None)
            self._tents[side] = torch.tensor(t / c, dtype=torch.float32)
        return self._tents[side]

    def histograms(self, x):
        side = int(x.shape[-1])
        if side % self.cells:
            raise ValueError(f"a {side} px view does not split into {self.cells} cells")
        y = ColourTexture.luma(ColourTexture.levels(x))
        p = nn.functional.pad(y, (1, 1, 1, 1), mode="replicate")
        gx = p[:, :, 1:-1, 2:] - p[:, :, 1:-1, :-2]
        gy = p[:, :, 2:, 1:-1] - p[:, :, :-2, 1:-1]
        if self.mask_padding:
            black = ((x[:, 0:1] + x[:, 1:2] + x[:, 2:3]) == 0).float()
            keep = 1.0 - nn.functional.max_pool2d(black, 3, 1, 1)
            gx, gy = gx * keep, gy * keep
        sq = gx * gx + gy * gy
        m = torch.sqrt(sq)
        inv = 1.0 / (m + 1e-6)
        n = x.shape[0]
        # per pixel (channels last): magnitude m times (cos and sin of twice the orientation, 1);
        # times the bins' (cos, sin, -floor) that is m (cos 2(theta - centre) - floor) for every
        # bin in one product, and relu keeps the two nearest bins
        doubled = torch.cat([((gx * gx - gy * gy) * inv).reshape(n, side, side, 1),
                             ((2.0 * gx * gy) * inv).reshape(n, side, side, 1), m.reshape(n, side, side, 1)], 3)
        votes = torch.relu(torch.matmul(doubled, self.bin_matrix))
        t = self._tent(side).to(x.device)
        rows = torch.matmul(t.t(), votes.reshape(n, side, side * self.bins))         # (N, cells, S * bins)
        rows = rows.reshape(n, self.cells, side, self.bins).transpose(2, 3)          # (N, cells, bins, S)
        h = torch.matmul(rows, t).transpose(1, 2)                                    # (N, bins, cells, cells)
        k = self.cells - 1
        blocks = torch.cat([h[:, :, dy:dy + k, dx:dx + k] for dy in (0, 1) for dx in (0, 1)], 1)
        blocks = blocks / torch.sqrt((blocks * blocks).sum(1, keepdim=True) + 1e-2)
        blocks = blocks.clamp(max=self.clip)
        blocks = blocks / torch.sqrt((blocks * blocks).sum(1, keepdim=True) + 1e-3)
        return blocks.flatten(1)

    def features(self, h):
        return h

    def forward(self, x):
        return bounded_logit((self.histograms(x) @ self.weight)[:, 0] + self.bias, self.logit_limit)
