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


def crop_batch_from_context(contexts: np.ndarray, margin: float, size: int = 64,
                            context_margin: float = CONTEXT_MARGIN) -> np.ndarray:
    """``crop_from_context`` of every (S, S, 3) context of a batch: (N, size, size, 3) uint8."""
    if not len(contexts):
        return np.zeros((0, size, size, 3), np.uint8)
    return np.stack([crop_from_context(c, margin, size, context_margin) for c in contexts])
