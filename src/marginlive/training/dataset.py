"""A collected dataset in memory: context crops as one uint8 array, cut at any margin,
split by group (never by frame: neighbouring video frames are near-duplicates)."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import DatasetError
from ..margin import CONTEXT_MARGIN, CONTEXT_SIZE, crop_batch_from_context
from .balance import balance_units
from .collect import read_manifest_rows, read_silentface_spec, silentface_path


@dataclass
class Dataset:
    """A collected dataset in memory (``load_dataset``): one row per face, its 4x context crop and
    what is known of it. ``subset`` takes rows by index; ``check_trainable`` refuses one class."""
    contexts: np.ndarray   # (N, 256, 256, 3) uint8 BGR, 4x margin context crops
    labels: np.ndarray     # (N,) int: 1 real, 0 fake
    groups: np.ndarray     # (N,) str: subject / collector / device group
    attacks: np.ndarray    # (N,) str: "" for real, else attack species
    datasets: np.ndarray   # (N,) str: origin dataset
    paths: list[str]
    skipped: int = 0
    # (N, 80, 80, 3) uint8 BGR Silent-Face crops and how they were cut (``ShiftedCrop.spec()``);
    # None where the dataset was collected without them
    silentface: np.ndarray | None = None
    silentface_crop: dict | None = None

    def __len__(self):
        return len(self.labels)

    def subset(self, idx) -> "Dataset":
        idx = np.asarray(idx)
        return Dataset(self.contexts[idx], self.labels[idx], self.groups[idx], self.attacks[idx],
                       self.datasets[idx], [self.paths[i] for i in idx],
                       silentface=None if self.silentface is None else self.silentface[idx],
                       silentface_crop=self.silentface_crop)

    def crops(self, margin: float, size: int = 64) -> np.ndarray:
        """(N, size, size, 3) uint8 margin crops, the same geometry as live inference."""
        return crop_batch_from_context(self.contexts, margin, size)

    def wide(self, margin: float, size: int = 128, factor: float = 2.0) -> tuple[np.ndarray, float]:
        """Crops ``factor`` times wider than ``margin`` (capped at the context), at ``size`` px,
        for augmentation that shifts and zooms into real surroundings instead of smearing
        borders. Returns (crops, fraction of the wide crop that the margin crop covers)."""
        wm = min(CONTEXT_MARGIN, margin * factor)
        return crop_batch_from_context(self.contexts, wm, size), margin / wm

    @property
    def units(self) -> np.ndarray:
        """(N,) str: each crop's collection, the unit the balanced fits weigh alike (``balance.balance_units``)."""
        return balance_units(self.groups, self.datasets)

    def fitted_on(self) -> dict:
        """What a model's metadata says it was fitted on: the datasets, the crops and the live ones."""
        return {"datasets": sorted(set(self.datasets.tolist())), "images": len(self), "real": int(self.labels.sum())}

    def check_trainable(self):
        if len(self) == 0:
            raise DatasetError("the dataset is empty")
        present = set(self.labels.tolist())
        if present != {0, 1}:
            one = "real" if 1 in present else "fake"
            raise DatasetError(f"the dataset has only {one} images; training needs both real and fake")

    def summary(self) -> str:
        n_real = int(self.labels.sum())
        return (f"{len(self)} images ({n_real} real, {len(self) - n_real} fake) in "
                f"{len(set(self.groups))} groups")


def load_dataset(path: str | Path, datasets: list[str] | None = None) -> Dataset:
    """Load a dataset folder made by ``marginlive collect`` (or its manifest.csv)."""
    path = Path(path)
    mf = path if path.suffix == ".csv" else path / "manifest.csv"
    if not mf.is_file():
        raise DatasetError(f"{path}: no manifest.csv (make one with `marginlive collect`)")
    rows = read_manifest_rows(mf)
    if datasets:
        rows = [r for r in rows if r.get("dataset") in datasets]
    root = mf.parent
    ctx, keep, skipped = [], [], 0
    for r in rows:
        p = root / r["path"]
        if not p.is_file():
            raise DatasetError(f"{mf}: {r['path']} does not exist")
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            print(f"marginlive: warning: {p}: unreadable image, skipped", file=sys.stderr)
            skipped += 1
            continue
        if img.shape[:2] != (CONTEXT_SIZE, CONTEXT_SIZE):
            img = cv2.resize(img, (CONTEXT_SIZE, CONTEXT_SIZE), interpolation=cv2.INTER_AREA)
        ctx.append(img)
        keep.append(r)
    if skipped:
        print(f"marginlive: {skipped} unreadable image(s) skipped", file=sys.stderr)
    lab = np.array([1 if r["label"] == "real" else 0 for r in keep], np.int64)
    sf, sf_crop = _silentface_crops(root, keep)
    return Dataset(np.stack(ctx) if ctx else np.zeros((0, CONTEXT_SIZE, CONTEXT_SIZE, 3), np.uint8), lab,
                   np.array([r["group"] for r in keep], dtype=object),
                   np.array([r.get("attack", "") for r in keep], dtype=object),
                   np.array([r.get("dataset", "") for r in keep], dtype=object),
                   [r["path"] for r in keep], skipped, sf, sf_crop)


def _silentface_crops(root: Path, rows: list[dict]) -> tuple:
    """(the rows' Silent-Face crops (N, S, S, 3), their ``ShiftedCrop.spec()``), or (None, None)
    where the dataset has no readable ``silentface.json`` or a crop is missing or unreadable."""
    spec = read_silentface_spec(root)
    if spec is None:
        return None, None
    crops = [cv2.imread(str(root / silentface_path(r["path"])), cv2.IMREAD_COLOR) for r in rows]
    size = (int(spec["size"]), int(spec["size"]), 3)
    if not crops or any(c is None or c.shape != size for c in crops):
        return None, None
    return np.stack(crops), spec


def group_kfold(groups: np.ndarray, k: int, seed: int = 0) -> list[np.ndarray]:
    """k folds of indices, each group wholly in one fold; folds balanced by image count."""
    uniq = sorted(set(groups.tolist()))
    if len(uniq) < k:
        raise DatasetError(f"{len(uniq)} groups cannot make {k} group-disjoint folds")
    rng = np.random.default_rng(seed)
    rng.shuffle(uniq)
    sizes = {g: int((groups == g).sum()) for g in uniq}
    load = [0] * k
    assign = {}
    for g in sorted(uniq, key=lambda g: -sizes[g]):  # stable after the shuffle: ties random
        f = int(np.argmin(load))
        assign[g] = f
        load[f] += sizes[g]
    return [np.flatnonzero([assign[g] == f for g in groups]) for f in range(k)]


def group_split(groups: np.ndarray, labels: np.ndarray, test_frac: float = 0.25, seed: int = 0):
    """A subject/group-disjoint train/test split with about ``test_frac`` of the images in test
    (the paper's 75/25, made group-disjoint). Tries seeds until both sides hold both classes."""
    uniq = sorted(set(groups.tolist()))
    if len(uniq) < 2:
        raise DatasetError("a group-disjoint split needs at least 2 groups (give --subject/--group)")
    for attempt in range(100):
        rng = np.random.default_rng(seed + attempt)
        order = list(uniq)
        rng.shuffle(order)
        test, n = [], 0
        for g in order:
            if n >= test_frac * len(groups):
                break
            test.append(g)
            n += int((groups == g).sum())
        te = np.isin(groups, test)
        if len(set(labels[te].tolist())) == 2 and len(set(labels[~te].tolist())) == 2:
            return np.flatnonzero(~te), np.flatnonzero(te)
    # Fall back to any split that at least leaves both classes in training.
    return np.flatnonzero(~te), np.flatnonzero(te)
