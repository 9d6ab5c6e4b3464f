"""Which of a session's frames may name its person, and why none could.

A frame may name the person only if the passive model scored its face live on its own (taken into
the track), amid ``steady`` such frames either side, and only if the face is usable for recognition
(``identity/quality.py``). A photo held in the place of the face for a few frames, too few to turn
the track's score, while the live person behind or beside it does the actions, does not name its
person, nor do the frames of it a medium gets scored live here and there
(docs/identity_held_photo.md). Faces below the quality rule never name anyone: overexposed ones named
their person as someone else in 3% of sessions, usable ones in none
(docs/research/2026-12-07-identity-frames-below-quality.md); what they lacked is counted instead, so
that a session without a clear view can say why.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from ..identity.embed import embedding_crop
from ..identity.quality import TURNED_AWAY, Quality, face_quality
from ..types import FaceBox


class IdentityFrames:
    """The ``keep`` best usable faces (by ``face_quality``'s score) among the frames ``take`` lets
    name the person, each kept as the crop the embedder reads (``embedding_crop``), not the whole
    frame: ranked while the session runs (about 1 ms a frame), embedded once at its end. A frame is
    kept once the ``steady`` frames before it were live and dropped again where one of the next
    ``steady`` is not, so no more than ``keep`` crops are held (a kept frame a dropped one had pushed
    out stays out). The session's start counts as ``steady`` live frames (its first frames have none
    before them), as its end does."""

    def __init__(self, keep: int = 5, steady: int = 2):
        self.keep, self.steady = keep, steady
        self.best: list[tuple[float, np.ndarray, FaceBox, int]] = []   # (quality, crop, face in it, frame number)
        self.shortfalls: Counter[str] = Counter()   # what the live faces lacked for the quality rule
        self.unclear: str | None = None   # the last live face's shortfall, a head turn's apart
        self._live_run, self._seq = steady, 0
        self._last: Quality | None = None   # the last frame taken's quality, where it was rated (and counted)

    def take(self, frame: np.ndarray, box: FaceBox | None, live: bool) -> None:
        """One frame of the session: ``box`` its face (None where the frame does not count), ``live``
        whether the passive model scored that face live on its own."""
        self._seq += 1
        self._last = None
        if not live:
            self.best[:] = [b for b in self.best if b[3] < self._seq - self.steady]
        elif self._live_run >= self.steady:
            q = self._last = face_quality(frame, box)
            self._note(q)
            # a head turn is the challenge's, not the camera's: never the hint
            self.unclear = next((k for k in q.kinds if not k.startswith(TURNED_AWAY)), None)
            if q.usable and (len(self.best) < self.keep or q.score > self.best[-1][0]):
                self.best.append((q.score, *embedding_crop(frame, box), self._seq))
                self.best.sort(key=lambda k: -k[0])          # stable: the earlier of equal frames first
                del self.best[self.keep:]
        self._live_run = self._live_run + 1 if live else 0

    def _note(self, q: Quality) -> None:
        """Count what a face lacked for the quality rule (nothing where it is usable)."""
        self.shortfalls.update(q.kinds[:1])

    def faces(self) -> list[tuple[np.ndarray, FaceBox]]:
        """The kept (crop, face in it) pairs, best first."""
        return [(crop, box) for _, crop, box, _ in self.best]

    def for_decision(self, frame: np.ndarray, box: FaceBox) -> list[tuple[np.ndarray, FaceBox]]:
        """What the identity step reads: the kept faces; where none was kept, the frame it decides on if
        its face ``box`` is usable; else nothing, what that face lacked counted too. The frame is the
        last one taken: where ``take`` rated it, its rating is read again (and was counted then)."""
        if self.best:
            return self.faces()
        q = self._last
        if q is None:
            q = face_quality(frame, box)
            self._note(q)
        return [(frame, box)] if q.usable else []

    def shortfall(self) -> str:
        """What most of the live faces lacked ("most views: face overexposed: move out of the direct light"); ""
        where none lacked anything."""
        return f"most views: {self.shortfalls.most_common(1)[0][0]}" if self.shortfalls else ""
