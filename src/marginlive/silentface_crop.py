"""The Silent-Face crop: the face box scaled about its centre, kept inside the frame.

The Silent-Face MiniFASNet models (``../shared/models/silentface-minifasnet``) were trained on
their authors' ``CropImage``: the box scaled by ``scale`` about its centre, keeping its aspect,
the scale first reduced so the crop fits the frame, then shifted back inside the frame where it
crosses an edge (never padded), cut at whole pixels and resized (bilinear). Shown the padded,
squared margin crop (``margin.crop_margin``) instead, they turn away most live faces, so that
recipe is the default here, kept exact. Three options of ``ShiftedCrop`` change it only where a
camera unlike the authors' makes it fail (each measured in ``docs/research``): a face filling the
frame, a window wider than a webcam's frame, a noisy sensor (or a dark face with noise that is
small in levels but large beside the face's own light).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import cv2
import numpy as np

from .types import FaceBox

#: k of the k x k averaging of a noisy window (``ShiftedCrop.noise_level``)
NOISY_AVERAGE = 3
#: px; the side of the square about the face's centre in which the noise is estimated
NOISE_PATCH = 256
_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


@dataclass(frozen=True)
class ShiftedCrop:
    """How the crop is cut; ``cut(frame, box)`` cuts it.

    scale: multiple of the face box the crop shows (the pair: 2.7 and 4.0).
    size: px, side of the square uint8 BGR crop (default 80).
    min_scale: default 0 (never): where the frame holds less than ``min_scale`` times the box (a
        face filling the frame), the frame's edge pixels are first repeated outwards until it
        does, and the crop is cut at that scale. A crop barely larger than the face is one these
        models rarely saw: the V1SE then turns away a fifth of live close-ups
        (docs/research/2026-12-02-close-up-crop.md).
    max_side: px, default 0 (never): a window of the frame wider than ``max_side`` is resampled
        (bilinear) at k = ceil(window / max_side) times ``size`` and averaged in k x k blocks, so
        the samples lie no farther apart than in a window of ``max_side`` px. The bilinear step
        alone reads 4 pixels of each output pixel's share: from a frame of 3x a webcam's resolution
        the sensor's per-pixel noise comes through unaveraged, and the V1SE's live logit fell from
        8.6 to 0.4 (docs/research/2026-12-02-high-resolution.md).
    noise_level: gray levels, default 0 (never): where the sensor noise estimated about the face
        (``noise_sigma``) is at least this, the window is averaged as above with k at least
        ``NOISY_AVERAGE``, whatever its width. Sampled unaveraged, such noise makes the V1SE call a
        screen replay more live and a live face less: under noise of 10 levels, 9% of a webcam
        replay's frames passed and 7% of the live ones were turned away; averaged, none
        (docs/research/2026-12-03-noise-adaptive-crop.md).
    noise_ratio: default 0 (never): averaged likewise where that noise is at least this share of
        the mean gray level it is estimated on (``noise_and_level``): a face lit only by a screen in
        a dark room carries noise of 2-5 levels on a face of 60-100, which ``noise_level`` passes
        unaveraged and the V1SE reads as an attack
        (docs/research/2026-12-06-screen-lit-faces.md).
    """

    scale: float
    size: int = 80
    min_scale: float = 0.0
    max_side: int = 0
    noise_level: float = 0.0
    noise_ratio: float = 0.0

    def __post_init__(self):
        number = (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
        whole = (lambda v: isinstance(v, int) and not isinstance(v, bool))
        if not (number(self.scale) and self.scale > 0 and whole(self.size) and self.size > 0
                and number(self.min_scale) and self.min_scale >= 0 and whole(self.max_side)
                and self.max_side >= 0 and number(self.noise_level) and self.noise_level >= 0
                and number(self.noise_ratio) and self.noise_ratio >= 0):
            raise ValueError(f"not a valid shifted crop: {self}")

    @classmethod
    def from_spec(cls, spec: dict) -> ShiftedCrop:
        """The crop a model's metadata input entry describes (``spec()``'s keys); ValueError if
        a value is missing or of the wrong kind."""
        missing = [k for k in ("scale", "size") if k not in spec]
        if missing:
            raise ValueError(f"a shifted crop needs {', '.join(missing)}")
        return cls(**{f.name: spec[f.name] for f in fields(cls) if f.name in spec})

    def spec(self) -> dict:
        """The metadata entry (``"crop": "shifted"`` and every option) of a model input."""
        return {"crop": "shifted", **asdict(self)}

    def cut(self, frame: np.ndarray, box: FaceBox) -> np.ndarray:
        """The (size, size, 3) uint8 crop of ``box`` in the BGR ``frame`` (H, W, 3)."""
        H, W = frame.shape[:2]
        w, h = max(box.w, 1.0), max(box.h, 1.0)
        fits = min(self.scale, (H - 1) / h, (W - 1) / w)      # the largest scale the frame holds
        if fits < min(self.scale, self.min_scale):
            return self._extended(frame, box)
        nw, nh = w * fits, h * fits
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
        k = int(np.ceil(max(region.shape[:2]) / self.max_side)) if self.max_side > 0 else 1
        if k < NOISY_AVERAGE and self._noisy(frame, box):
            k = NOISY_AVERAGE
        if k > 1:   # about 0.2 ms for a 1440-px window; averaging the whole frame first costs 2-3 ms
            fine = cv2.resize(region, (self.size * k, self.size * k), interpolation=cv2.INTER_LINEAR)
            return cv2.resize(fine, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return cv2.resize(region, (self.size, self.size), interpolation=cv2.INTER_LINEAR)

    def _noisy(self, frame: np.ndarray, box: FaceBox) -> bool:
        """The noise about the face at or above ``noise_level``, or at or above ``noise_ratio`` of
        the light it rides on (either test off at 0)."""
        if not (self.noise_level or self.noise_ratio):
            return False
        sigma, level = noise_and_level(frame, box)
        return ((0 < self.noise_level <= sigma)
                or (0 < self.noise_ratio and sigma >= self.noise_ratio * max(level, 1.0)))

    def _extended(self, frame: np.ndarray, box: FaceBox) -> np.ndarray:
        """The crop at ``min_scale`` of the frame extended by repeating its edge pixels, on each
        side just enough for ``min_scale`` times the box to fit."""
        H, W = frame.shape[:2]
        scale = min(self.scale, self.min_scale)
        px = int(np.ceil(max(0.0, (max(box.w, 1.0) * scale - (W - 1)) / 2))) + 1
        py = int(np.ceil(max(0.0, (max(box.h, 1.0) * scale - (H - 1)) / 2))) + 1
        big = cv2.copyMakeBorder(frame, py, py, px, px, cv2.BORDER_REPLICATE)
        moved = FaceBox(box.x1 + px, box.y1 + py, box.x2 + px, box.y2 + py)   # only its geometry is read
        return replace(self, scale=scale, min_scale=0.0).cut(big, moved)


#: the crop of the default model's Silent-Face branch (and of ``marginlive collect``, which
#: stores it beside each context crop for the branch's probe, ``training/probe.py``)
DEFAULT_CROP = ShiftedCrop(
    4.0, 80,
    # a face filling the frame: the authors' crop shrinks to the frame, and on crops of less
    # than 1.5x the face the V1SE turns live faces away. With the frame's edge repeated to keep
    # 1.5x, held-out close-ups 20.5 -> 3.1% turned away, their attacks 11.3 -> 13.6% let
    # through; from 1.75x on, replays pass far more (docs/research/2026-12-02-close-up-crop.md)
    min_scale=1.5,
    # a camera of higher resolution than a 640x480 webcam: the authors' bilinear resize samples
    # its per-pixel sensor noise unaveraged. Frames 3x as large, noise of 8 levels: the
    # upright-phone live video's Silent-Face logit 8.6 -> 0.4 as cropped by the authors, 8.2
    # averaged down (docs/research/2026-12-02-high-resolution.md). At 640 no window of a
    # 640x480 frame changes: at 480 the wide ones of CelebA-Spoof and the close-ups were
    # averaged too, and the first lost a live photo, the second let 1.5 points more attacks through.
    max_side=640,
    # a noisy sensor at any resolution: averaged where the noise about the face reads 3.5
    # levels or more (clean webcam faces 0.5-1.5, a tenth of the CelebA-Spoof photos more,
    # noise of 6 levels 4.1, of 10 levels 6.7). Webcam video under noise of 10: live turned
    # away 7 -> 0%, replay let through 9 -> 0%; at 4.5 the live video under noise of 6 lost 3%
    # and dim replays passed 1 point more (docs/research/2026-12-03-noise-adaptive-crop.md)
    noise_level=3.5,
    # a dark face whose noise is small in levels but large beside its light (a face lit only by a
    # screen in a dark room): averaged where the noise is 2% of the mean gray level or more (clean
    # webcam faces 0.6% (median) to 2.4% (99th percentile)) (docs/research/2026-12-06-screen-lit-faces.md)
    noise_ratio=0.02)


def noise_sigma(frame: np.ndarray, box: FaceBox) -> float:
    """Estimated standard deviation of the per-pixel noise of the BGR ``frame``, gray levels, in
    the square of at most ``NOISE_PATCH`` px about the centre of ``box`` (Immerkaer's Laplacian
    difference: the mean absolute response times sqrt(pi / 2) / 6, exact for Gaussian noise on a
    locally planar image). About 0.1 ms. Clean webcam faces read 0.5-1.5; noise of 10 levels, 6.7."""
    return noise_and_level(frame, box)[0]


def noise_and_level(frame: np.ndarray, box: FaceBox) -> tuple[float, float]:
    """(``noise_sigma``, the mean gray level of the same square), both in gray levels; (0, 0) where
    the square is under 3 px a side."""
    H, W = frame.shape[:2]
    hw, hh = min(box.w, NOISE_PATCH) / 2, min(box.h, NOISE_PATCH) / 2
    patch = frame[max(0, int(box.cy - hh)):min(H, int(box.cy + hh)), max(0, int(box.cx - hw)):min(W, int(box.cx + hw))]
    if patch.shape[0] < 3 or patch.shape[1] < 3:
        return 0.0, 0.0
    gray = cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY)
    response = cv2.filter2D(gray, cv2.CV_16S, _IMMERKAER)[1:-1, 1:-1]
    sigma = float(np.sqrt(np.pi / 2) / 6 * cv2.norm(response, cv2.NORM_L1) / response.size)
    return sigma, float(gray.mean())
