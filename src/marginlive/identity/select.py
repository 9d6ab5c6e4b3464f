"""Which of a person's faces to enrol: the most typical first, then those that add the most.

The candidates are a video's best faces by quality (``quality.best``, ``CANDIDATES`` of them). The
sharpest face is not always a typical one (a squint, a turn, the light of one moment), and a login is
compared with the enrolled face nearest it: so the medoid, the face whose embedding lies nearest the
others in sum, is enrolled first, and each next one is the candidate farthest from those chosen
(farthest-first: a few enrolled faces span how the person looked). With one or two enrolled faces,
about half as many of the shared collections' login sessions go unrecognised as with the sharpest; with
their enrolment and probe halves swapped, as many, and a few more impostor trials match at ten faces
(docs/identity_sessions.md, docs/research/2026-12-07-identity-typical-faces-first.md).
"""
from __future__ import annotations

import numpy as np

#: faces embedded to choose from: a video's best this many by quality
CANDIDATES = 15


def representative(vectors: np.ndarray, k: int) -> list[int]:
    """Indices of ``k`` rows of ``vectors`` (N, D) embeddings, in the order chosen: the medoid, then
    each time the row farthest (Euclidean) from the nearest of those chosen. All N where ``k`` >= N;
    the first j of the answer for ``k`` are the answer for j."""
    v = np.asarray(vectors, np.float64)
    n = len(v)
    if n == 0 or k <= 0:
        return []
    d = np.linalg.norm(v[:, None, :] - v[None, :, :], axis=-1)     # (N, N)
    chosen = [int(np.argmin(d.sum(axis=1)))]
    nearest = d[chosen[0]].copy()
    while len(chosen) < min(k, n):
        nearest[chosen] = -1.0
        chosen.append(int(np.argmax(nearest)))
        nearest = np.minimum(nearest, d[chosen[-1]])
    return chosen
