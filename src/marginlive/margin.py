"""The margin ROI, the paper's core idea, in one place.

The face box is enlarged by ``margin`` about its centre and squared (side = margin x the
longer side of the box), so the crop also shows what surrounds the face: a phone's bezel,
the fingers holding it, a paper edge. It is then resized to the model's input (64x64).

Border policy (decided here, tested in tests/test_margin.py): the square stays centred on
the face, and the part of it that falls outside the frame is filled with black. We do not
shift the square back inside the frame: shifting would move the face off-centre and change
what the network sees depending on where the user stands, and a crop taken from a stored
context crop (``marginlive collect`` keeps a 4x one) would no longer equal the crop taken
from the full frame. With centring + black padding, crop(frame, m) == crop(context, m) for
every m <= the context's margin, so training and live inference see identical geometry.
"""
from __future__ import annotations

import cv2
import numpy as np

from .types import FaceBox


def margin_square(box: FaceBox, margin: float) -> tuple[float, float, float]:
    """(x0, y0, side) of the square of side ``margin * max(w, h)`` centred on the box."""
    if margin <= 0:
        raise ValueError(f"margin must be > 0, got {margin}")
    side = max(1.0, margin * max(box.w, box.h))
    return box.cx - side / 2, box.cy - side / 2, side


def crop_margin(frame: np.ndarray, box: FaceBox, margin: float = 2.0, size: int = 64) -> np.ndarray:
    """The ``size`` x ``size`` BGR uint8 margin crop of ``box`` in ``frame``.

    Geometry is exact to the sub-pixel: the visible part of the square is first shrunk by
    an integer factor k with area averaging (anti-aliasing, k = floor(side / size)), then
    one affine warp maps the square onto the output with bilinear sampling; pixels of the
    square outside the frame come out black.
    """
    H, W = frame.shape[:2]
    x0, y0, side = margin_square(box, margin)
    out_black = np.zeros((size, size, 3), np.uint8)
    vx0, vy0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    vx1, vy1 = min(W, int(np.ceil(x0 + side))), min(H, int(np.ceil(y0 + side)))
    if vx1 <= vx0 or vy1 <= vy0:
        return out_black
    k = max(1, int(side / size))
    if k > 1:
        nw, nh = max(1, (vx1 - vx0) // k), max(1, (vy1 - vy0) // k)
        region = frame[vy0:vy0 + nh * k, vx0:vx0 + nw * k]
        small = cv2.resize(region, (region.shape[1] // k, region.shape[0] // k), interpolation=cv2.INTER_AREA)
    else:
        small = frame[vy0:vy1, vx0:vx1]
    # output pixel centre u + 0.5 sits at frame x = x0 + (u + 0.5) * side / size;
    # small pixel s has its centre at frame x = vx0 + (s + 0.5) * k.
    a = side / size / k
    tx = (x0 - vx0) / k + 0.5 * a - 0.5
    ty = (y0 - vy0) / k + 0.5 * a - 0.5
    m = np.array([[a, 0.0, tx], [0.0, a, ty]], np.float64)
    return cv2.warpAffine(small, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def crop_batch(frame: np.ndarray, boxes: list[FaceBox], margin: float = 2.0, size: int = 64) -> np.ndarray:
    """Margin crops of all boxes of a frame as one (N, size, size, 3) uint8 batch."""
    if not boxes:
        return np.zeros((0, size, size, 3), np.uint8)
    return np.stack([crop_margin(frame, b, margin, size) for b in boxes])


# --- context crops: a wide crop stored once, from which any smaller margin can be cut -----

CONTEXT_MARGIN = 4.0
CONTEXT_SIZE = 256


def context_box(box: FaceBox, context_margin: float = CONTEXT_MARGIN,
                context_size: int = CONTEXT_SIZE) -> FaceBox:
    """The face box in the coordinates of its context crop (centred, scaled)."""
    s = context_size / (context_margin * max(box.w, box.h))
    c = context_size / 2
    return FaceBox(c - box.w * s / 2, c - box.h * s / 2, c + box.w * s / 2, c + box.h * s / 2, box.score)


def crop_from_context(context: np.ndarray, margin: float, size: int = 64,
                      context_margin: float = CONTEXT_MARGIN) -> np.ndarray:
    """Cut the margin crop out of a context crop made by ``crop_margin(.., context_margin, ..)``."""
    if margin > context_margin + 1e-9:
        raise ValueError(f"margin {margin} is wider than the stored context ({context_margin}x)")
    n = context.shape[0]
    side = n * margin / context_margin
    x0 = (n - side) / 2
    box = FaceBox(x0, x0, x0 + side, x0 + side)
    return crop_margin(context, box, 1.0, size)


# --- the Silent-Face crop: kept inside the frame, never padded with black -----------------

def shifted_crop(frame: np.ndarray, box: FaceBox, scale: float, size: int = 80,
                 min_scale: float = 0.0, max_side: int = 0) -> np.ndarray:
    """The ``size`` x ``size`` crop that the Silent-Face MiniFASNet models were trained on (their
    ``CropImage``): the box scaled by ``scale`` about its centre, keeping its aspect, the scale first
    reduced so the crop fits the frame, then shifted back inside the frame where it crosses an
    edge (never padded), cut at whole pixels and resized (bilinear). Models trained on it turn
    away most live faces when shown a padded, squared crop instead, so this recipe is kept exact.

    ``min_scale`` (default 0: never): where the frame holds less than ``min_scale`` times the box
    (a face filling the frame), the frame's edge pixels are first repeated outwards until it
    holds ``min_scale`` times the box, and the crop is cut at that scale. A crop barely larger than
    the face is one these models rarely saw: measured, the V1SE then turns away a fifth of live
    close-ups (docs/research/2026-12-02-close-up-crop.md).

    ``max_side`` (px, default 0: never): where the window cut from the frame is wider than
    ``max_side`` pixels, it is resampled (bilinear) at k = ceil(window / ``max_side``) times the
    crop's size and each k x k block averaged, so that the samples lie no farther apart than in a
    window of ``max_side`` pixels. The bilinear step alone reads 4 pixels of each output pixel's
    share and skips the rest: on a frame of 3x a webcam's resolution its sensor noise comes
    through unaveraged. Measured on the upright-phone live video so enlarged (noise of 8 levels),
    the V1SE's live logit fell from 8.6 to 0.4 on average; averaged at ``max_side`` 640, 7.4
    (docs/research/2026-12-02-high-resolution.md).
    """
    H, W = frame.shape[:2]
    w, h = max(box.w, 1.0), max(box.h, 1.0)
    fits = min(scale, (H - 1) / h, (W - 1) / w)      # the largest scale the frame holds
    floor = min(scale, min_scale)
    if fits < floor:
        return _extended_crop(frame, box, floor, size, max_side)
    scale = fits
    nw, nh = w * scale, h * scale
    x0, y0, x1, y1 = box.cx - nw / 2, box.cy - nh / 2, box.cx + nw / 2, box.cy + nh / 2
    if x0 < 0:
        x0, x1 = 0, x1 - x0
    if y0 < 0:
        y0, y1 = 0, y1 - y0
    if x1 > W - 1:
        x0, x1 = x0 - (x1 - W + 1), W - 1
    if y1 > H - 1:
        y0, y1 = y0 - (y1 - H + 1), H - 1
    region = frame[int(y0):int(y1) + 1, int(x0):int(x1) + 1]
    k = int(np.ceil(max(region.shape[:2]) / max_side)) if max_side > 0 else 1
    if k > 1:   # about 0.2 ms for a 1440-px window; averaging the whole frame first costs 2-3 ms
        fine = cv2.resize(region, (size * k, size * k), interpolation=cv2.INTER_LINEAR)
        return cv2.resize(fine, (size, size), interpolation=cv2.INTER_AREA)
    return cv2.resize(region, (size, size), interpolation=cv2.INTER_LINEAR)


def _extended_crop(frame: np.ndarray, box: FaceBox, scale: float, size: int, max_side: int) -> np.ndarray:
    """``shifted_crop`` at ``scale`` of the frame extended by repeating its edge pixels, on each
    side just enough for ``scale`` times the box to fit."""
    H, W = frame.shape[:2]
    px = int(np.ceil(max(0.0, (max(box.w, 1.0) * scale - (W - 1)) / 2))) + 1
    py = int(np.ceil(max(0.0, (max(box.h, 1.0) * scale - (H - 1)) / 2))) + 1
    big = cv2.copyMakeBorder(frame, py, py, px, px, cv2.BORDER_REPLICATE)
    moved = FaceBox(box.x1 + px, box.y1 + py, box.x2 + px, box.y2 + py)   # only its geometry is read
    return shifted_crop(big, moved, scale, size, max_side=max_side)
