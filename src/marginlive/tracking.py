"""Follow faces across video frames by box overlap (or nearness), and smooth each face's liveness score."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .types import FAKE, PENDING, REAL, FaceBox


# how far, in widths of its last box, a face's centre may move between two frames and the face still
# be the same where the boxes no longer overlap enough: a head moves a few widths a second at most, so
# a jump of more than one between frames is another face
NEAR_WIDTHS = 1.0


def _moved_by(box: FaceBox, last: FaceBox) -> float:
    """How far ``box``'s centre lies from ``last``'s, in widths of ``last``; inf where their widths
    differ by more than 3/2 (not the same face a frame later)."""
    if not 2 / 3 <= box.w / max(last.w, 1e-6) <= 3 / 2:
        return float("inf")
    return float(np.hypot(box.cx - last.cx, box.cy - last.cy)) / max(last.w, 1e-6)


@dataclass
class Track:
    id: int
    box: FaceBox
    scores: deque = field(default_factory=deque)
    last_seen: int = 0
    hits: int = 0


class FaceTracker:
    """Greedy matching of detections to tracks: by IoU, then by nearness (``_match``).

    A track's score is the mean P(real) over its last ``window`` frames. It is ``pending``
    until it has ``min_frames`` scores, and its label is decided once the last ``min_frames``
    per-frame labels agree with the label of the mean (consistent frames); until then the
    previous decision stands (or ``pending`` if there is none). A *fake* decision can be made
    to need a longer run of consistent frames, ``reject_frames`` (at most ``window``): where a
    fake decision ends a session, a short dip of a live face (a head turn, a blurred frame)
    should not, while a replay, scored low frame after frame, is still caught within
    ``reject_frames`` frames.
    """

    def __init__(self, threshold: float = 0.5, window: int = 10, min_frames: int = 5,
                 iou: float = 0.3, max_missed: int = 10, reject_frames: int | None = None):
        self.reject_frames = min_frames if reject_frames is None else int(reject_frames)
        if not 1 <= min_frames <= window or not min_frames <= self.reject_frames <= window:
            raise ValueError(f"need 1 <= min_frames ({min_frames}) <= reject_frames ({self.reject_frames}) "
                             f"<= window ({window})")
        self.threshold, self.window, self.min_frames = threshold, window, min_frames
        self.iou, self.max_missed = iou, max_missed
        self.tracks: dict[int, Track] = {}
        self._labels: dict[int, str] = {}
        self._next = 1
        self.frame = 0

    def update(self, boxes: list[FaceBox], scores: np.ndarray, counted: bool = True,
               resized: bool = False) -> list[tuple[int, float, str, bool]]:
        """For each box (in order): (track id, smoothed score, label, decided). ``counted=False``:
        the boxes are followed but their scores not taken in (a frame not ready to be scored; a
        track with no score yet reads this frame's). ``resized``: the frame's size changed since the
        last update (the camera switched modes, a phone was turned and its picture with it), so its
        boxes cannot be compared with the tracks': a lone face continues a lone track, and where
        there are more, each starts a track of its own."""
        self.frame += 1
        assigned = self._match(boxes, resized)
        out = []
        for i, b in enumerate(boxes):
            tid = assigned.get(i)
            if tid is None:
                tid = self._next
                self._next += 1
                self.tracks[tid] = Track(tid, b, deque(maxlen=self.window))
            t = self.tracks[tid]
            t.box, t.last_seen, t.hits = b, self.frame, t.hits + 1
            if counted:
                t.scores.append(float(scores[i]))
            out.append((tid, *self._decide(t)) if t.scores else (tid, float(scores[i]), PENDING, False))
        for tid in [tid for tid, t in self.tracks.items() if self.frame - t.last_seen > self.max_missed]:
            del self.tracks[tid]
            self._labels.pop(tid, None)
        return out

    def _match(self, boxes: list[FaceBox], resized: bool) -> dict[int, int]:
        """Which track each box continues (box index -> track id), greedily: by overlap (IoU at
        least ``iou``); then a box left over by its nearness to a track left over, its centre within
        ``NEAR_WIDTHS`` of the track's width from the track's last box and its width 2/3-3/2 of
        that box's (the same face moved fast between two frames: a phone shifted in the hand, a
        frame dropped on a slow link). Across a change of frame size boxes cannot be compared."""
        if resized:
            return {0: next(iter(self.tracks))} if len(boxes) == 1 and len(self.tracks) == 1 else {}
        pairs = [(i, tid, b, t.box) for i, b in enumerate(boxes) for tid, t in self.tracks.items()]
        overlap = sorted((-b.iou(tb), i, tid) for i, tid, b, tb in pairs)
        near = sorted((_moved_by(b, tb), i, tid) for i, tid, b, tb in pairs)
        assigned: dict[int, int] = {}
        for ranked, limit in ((overlap, -self.iou), (near, NEAR_WIDTHS)):
            for key, i, tid in ranked:
                if key > limit:
                    break
                if i not in assigned and tid not in assigned.values():
                    assigned[i] = tid
        return assigned

    def _decide(self, t: Track) -> tuple[float, str, bool]:
        mean = float(np.mean(t.scores))
        if len(t.scores) >= self.min_frames:
            want = REAL if mean >= self.threshold else FAKE
            need = self.min_frames if want == REAL else self.reject_frames
            recent = list(t.scores)[-need:]
            if len(recent) == need and all((s >= self.threshold) == (want == REAL) for s in recent):
                self._labels[t.id] = want
        label = self._labels.get(t.id, PENDING)
        return mean, label, label != PENDING

    def reset(self):
        self.tracks.clear()
        self._labels.clear()


@dataclass(frozen=True)
class TrackVerdict:
    """A recorded face's verdict over all its frames: ``label`` REAL where the ``mean`` P(real) of
    its frames is at or above the threshold, else FAKE; ``share`` of its ``frames`` at or above it.
    A live stream's label follows its last window of frames (``FaceTracker``); a recorded video is
    judged on every frame, so that a dip at its end (the user turning away) does not decide it."""
    label: str
    mean: float
    share: float
    frames: int

    @classmethod
    def of(cls, frame_scores, threshold: float) -> "TrackVerdict":
        """From a track's per-frame P(real) (at least one) and the decision threshold."""
        s = np.asarray(frame_scores, dtype=float)
        if not len(s):
            raise ValueError("a track verdict needs one frame score at least")
        mean = float(s.mean())
        return cls(REAL if mean >= threshold else FAKE, mean, float(np.mean(s >= threshold)), len(s))
