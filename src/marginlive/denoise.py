"""Temporal noise reduction for video: a noisy camera's frames averaged over time before scoring.

A camera in a dim room records noise that its demosaicing and noise reduction spread over a few
pixels (grain). Read off one frame, such noise looks like fine detail, to any estimate and to the
liveness networks alike: a screen replay filmed through it reads as live skin, and under grain of
10 levels seven in ten of a webcam replay's frames passed. Across frames it is plain: the noise
changes from frame to frame and the scene does not. ``TemporalDenoiser`` measures the noise from
the difference of consecutive frames, and where it is high averages each pixel over time, as a
camera's own temporal noise reduction does: the average is first moved with the picture (dense
optical flow), so that a hand-held camera or a moving head is still averaged, and a pixel that
changed beyond the noise all the same keeps its new value, so a moving face leaves no ghost.
Frames of a clean camera pass unchanged (docs/research/2026-12-07-temporal-noise-reduction.md,
docs/research/2026-12-07-motion-compensated-averaging.md).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class DenoiseOptions:
    """When and how strongly ``TemporalDenoiser`` averages.

    on_level: gray levels, default 2.0: the noise (``temporal_noise``, median of the last
        ``history`` frames) at or above which frames are averaged. It reads grain of 4 levels as
        about 2.5, of 10 levels as about 6, clean webcam and phone video 0.2-1.7.
    off_level: gray levels, default 1.5: below it averaging stops (below ``on_level``, so that a
        noise level about the threshold does not switch it every frame).
    target: gray levels, default 1.0: the noise the average aims to leave. A still pixel's running
        average takes in each new frame at a share of 2 (target / noise)^2 (a recursive average
        of share a leaves sqrt(a / 2) of the noise), so a noisier camera is averaged over more frames.
    memory: frames, default 20: the most frames a still pixel's average holds (its least share
        1 / ``memory``): at 10 frames/s two seconds, so that a face that moves too slowly to read
        as motion leaves no long trail.
    motion: default 2.5: a pixel whose change (after ``follow``) exceeds about ``motion`` times the
        noise is taken as moved and keeps the new frame's value.
    follow: default True: the average is moved with the picture before each frame is taken in
        (DIS optical flow at half resolution, bilinear). False: a pixel is averaged only while the
        picture stands still there, so a hand-held camera's or a moving head's face stays noisy.
    history: frames, default 5: the noise estimates whose median decides.
    settle: frames, default 8: how many frames the average must hold (or all that its share
        allows, if fewer) before ``TemporalDenoiser.settled``: the first averages are still noisy.
        Under grain of 15 levels a webcam replay's first 7 frames passed.
    max_pixels: default 1280 x 960: larger frames pass unchanged and nothing of them is kept. A
        stream's average and its moved copy are 12 bytes a pixel (15 MB at this size, a server's
        session each); from larger frames the crops the model reads average the noise themselves
        (unaveraged, grain of 10 levels let 7% of a webcam replay's frames through at 1280 x 960,
        none at 1920 x 1440).
    """

    on_level: float = 2.0
    off_level: float = 1.5
    target: float = 1.0
    memory: int = 20
    motion: float = 2.5
    follow: bool = True
    history: int = 5
    settle: int = 8
    max_pixels: int = 1280 * 960

    def __post_init__(self):
        whole = (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1)
        if not (0 <= self.off_level <= self.on_level and self.target > 0 and self.motion > 0
                and whole(self.memory) and whole(self.history) and whole(self.settle) and whole(self.max_pixels)):
            raise ValueError(f"not valid denoise options: {self}")


#: px of the (half-resolution) blocks ``temporal_noise`` measures in
BLOCK = 8
#: rows of the frame ``TemporalDenoiser`` averages at a time
STRIP = 64
#: the average is kept in fixed point, this many steps a gray level (uint16: half a float's memory)
FIXED = 256.0
#: px, the least side of the half-resolution frames optical flow is computed on (else not followed)
FLOW_SIDE = 16
#: half-resolution px: the flow is averaged over this square, where its errors in plain regions cancel
FLOW_SMOOTH = 9
#: frame px: motion below it is taken as none, so that a still picture is never resampled (each
#: resampling softens fine detail a little, and the average would add that up frame after frame)
FLOW_STILL = 0.5


def temporal_noise(previous: np.ndarray, current: np.ndarray) -> float:
    """The frame-to-frame noise of two consecutive gray frames (H, W) uint8 of one scene, gray levels.

    Every 2nd pixel of each, in 8 x 8 blocks; the standard deviation of the difference in each block
    whose pixels are all unclipped (2 < level < 253), its 25th percentile over the blocks, over
    sqrt(2). Detail that stays still cancels; blocks that move read high and fall above the
    percentile as long as a quarter of the frame is still or plain. Noise independent per pixel
    and channel reads as the gray conversion leaves it, about 0.67 of its level (grain of 10
    levels: about 6). Reads 0 for identical frames or where no block is unclipped. About 0.5 ms
    at 640 x 480.
    """
    h, w = previous.shape[0] // (2 * BLOCK), previous.shape[1] // (2 * BLOCK)
    if h == 0 or w == 0:
        return 0.0
    size = (w * BLOCK, h * BLOCK)
    a = cv2.resize(previous[:2 * h * BLOCK, :2 * w * BLOCK], size, interpolation=cv2.INTER_NEAREST)
    b = cv2.resize(current[:2 * h * BLOCK, :2 * w * BLOCK], size, interpolation=cv2.INTER_NEAREST)
    d = cv2.subtract(a, b, dtype=cv2.CV_32F)
    mean = cv2.resize(d, (w, h), interpolation=cv2.INTER_AREA)
    square = cv2.resize(d * d, (w, h), interpolation=cv2.INTER_AREA)
    # a block with a clipped pixel in either frame: the clip hides its noise
    clear = cv2.bitwise_and(cv2.inRange(a, 3, 252), cv2.inRange(b, 3, 252))
    clear = cv2.resize(clear, (w, h), interpolation=cv2.INTER_AREA) == 255
    spread = np.sqrt(np.maximum(square - mean * mean, 0.0))[clear]
    return float(np.percentile(spread, 25)) / np.sqrt(2) if spread.size else 0.0


class TemporalDenoiser:
    """One video's frames, in order, averaged over time where the camera is noisy.

    ``update(frame)`` takes a (H, W, 3) uint8 BGR frame and returns it unchanged while the noise
    stays below ``options.on_level``, else the running average (uint8, same shape) in which each
    pixel holds more frames the noisier the camera (``DenoiseOptions.target``), the average moved
    with the picture where that matches the new frame better (``DenoiseOptions.follow``). About
    11 ms a noisy 640 x 480 frame (3.5 ms not following), 1 ms a clean one (docs/speed.md). ``noise``: the
    last estimate, gray levels; ``active``: whether frames are being averaged; ``settled``: whether
    the output is ready to be scored. A frame of another size starts afresh (its noise unknown
    until the next frame of that size).
    """

    def __init__(self, options: DenoiseOptions = DenoiseOptions()):
        self.options = options
        self._flow = None      # cv2.DISOpticalFlow, made on first use
        self._grid_xy: np.ndarray | None = None
        self._reset()

    def _reset(self) -> None:
        self.noise, self.active = 0.0, False
        self._estimates: deque = deque(maxlen=self.options.history)
        self._gray: np.ndarray | None = None
        self._average: np.ndarray | None = None     # uint16 (H, W, 3), levels x FIXED
        self._moved: np.ndarray | None = None       # the same, moved with the picture
        self._reference: np.ndarray | None = None   # uint8 (H / 2, W / 2): the last output's gray
        self._frames = 0

    def update(self, frame: np.ndarray) -> np.ndarray:
        if frame.shape[0] * frame.shape[1] > self.options.max_pixels:
            self._reset()
            return frame
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        if self._gray is None or self._gray.shape != gray.shape:
            self._reset()
        else:
            self._estimates.append(temporal_noise(self._gray, gray))
            self.noise = float(np.median(self._estimates))
        self._gray = gray
        o = self.options
        if self.noise < (o.off_level if self.active else o.on_level):
            self.active, self._average, self._moved, self._reference = False, None, None, None
            return frame
        self.active = True
        return self._averaged(frame, gray)

    def _share(self) -> float:
        """The least share of a new frame in a still pixel's average, at the present noise."""
        o = self.options
        return float(np.clip(2.0 * (o.target / max(self.noise, 1e-3)) ** 2, 1.0 / o.memory, 1.0))

    @property
    def settled(self) -> bool:
        """Whether this frame's output can be scored as it is: always, except while frames are being
        averaged and the average holds fewer than ``options.settle`` frames (or than all that its
        share allows, if fewer). A stream's first frame, and the first of a new size, count: a
        single noisy frame cannot pass a stream on its own, and a stream that changed its size on
        every frame would otherwise never count one."""
        return not self.active or self._frames >= min(self.options.settle, round(1.0 / self._share()))

    def _averaged(self, frame: np.ndarray, gray: np.ndarray) -> np.ndarray:
        """The running average, moved with the picture, with ``frame`` (and its ``gray``) taken in: a
        pixel that matches it weighs max(its share, 1 / n) for the n-th frame averaged (the first
        frames a plain mean), one that changed beyond the noise nearly 1."""
        small = None                   # the flow's half-resolution input, only where the average is followed
        if self.options.follow:
            small = cv2.resize(gray, (gray.shape[1] // 2, gray.shape[0] // 2), interpolation=cv2.INTER_AREA)
        if self._average is None:
            self._average, self._frames = frame.astype(np.uint16) * np.uint16(FIXED), 1
            self._moved, self._reference = np.empty_like(self._average), small
            return frame
        self._frames += 1
        followed = self._follow(small)
        out = np.empty_like(frame)
        spread = self.options.motion * max(self.noise, 0.5)
        least = max(self._share(), 1.0 / self._frames)
        # in strips of rows: arrays of a whole frame made afresh each time would cost more in page faults
        # than the arithmetic (20 against 5 ms a 640 x 480 frame); the two kept are a session's memory.
        # The new average is written over the moved copy, then the two swap.
        above = None
        for top in range(0, frame.shape[0], STRIP):
            above = self._take_in(frame, (top, min(top + STRIP, frame.shape[0])), (spread, least), followed,
                                  out, above)
        self._average, self._moved = self._moved, self._average
        if small is not None:
            self._reference = cv2.resize(cv2.cvtColor(out, cv2.COLOR_BGR2GRAY), small.shape[::-1],
                                         interpolation=cv2.INTER_AREA)
        return out

    def _follow(self, small: np.ndarray) -> bool:
        """``_moved``: the average moved onto ``small``'s picture (the flow from the half-resolution
        gray frame ``small`` to the last output's, scaled to the frame), strip by strip. False, and
        ``_moved`` left as it was, where the average is not followed (``small`` None) or nothing moved."""
        if not self.options.follow or min(small.shape) < FLOW_SIDE:
            return False
        if self._flow is None:
            self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        flow = self._flow.calc(small, self._reference, None)         # (h / 2, w / 2, 2), px of small
        h, w = self._average.shape[:2]
        scale = (w / small.shape[1], h / small.shape[0])
        flow = cv2.multiply(cv2.blur(flow, (FLOW_SMOOTH, FLOW_SMOOTH)), scale + (0, 0))     # frame px
        flow[cv2.magnitude(flow[..., 0].copy(), flow[..., 1].copy()) < FLOW_STILL] = 0.0
        if not flow.any():
            return False
        for top in range(0, h, STRIP):
            bottom = min(top + STRIP, h)
            at = np.minimum((np.arange(top, bottom) / scale[1]).astype(int), small.shape[0] - 1)
            where = cv2.resize(flow[at], (w, bottom - top), interpolation=cv2.INTER_LINEAR)
            cv2.add(where, self._grid(w)[:bottom - top], dst=where)
            cv2.add(where, (0, top, 0, 0), dst=where)
            cv2.remap(self._average, where, None, cv2.INTER_LINEAR, dst=self._moved[top:bottom],
                      borderMode=cv2.BORDER_REPLICATE)
        return True

    def _grid(self, w: int) -> np.ndarray:
        """(STRIP, w, 2) float32: each pixel's own (x, y), y from 0: the map of no motion."""
        if self._grid_xy is None or self._grid_xy.shape[1] != w:
            xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(STRIP, dtype=np.float32))
            self._grid_xy = np.dstack([xs, ys])
        return self._grid_xy

    def _take_in(self, frame, rows: tuple, weights: tuple, followed: bool, out: np.ndarray,
                 above: np.ndarray | None) -> np.ndarray:
        """Rows ``rows`` = (top, bottom) of the new average, written over ``_moved``'s and, rounded,
        into ``out``: of the average as it was and the one ``followed`` (if so), whichever is nearer the
        frame pixel by pixel, with ``frame``'s taken in. ``weights``: (spread, least), levels and share.
        ``above``: ``_moved``'s row above top before its strip was written (None for the first strip).
        Returns this strip's last, for the next."""
        (top, bottom), (spread, least) = rows, weights
        lo, hi = max(top - 1, 0), min(bottom + 1, frame.shape[0])    # a row more each side for the 3 x 3 blur
        before = self._levels(self._average[lo:hi])
        d = cv2.subtract(frame[lo:hi], before, dtype=cv2.CV_32F)
        last = self._moved[bottom - 1].copy() if followed else None
        if followed:
            moved = self._levels(self._moved[lo:hi])
            if above is not None:
                moved[0] = above / FIXED
            d_moved = cv2.subtract(frame[lo:hi], moved, dtype=cv2.CV_32F)
            # following resamples, which softens fine detail: only where it matches the frame better
            nearer = cv2.compare(_mismatch(d_moved), _mismatch(d), cv2.CMP_LT)
            cv2.copyTo(moved, nearer, dst=before)
            cv2.copyTo(d_moved, nearer, dst=d)
        c = _still(d, spread)[top - lo:bottom - lo]
        d, before = d[top - lo:bottom - lo], before[top - lo:bottom - lo]
        cv2.addWeighted(c, least - 1.0, c, 0.0, 1.0, dst=c)       # 1 - (1 - least) * still
        cv2.add(before, cv2.multiply(cv2.merge([c] * 3), d), dst=before)
        out[top:bottom] = cv2.convertScaleAbs(before)        # rounded, within 0..255
        np.copyto(self._moved[top:bottom], cv2.addWeighted(before, FIXED, before, 0.0, 0.5), casting="unsafe")
        return last

    @staticmethod
    def _levels(fixed: np.ndarray) -> np.ndarray:
        """Fixed-point rows of the average as float32 gray levels (a new array)."""
        return cv2.addWeighted(fixed, 1.0 / FIXED, fixed, 0.0, 0.0, dtype=cv2.CV_32F)   # 3x numpy's astype


def _mismatch(change: np.ndarray) -> np.ndarray:
    """How far an average is from the frame's picture, from the frame's change from it (rows, cols, 3)
    float32 levels: squared, summed over the channels and 3 x 3 neighbours (rows, cols) float32.
    Squared before it is summed, so that detail lost to resampling counts as well as a shift."""
    return cv2.blur(cv2.transform(cv2.multiply(change, change), np.ones((1, 3), np.float32)), (3, 3))


def _still(change: np.ndarray, spread: float) -> np.ndarray:
    """How still each pixel is, 0..1 float32 (rows, cols), from its change (rows, cols, 3) float32
    levels: over its channels and 3 x 3 neighbours (so that noise does not read as motion), then
    exp(-change^2 / (2 spread^2))."""
    c = cv2.blur(cv2.cvtColor(change, cv2.COLOR_BGR2GRAY), (3, 3))
    cv2.multiply(c, c, dst=c, scale=-0.5 / spread ** 2)
    return cv2.exp(cv2.max(c, -30.0, dst=c), dst=c)   # floored: exp's subnormal results take a slow path
