"""Several shifts at once: a new user brings a new room, a new light and a new camera together.

Each shift of ``shifts`` and ``processing`` moves one thing; a user of a camera the model never saw,
in a room it never saw, moves them all, and two shifts a model holds apart can fail it together (a
face lit only by a screen, held close to a phone whose lens darkens the corners). ``Compound`` draws
one shift of each stage afresh for every frame and applies them in the order the light meets them:
the room behind the person, the light on the scene, then the camera's optics and processing. Only
the last stage may move the face, so the first two are given the box as found and the caller finds
the face again afterwards, as for any shift.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..types import FaceBox
from . import processing, shifts

#: (frame (H, W, 3) uint8 BGR, the face's box, rng, another frame or None) -> a new frame
Shift = Callable[[np.ndarray, FaceBox, np.random.Generator, "np.ndarray | None"], np.ndarray]


@dataclass
class Compound:
    """``stages``: for each stage, its (name, shift) choices; one is drawn per stage and frame (even
    odds). ``last``: the names drawn for the latest frame, one a stage."""
    stages: Sequence[Sequence[tuple[str, Shift]]]
    last: tuple[str, ...] = field(default=(), init=False)

    def __post_init__(self):
        if not self.stages or any(not stage for stage in self.stages):
            raise ValueError("every stage of a compound shift needs at least one shift")

    def __call__(self, frame: np.ndarray, box: FaceBox, rng: np.random.Generator,
                 other: np.ndarray | None = None) -> np.ndarray:
        drawn = []
        for stage in self.stages:
            name, shift = stage[int(rng.integers(len(stage)))]
            frame = shift(frame, box, rng, other)
            drawn.append(name)
        self.last = tuple(drawn)
        return frame


def room_light_and_camera(cutout: shifts.PersonCutout | None = None) -> Compound:
    """A live user's new room (a plain wall, another room given as ``other`` where there is one, a
    bright window behind), new light (dim, from one side, only a screen's, overexposed, a missed white
    balance, grain, flicker bands) and new camera (a phone held upright, a third to half or 3x the
    resolution, a wide-angle lens, dark corners, sharpening, tone mapping, a beauty filter, the
    background blurred, motion blur, tilted, off-centre). A face filling the frame is left out: a
    session asks that user to move back (``SessionConfig.max_face_fraction``). ``cutout``: the
    person segmenter the room shifts share (default: one of their own)."""
    cutout = cutout or shifts.PersonCutout()
    room = [("a plain wall", lambda f, b, r, o: shifts.new_room(f, b, r, None, cutout)),
            ("another room", lambda f, b, r, o: shifts.new_room(f, b, r, o, cutout)),
            ("a bright window behind", lambda f, b, r, o: shifts.backlit(f, b, r, None, cutout))]
    light = [("dim", shifts.dim_room), ("from one side", shifts.side_lit), ("a screen's only", shifts.screen_lit),
             ("overexposed", processing.overexposed), ("white balance missed", processing.white_balanced),
             ("grain", processing.grain), ("flicker bands", processing.banded)]
    camera = [("portrait phone", shifts.portrait_phone), ("lower resolution", shifts.low_resolution),
              ("3x the resolution", shifts.high_resolution), ("wide-angle lens", processing.wide_angle),
              ("dark corners", processing.vignetted), ("sharpened", processing.sharpened),
              ("tone-mapped", processing.tone_mapped), ("beauty filter", processing.smoothed),
              ("background blurred", lambda f, b, r, o: processing.background_blurred(f, b, r, None, cutout)),
              ("motion blur", shifts.motion_blur), ("tilted", shifts.tilted), ("off-centre", shifts.off_centre)]
    return Compound((room, light, camera))
