"""Knowledge distillation: one small network taught by a fused model (the teacher).

The teacher scores every crop's source frame and ``copies`` altered versions of it (a plain wall
behind a live person, a phone held upright, a dim room, a phone in a live person's hand, sensor
noise, JPEG), each through
its own crops (its Silent-Face branch needs the frame, not the 4x context); the student reads
only the 4x context and learns the teacher's P(real), mixed with the label where the frame has
one (the altered frames keep their source's label). A student can learn from more frames than
there are labels, and it costs one small network's time at run time.

``marginlive distil DATASET --sources ../shared/data --out fast.onnx``: DATASET is a folder made by
``marginlive collect`` (its manifest names each crop's source frame and face box).
"""
from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import DatasetError
from ..types import FaceBox


@dataclass(frozen=True)
class DistilConfig:
    """Options of ``teach`` and ``distil``.

    arch / size: the student (``liveness.networks.ARCHS``) and its input, the 4x context at ``size`` px
    (minires, 96). copies: altered frames per source frame (2). noise_max: largest sensor noise of
    an altered frame, levels (8.0). hard_weight: share of the label in the target, the rest is the
    teacher's P(real) (0.3). epochs, batch, lr, seed: the student's training (20, 64, 2e-3, 0).
    The defaults made the shipped fast model (about 35 minutes on two cores).
    """
    arch: str = "minires"
    size: int = 96
    copies: int = 2
    noise_max: float = 8.0
    hard_weight: float = 0.3
    epochs: int = 20
    batch: int = 64
    lr: float = 2e-3
    seed: int = 0


@dataclass
class Taught:
    """Context crops (N, 256, 256, 3) uint8, the teacher's P(real) (N,), labels (N,), groups (N,)
    and, per crop, whether it is an altered copy."""
    contexts: np.ndarray
    teacher: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    altered: np.ndarray


def source_rows(dataset: str | Path, sources: str | Path) -> list[dict]:
    """The collected dataset's rows with their source frame resolved under ``sources``
    (``sources/<dataset>/<source>``, as ``collect --manifest`` records them) and their box."""
    mf = Path(dataset) / "manifest.csv"
    if not mf.is_file():
        raise DatasetError(f"{dataset}: no manifest.csv (make it with marginlive collect)")
    rows = []
    for r in csv.DictReader(open(mf, newline="")):
        frame = Path(sources) / r.get("dataset", "") / r.get("source", "")
        if not frame.is_file():
            raise DatasetError(f"{frame}: the source frame of {r['path']} is missing (give --sources)")
        x1, y1, x2, y2 = (float(v) for v in r["box"].split())
        rows.append({"frame": frame, "box": FaceBox(x1, y1, x2, y2), "label": int(r["label"] == "real"),
                     "group": r["group"]})
    return rows


def _alter(frame, box, label: int, rng, cutout, noise_max: float):
    """One altered frame: a scene or camera shift (the room moves only for live frames: an attack's
    surroundings are part of the attack), then sensor noise and a JPEG round trip, each half the time."""
    from ..evaluation import shifts
    kinds = ["portrait", "dim"] + (["wall", "phone"] if label else [])
    kind = kinds[rng.integers(len(kinds))]
    if kind == "wall":
        f = shifts.new_room(frame, box, rng, None, cutout)
    elif kind == "portrait":
        f = shifts.portrait_phone(frame, box, rng)
    elif kind == "dim":
        f = shifts.dim_room(frame, box, rng)
    else:
        f = shifts.phone_in_hand(frame, box, rng)
    if rng.random() < 0.5:
        f = np.clip(f + rng.normal(0, rng.uniform(0, noise_max), f.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        q = int(rng.integers(60, 96))
        f = cv2.imdecode(cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, q])[1], cv2.IMREAD_COLOR)
    return f


def teach(rows: list[dict], teacher, cfg: DistilConfig = DistilConfig(), log=print) -> Taught:
    """Score every row's frame and ``cfg.copies`` altered versions with ``teacher`` (a
    ``LivenessModel``); an altered frame's face is found again by BlazeFace, as the pipeline would."""
    from ..detect import create_detector
    from ..evaluation.shifts import PersonCutout
    from ..margin import CONTEXT_MARGIN, CONTEXT_SIZE, crop_margin
    rng = np.random.default_rng(cfg.seed)
    det, cutout = create_detector("mediapipe"), PersonCutout()
    ctx, p, y, g, alt = [], [], [], [], []
    try:
        for i, r in enumerate(rows):
            frame = cv2.imread(str(r["frame"]), cv2.IMREAD_COLOR)
            if frame is None:
                continue
            variants = [(frame, r["box"], False)]
            for _ in range(cfg.copies):
                f = _alter(frame, r["box"], r["label"], rng, cutout, cfg.noise_max)
                faces = det.detect(f)
                if faces:
                    variants.append((f, max(faces, key=lambda b: b.score), True))
            for f, box, altered in variants:
                p.append(float(teacher.predict(teacher.crops(f, [box]))[0]))
                ctx.append(crop_margin(f, box, CONTEXT_MARGIN, CONTEXT_SIZE))
                y.append(r["label"])
                g.append(r["group"])
                alt.append(altered)
            if (i + 1) % 500 == 0:
                log(f"taught {i + 1}/{len(rows)} frames ({len(p)} crops)")
    finally:
        cutout.close()
    return Taught(np.stack(ctx), np.array(p, np.float32), np.array(y), np.array(g, object), np.array(alt))


def distil(taught: Taught, cfg: DistilConfig = DistilConfig(), log=print):
    """Train the student on ``taught`` (targets: (1 - hard_weight) * teacher + hard_weight * label).
    Returns the ``train.TrainResult``."""
    from .dataset import Dataset
    from .train import TrainConfig, train
    n = len(taught.labels)
    ds = Dataset(taught.contexts, taught.labels.astype(np.int64), taught.groups, np.array([""] * n, object),
                 np.array(["distil"] * n, object), [""] * n)
    target = (1 - cfg.hard_weight) * taught.teacher + cfg.hard_weight * taught.labels
    tc = TrainConfig(arch=cfg.arch, margin=4.0, size=cfg.size, epochs=cfg.epochs, batch=cfg.batch, lr=cfg.lr,
                     aug="strong", seed=cfg.seed, weight_decay=1e-4)
    return train(ds, tc, show_progress=False, log=log, targets=np.clip(target, 0, 1))


def meta(cfg: DistilConfig, teacher_name: str, taught: Taught, result, name: str) -> dict:
    """The student's model metadata (what it reads, what taught it, on how many crops)."""
    return {"name": name, "arch": cfg.arch, "input_size": cfg.size, "margin": 4.0, "threshold": 0.5,
            "training": {"distilled_from": teacher_name, "config": asdict(cfg), "crops": int(len(taught.labels)),
                         "altered": int(taught.altered.sum()), "groups": len(set(taught.groups.tolist())),
                         "seconds": round(result.seconds, 1), "images_per_s": round(result.images_per_s, 1)}}
