"""A camera's own processing: what the image pipeline of a phone or webcam does to every frame.

Beside the rooms and cameras of ``shifts``, each maker processes the picture before any model sees
it, differently and without asking: it sharpens, maps tones region by region, leaves a wide lens's
bend in place and darkens the corners. A model that learned one webcam's processing can read
another's as an attack (or an attack as live). Each function has the signature of the ``shifts``
(a BGR uint8 frame (H, W, 3), the face's box, a ``numpy.random.Generator``, an unused ``other``)
and returns a new BGR uint8 frame of the same size, its strength drawn per frame:

- ``sharpened``: an unsharp mask of Gaussian sigma 2 px and amount U(1, 2), as phones sharpen;
- ``tone_mapped``: local tone mapping as an HDR mode does it: CLAHE on the lightness, clip limit
  U(2, 4), 8 x 8 tiles over the frame;
- ``wide_angle``: the barrel distortion of a wide lens left uncorrected: a point at radius r (in
  half-widths from the centre) shows what lay at r (1 + k r^2), k U(0.15, 0.3);
- ``vignetted``: the corners darker than the centre by U(0.4, 0.6) of their brightness, falling
  off with the squared distance from the centre;
- ``grain``: a small sensor's noise as demosaicing and noise reduction leave it, spread over a few
  pixels: Gaussian noise per channel blurred by a Gaussian of sigma U(1, 2) px, then scaled to a
  standard deviation of U(4, 10) levels. Per-pixel noise of that strength reads as noise to
  ``silentface_crop.noise_sigma``; spread out, it reads as fine detail;
- ``banded``: the horizontal bands of a rolling shutter under lights that flicker with the mains:
  rows darker by up to U(0.1, 0.25) of their brightness, a sine of period U(30, 120) rows;
- ``background_blurred``: the background blur of a video call or a laptop's camera effects
  (Windows Studio Effects, macOS Portrait): the person segmented (MediaPipe's selfie segmentation,
  ``shifts.PersonCutout``), everything else blurred by a Gaussian of sigma U(6, 20) px at 640 px
  wide. On a replay the segmentation keeps the face on the screen and blurs the bezel and the hand;
- ``smoothed``: a phone's or a video call's beauty filter: an edge-preserving (bilateral) filter of
  diameter 7-11 px and colour sigma U(30, 60) levels, blended in at U(0.6, 1): skin loses its fine
  texture, edges stay;
- ``overexposed``: an auto-exposure that overshoots: every level times U(1.4, 2), clipped at 255;
- ``white_balanced``: a white balance that missed the light: red times U(1.1, 1.3) and blue times
  U(0.7, 0.9) (a warm cast), or the reverse (a cool one), even odds.

The face is not moved, so it can be found again at about the same place.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..types import FaceBox


def sharpened(frame: np.ndarray, box: FaceBox, rng: np.random.Generator, other=None) -> np.ndarray:
    """``frame`` + a (``frame`` - its Gaussian blur, sigma 2 px), a ~ U(1, 2), clipped to uint8."""
    a = float(rng.uniform(1.0, 2.0))
    return cv2.addWeighted(frame, 1 + a, cv2.GaussianBlur(frame, (0, 0), 2.0), -a, 0)


def tone_mapped(frame: np.ndarray, box: FaceBox, rng: np.random.Generator, other=None) -> np.ndarray:
    """CLAHE on the L channel of CIELAB (clip limit U(2, 4), 8 x 8 tiles); colour kept."""
    lab = cv2.cvtColor(frame, cv2.COLOR_BGR2LAB)
    clahe = cv2.createCLAHE(clipLimit=float(rng.uniform(2.0, 4.0)), tileGridSize=(8, 8))
    lab[..., 0] = clahe.apply(lab[..., 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)


def wide_angle(frame: np.ndarray, box: FaceBox, rng: np.random.Generator, other=None) -> np.ndarray:
    """Barrel distortion about the frame's centre, k ~ U(0.15, 0.3) (see the module docstring);
    what would come from beyond the frame is filled by reflection."""
    h, w = frame.shape[:2]
    k, half = float(rng.uniform(0.15, 0.3)), w / 2
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    xn, yn = (x - w / 2) / half, (y - h / 2) / half
    s = 1 + k * (xn ** 2 + yn ** 2)
    return cv2.remap(frame, xn * s * half + w / 2, yn * s * half + h / 2, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT)


def vignetted(frame: np.ndarray, box: FaceBox | None, rng: np.random.Generator, other=None,
              strength: tuple[float, float] = (0.4, 0.6)) -> np.ndarray:
    """Each pixel times 1 - v d, d its squared distance from the centre over the corner's (0 at the
    centre, 1 in the corners), v ~ U(``strength``) (default U(0.4, 0.6): the corners at 40-60% of
    their brightness). ``box`` is not read (any image, a crop too)."""
    h, w = frame.shape[:2]
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    d = ((x - w / 2) ** 2 + (y - h / 2) ** 2) / ((w / 2) ** 2 + (h / 2) ** 2)
    gain = 1 - float(rng.uniform(*strength)) * d
    return np.clip(frame * gain[..., None], 0, 255).astype(np.uint8)


def grain(frame: np.ndarray, box: FaceBox, rng: np.random.Generator, other=None,
          sd: float | None = None, sigma: float | None = None) -> np.ndarray:
    """``frame`` + noise per pixel and channel, Gaussian-blurred with ``sigma`` px and scaled to a
    standard deviation of ``sd`` levels, clipped to uint8 (default None: drawn per frame, sd ~
    U(4, 10), sigma ~ U(1, 2))."""
    if sd is None or sigma is None:
        sd, sigma = float(rng.uniform(4.0, 10.0)), float(rng.uniform(1.0, 2.0))
    noise = cv2.GaussianBlur(rng.normal(0.0, 1.0, frame.shape).astype(np.float32), (0, 0), sigma)
    noise *= sd / max(float(noise.std()), 1e-6)
    return np.clip(frame + noise, 0, 255).astype(np.uint8)


def banded(frame: np.ndarray, box: FaceBox, rng: np.random.Generator, other=None) -> np.ndarray:
    """Each row times 1 - a (1 + sin(2 pi y / p + phase)) / 2, a ~ U(0.1, 0.25), p ~ U(30, 120) rows,
    the phase uniform."""
    a, period = float(rng.uniform(0.1, 0.25)), float(rng.uniform(30.0, 120.0))
    phase = float(rng.uniform(0, 2 * np.pi))
    y = np.arange(frame.shape[0], dtype=np.float32)
    gain = 1.0 - a * (0.5 + 0.5 * np.sin(2 * np.pi * y / period + phase))
    return np.clip(frame * gain[:, None, None], 0, 255).astype(np.uint8)


def background_blurred(frame: np.ndarray, box: FaceBox, rng: np.random.Generator, other=None,
                       cutout=None, sigma: float | None = None) -> np.ndarray:
    """``frame`` with what is not the person blurred (``blur_behind``: Gaussian, ``sigma`` px; default
    None: U(6, 20) px scaled by the frame's width over 640), the person mask (``shifts.PersonCutout``;
    made when ``cutout`` is None) feathered by 3 px at 640 wide."""
    from .shifts import person_masks
    w = frame.shape[1]
    if sigma is None:
        sigma = float(rng.uniform(6.0, 20.0)) * w / 640
    return blur_behind(frame, person_masks(cutout, frame)[0], sigma, 3.0 * w / 640)


def blur_behind(image: np.ndarray, person: np.ndarray, sigma: float, feather: float) -> np.ndarray:
    """(H, W, 3) uint8 ``image`` with what is not the person blurred by a Gaussian of ``sigma`` px;
    ``person``: (H, W) float P(person) in [0, 1], feathered by a Gaussian of ``feather`` px and widened
    by a fifth, as the camera effects leave a soft, generous edge rather than cut into the hair."""
    m = np.clip(cv2.GaussianBlur(person, (0, 0), feather) * 1.2, 0.0, 1.0)[..., None]
    back = cv2.GaussianBlur(image, (0, 0), sigma)
    return np.clip(image * m + back * (1.0 - m), 0, 255).astype(np.uint8)


def smoothed(frame: np.ndarray, box: FaceBox, rng: np.random.Generator, other=None) -> np.ndarray:
    """A beauty filter: ``cv2.bilateralFilter`` (diameter d ~ 7..11 px, colour sigma U(30, 60) levels,
    space sigma d px) blended with the frame at a ~ U(0.6, 1) (a: the filtered share)."""
    d, colour, a = int(rng.integers(7, 12)), float(rng.uniform(30.0, 60.0)), float(rng.uniform(0.6, 1.0))
    return cv2.addWeighted(cv2.bilateralFilter(frame, d, colour, d), a, frame, 1.0 - a, 0)


def overexposed(frame: np.ndarray, box: FaceBox, rng: np.random.Generator, other=None) -> np.ndarray:
    """Every level times U(1.4, 2), clipped to 255 (highlights burnt out)."""
    return np.clip(frame * float(rng.uniform(1.4, 2.0)), 0, 255).astype(np.uint8)


def white_balanced(frame: np.ndarray, box: FaceBox, rng: np.random.Generator, other=None,
                   warm: bool | None = None) -> np.ndarray:
    """Red times U(1.1, 1.3) and blue times U(0.7, 0.9) (a warm cast), or red and blue gains swapped (a
    cool one); which of the two: ``warm`` (default None: even odds); green kept, clipped to uint8."""
    red, blue = float(rng.uniform(1.1, 1.3)), float(rng.uniform(0.7, 0.9))
    if (rng.random() < 0.5) if warm is None else not warm:
        red, blue = blue, red
    return np.clip(frame * np.array([blue, 1.0, red], np.float32), 0, 255).astype(np.uint8)
