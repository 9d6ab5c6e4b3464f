"""Scene and sensor augmentation of context crops: what a model must not learn from.

A branch fitted on a few webcam collections learns their rooms and their sensors along with the
screens and prints: measured, it turned away live users moved into another room, and let replays
through once sensor noise covered the screen's texture. Each context crop (4x the face box,
(256, 256, 3) uint8 BGR, as ``marginlive collect`` stores it) gets copies that take those cues
away:

- every crop, live or attack: a noisy copy, Gaussian noise of a standard deviation drawn from
  U(0, ``noise_max``) levels at the crop's scale (a webcam frame's noise of 0-12 levels, for a
  typical face of 100-130 px, seen through the crop's downscaling);
- every live crop: the person cut out (MediaPipe's selfie segmentation, ``PersonCutout``) and
  placed in another room (another live crop of the data with its person blurred away) or in front of a
  plain wall, half of them noisy as well;
- a share ``close_up`` of the crops, live or attack: the face close to the camera, as a selfie
  at arm's length shows it: everything outside a frame window whose shorter side is the face's
  width over U(0.7, 1.0) (landscape 4:3 or portrait 9:16) goes black, as the crop of such a frame is
  padded. Measured, a live face that filled the frame lost its texture votes (the padding read as
  an attack) and up to 80% of its frames, and the data holds few close-ups of either class;
- a share ``screen_behind`` of the live crops: a screen behind the person (a monitor, a TV, a
  laptop in the room: a desktop or another picture, a dark bezel, maybe defocused), the person
  kept in front. Measured, a lit monitor behind a NUAA subject made the texture branches vote
  "attack" on 16 of the 21 live frames the recipe rebuilt without NUAA turned away
  (``docs/research/2026-12-04-screen-behind-the-user.md``);
- a share ``background_blur`` of the crops, live or attack: the background blurred as a video call
  or a laptop's camera effects blur it (the person, or the face on a replayed screen, kept sharp):
  measured, that effect hides a replay's bezel and hand and lets a fifth of the webcam replays through;
- each copy mirrored (left and right swapped) with probability ``flip``: LBP and LPQ codes are not
  mirror-symmetric, and a fit on unmirrored crops learns which side the training rooms were lit
  from (measured: a live video mirrored lost about 2 logits in each texture branch).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class SceneAugment:
    """Options of ``augment_contexts``.

    noise_max: largest standard deviation of the added noise, levels of the 256-px crop (6.0).
    wall_share: share of the moved live copies put before a plain wall, the rest in another room (0.4).
    rooms: how many empty rooms to make from the data's own crops (150).
    flip: probability that a copy is mirrored (0.5).
    close_up: share of the crops that get a close-up copy (0.0: none).
    screen_behind: share of the live crops that get a copy with a screen behind the person (0.0: none).
    background_blur: share of the crops that get a copy with the background blurred (0.0: none).
    seed: random seed (0).
    """
    noise_max: float = 6.0
    wall_share: float = 0.4
    rooms: int = 150
    flip: float = 0.5
    close_up: float = 0.0
    screen_behind: float = 0.0
    background_blur: float = 0.0
    seed: int = 0


def close_up_context(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A (S, S, 3) context crop (the face box's longer side S / 4, centred) as the crop of a frame
    that the face fills: the frame window's shorter side is the face's side over U(0.7, 1.0), its
    aspect 4:3 or 9:16 (even odds), the face up to 0.1 of the window off its centre; the rest black."""
    n = x.shape[0]
    short = n / 4 / rng.uniform(0.7, 1.0)
    long_ = short * (4 / 3 if rng.random() < 0.5 else 16 / 9)
    ww, wh = (long_, short) if rng.random() < 0.5 else (short, long_)
    cx, cy = n / 2 + rng.uniform(-0.1, 0.1) * ww, n / 2 + rng.uniform(-0.1, 0.1) * wh
    x0, x1 = int(round(max(0, cx - ww / 2))), int(round(min(n, cx + ww / 2)))
    y0, y1 = int(round(max(0, cy - wh / 2))), int(round(min(n, cy + wh / 2)))
    out = np.zeros_like(x)
    out[y0:y1, x0:x1] = x[y0:y1, x0:x1]
    return out


def _desktop(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A (h, w, 3) float screen showing a desktop: a bright flat colour, up to three windows, a task bar."""
    img = np.ones((h, w, 3), np.float32) * np.array([rng.uniform(120, 255), rng.uniform(60, 230),
                                                      rng.uniform(0, 200)], np.float32)[rng.permutation(3)]
    for _ in range(rng.integers(0, 4)):
        x0, y0 = rng.integers(0, max(1, w - 4)), rng.integers(0, max(1, h - 4))
        y1, x1 = y0 + rng.integers(3, max(4, h // 2)), x0 + rng.integers(3, max(4, w // 2))
        img[y0:y1, x0:x1] = rng.uniform(150, 255, 3)
    img[int(h * 0.92):] = rng.uniform(20, 80)
    return img


def screen_behind(x: np.ndarray, person: np.ndarray, pictures: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A (S, S, 3) uint8 context crop with a screen behind the person: ``person`` (S, S, 1) float
    in [0, 1] is kept in front (``PersonCutout``). The screen: 0.2-0.55 of S wide, 16:9, 4:3 or
    16:10, anywhere in the crop, showing a desktop or (even odds) one of ``pictures`` (M, S, S, 3)
    brightened, in a dark bezel of 2-6 px, defocused (Gaussian, sigma 0.3-1.2 px) three times in
    four. The black padding outside the frame stays black."""
    n = x.shape[0]
    w = int(n * rng.uniform(0.2, 0.55))
    h = int(w / [16 / 9, 4 / 3, 16 / 10][rng.integers(3)])
    x0, y0 = int(rng.uniform(-0.1, 1.0) * n - w / 2), int(rng.uniform(-0.1, 0.7) * n - h / 2)
    if rng.random() < 0.5:
        content = _desktop(h, w, rng)
    else:
        picture = pictures[rng.integers(len(pictures))]
        content = cv2.resize(picture, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    b = int(rng.integers(2, 7))
    panel = np.full((h + 2 * b, w + 2 * b, 3), rng.uniform(5, 60), np.float32)
    panel[b:b + h, b:b + w] = np.clip(content * rng.uniform(1.0, 1.3) + rng.uniform(0, 40), 0, 255)
    back = x.astype(np.float32)
    X0, Y0, X1, Y1 = max(0, x0), max(0, y0), min(n, x0 + panel.shape[1]), min(n, y0 + panel.shape[0])
    if X1 > X0 and Y1 > Y0:
        back[Y0:Y1, X0:X1] = panel[Y0 - y0:Y1 - y0, X0 - x0:X1 - x0]
    sigma = rng.uniform(0, 1.2)
    if sigma > 0.3:
        back = cv2.GaussianBlur(back, (0, 0), sigma)
    out = np.clip(x * person + back * (1.0 - person), 0, 255).astype(np.uint8)
    out[x.max(axis=2) == 0] = 0
    return out


def _noisy(x: np.ndarray, sd: float, rng: np.random.Generator) -> np.ndarray:
    return np.clip(x + rng.normal(0.0, sd, x.shape), 0, 255).astype(np.uint8)


@dataclass
class Augmented:
    """Augmented copies: ``contexts`` (M, 256, 256, 3) uint8, ``labels`` (M,), and per copy the
    index of its ``source`` crop and of the crop its ``room`` came from (-1: none), so that a fold
    leaving a collection out can leave out every copy made from it."""
    contexts: np.ndarray
    labels: np.ndarray
    source: np.ndarray
    room: np.ndarray

    def without(self, excluded: np.ndarray) -> np.ndarray:
        """Indices of the copies made from no crop in the boolean (N,) mask ``excluded``."""
        bad = np.concatenate([excluded, [False]])     # room -1 indexes the appended False
        return np.flatnonzero(~bad[self.source] & ~bad[self.room])


def empty_rooms(contexts: np.ndarray, among: np.ndarray, n: int, rng: np.random.Generator, cutout
                ) -> list[tuple[int, np.ndarray]]:
    """``n`` (index, room) pairs: crops drawn from ``contexts[among]``, their person replaced by a
    heavy blur of the crop. Drawn from live crops only: an attack's room holds its screen or paper."""
    from ..evaluation.shifts import empty_room
    return [(int(k), empty_room(contexts[k], cutout)) for k in rng.choice(among, min(n, len(among)), replace=False)]


def augment_contexts(contexts: np.ndarray, labels: np.ndarray, opts: SceneAugment = SceneAugment()) -> Augmented:
    """The augmented copies of (N, 256, 256, 3) uint8 ``contexts`` with (N,) ``labels`` (1 live):
    N + (live crops) copies, and about ``close_up`` x N and ``screen_behind`` x (live crops) more."""
    from ..evaluation.shifts import PersonCutout, plain_wall
    rng = np.random.default_rng(opts.seed)
    cutout = PersonCutout()
    try:
        live = np.flatnonzero(labels == 1)
        rooms = empty_rooms(contexts, live, opts.rooms, rng, cutout)
        out, src, room = [], [], []
        for k in range(len(contexts)):
            out.append(_noisy(contexts[k], rng.uniform(0, opts.noise_max), rng))
            src.append(k)
            room.append(-1)
        for k in live:
            f = contexts[k]
            m = cutout(f)[..., None]
            r = -1
            if rng.random() < opts.wall_share or not rooms:
                back = plain_wall(f.shape[:2], rng)
            else:
                r, back = rooms[rng.integers(len(rooms))]
                back = cv2.GaussianBlur(back, (9, 9), 0)
            moved = np.clip(f * m + back * (1.0 - m), 0, 255).astype(np.uint8)
            out.append(_noisy(moved, rng.uniform(0, opts.noise_max), rng) if rng.random() < 0.5 else moved)
            src.append(k)
            room.append(r)
        behind = _screen_copies(contexts, live, opts, cutout) + _blurred_copies(contexts, opts, cutout)
    finally:
        cutout.close()
    near = np.random.default_rng([opts.seed, 1])   # its own stream: the other copies stay as they were
    for k in range(len(contexts)):
        if near.random() < opts.close_up:
            out.append(close_up_context(contexts[k], near))
            src.append(k)
            room.append(-1)
    for k, x in behind:          # last, from a stream of their own: the other copies stay as they were
        out.append(x)
        src.append(k)
        room.append(-1)
    # drawn after the copies, so the copies themselves match those of a fit without flips
    out = [np.ascontiguousarray(x[:, ::-1]) if rng.random() < opts.flip else x for x in out]
    src = np.asarray(src, np.int64)
    x = np.stack(out) if out else np.zeros((0,) + contexts.shape[1:], np.uint8)
    return Augmented(x, labels[src], src, np.asarray(room, np.int64))


def _screen_copies(contexts: np.ndarray, live: np.ndarray, opts: SceneAugment, cutout) -> list[tuple[int, np.ndarray]]:
    """(source index, copy) for a share ``opts.screen_behind`` of the ``live`` crops: a screen behind
    the person (``screen_behind``, pictures drawn from 300 crops of the data), noisy half the time."""
    if not opts.screen_behind or not len(live):
        return []
    rng = np.random.default_rng([opts.seed, 2])
    pictures = contexts[rng.choice(len(contexts), min(300, len(contexts)), replace=False)]
    out = []
    for k in live[rng.random(len(live)) < opts.screen_behind]:
        x = screen_behind(contexts[k], cutout(contexts[k])[..., None], pictures, rng)
        out.append((int(k), _noisy(x, rng.uniform(0, opts.noise_max), rng) if rng.random() < 0.5 else x))
    return out


def background_blurred_context(x: np.ndarray, person: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A (S, S, 3) uint8 context crop with what is not ``person`` ((S, S, 1) float in [0, 1],
    ``PersonCutout``) blurred by a Gaussian of sigma U(3, 11) px at S = 256 (a camera effect's 6-20
    px on a 640 px frame, the face a quarter of the crop), the mask feathered by 1.5 px
    (``evaluation.processing.blur_behind``, as the benchmark's camera effect); the black padding stays black."""
    from ..evaluation.processing import blur_behind
    k = x.shape[0] / 256
    out = blur_behind(x, person[..., 0], float(rng.uniform(3.0, 11.0)) * k, 1.5 * k)
    out[x.max(axis=2) == 0] = 0
    return out


def _blurred_copies(contexts: np.ndarray, opts: SceneAugment, cutout) -> list[tuple[int, np.ndarray]]:
    """(source index, copy) for a share ``opts.background_blur`` of all crops: the background blurred."""
    if not opts.background_blur:
        return []
    rng = np.random.default_rng([opts.seed, 3])
    return [(int(k), background_blurred_context(contexts[k], cutout(contexts[k])[..., None], rng))
            for k in np.flatnonzero(rng.random(len(contexts)) < opts.background_blur)]
