"""MediaPipe graphs shared by every session of a server: made once per worker, lent per frame.

A graph per session (the face detector, the pose and face-mesh graphs) costs ~40 MB and a few
threads that MediaPipe never returns, so a server that made them per session grew without
bound. Here ``workers`` instances of each are made at start and lent to one frame at a time
(MediaPipe graphs are not thread-safe; frames are processed by at most ``workers`` threads).
"""
from __future__ import annotations

from contextlib import contextmanager
from queue import Queue
from typing import Callable

import numpy as np


class GraphPool:
    """``n`` graphs made by ``factory``, each lent to one thread at a time (``borrow``)."""

    def __init__(self, factory: Callable[[], object], n: int):
        if n < 1:
            raise ValueError(f"a pool needs at least one graph, got {n}")
        self._free: Queue = Queue()
        self._all = [factory() for _ in range(n)]
        for g in self._all:
            self._free.put(g)

    @contextmanager
    def borrow(self):
        g = self._free.get()
        try:
            yield g
        finally:
            self._free.put(g)

    def close(self):
        for g in self._all:
            close = getattr(g, "close", None)
            if close is not None:
                close()


class PooledDetector:
    """A ``FaceDetector`` that detects with whichever pooled detector is free."""

    def __init__(self, pool: GraphPool, name: str):
        self.pool, self.name = pool, name

    def detect(self, frame_bgr: np.ndarray):
        with self.pool.borrow() as d:
            return d.detect(frame_bgr)


class PooledLandmarker:
    """A session's ``Landmarker`` backed by the pool (its graphs run in static-image mode: frames
    of different sessions interleave on one graph, so no graph may track across frames)."""

    def __init__(self, pool: GraphPool):
        self.pool = pool

    def observe(self, frame_bgr: np.ndarray, t: float, need: set[str], box=None):
        with self.pool.borrow() as lm:
            return lm.observe(frame_bgr, t, need, box)
