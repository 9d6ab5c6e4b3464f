"""Which actions a session asks for, drawn at random (a session passes a cryptographically secure
source, ``secrets.SystemRandom``).

Rules: no action twice in a session. One action at least moves the mouth (an open mouth, a smile;
``Action.moves_mouth``) where the pool has one: a print or a worn paper mask can be turned and have
a hand raised beside it (docs/research/2026-12-03-worn-paper-masks.md), and with its eyes cut out
the wearer blinks behind it (docs/research/2026-12-04-cut-out-eyes.md). It takes a head turn's place
rather than a raised hand's: a replayed video does not raise a hand on cue, but a print turned close
to the camera can pass for a turning head. A face the passive model is unsure of is asked for more
actions, those that move the mouth first (docs/research/2026-12-03-unsure-faces.md).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from .actions import Action, TurnHead


@dataclass
class ActionDraw:
    """Draws from ``pool`` with ``rng``; ``mouth_must_move``: every plan has an action that moves
    the mouth where the pool has one (default True)."""
    pool: list[Action]
    rng: random.Random
    mouth_must_move: bool = True

    def plan(self, n: int) -> list[Action]:
        """The session's first ``n`` actions (fewer where the pool is smaller)."""
        return self._draw(n, mouth_must_move=self.mouth_must_move)

    def more(self, asked: list[Action], n: int, unseen=frozenset()) -> list[Action]:
        """``n`` actions not in ``asked`` nor needing a landmark model in ``unseen``, each one that
        moves the mouth where the pool has enough, others where it does not (fewer where the pool
        runs out)."""
        names = {a.name for a in asked}
        free = [a for a in self.pool if a.name not in names and not a.needs & unseen]
        movers = [a for a in free if a.moves_mouth]
        extra = self.rng.sample(movers, min(n, len(movers)))
        rest = [a for a in free if a not in extra]
        extra += self.rng.sample(rest, min(n - len(extra), len(rest)))
        for a in extra:
            a.reset()
        return extra

    def replacement(self, a: Action, asked: list[Action], unsure: bool = False, unseen=frozenset()) -> Action:
        """An action in place of ``a``, whose time ran out (or that needs what the camera does not
        show): none of ``asked``, none that needs a landmark model in ``unseen`` (e.g. ``{"pose"}``:
        the shoulders out of view); one that moves the mouth where ``a`` was the only such among
        them, or the session is ``unsure`` (``a`` itself again where no other is left: an unsure
        session may ask for every one)."""
        others = [c for c in asked if c is not a]
        must = self.mouth_must_move and a.moves_mouth and (unsure or not any(c.moves_mouth for c in others))
        exclude = {c.name for c in others} | {a.name} | {x.name for x in self.pool if x.needs & unseen}
        if must and not any(x.moves_mouth and x.name not in exclude for x in self.pool):
            exclude.discard(a.name)
        return self._draw(1, exclude=exclude, mouth_must_move=must)[0]

    def _draw(self, n: int, exclude=(), mouth_must_move: bool = False) -> list[Action]:
        """``n`` distinct actions from the pool less ``exclude`` (the whole pool where that leaves
        none); with ``mouth_must_move``, one that moves the mouth takes a head turn's place (else a
        random one's) where none was drawn."""
        pool = [a for a in self.pool if a.name not in exclude] or self.pool
        picked = self.rng.sample(pool, min(n, len(pool)))
        movers = [a for a in pool if a.moves_mouth]
        if mouth_must_move and movers and not any(a.moves_mouth for a in picked):
            turns = [i for i, a in enumerate(picked) if isinstance(a, TurnHead)]
            picked[self.rng.choice(turns or range(len(picked)))] = self.rng.choice(movers)
        for a in picked:
            a.reset()
        return picked
