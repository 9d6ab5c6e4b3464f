"""Every collection alike: the sample weights the fitted branches of the default recipe use.

The collected dataset holds 21 webcam-replay groups (one collector's room, webcam and screen each,
a few hundred crops at most) beside two datasets of other cameras (nuaa-print, about a thousand
crops of one camera; the CelebA-Spoof sample, web photographs). Fitted crop by crop, the webcam
groups outvote the other cameras, and a large group outvotes a small one. Weighted so that every
(collection, label) pair counts the same, the Silent-Face head turned away fewer live frames of the
datasets it never saw and let fewer TV replays through (docs/research/2026-12-03-silent-face-probe.md),
and so did the texture branches (docs/research/2026-12-03-every-collection-alike.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: datasets whose groups are collectors (each its own room, camera and screen); in the others a
#: group is a subject (nuaa-print) or a photo pair (celeba-spoof-sample) of one collection
PER_GROUP_DATASETS = ("webcam-replay",)


def balance_units(groups: np.ndarray, datasets: np.ndarray) -> np.ndarray:
    """(N,) str: the collection of each crop, the unit weighed alike: its group in a
    ``PER_GROUP_DATASETS`` dataset, else its dataset."""
    return np.array([str(g) if str(d) in PER_GROUP_DATASETS else str(d) for g, d in zip(groups, datasets)], object)


def cell_weights(units: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N,) sample weights, mean 1, under which every (unit, label) pair present weighs the same.
    With every crop its own unit, all weights are 1."""
    _, cell = np.unique(np.char.add(np.asarray(units, str), np.asarray(labels).astype(str)), return_inverse=True)
    w = 1.0 / np.bincount(cell)[cell]
    return w * len(w) / w.sum()


@dataclass(frozen=True)
class CellScale:
    """One (collection, label) cell weighed ``factor`` times what ``cell_weights`` gives it, e.g.
    ``CellScale("celeba-spoof-sample", 0, 1 / 3)``: the sample's attack photos count a third of a
    collection. ``collection``: a unit of ``balance_units``; ``label``: 1 live, 0 attack."""
    collection: str
    label: int
    factor: float


def scaled_cell_weights(units: np.ndarray, labels: np.ndarray, scales: tuple[CellScale, ...] = ()) -> np.ndarray:
    """(N,) ``cell_weights`` with each cell of ``scales`` multiplied by its factor, mean 1 again."""
    w = cell_weights(units, labels)
    units, labels = np.asarray(units, str), np.asarray(labels)
    for s in scales:
        w = np.where((units == s.collection) & (labels == s.label), w * s.factor, w)
    return w * len(w) / w.sum()
