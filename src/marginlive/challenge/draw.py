"""Which actions a session asks for, drawn at random (a session passes a cryptographically secure
source, ``secrets.SystemRandom``).

Rules: no action twice in a session. One action at least changes the face's shape (a blink, an
open mouth, a smile; ``Action.moves_face``) where the pool has one: a print or a worn paper mask
can be turned and have a hand raised beside it, not blink (docs/research/2026-12-03-worn-paper-masks.md).
It takes a head turn's place rather than a raised hand's: a replayed video does not raise a hand
on cue, but a print turned close to the camera can pass for a turning head. A face the passive
model is unsure of is asked for more actions that change its shape
(docs/research/2026-12-03-unsure-faces.md).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from .actions import Action, TurnHead


@dataclass
class ActionDraw:
    """Draws from ``pool`` with ``rng``; ``face_must_move``: every plan has an action that changes
    the face's shape where the pool has one (default True)."""
    pool: list[Action]
    rng: random.Random
    face_must_move: bool = True

    def plan(self, n: int) -> list[Action]:
        """The session's first ``n`` actions (fewer where the pool is smaller)."""
        return self._draw(n, face_must_move=self.face_must_move)

    def more(self, asked: list[Action], n: int) -> list[Action]:
        """``n`` actions not in ``asked``, each one that changes the face's shape where the pool
        has enough, others where it does not (fewer where the pool runs out)."""
        names = {a.name for a in asked}
        free = [a for a in self.pool if a.name not in names]
        movers = [a for a in free if a.moves_face]
        extra = self.rng.sample(movers, min(n, len(movers)))
        rest = [a for a in free if a not in extra]
        extra += self.rng.sample(rest, min(n - len(extra), len(rest)))
        for a in extra:
            a.reset()
        return extra

    def replacement(self, a: Action, asked: list[Action], unsure: bool = False) -> Action:
        """An action in place of ``a``, whose time ran out: none of ``asked``; one that changes the
        face's shape where ``a`` was the only such among them, or the session is ``unsure`` (``a``
        itself again where no other is left: an unsure session may ask for every one)."""
        others = [c for c in asked if c is not a]
        must = self.face_must_move and a.moves_face and (unsure or not any(c.moves_face for c in others))
        exclude = {c.name for c in others} | {a.name}
        if must and not any(x.moves_face and x.name not in exclude for x in self.pool):
            exclude.discard(a.name)
        return self._draw(1, exclude=exclude, face_must_move=must)[0]

    def _draw(self, n: int, exclude=(), face_must_move: bool = False) -> list[Action]:
        """``n`` distinct actions from the pool less ``exclude`` (the whole pool where that leaves
        none); with ``face_must_move``, one that changes the face takes a head turn's place (else a
        random one's) where none was drawn."""
        pool = [a for a in self.pool if a.name not in exclude] or self.pool
        picked = self.rng.sample(pool, min(n, len(pool)))
        movers = [a for a in pool if a.moves_face]
        if face_must_move and movers and not any(a.moves_face for a in picked):
            turns = [i for i, a in enumerate(picked) if isinstance(a, TurnHead)]
            picked[self.rng.choice(turns or range(len(picked)))] = self.rng.choice(movers)
        for a in picked:
            a.reset()
        return picked
