"""Temporal noise reduction for video: a noisy camera's frames averaged over time before scoring.

A camera in a dim room records noise that its demosaicing and noise reduction spread over a few
pixels (grain). Read off one frame, such noise looks like fine detail, to any estimate and to the
liveness networks alike: a screen replay filmed through it reads as live skin, and under grain of
10 levels seven in ten of a webcam replay's frames passed. Across frames it is plain: the noise
changes from frame to frame and the scene does not. ``TemporalDenoiser`` measures the noise from
the difference of consecutive frames, and where it is high averages each pixel over the frames in
which it did not move, as a camera's own temporal noise reduction does (a moving pixel keeps its
new value, so a moving face leaves no ghost). Frames of a clean camera pass unchanged
(docs/research/2026-12-07-temporal-noise-reduction.md).
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
    motion: default 2.5: a pixel whose change exceeds about ``motion`` times the noise is taken as
        moved and keeps the new frame's value.
    history: frames, default 5: the noise estimates whose median decides.
    settle: frames, default 8: how many frames the average must hold (or all that its share
        allows, if fewer) before ``TemporalDenoiser.settled``: the first averages are still noisy.
        Under grain of 15 levels a webcam replay's first 7 frames passed.
    max_pixels: default 1280 x 960: larger frames pass unchanged and nothing of them is kept. A
        stream's average is 12 bytes a pixel (15 MB at this size, a server's session each); from
        larger frames the crops the model reads average the noise themselves (unaveraged, grain of
        10 levels let 7% of a webcam replay's frames through at 1280 x 960, none at 1920 x 1440).
    """

    on_level: float = 2.0
    off_level: float = 1.5
    target: float = 1.0
    memory: int = 20
    motion: float = 2.5
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
    still pixel holds more frames the noisier the camera (``DenoiseOptions.target``). ``noise``: the
    last estimate, gray levels; ``active``: whether frames are being averaged; ``settled``: whether
    the output is ready to be scored. A frame of another size starts afresh (its noise unknown
    until the next frame of that size).
    """

    def __init__(self, options: DenoiseOptions = DenoiseOptions()):
        self.options = options
        self._reset()

    def _reset(self) -> None:
        self.noise, self.active = 0.0, False
        self._estimates: deque = deque(maxlen=self.options.history)
        self._gray: np.ndarray | None = None
        self._average: np.ndarray | None = None     # float32 (H, W, 3)
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
            self.active, self._average = False, None
            return frame
        self.active = True
        return self._averaged(frame)

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

    def _averaged(self, frame: np.ndarray) -> np.ndarray:
        """The running average with ``frame`` taken in: a still pixel weighs max(its share, 1 / n)
        for the n-th frame averaged (the first frames a plain mean), a moved one nearly 1."""
        if self._average is None:
            self._average, self._frames = frame.astype(np.float32), 1
            return frame
        self._frames += 1
        out = np.empty_like(frame)
        spread = self.options.motion * max(self.noise, 0.5)
        least = max(self._share(), 1.0 / self._frames)
        # in strips of rows: the only array of the frame's size kept is the average (a session's memory);
        # arrays of a whole frame made afresh each time would also cost more in page faults than the
        # arithmetic (20 against 5 ms a 640 x 480 frame)
        above = None
        for top in range(0, frame.shape[0], STRIP):
            above = self._take_in(frame, top, min(top + STRIP, frame.shape[0]), spread, least, out, above)
        return out

    def _take_in(self, frame, top: int, bottom: int, spread: float, least: float, out: np.ndarray,
                 above: np.ndarray | None) -> np.ndarray:
        """Rows ``top``..``bottom`` of the average updated with ``frame``'s, and written rounded into
        ``out``. ``above``: the average's row above ``top`` as it was before its strip was updated
        (None for the first strip). Returns the last row's, for the next strip."""
        lo, hi = max(top - 1, 0), min(bottom + 1, frame.shape[0])    # a row more each side for the 3 x 3 blur
        before = self._average[lo:hi]
        if above is not None:
            before = before.copy()
            before[0] = above
        d = cv2.subtract(frame[lo:hi], before, dtype=cv2.CV_32F)
        # the change per pixel, over its channels and 3 x 3 neighbours so that noise does not read as motion
        c = np.ascontiguousarray(cv2.blur(cv2.cvtColor(d, cv2.COLOR_BGR2GRAY), (3, 3))[top - lo:bottom - lo])
        d = d[top - lo:bottom - lo]
        cv2.multiply(c, c, dst=c, scale=-0.5 / spread ** 2)
        cv2.exp(cv2.max(c, -30.0, dst=c), dst=c)   # floored: exp's subnormal results take a slow path
        cv2.addWeighted(c, least - 1.0, c, 0.0, 1.0, dst=c)       # 1 - (1 - least) * still
        rows = self._average[top:bottom]
        last = rows[-1].copy()
        cv2.add(rows, cv2.multiply(cv2.merge([c] * 3), d), dst=rows)
        out[top:bottom] = cv2.convertScaleAbs(rows)        # rounded, within 0..255
        return last
