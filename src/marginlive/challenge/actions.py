"""One small class per action. Each decides from landmarks over time and passes only after
a transition: the neutral state held for a few frames, then the action held for a few
frames, inside the time limit. A still photo showing the action never shows the neutral
state first, so it cannot pass; a photo in the neutral state never shows the action.

Sides are the *subject's* own. Frames are expected unmirrored (as the camera sends them);
with ``mirrored=True`` (a selfie-flipped image) left and right are swapped back.
"""
from __future__ import annotations

import numpy as np

from .landmarks import Observation

# face mesh indices
R_EYE = (33, 160, 158, 133, 153, 144)      # p1..p6 for the eye aspect ratio (subject's right eye)
L_EYE = (362, 385, 387, 263, 373, 380)
NOSE, CHEEK_IMG_LEFT, CHEEK_IMG_RIGHT = 1, 234, 454
LIP_TOP, LIP_BOTTOM, MOUTH_L, MOUTH_R = 13, 14, 78, 308
SMILE_L, SMILE_R = 61, 291
# pose indices (subject's side)
SHOULDER = {"left": 11, "right": 12}
WRIST = {"left": 15, "right": 16}


def _xy(points: np.ndarray, i: int, obs: Observation) -> np.ndarray:
    return points[i, :2] * np.array([obs.width, obs.height], np.float32)


def eye_aspect_ratio(face: np.ndarray, obs: Observation, idx) -> float:
    p = [_xy(face, i, obs) for i in idx]
    return float((np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])) / (2 * np.linalg.norm(p[0] - p[3]) + 1e-6))


def eyes_open_ratio(face: np.ndarray, obs: Observation) -> float:
    """The two eyes' ``eye_aspect_ratio`` averaged: it falls toward 0 as the eyes close."""
    return (eye_aspect_ratio(face, obs, R_EYE) + eye_aspect_ratio(face, obs, L_EYE)) / 2


def head_yaw_ratio(face: np.ndarray, obs: Observation) -> float:
    """Nose position between the two face edges in the image: 0.5 frontal, toward 0 or 1 turned."""
    n, a, b = (_xy(face, i, obs)[0] for i in (NOSE, CHEEK_IMG_LEFT, CHEEK_IMG_RIGHT))
    return float((n - a) / (b - a + 1e-6))


def mouth_open_ratio(face: np.ndarray, obs: Observation) -> float:
    return float(np.linalg.norm(_xy(face, LIP_TOP, obs) - _xy(face, LIP_BOTTOM, obs)) /
                 (np.linalg.norm(_xy(face, MOUTH_L, obs) - _xy(face, MOUTH_R, obs)) + 1e-6))


def smile_ratio(face: np.ndarray, obs: Observation) -> float:
    return float(np.linalg.norm(_xy(face, SMILE_L, obs) - _xy(face, SMILE_R, obs)) /
                 (np.linalg.norm(_xy(face, CHEEK_IMG_LEFT, obs) - _xy(face, CHEEK_IMG_RIGHT, obs)) + 1e-6))


class Action:
    """Base: subclasses give ``needs``, ``instruction`` and ``state(obs) -> 'neutral'|'action'|None``.
    A subclass whose body part can be out of the camera's view sets ``out_of_view`` from ``state``
    and says in ``view_hint`` what the user should change; ``seen`` counts the frames it was in view.
    One that a frame in view cannot arm for a reason the user can change sets ``hint`` (that frame's
    only); ``advice`` is what to show beside the instruction now."""

    name = "action"
    instruction = ""
    needs: set[str] = set()
    # the mouth itself must move (an open mouth, a smile): a hand raised beside a print or a paper
    # mask worn over a real face passes, a picture turned or tilted does none of these
    # (tests/test_authenticate.py turns one up to 45 degrees), and a blink is done by the wearer's
    # real eyes behind a print with its eyes cut out (docs/research/2026-12-04-cut-out-eyes.md)
    moves_mouth = False
    view_hint = ""
    neutral_frames = 3
    action_frames = 3

    def __init__(self, mirrored: bool = False):
        self.mirrored = mirrored
        self.reset()

    def reset(self):
        self.neutral_run = 0
        self.action_run = 0
        self.armed = False       # the neutral state was seen long enough
        self.done = False
        self.out_of_view = False              # set by ``state``: this frame cannot show the action
        self.hint = ""                        # set by ``state``: what keeps this frame from arming it
        self.frames = 0                       # frames observed since the reset
        self.seen = 0                         # of which could show it

    def state(self, obs: Observation) -> str | None:
        raise NotImplementedError

    def update(self, obs: Observation) -> bool:
        """Feed one observation; True once the action is confirmed."""
        if self.done:
            return True
        self.out_of_view, self.hint = False, ""
        s = self.state(obs)
        self.frames += 1
        self.seen += not self.out_of_view
        if s == "neutral":
            self.neutral_run += 1
            self.action_run = 0
            if self.neutral_run >= self.neutral_frames:
                self.armed = True
        elif s == "action":
            self.neutral_run = 0
            if self.armed:
                self.action_run += 1
                if self.action_run >= self.action_frames:
                    self.done = True
        else:  # in between, or landmarks missing: no progress, no reset of arming
            self.action_run = 0
        return self.done

    @property
    def advice(self) -> str:
        """What the user should change for the last frame to count ("" where nothing)."""
        return self.view_hint if self.out_of_view else self.hint

    @property
    def mostly_out_of_view(self) -> bool:
        """Most frames observed since the reset could not show the action (its body part out of view)."""
        return self.seen < self.frames / 2

    @property
    def progress(self) -> float:
        if self.done:
            return 1.0
        return 0.5 * self.armed + 0.5 * self.action_run / self.action_frames


class RaiseHand(Action):
    """The wrist above its shoulder by ``reach`` of the shoulders' width, both in pixels (3/8:
    about the mouth's height; a portrait frame asks no higher a hand than a landscape one), the
    other wrist not raised; neutral: the wrist below its shoulder or out of view. The shoulders
    must be in view: where the pose finds neither them nor a body, the action is ``out_of_view``."""
    needs = {"pose"}
    reach = 0.375
    view_hint = "step back until your shoulders are in view"

    def __init__(self, side: str = "right", mirrored: bool = False):
        self.side = side
        self.name = f"raise_{side}_hand"
        self.instruction = f"Raise your {side} hand"
        super().__init__(mirrored)

    def _raised(self, obs, side: str) -> bool:
        """The subject's ``side`` wrist visible and above its shoulder by ``reach`` shoulder widths."""
        wrist, shoulder = obs.pose[WRIST[side]], _xy(obs.pose, SHOULDER[side], obs)
        width = abs(_xy(obs.pose, SHOULDER["left"], obs)[0] - _xy(obs.pose, SHOULDER["right"], obs)[0]) + 1e-3
        return bool(wrist[3] >= 0.5 and _xy(obs.pose, WRIST[side], obs)[1] < shoulder[1] - self.reach * width)

    def state(self, obs):
        side = self.side if not self.mirrored else ("left" if self.side == "right" else "right")
        other = "left" if side == "right" else "right"
        if obs.pose is None or obs.pose[SHOULDER[side], 3] < 0.5:
            self.out_of_view = True
            return None
        if self._raised(obs, side):
            # the other hand must not be up too: "raise your right hand" is not "raise both"
            return None if self._raised(obs, other) else "action"
        wr = obs.pose[WRIST[side]]
        if wr[3] < 0.5 or wr[1] > obs.pose[SHOULDER[side], 1]:
            return "neutral"
        return None


class Blink(Action):
    """A deliberate blink: the eyes closed for ``closed_s`` seconds at least (0.5), then open again.
    A blink that comes by itself lasts 0.1-0.3 s (0.07-0.1 s in the shared videos, where the replays
    blinked by themselves as often as the live faces), so a replayed video does not pass by its own
    blinking; a user asked to close the eyes keeps them closed longer. Closed: the eye aspect ratio
    below 0.6 of its median over the open frames seen; open: above 0.8 of it."""
    name = "blink"
    instruction = "Close your eyes for a moment, then open them"
    needs = {"face"}
    action_frames = 1  # the first open frame after the closure completes it
    closed_s = 0.5

    def reset(self):
        super().reset()
        self.open_ears: list[float] = []
        self.closed_since: float | None = None
        self.closed_long = False

    def state(self, obs):
        if obs.face is None:
            return None
        ear = eyes_open_ratio(obs.face, obs)
        base = float(np.median(self.open_ears)) if self.open_ears else None
        if base is None or ear > 0.8 * base:
            self.open_ears = (self.open_ears + [ear])[-15:]
            self.closed_since = None
            return "action" if self.closed_long else "neutral"   # reopened after a long closure: done
        if ear < 0.6 * base and self.armed:
            self.closed_since = obs.t if self.closed_since is None else self.closed_since
            self.closed_long = self.closed_long or obs.t - self.closed_since >= self.closed_s
        return None


class TurnHead(Action):
    """The head turned to the subject's ``side`` by ``turned`` of ``head_yaw_ratio`` from where it
    rested, not from facing the camera: a camera beside the screen sees a user who looks at the
    screen turned already (the shared webcam video's user rests at 0.64). Neutral: the ratio held
    within ``neutral_band`` over the last ``neutral_frames`` frames (that rest, once armed: within the
    band of it)."""
    needs = {"face"}
    neutral_band, turned = 0.08, 0.17

    def __init__(self, side: str = "left", mirrored: bool = False):
        self.side = side
        self.name = f"turn_head_{side}"
        self.instruction = f"Turn your head to your {side}"
        super().__init__(mirrored)

    def reset(self):
        super().reset()
        self.rest: list[float] = []

    def state(self, obs):
        if obs.face is None:
            return None
        r = head_yaw_ratio(obs.face, obs)
        if not self.armed:
            self.rest = (self.rest + [r])[-self.neutral_frames:]
            return "neutral" if max(self.rest) - min(self.rest) < self.neutral_band else None
        # unmirrored camera: turning to the subject's left moves the nose to the image's right
        sign = 1 if (self.side == "left") != self.mirrored else -1
        d = (r - float(np.median(self.rest))) * sign
        if abs(d) < self.neutral_band:
            return "neutral"
        return "action" if d > self.turned else None


class OpenMouth(Action):
    """The mouth opened (``mouth_open_ratio`` above ``opened`` and by ``rise`` above where it rested),
    from a mouth held still: closed, or parted at rest (a grin, a face that rests with its lips apart:
    one shared webcam group's user rests at 0.28). Neutral: the ratio held within ``neutral_band``
    over the last ``neutral_frames`` frames, at most ``closed_at_most``; once armed, back within the
    band of that rest."""
    name = "open_mouth"
    moves_mouth = True
    instruction = "Open your mouth"
    needs = {"face"}
    neutral_band, closed_at_most, opened, rise = 0.1, 0.3, 0.4, 0.25

    def reset(self):
        super().reset()
        self.rest: list[float] = []

    def state(self, obs):
        if obs.face is None:
            return None
        m = mouth_open_ratio(obs.face, obs)
        if not self.armed:
            self.rest = (self.rest + [m])[-self.neutral_frames:]
            held = max(self.rest) - min(self.rest) < self.neutral_band and max(self.rest) <= self.closed_at_most
            return "neutral" if held else None
        rest = float(np.median(self.rest))
        if m < rest + self.neutral_band:
            return "neutral"
        return "action" if m > max(self.opened, rest + self.rise) else None


class Smile(Action):
    """The mouth widened (``smile_ratio``, its corners' distance over the face's width) by ``widen``
    over where it rested: the median of the frames before it armed. A mouth wider than ``grin`` does
    not arm, and the user is told to relax it first: from a broad grin there is no wider to go. The
    shared sources rest at medians 0.32-0.41 and smile up to 0.45-0.54; one webcam group's user rests
    in a grin at 0.46, where the old rule asked him for 0.52."""
    name = "smile"
    moves_mouth = True
    instruction = "Smile"
    needs = {"face"}
    widen, grin = 1.12, 0.44

    def reset(self):
        super().reset()
        self.base: list[float] = []

    def state(self, obs):
        if obs.face is None:
            return None
        s = smile_ratio(obs.face, obs)
        if not self.armed:
            if s > self.grin:
                self.hint = "relax your mouth first"
                return None
            self.base = (self.base + [s])[-10:]
            return "neutral"
        return "action" if s > self.widen * float(np.median(self.base)) else None


def all_actions(mirrored: bool = False) -> list[Action]:
    return [RaiseHand("right", mirrored), RaiseHand("left", mirrored), Blink(mirrored),
            TurnHead("left", mirrored), TurnHead("right", mirrored), OpenMouth(mirrored), Smile(mirrored)]


ACTION_NAMES = [a.name for a in all_actions()]


def make_action(name: str, mirrored: bool = False) -> Action:
    for a in all_actions(mirrored):
        if a.name == name:
            return a
    raise ValueError(f"unknown action {name!r}; choose from {', '.join(ACTION_NAMES)}")
