"""`marginlive collect`: the paper's data preparation.

Every n-th frame of each video (or each image) goes through the face detector; for the
most confident face a *context crop* (4x margin, 256x256, centred, black outside the
frame; see margin.py) is stored as lossless PNG, so any margin up to 4x can be cut later without
collecting again. ``manifest.csv`` lists path, label, group, attack, source, frame, the
face box in the original frame, and whether the box came from the detector or the
source's own annotation. Beside each context crop it stores the face's Silent-Face crop
(``silentface_crop.DEFAULT_CROP``, cut from the frame as the default model cuts it) under
``silentface/``, and that crop's recipe in ``silentface.json``: the default recipe fits a head on
that network's features (``training/probe.py``).
"""
from __future__ import annotations

import csv
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2

from .._util import atomic_path, progress, read_csv_rows
from ..detect import DEFAULT_DETECTOR, create_detector
from ..errors import DatasetError
from ..frames import VideoSource, expand_paths, kind_of, read_image_or_warn
from ..margin import CONTEXT_MARGIN, CONTEXT_SIZE, crop_margin
from ..silentface_crop import DEFAULT_CROP, ShiftedCrop
from ..types import FaceBox

FIELDS = ["path", "label", "group", "attack", "source", "frame", "box", "box_source", "dataset"]
LABELS = ("real", "fake")
SILENTFACE_SPEC = "silentface.json"


def silentface_path(rel: str) -> str:
    """Where the Silent-Face crop of the context crop ``rel`` (``crops/...``) is stored."""
    return (Path("silentface") / Path(rel).relative_to("crops")).as_posix()


@dataclass(frozen=True)
class Origin:
    """Where a frame came from, as the manifest records it: its ``label`` (real or fake), its
    ``group`` (a collector or subject), the ``attack`` type ("" for real), the ``source`` file, the
    ``frame`` index in it (0 for an image) and the ``dataset``."""
    label: str
    group: str
    attack: str
    source: str
    frame: int
    dataset: str


@dataclass
class CollectStats:
    stored: int = 0
    no_face: int = 0
    unreadable: int = 0


class Collector:
    """Stores faces of frames in the dataset folder ``out`` (appending to one already there).
    ``silentface``: the Silent-Face crop stored beside each context crop (None: none)."""

    def __init__(self, out: str | os.PathLike, detector: str = DEFAULT_DETECTOR, detector_model=None,
                 silentface: ShiftedCrop | None = DEFAULT_CROP):
        self.out = Path(out)
        self.silentface = silentface
        if self.out.exists() and not self.out.is_dir():
            raise DatasetError(f"{self.out}: exists and is not a folder")
        self.detector = create_detector(detector, detector_model)
        self.rows: list[dict] = []
        self.stats = CollectStats()
        mf = self.out / "manifest.csv"
        self.existing = read_manifest_rows(mf) if mf.exists() else []
        self._names = {r["path"] for r in self.existing}

    def add_frame(self, img, origin: Origin, fallback_box: FaceBox | None = None) -> bool:
        """Store the context crop of the most confident face in the BGR ``img`` (or of
        ``fallback_box``, the source's own annotation, where the detector finds none) with its
        manifest row; False where there is no face."""
        boxes = self.detector.detect(img)
        box, src = (boxes[0], "detector") if boxes else (fallback_box, "annotation")
        if box is None:
            self.stats.no_face += 1
            return False
        ctx = crop_margin(img, box, CONTEXT_MARGIN, CONTEXT_SIZE)
        o = origin
        stem = Path(o.source).stem.replace(" ", "_")
        rel = Path("crops") / _safe(o.dataset) / _safe(o.group) / o.label / f"{stem}_{o.frame:05d}.png"
        n = 1
        while rel.as_posix() in self._names:
            rel = rel.with_name(f"{stem}_{o.frame:05d}_{n}.png")
            n += 1
        self._names.add(rel.as_posix())
        (self.out / rel).parent.mkdir(parents=True, exist_ok=True)
        # lossless: a JPEG re-encode would change the fine texture the texture branch reads, and
        # the model never sees re-encoded crops at run time (measured: fake scores shift by 0.16)
        _write_png(self.out / rel, ctx)
        if self.silentface is not None:
            sf = self.out / silentface_path(rel.as_posix())
            sf.parent.mkdir(parents=True, exist_ok=True)
            _write_png(sf, self.silentface.cut(img, box))
        self.rows.append({"path": rel.as_posix(), **asdict(o),
                          "box": " ".join(f"{v:.1f}" for v in (box.x1, box.y1, box.x2, box.y2)),
                          "box_source": src})
        self.stats.stored += 1
        return True

    def add_files(self, paths: list[str], label: str, group: str, attack: str = "", every: int = 4,
                  dataset: str = "local"):
        if label not in LABELS:
            raise DatasetError(f"--label must be real or fake, got {label!r}")
        attack = attack or ("" if label == "real" else "unknown")
        for p in expand_paths(paths):
            k = kind_of(p)
            if k == "video":
                with VideoSource(p) as src:
                    for f in progress(src, total=src.frame_count, desc=p.name, unit="frame"):
                        if f.index % every == 0:
                            self.add_frame(f.image, Origin(label, group, attack, str(p), f.index, dataset))
            elif k == "image":
                img = _read_or_warn(p, self.stats)
                if img is not None:
                    self.add_frame(img, Origin(label, group, attack, str(p), 0, dataset))
            else:
                print(f"marginlive collect: warning: {p}: neither image nor video, skipped", file=sys.stderr)
                self.stats.unreadable += 1

    def add_manifest(self, manifest: str | os.PathLike, every: int = 1):
        """Rows of a ../shared/data/*/manifest.csv: full frames with labels and groups."""
        manifest = Path(manifest)
        if not manifest.is_file():
            raise DatasetError(f"{manifest}: no such manifest")
        root = manifest.parent
        dataset = root.name
        rows = read_csv_rows(manifest)
        if not rows or "path" not in rows[0] or "label" not in rows[0]:
            raise DatasetError(f"{manifest}: needs at least the columns path and label")
        for i, r in enumerate(progress(rows, total=len(rows), desc=dataset, unit="img")):
            if i % every:
                continue
            label = r["label"].strip().lower()
            if label not in LABELS:
                raise DatasetError(f"{manifest}: row {i + 2}: unknown label {r['label']!r} (real or fake)")
            group = r.get("group") or r.get("subject") or Path(r["path"]).stem
            attack = (r.get("attack") or ("" if label == "real" else "unknown")).strip()
            p = root / r["path"]
            if not p.is_file():
                raise DatasetError(f"{manifest}: row {i + 2}: {p} does not exist")
            img = _read_or_warn(p, self.stats)
            if img is None:
                continue
            fb = _annotation_box(r.get("label_box_cxcywh_norm"), img.shape)
            self.add_frame(img, Origin(label, f"{dataset}/{group}", attack, r["path"], 0, dataset), fb)

    def write(self) -> Path:
        if not self.rows and not self.existing:
            raise DatasetError("no face was stored: nothing to write")
        mf = self.out / "manifest.csv"
        with atomic_path(mf) as tmp, open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, FIELDS)
            w.writeheader()
            w.writerows(self.existing + self.rows)
        self._write_silentface_spec()
        return mf

    def _write_silentface_spec(self):
        """``silentface.json`` only where this collect cut Silent-Face crops and the rows already
        there were cut the same way: a dataset appended to with another crop (or none) has no usable
        set of them. ``load_dataset`` still checks that every row's crop is there."""
        spec_file = self.out / SILENTFACE_SPEC
        old = read_silentface_spec(self.out)
        same = self.silentface is not None and (not self.existing or old == self.silentface.spec())
        if not same:
            spec_file.unlink(missing_ok=True)
            return
        with atomic_path(spec_file) as tmp:
            Path(tmp).write_text(json.dumps(self.silentface.spec(), sort_keys=True))


def read_silentface_spec(folder: Path) -> dict | None:
    """The ``ShiftedCrop.spec()`` in the dataset ``folder``'s ``silentface.json``; None where it is
    missing or unreadable (its Silent-Face crops then count as absent)."""
    try:
        spec = json.loads((Path(folder) / SILENTFACE_SPEC).read_text())
    except (OSError, ValueError):
        return None
    return spec if isinstance(spec, dict) and isinstance(spec.get("size"), int) else None


def _write_png(path: Path, img):
    if not cv2.imwrite(str(path), img, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
        raise DatasetError(f"{path}: cannot write")


def _safe(s: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in s)


def _read_or_warn(p: Path, stats: CollectStats):
    img = read_image_or_warn(p, "marginlive collect")
    stats.unreadable += img is None
    return img


def _annotation_box(s: str | None, shape) -> FaceBox | None:
    """The webcam-replay collectors' box (cx cy w h, normalised, enlarged ~10% x 20%)."""
    if not s:
        return None
    try:
        cx, cy, w, h = (float(v) for v in s.split())
    except ValueError:
        return None
    H, W = shape[:2]
    w, h = w / 1.1 * W, h / 1.2 * H
    return FaceBox(cx * W - w / 2, cy * H - h / 2, cx * W + w / 2, cy * H + h / 2, 0.0)


def read_manifest_rows(path: Path) -> list[dict]:
    rows = read_csv_rows(path)
    if rows and not set(FIELDS[:3]) <= set(rows[0]):
        raise DatasetError(f"{path}: not a marginlive dataset manifest (columns {', '.join(FIELDS)})")
    return rows
