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

#: the shifts of ``room_light_and_camera`` that differ from frame to frame in a real session (a sensor's
#: noise, a screen's changing picture, a flickering lamp, a moving head); a room, a lens or a cast do not
CHANGES_EVERY_FRAME = frozenset({"dim", "a screen's only", "grain", "flicker bands", "3x the resolution",
                                 "motion blur"})

#: (frame (H, W, 3) uint8 BGR, the face's box, rng, another frame or None) -> a new frame
Shift = Callable[[np.ndarray, FaceBox, np.random.Generator, "np.ndarray | None"], np.ndarray]


@dataclass
class Compound:
    """``stages``: for each stage, its (name, shift) choices. Called on a frame, it draws one of each
    stage (even odds) for that frame; ``draw`` and ``apply`` hold a draw for a whole session instead,
    ``changing`` naming the shifts whose strength is still drawn afresh for every frame then (a
    sensor's noise). ``last``: the names applied to the latest frame, one a stage."""
    stages: Sequence[Sequence[tuple[str, Shift]]]
    changing: frozenset[str] = frozenset()
    last: tuple[str, ...] = field(default=(), init=False)

    def __post_init__(self):
        if not self.stages or any(not stage for stage in self.stages):
            raise ValueError("every stage of a compound shift needs at least one shift")
        unknown = set(self.changing) - {name for stage in self.stages for name, _ in stage}
        if unknown:   # a misspelt name would hold that shift's noise still all session, silently
            raise ValueError(f"changing names no shift of the stages: {', '.join(sorted(unknown))}")

    def draw(self, rng: np.random.Generator) -> tuple[int, ...]:
        """One choice of each stage (its index), at even odds."""
        return tuple(int(rng.integers(len(stage))) for stage in self.stages)

    def names(self, choice: Sequence[int]) -> tuple[str, ...]:
        return tuple(stage[i][0] for stage, i in zip(self.stages, choice))

    def apply(self, choice: Sequence[int], frame: np.ndarray, box: FaceBox, rng: np.random.Generator,
              seed: int, other: np.ndarray | None = None) -> np.ndarray:
        """``frame`` through the shifts ``choice`` names (``draw``), stage by stage, as one session's
        camera shows each of its frames: a shift named in ``changing`` draws its strength from ``rng``
        (new noise every frame), the others from a generator seeded with (``seed``, stage) anew for
        every frame (the same room, lens and cast all session)."""
        for k, (stage, i) in enumerate(zip(self.stages, choice)):
            name, shift = stage[i]
            frame = shift(frame, box, rng if name in self.changing else np.random.default_rng([seed, k]), other)
        self.last = self.names(choice)
        return frame

    def __call__(self, frame: np.ndarray, box: FaceBox, rng: np.random.Generator,
                 other: np.ndarray | None = None) -> np.ndarray:
        """A new draw for this frame, each stage's shift and then its strength from ``rng``."""
        choice = []
        for stage in self.stages:
            choice.append(int(rng.integers(len(stage))))
            frame = stage[choice[-1]][1](frame, box, rng, other)
        self.last = self.names(choice)
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
    return Compound((room, light, camera), CHANGES_EVERY_FRAME)
