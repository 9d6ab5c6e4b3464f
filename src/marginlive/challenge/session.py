"""The authentication session (the paper's Figure 8 flow) as a state machine:

    WAITING (for exactly one face)
      -> PASSIVE    the margin model over several frames of one tracked face
      -> CHALLENGE  1..N actions drawn at random from a cryptographically secure source, one at
                    least that moves the mouth (an open mouth, a smile)
      -> IDENTIFY   the identity step (optional), once, on the session's best few frames of
                    those the passive model judged live one by one
      -> ACCEPTED(identity) | REJECTED(reason)

Rules: one subject: the face the session locked onto (the largest when it started: two faces
about as large keep it waiting, one much smaller, a bystander further back, is ignored); once
locked, other faces in view are ignored: the liveness, the challenges (its landmarks only) and the
identity read the subject alone; the same tracked face throughout (a swap rejects; a face moved by
less than its width between frames, or found again in place within the grace for a missing face, is
the subject's, as is a lone face across a change of the frame's size, a camera switching modes or a
phone turned); frames delivered sideways or upside down are turned upright first; passive liveness keeps running during
the challenges (a turn to *fake*, a whole window of consistently low frames,
rejects); a face the model turns away but not surely (the window's mean P(real) at or above a
floor), or cannot decide on for a while, is asked for more actions, those that move the mouth first,
instead (live users of cameras the model never saw score lower than the training webcams' users);
each challenge has a timeout and a limited number of retries (a fresh random action each time;
one whose body part the camera mostly did not show, the shoulders of a raised hand, is replaced,
with those of its kind still to come, by actions the camera can show);
a face gone, or frames too dark, blurred, without colour or with the face too close
to the camera, for longer than a grace period rejects (the instruction meanwhile says which);
the session itself has an overall deadline. Every event is timestamped in ``log``. The session
never passes on missing evidence.
"""
from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field
from typing import Callable

import cv2
import numpy as np

from ..detect import FaceDetector, confident_faces
from ..errors import InputError
from ..frames import GRAYSCALE_LEVEL, is_grayscale, sharpness
from ..identity.quality import DARK_ADVICE, OUTSIDE
from ..types import FAKE, REAL, FaceBox, FaceResult
from .actions import Action, all_actions
from .draw import ActionDraw
from .identity_frames import IdentityFrames
from .landmarks import Landmarker

WAITING, PASSIVE, CHALLENGE, IDENTIFY, ACCEPTED, REJECTED = (
    "waiting", "passive", "challenge", "identify", "accepted", "rejected")
FINAL = (ACCEPTED, REJECTED)


@dataclass
class SessionConfig:
    """A session's rules, in seconds and frames: ``n_challenges`` random actions (2), each within
    ``challenge_timeout_s`` (8 s) with ``retries`` fresh ones after a timeout (1); the passive step's
    window and frames; the limits on a usable frame (brightness in grey levels, sharpness, the face's
    share of the frame); the unsure floor. The defaults are those of `marginlive serve` and
    `marginlive authenticate`; each field's comment says why it has its value."""
    n_challenges: int = 2
    challenge_timeout_s: float = 8.0
    retries: int = 1                 # extra challenges allowed after a timeout
    passive_min_frames: int = 5
    passive_window: int = 10
    # a fake decision ends the session, so it needs more consistent low frames than a real one
    # does; None: the whole window (1 s at the web page's 10 frames/s). A replay scores low
    # throughout; a live face can dip for a few frames.
    passive_reject_frames: int | None = None
    max_absent_s: float = 1.5        # face gone (or frame unusable) longer than this: reject
    waiting_timeout_s: float = 20.0
    session_timeout_s: float = 60.0
    min_brightness: float = 25.0     # mean grey level of the face (live webcam faces here: 1st percentile 37)
    # ``frames.sharpness`` of the face (the Laplacian's variance at 112 px, whatever the camera's
    # resolution): live faces of ../shared 1st percentile 23, a sharp camera of 3x the pixels 29 (5th
    # percentile), a Gaussian blur of 3 px 9 (median) (docs/research/2026-12-03-unsure-faces.md)
    min_sharpness: float = 10.0
    # the face box's larger side over the frame's shorter side. Closer than that, most of the margin
    # context lies beyond the frame and the model has little of the surroundings to read: the
    # webcam video cut so the face is 0.8-1.0 of the shorter side, 4-5% of live frames turned away
    # and up to 3% of replay frames let through, against 0-1% at 0.6 (docs/camera_sensitivity.md)
    max_face_fraction: float = 0.7
    # the largest share of the face box's width (or height) that may lie beyond the frame's edge.
    # A face cut off by the edge blacks out half the context and moves the Silent-Face crop off
    # the face: held-out frames moved to the edge let more attacks through than as filmed
    # (docs/collections.md, the off-centre row; docs/research/2026-12-02-edges.md)
    max_face_outside: float = 0.1
    # a face whose pixels' channels differ by at most this many levels (95th percentile) is a
    # grayscale picture (an infrared or monochrome camera): the model reads colour, and the webcam
    # replay turned grey passed on half its frames (docs/camera_sensitivity.md, the grayscale row).
    # None: no check
    grayscale_level: float | None = GRAYSCALE_LEVEL
    mirrored: bool = False
    actions: tuple[str, ...] | None = None   # restrict the pool (names); None: all
    # every session asks for one action at least that moves the mouth (open mouth, smile;
    # ``Action.moves_mouth``), where the pool has one: a worn paper mask passes the passive model most
    # of the time and can turn and raise a hand (docs/research/2026-12-03-worn-paper-masks.md), and
    # with its eyes cut out the wearer's own eyes blink (docs/research/2026-12-04-cut-out-eyes.md)
    mouth_must_move: bool = True
    require_identity: bool = False
    identity_frames: int = 5         # frames the identity step embeds: the best seen (identity/quality.py;
                                     # an enrolment session keeps select.CANDIDATES, enrols the most typical)
    # a frame may name the person only where this many frames either side (of those the session took
    # in after it found its face) were also scored live: a medium the model scores live on one frame in
    # four, held in the user's place for 4 frames, named its person in 9.5% of trials with 0, 0.4% with 2
    # (docs/identity_held_photo.md)
    identity_steady: int = 2
    # before the session has its face, a second face narrower than this share of the widest is a
    # bystander further back and is ignored; a wider one (two people at the camera) keeps the session
    # waiting: which of them is logging in is not known. Once it has its face, others are ignored
    bystander_ratio: float = 0.6
    # while no face is found, look this often (s) for one too far from the camera for the detector
    # (BlazeFace's short-range model misses faces under about a tenth of the frame's width; its
    # full-range model finds them: docs/research/2026-12-03-light-and-colour.md), so the user is
    # told to come closer instead of to look at the camera. None: never
    far_check_s: float | None = 0.5
    # live users first: a fake decision whose window's mean P(real) is at or above this floor does
    # not reject, nor does a face the model leaves undecided for ``unsure_after_s`` (s); the session
    # asks for ``unsure_actions`` more actions, those that move the mouth first, which a replay does
    # not do on cue (docs/challenge_by_itself.md). Below the floor a fake decision rejects as before (at
    # or above the model's threshold, no fake decision is above it). None: every fake decision
    # rejects (docs/research/2026-12-03-unsure-faces.md)
    unsure_floor: float | None = 0.25
    unsure_after_s: float = 3.0
    unsure_actions: int = 2


@dataclass
class Status:
    """Where a session stands after a frame: ``state`` (waiting, passive, challenge, identify,
    accepted, rejected), the ``instruction`` to show the user, ``progress`` in [0, 1] of the current
    step, the rejection ``reason``, the accepted ``identity`` (None: none required or unknown), the
    subject's ``face``, and the challenge ``step`` of ``steps``."""
    state: str
    instruction: str
    progress: float
    reason: str = ""
    identity: str | None = None
    face: FaceResult | None = None
    step: int = 0
    steps: int = 0
    more_actions: bool = False      # the passive model was unsure: the session asked for more actions

    def to_dict(self) -> dict:
        return {"state": self.state, "instruction": self.instruction, "progress": round(self.progress, 3),
                "reason": self.reason, "identity": self.identity, "step": self.step, "steps": self.steps,
                "more_actions": self.more_actions, "face": self.face.to_dict() if self.face else None}


NO_FACE, TOO_FAR = "no face in view", "face too far from the camera: come closer"
LOST = "your face is not found: face the camera"   # the session's face missed, someone else's in view
TWO_FACES = "more than one face in view: only the user in front of the camera"
# each problem a frame can have says what the user can do about it, as the user reads it beside the instruction
TOO_DARK = f"face too dark: {DARK_ADVICE}"
BLURRED = "face blurred: hold still, or clean the camera's lens"
# a face the far detector finds counts as too far where it is narrower than this share of the frame's
# longer side (the short-range detector misses faces under about 0.1 of it); a larger one it missed
# is turned away or half hidden, and the user is not told to come closer
FAR_FACE_SHARE = 0.15


# (frame, face) pairs, best first -> a decision with .identity (None: unknown), .distance, .margin
# (identity.recognise.Decision); an InputError rejects the session with its message
Identify = Callable[[list[tuple[np.ndarray, FaceResult]]], object]


@dataclass
class Session:
    """One authentication on any frame source: feed it frames with their times until it is ``done``::

        session = Session(LivenessDetector())
        with VideoSource(camera=0) as frames:             # frames.VideoSource: a camera or a file
            for frame in frames:
                status = session.update(frame.image, frame.time)
                if session.done:
                    break
        status = session.finish(frame.time)               # a source that ended first: rejected

    ``identify`` (optional): decides who the session's best frames show (``identity.recognise``;
    `marginlive authenticate --gallery` wires it); ``config.require_identity`` then makes it a step.
    ``landmarker`` and ``far_faces`` default to MediaPipe's models, made when first needed;
    ``rng``: where the actions are drawn (a cryptographically secure source)."""
    liveness: object                       # a LivenessDetector
    config: SessionConfig = field(default_factory=SessionConfig)
    identify: Identify | None = None
    landmarker: Landmarker | None = None
    rng: secrets.SystemRandom = field(default_factory=secrets.SystemRandom)
    # finds the faces too far for the liveness detector (``far_check_s``); default: BlazeFace's
    # full-range model, made when first needed
    far_faces: FaceDetector | None = None

    def __post_init__(self):
        # the face keeps its track while it may be missing (``max_absent_s``), at up to 60 frames a
        # second: found again in its place after a look down or a covered camera, it is the same face,
        # not a swap (a face held in its place is no more a swap to the boxes, gap or not)
        self.stream = self.liveness.stream(self.config.passive_window, self.config.passive_min_frames,
                                           self.config.passive_reject_frames or self.config.passive_window,
                                           max_missed=max(10, math.ceil(60 * self.config.max_absent_s)))
        self.landmarker = self.landmarker or Landmarker()
        self.state = WAITING
        self.reason = ""
        self.rejected_in: str | None = None       # the step a rejected session ended in (WAITING ... IDENTIFY)
        self.identity: str | None = None
        self.decision = None                      # the identity step's Decision, once made
        # the frames that may name the person (live, amid live ones, usable), and what the others lacked
        self.id_frames = IdentityFrames(self.config.identity_frames, self.config.identity_steady)
        self.log: list[dict] = []
        self.track_id: int | None = None
        self._subject_box: FaceBox | None = None  # where the session's face was last seen
        self.t0: float | None = None
        self.last_ok: float | None = None
        pool = [a for a in all_actions(self.config.mirrored)
                if self.config.actions is None or a.name in self.config.actions]
        if not pool:
            raise ValueError("no challenge action to draw from")
        self.draws = ActionDraw(pool, self.rng, self.config.mouth_must_move)
        self.remaining_retries = self.config.retries
        self.challenges: list[Action] = []
        self.current = -1
        self.challenge_start = 0.0
        self.last_face: FaceResult | None = None
        self.problem: str | None = None
        self._far_checked: float | None = None    # when the far detector last looked, and what it saw
        self._far_seen = False
        self.passive_start: float | None = None   # when the passive step began, and its usable frames since
        self.passive_frames = 0
        self.more_actions = False                 # whether the session asked for more actions (unsure)
        self.unseen: set[str] = set()             # landmark models whose body part the camera did not show

    # ---------------------------------------------------------------------------- helpers
    def _subject(self, results: list[FaceResult]) -> tuple[FaceResult | None, list[FaceResult]]:
        """The session's face and the other faces that keep the frame from counting. Before the
        session has a face: the widest, and those not much narrower (``bystander_ratio``): which of
        two people is logging in is not known, so it waits for one. After: its tracked face, whatever
        else is in view, since only that face's pixels, landmarks and frames are read. Where that face
        is missing, a face in its place (a box overlapping its last one) is returned, for the swap
        check to reject; a face elsewhere is someone else in view while the user's was missed (None)."""
        if not results:
            return None, []
        if self.track_id is None:
            face = max(results, key=lambda r: r.box.w)
            return face, [r for r in results if r is not face and r.box.w >= self.config.bystander_ratio * face.box.w]
        mine = [r for r in results if r.track_id == self.track_id]
        if mine:
            self._subject_box = mine[0].box
            return mine[0], []
        in_place = [r for r in results if r.box.iou(self._subject_box) > 0]   # set when the session locked
        return (in_place[0] if in_place else None), []

    def _event(self, t, event, **detail):
        self.log.append({"t": round(float(t), 3), "state": self.state, "event": event, **detail})

    def _reject(self, t, reason):
        self.reason = reason
        self.rejected_in, self.state = self.state, REJECTED
        self._event(t, "rejected", reason=reason)

    def _frame_usable(self, frame, face: FaceResult) -> str | None:
        b = face.box
        roi = b.region(frame)
        if roi.size == 0:
            return OUTSIDE
        h, w = frame.shape[:2]
        if max(b.w, b.h) > self.config.max_face_fraction * min(h, w):
            return "face too close to the camera: move back"
        beyond = max(max(0.0, -b.x1, b.x2 - w) / max(b.w, 1.0), max(0.0, -b.y1, b.y2 - h) / max(b.h, 1.0))
        if beyond > self.config.max_face_outside:
            return "face partly outside the frame: move to the middle"
        if cv2.cvtColor(roi, cv2.COLOR_BGR2GRAY).mean() < self.config.min_brightness:
            return TOO_DARK
        if sharpness(roi) < self.config.min_sharpness:
            return BLURRED
        if self.config.grayscale_level is not None and is_grayscale(roi, self.config.grayscale_level):
            return "no colour in the picture: use a colour camera"
        return None

    def _missing_face(self, frame, t: float) -> str:
        """Why no face counts on a frame where the detector found none: TOO_FAR where the far
        detector sees a small one (``FAR_FACE_SHARE``; it looks at most every ``far_check_s``),
        else NO_FACE."""
        every = self.config.far_check_s
        if every is None:
            return NO_FACE
        if self._far_checked is None or t - self._far_checked >= every:
            if self.far_faces is None:
                from ..detect import create_detector
                self.far_faces = create_detector("mediapipe-full")
            small = FAR_FACE_SHARE * max(frame.shape[:2])
            self._far_checked, self._far_seen = t, any(b.w < small for b in self.far_faces.detect(frame))
        return TOO_FAR if self._far_seen else NO_FACE

    # ------------------------------------------------------------------------------ status
    def status(self) -> Status:
        """Where the session stands now (the last ``update``'s answer)."""
        st = self._status()
        st.more_actions = self.more_actions
        return st

    def _status(self) -> Status:
        face = self.last_face
        # what keeps the current frame from counting, shown with the instruction so the user can fix it; else
        # what keeps the faces from naming the person, while none could (the light, a blur: not a head turn)
        hint = f" ({self.problem})" if self.problem and self.problem != NO_FACE else ""
        if not hint and self.identify is not None and self.id_frames.unclear and not self.id_frames.best:
            hint = f" ({self.id_frames.unclear})"
        if self.state == WAITING:
            return Status(WAITING, f"Waiting for a user: look at the camera{hint}", 0.0, face=face)
        if self.state == PASSIVE:
            return Status(PASSIVE, f"Hold still: checking liveness{hint}", 0.0, face=face)
        if self.state == CHALLENGE:
            a = self.challenges[self.current]
            hint = hint or (f" ({a.advice})" if a.advice else "")
            done = self.current / len(self.challenges)
            return Status(CHALLENGE, a.instruction + hint, done + a.progress / len(self.challenges), face=face,
                          step=self.current + 1, steps=len(self.challenges))
        if self.state == IDENTIFY:
            return Status(IDENTIFY, "Recognising", 1.0, face=face)
        if self.state == ACCEPTED:
            who = f" as {self.identity}" if self.identity else ""
            return Status(ACCEPTED, f"Accepted{who}", 1.0, identity=self.identity, face=face)
        return Status(REJECTED, f"Rejected: {self.reason}", 0.0, reason=self.reason, face=face)

    @property
    def done(self) -> bool:
        return self.state in FINAL

    def finish(self, t: float, reason: str = "camera stopped before a decision") -> Status:
        """The frame source ended: a session without a verdict fails."""
        if not self.done:
            self._reject(t, reason)
        return self.status()

    # ------------------------------------------------------------------------------ update
    def update(self, frame: np.ndarray, t: float) -> Status:
        """Advance the session by one BGR frame (H, W, 3) uint8 taken at ``t`` (seconds, any
        monotonic clock); returns where the session stands."""
        if self.done:
            return self.status()
        if self.t0 is None:
            self.t0 = self.last_ok = t
            self._event(t, "started")
        if t - self.t0 > self.config.session_timeout_s:
            self._reject(t, "session timed out")
            return self.status()
        found = self._usable_face(frame, t)
        if found is None:
            return self.status()
        frame, face = found
        if self.state == WAITING:
            self.track_id, self._subject_box = face.track_id, face.box
            self.state, self.passive_start = PASSIVE, t
            self._event(t, "face found", track=face.track_id)
        if face.label == FAKE and face.decided and self._turned_away(face, t):
            return self.status()
        if self.state == PASSIVE:
            self._passive_step(face, t)
        elif self.state == CHALLENGE:
            self._challenge_step(frame, face, t)
        if self.state == IDENTIFY:
            self._identify_step(frame, face, t)
        return self.status()

    def _usable_face(self, frame: np.ndarray, t: float) -> tuple[np.ndarray, FaceResult] | None:
        """(the frame the boxes refer to, the subject's face) where this frame can count; else
        None, the session rejected where the frame breaks a rule or a face stayed unusable too long."""
        results = confident_faces(self.stream.update(frame))
        frame = self.stream.frame   # the frame the boxes refer to (turned upright where it was sideways or over)
        face, others = self._subject(results)
        self.last_face = face
        if face and self.state != WAITING and self.track_id is not None and face.track_id != self.track_id:
            self._reject(t, "the face changed during the session")
            return None
        self.problem = ((TWO_FACES if others else self._frame_usable(frame, face)) if face
                        else LOST if results else self._missing_face(frame, t))
        if self.identify is not None and self.state in (PASSIVE, CHALLENGE):
            counts = face is not None and not self.problem
            self.id_frames.take(frame, face.box if counts else None,
                                live=counts and face.counted and face.frame_score >= self.liveness.threshold)
        if self.problem:
            if self.state == WAITING:
                if t - self.t0 > self.config.waiting_timeout_s:
                    self._reject(t, f"no usable face within {self.config.waiting_timeout_s:.0f} s ({self.problem})")
            elif t - self.last_ok > self.config.max_absent_s:
                self._reject(t, self.problem)
            return None
        self.last_ok = t
        return frame, face

    def _passive_step(self, face: FaceResult, t: float) -> None:
        """Step 1: once the passive model has decided the face is real, draw the challenges; where
        it is still undecided after ``unsure_after_s`` and a whole window of frames, and not below
        the floor, more of them."""
        self.passive_frames += 1
        if face.label == REAL and face.decided:
            self._event(t, "step 1 passed", score=round(face.score, 3))
            self._start_challenges(t)
        elif (self.config.unsure_floor is not None and t - self.passive_start > self.config.unsure_after_s
              and self.passive_frames >= self.config.passive_window and face.score >= self.config.unsure_floor):
            self._ask_more(face, t)

    def _start_challenges(self, t: float) -> None:
        self.challenges = self.draws.plan(self.config.n_challenges)
        self.current, self.challenge_start = 0, t
        self.state = CHALLENGE
        self._event(t, "challenge", action=self.challenges[0].name)

    def _turned_away(self, face: FaceResult, t: float) -> bool:
        """The passive model decided ``face`` is fake: True (the session rejected) where the mean
        P(real) of its window is below ``unsure_floor``; at or above it the session asks for more
        actions (once) and goes on."""
        if self.config.unsure_floor is None or face.score < self.config.unsure_floor:
            self._reject(t, "presentation attack detected (passive liveness)")
            return True
        if not self.more_actions:
            self._ask_more(face, t)
        return False

    def _ask_more(self, face: FaceResult, t: float) -> None:
        """The passive model is unsure of a face: ``unsure_actions`` more actions that move the
        mouth (others where the pool has too few), drawn after those already asked for."""
        self.more_actions = True
        self._event(t, "liveness unsure: more actions", score=round(face.score, 3))
        if self.state == PASSIVE:
            self._start_challenges(t)
        self.challenges += self.draws.more(self.challenges, self.config.unsure_actions, self.unseen)

    def _challenge_step(self, frame: np.ndarray, face: FaceResult, t: float) -> None:
        """Step 2: the current action observed on this frame; the next one once it is done, a
        new one in its place (or rejection, retries spent) once its time is up."""
        a = self.challenges[self.current]
        if a.update(self.landmarker.observe(frame, t, a.needs, face.box)):
            self._event(t, "challenge passed", action=a.name)
            self.current += 1
            if self.current == len(self.challenges):
                self._event(t, "step 2 passed")
                self.state = IDENTIFY
            else:
                self.challenge_start = t
                self.challenges[self.current].reset()   # its neutral state is seen afresh
                self._event(t, "challenge", action=self.challenges[self.current].name)
        elif t - self.challenge_start > self.config.challenge_timeout_s:
            self._timed_out(a, t)

    def _timed_out(self, a: Action, t: float) -> None:
        """The current action ``a`` ran out of time: rejection where no retry is left, else another in
        its place. Where the camera mostly did not show what ``a`` needs (the shoulders), neither it nor
        any action still to come is one that needs that: a user at a close camera is asked to step back
        for one action's time, then asked what the camera can show."""
        out_of_view = a.mostly_out_of_view
        why = a.view_hint if out_of_view else a.hint
        if self.remaining_retries <= 0:
            self._reject(t, f"challenge not completed in time ({a.name}{': ' + why if why else ''})")
            return
        self.remaining_retries -= 1
        if out_of_view:
            self.unseen |= a.needs
        new = self.draws.replacement(a, self.challenges, unsure=self.more_actions, unseen=self.unseen)
        self.challenges[self.current] = new
        self.challenge_start = t
        self._event(t, "challenge retry", action=new.name, previous=a.name, out_of_view=out_of_view)
        for i in range(self.current + 1, len(self.challenges)):
            later = self.challenges[i]
            if later.needs & self.unseen:
                self.challenges[i] = self.draws.replacement(later, self.challenges, self.more_actions, self.unseen)
                self._event(t, "challenge replaced", action=self.challenges[i].name, previous=later.name)

    def _identify_step(self, frame: np.ndarray, face: FaceResult, t: float) -> None:
        """Step 3: who it is, from the session's best usable frames (``IdentityFrames``; this one where
        none was kept and it is usable). Without a clear view it names nobody and says why."""
        if self.identify is not None:
            faces = self.id_frames.for_decision(frame, face.box)
            if not faces:
                self._reject(t, f"no clear view of the face ({self.id_frames.shortfall()})")
                return
            try:
                self.decision = self.identify(faces)
            except InputError as err:    # a step that refuses the faces says why (an enrolment's checks)
                short = self.id_frames.shortfall() if len(faces) < self.config.identity_frames else ""
                self._reject(t, f"{err} ({short})" if short else str(err))
                return
        name = self.decision.identity if self.decision is not None else None
        if name is None and (self.config.require_identity or self.identify is not None):
            self._reject(t, "not recognised as an enrolled identity")
            return
        self.identity = name
        self.state = ACCEPTED
        d = self.decision
        self._event(t, "accepted", identity=name, distance=None if d is None else d.distance,
                    margin=None if d is None else d.margin, probes=None if d is None else d.probes)
