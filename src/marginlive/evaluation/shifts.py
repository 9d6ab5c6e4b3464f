"""Scene and camera shifts: a live frame as another room, camera or hand would show it.

A model trained on a few webcam collections can learn what their rooms and cameras look like
instead of what a live face looks like, and then turn away a genuine user in a new room. These
shifts make that measurable with the frames at hand. Each takes a BGR uint8 frame (H, W, 3), the
tracked face's box and a ``numpy.random.Generator`` and returns a new BGR uint8 frame; the face
must then be found again in it, as the pipeline would.

- ``new_room``: the person cut out with MediaPipe's selfie segmentation (the model in its wheel)
  and placed in front of another background: a plain wall with a soft light gradient, or another
  frame (another room), blurred as a webcam's shallow focus would show it.
- ``portrait_phone``: a phone held upright: a 9:16 window around the face, scaled to 540x960.
- ``dim_room``: a dim room on a small sensor: darker, gamma 1.6, sensor noise of 5 levels.
- ``high_resolution``: a camera of 3x the resolution (1920x1440 from 640x480), its own sensor
  noise of 2-8 levels per pixel at that scale. Upscaling adds no real detail; what it does test
  is a model's crop that samples such a frame without averaging it (``silentface_crop.ShiftedCrop``).
- ``low_resolution``: a camera of a third to half the resolution (an old webcam, a video call's
  reduced stream), or a user that much farther back: the same picture on fewer pixels.
- ``off_centre``: a user to one side of the camera, the face near (and partly beyond) the frame's edge.
- ``motion_blur``: the head or a hand-held camera moving during the exposure.
- ``tilted``: the camera, or an attacker's screen, tilted 15-25 degrees.
- ``close_up``: the user close to the camera, as a selfie held at arm's length shows them: the
  face 0.7-1.0 of the frame's shorter side (the window cut at the frame's own resolution, so the
  face is as sharp as before; the model's crops are resampled to a fixed size anyway).
- ``phone_in_hand``: a live user holding a phone beside the face: a dark bezel with a lit screen
  (a crop of another frame) in the lower corner of the face's context.
- ``second_person``: another live person (cut out of another frame) standing beside and behind
  the user, partly inside the face's context.
- ``side_lit``: a lamp or window on one side of the user: the face's other side darker by
  0.4-0.7 of its brightness, the light falling off across the face's width.
- ``screen_lit``: a dark room lit only by the laptop's or phone's screen in front of the user:
  the room at 0.2-0.4 of its light, the face and what is near it lit by a bluish white that falls
  off with the distance from the face, and a small sensor's noise at that light.
- ``backlit``: a bright window behind the user: the background burnt out towards white, the person
  exposed darker (the camera meters the bright scene), a veil of glare over the whole picture and
  the window's light spilling over the person's outline (MediaPipe's selfie segmentation).

The ones that can use another frame (a room, a screen's picture) take it as ``other``. ``jpeg``
is the compression round trip the training augmentations and benchmarks share.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..types import FaceBox


def jpeg(frame: np.ndarray, quality: int) -> np.ndarray:
    """``frame`` (BGR uint8) after JPEG encoding at ``quality`` (0-100) and decoding, as a camera
    app, a browser or a web page would compress it."""
    return cv2.imdecode(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])[1], cv2.IMREAD_COLOR)


class PersonCutout:
    """P(person) per pixel (H, W) float32 in [0, 1], from MediaPipe's selfie segmentation
    (landscape model), built on first use."""

    def __init__(self):
        self._seg = None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        if self._seg is None:
            from mediapipe.python.solutions import selfie_segmentation

            from .._util import quiet_native_stderr
            with quiet_native_stderr():    # TFLite's delegate chatter comes at the first frame
                self._seg = selfie_segmentation.SelfieSegmentation(model_selection=1)
                self._seg.process(np.zeros((64, 64, 3), np.uint8))
        mask = self._seg.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)).segmentation_mask
        return np.clip(cv2.GaussianBlur(mask.astype(np.float32), (5, 5), 0), 0.0, 1.0)

    def close(self):
        if self._seg is not None:
            self._seg.close()
            self._seg = None


def person_masks(cutout: PersonCutout | None, *frames: np.ndarray) -> list[np.ndarray]:
    """P(person) (H, W) of each of ``frames``, in order, by ``cutout``; where it is None, by a
    ``PersonCutout`` made and closed here (each holds a MediaPipe graph: one left open per call
    would pile up)."""
    if cutout is not None:
        return [cutout(f) for f in frames]
    own = PersonCutout()
    try:
        return [own(f) for f in frames]
    finally:
        own.close()


def plain_wall(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A wall of one random colour under a soft linear light gradient, BGR uint8 of ``shape``."""
    h, w = shape
    colour = rng.uniform(40, 230, 3)
    ramp = np.linspace(rng.uniform(0.7, 1.0), rng.uniform(0.7, 1.0), w if rng.random() < 0.5 else h)
    light = ramp[None, :] if len(ramp) == w else ramp[:, None]
    wall = colour[None, None, :] * light[..., None]
    return np.clip(wall + rng.normal(0, 2, (h, w, 3)), 0, 255).astype(np.uint8)


def empty_room(frame: np.ndarray, cutout: PersonCutout) -> np.ndarray:
    """``frame`` without its person: where the person stood, a heavy (61 px box) blur of the frame."""
    m = cutout(frame)[..., None]
    return np.clip(frame * (1 - m) + cv2.blur(frame, (61, 61)) * m, 0, 255).astype(np.uint8)


def new_room(frame: np.ndarray, box: FaceBox, rng: np.random.Generator, other: np.ndarray | None = None,
             cutout: PersonCutout | None = None) -> np.ndarray:
    """The person of ``frame`` in front of ``other`` (resized, blurred by a 5-15 px Gaussian) or,
    when ``other`` is None, of a plain wall."""
    h, w = frame.shape[:2]
    if other is None:
        back = plain_wall((h, w), rng)
    else:
        back = cv2.resize(other, (w, h), interpolation=cv2.INTER_AREA)
        k = int(rng.integers(2, 8)) * 2 + 1
        back = cv2.GaussianBlur(back, (k, k), 0)
    m = person_masks(cutout, frame)[0][..., None]
    return np.clip(frame * m + back * (1.0 - m), 0, 255).astype(np.uint8)


def portrait_phone(frame: np.ndarray, box: FaceBox, rng: np.random.Generator, other=None) -> np.ndarray:
    """A 9:16 window as tall as the frame, around the face, resized to 540x960 (bilinear)."""
    h, w = frame.shape[:2]
    cw = min(w, int(round(h * 9 / 16)))
    x0 = int(np.clip(box.cx - cw / 2, 0, w - cw))
    return cv2.resize(frame[:, x0:x0 + cw], (540, 960), interpolation=cv2.INTER_LINEAR)


def close_up(frame: np.ndarray, box: FaceBox, rng: np.random.Generator, other=None) -> np.ndarray:
    """``close_up_window`` with the face U(0.7, 1.0) of the shorter side, up to 0.1 of the window
    off its centre."""
    share = float(rng.uniform(0.7, 1.0))
    return close_up_window(frame, box, share, (float(rng.uniform(-0.1, 0.1)), float(rng.uniform(-0.1, 0.1))))


def close_up_window(frame: np.ndarray, box: FaceBox, share: float, offset=(0.0, 0.0)) -> np.ndarray:
    """The window of the frame's aspect in which the face's longer side is ``share`` of the shorter
    side, its centre ``offset`` (x, y; shares of the window) from the face's, kept inside the frame;
    cut, not resized."""
    h, w = frame.shape[:2]
    z = min(1.0, max(box.w, box.h) / share / min(h, w))
    cw, ch = max(1, int(round(w * z))), max(1, int(round(h * z)))
    x0 = int(np.clip(round(box.cx + offset[0] * cw - cw / 2), 0, w - cw))
    y0 = int(np.clip(round(box.cy + offset[1] * ch - ch / 2), 0, h - ch))
    return np.ascontiguousarray(frame[y0:y0 + ch, x0:x0 + cw])


def off_centre(frame: np.ndarray, box: FaceBox, rng: np.random.Generator, other=None) -> np.ndarray:
    """A user to one side of the camera: a window of 0.7 of the frame's sides (cut at its own
    resolution) whose left or right edge lies U(0.12, 0.25) of its width from the face's centre,
    so part of the face may leave the frame, as it does for a user sitting off-centre."""
    h, w = frame.shape[:2]
    cw, ch = int(0.7 * w), int(0.7 * h)
    frac = float(rng.uniform(0.12, 0.25))
    frac = frac if rng.random() < 0.5 else 1.0 - frac
    x0 = int(np.clip(box.cx - frac * cw, 0, w - cw))
    y0 = int(np.clip(box.cy - ch / 2, 0, h - ch))
    return np.ascontiguousarray(frame[y0:y0 + ch, x0:x0 + cw])


def motion_blur(frame: np.ndarray, box: FaceBox, rng: np.random.Generator, other=None) -> np.ndarray:
    """A user or a hand-held camera moving during the exposure: a line blur of 6-12 px at a random
    angle (a head turning at a normal pace, seen by a webcam at 1/30 s)."""
    length, a = float(rng.uniform(6, 12)), float(rng.uniform(0, np.pi))
    k = np.zeros((13, 13), np.float32)
    for t in np.linspace(-length / 2, length / 2, 31):
        k[int(round(6 + t * np.sin(a))), int(round(6 + t * np.cos(a)))] += 1
    return cv2.filter2D(frame, -1, k / k.sum(), borderType=cv2.BORDER_REFLECT)


def tilted(frame: np.ndarray, box: FaceBox, rng: np.random.Generator, other=None) -> np.ndarray:
    """The camera (or the phone an attacker holds up) tilted: the frame turned U(15, 25) degrees
    either way about the face, the corners it uncovers filled by reflection."""
    angle = float(rng.choice([-1.0, 1.0]) * rng.uniform(15, 25))
    m = cv2.getRotationMatrix2D((float(box.cx), float(box.cy)), angle, 1.0)
    return cv2.warpAffine(frame, m, (frame.shape[1], frame.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)


def dim_room(frame: np.ndarray, box: FaceBox, rng: np.random.Generator, other=None) -> np.ndarray:
    """Gamma 1.6 at 0.8 of the exposure, plus Gaussian noise of 5 levels."""
    f = 255.0 * (0.8 * frame.astype(np.float32) / 255.0) ** 1.6
    return np.clip(f + rng.normal(0, 5.0, frame.shape), 0, 255).astype(np.uint8)


def high_resolution(frame: np.ndarray, box: FaceBox, rng: np.random.Generator, other=None,
                    factor: float = 3.0, noise: float | None = None) -> np.ndarray:
    """The frame upscaled ``factor`` times (bicubic, default 3), then Gaussian noise of ``noise``
    levels per pixel and channel (default None: U(2, 8) levels, drawn per frame)."""
    big = cv2.resize(frame, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC).astype(np.float32)
    sd = rng.uniform(2.0, 8.0) if noise is None else noise
    return np.clip(big + rng.normal(0, sd, big.shape), 0, 255).astype(np.uint8)


def low_resolution(frame: np.ndarray, box: FaceBox, rng: np.random.Generator, other=None,
                   factor: float | None = None) -> np.ndarray:
    """The frame shrunk to ``factor`` of its sides with area averaging (default None: U(0.3, 0.5),
    drawn per frame), nothing else changed: the face the same share of the frame, on 0.3-0.5 as many
    pixels across, as a camera of lower resolution (or a user farther back) shows it."""
    z = float(rng.uniform(0.3, 0.5)) if factor is None else factor
    h, w = frame.shape[:2]
    return cv2.resize(frame, (max(1, round(w * z)), max(1, round(h * z))), interpolation=cv2.INTER_AREA)


def phone_in_hand(frame: np.ndarray, box: FaceBox, rng: np.random.Generator, other: np.ndarray | None = None) -> np.ndarray:
    """A phone (black bezel, lit screen showing ``other`` or a bright gradient) held upright beside
    the face, its top at the chin, 0.9 of the face's width wide, on a random side."""
    out = frame.copy()
    h, w = frame.shape[:2]
    pw, ph = int(0.9 * box.w), int(1.7 * box.w)
    side = 1 if rng.random() < 0.5 else -1
    x0 = int(box.cx + side * 0.9 * box.w - pw / 2)
    y0 = int(box.y2 - 0.1 * box.h)
    x1, y1 = min(w, x0 + pw), min(h, y0 + ph)
    x0, y0 = max(0, x0), max(0, y0)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return out
    out[y0:y1, x0:x1] = (15, 15, 15)
    b = max(2, pw // 14)
    sw, sh = x1 - x0 - 2 * b, y1 - y0 - 2 * b
    if sw > 0 and sh > 0:
        screen = (cv2.resize(other, (sw, sh), interpolation=cv2.INTER_AREA) if other is not None
                  else np.full((sh, sw, 3), 200, np.uint8))
        out[y0 + b:y0 + b + sh, x0 + b:x0 + b + sw] = screen
    return out


def second_person(frame: np.ndarray, box: FaceBox, rng: np.random.Generator, other: np.ndarray,
                  cutout: PersonCutout | None = None) -> np.ndarray:
    """The person of ``other`` (resized to the frame, scaled by 0.75-1.0, moved 0.25-0.4 of the
    frame's width to a random side) pasted into ``frame`` behind its own person."""
    h, w = frame.shape[:2]
    other = cv2.resize(other, (w, h), interpolation=cv2.INTER_AREA)
    them_mask, user_mask = person_masks(cutout, other, frame)
    z = float(rng.uniform(0.75, 1.0))
    dx = (1 if rng.random() < 0.5 else -1) * float(rng.uniform(0.25, 0.4)) * w
    m = np.float32([[z, 0, (1 - z) * w / 2 + dx], [0, z, (1 - z) * h]])   # feet stay on the bottom edge
    them = cv2.warpAffine(other, m, (w, h), flags=cv2.INTER_LINEAR)
    m_them = cv2.warpAffine(them_mask, m, (w, h), flags=cv2.INTER_LINEAR)[..., None]
    m_user = user_mask[..., None]
    scene = frame * (1.0 - m_them) + them * m_them
    return np.clip(scene * (1.0 - m_user) + frame * m_user, 0, 255).astype(np.uint8)


def side_lit(frame: np.ndarray, box: FaceBox, rng: np.random.Generator, other=None) -> np.ndarray:
    """``frame`` times a gain that rises linearly across the face's width from 1 - s to 1 (s ~
    U(0.4, 0.7)), constant beyond it, the dark side left or right at even odds."""
    w = frame.shape[1]
    s = float(rng.uniform(0.4, 0.7))
    t = np.clip((np.arange(w, dtype=np.float32) - box.cx) / max(box.w, 1.0) + 0.5, 0.0, 1.0)
    if rng.random() < 0.5:
        t = 1.0 - t
    return np.clip(frame * (1.0 - s * (1.0 - t))[None, :, None], 0, 255).astype(np.uint8)


#: BGR gains of a screen's light against the room light the camera balanced for: a bluish white
SCREEN_TINT = np.array([1.0, 0.93, 0.8], np.float32)


def screen_lit(frame: np.ndarray, box: FaceBox, rng: np.random.Generator, other=None) -> np.ndarray:
    """``frame`` times (a + l g(x, y) ``SCREEN_TINT``) plus Gaussian noise of U(2, 5) levels: a ~
    U(0.2, 0.4) the room's light, l ~ U(0.5, 0.8) the screen's on the face, g a Gaussian of sigma
    U(1, 1.5) face widths about the face's centre (the screen lights the face and shoulders, not the
    room behind)."""
    h, w = frame.shape[:2]
    room, screen = float(rng.uniform(0.2, 0.4)), float(rng.uniform(0.5, 0.8))
    sigma = float(rng.uniform(1.0, 1.5)) * max(box.w, 1.0)
    x = (np.arange(w, dtype=np.float32) - box.cx) ** 2
    y = (np.arange(h, dtype=np.float32) - box.cy) ** 2
    g = np.exp(-(y[:, None] + x[None, :]) / (2 * sigma ** 2))[..., None]
    lit = frame * (room + screen * g * SCREEN_TINT)
    return np.clip(lit + rng.normal(0, float(rng.uniform(2.0, 5.0)), frame.shape), 0, 255).astype(np.uint8)


def backlit(frame: np.ndarray, box: FaceBox, rng: np.random.Generator, other=None,
            cutout: PersonCutout | None = None) -> np.ndarray:
    """A window behind the user. With m the person mask (``person_masks``): the person times an
    exposure e ~ U(0.35, 0.9) (0.35: the camera meters the window, 0.9: it meters the face); the
    background 255 - (255 - b) k, k ~ U(0.1, 0.35) (burnt out towards white, a trace of the room
    left); the window's light spilling over the person's outline, the background's share blurred by
    a Gaussian of U(0.1, 0.25) face widths, at U(0.3, 0.6) of white; a veil of glare of U(8, 25) levels
    everywhere; the sensor's noise, U(1, 3) levels."""
    m = person_masks(cutout, frame)[0][..., None]
    f = frame.astype(np.float32)
    person = f * float(rng.uniform(0.35, 0.9))
    window = 255.0 - (255.0 - f) * float(rng.uniform(0.1, 0.35))
    sigma = float(rng.uniform(0.1, 0.25)) * max(box.w, 1.0)
    spill = cv2.GaussianBlur(1.0 - m[..., 0], (0, 0), sigma)[..., None] * float(rng.uniform(0.3, 0.6))
    lit = person * m + window * (1.0 - m)
    lit = lit + (255.0 - lit) * spill * m + float(rng.uniform(8.0, 25.0))
    return np.clip(lit + rng.normal(0, float(rng.uniform(1.0, 3.0)), frame.shape), 0, 255).astype(np.uint8)
