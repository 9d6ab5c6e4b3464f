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

from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import DatasetError
from ..types import FaceBox
from .collect import read_manifest_rows


@dataclass(frozen=True)
class DistilConfig:
    """Options of ``teach`` and ``distil``.

    arch / size: the student (``liveness.networks.ARCHS``) and its input, the 4x context at ``size`` px
    (minires, 96). copies: altered frames per source frame (2). noise_max: largest sensor noise of
    an altered frame, levels (8.0). hard_weight: share of the label in the target, the rest is the
    teacher's P(real) (0.3). epochs, batch, lr, seed: the student's training (20, 64, 2e-3, 0); a
    student's behaviour on new cameras is a draw of its seed, so compare recipes over several
    (docs/research/2026-12-04-student-sweep.md). average_from: 0, or the epoch from which the student's
    weights are averaged into the result (``train.TrainConfig``). device: where it trains ("cpu"; "cuda").
    calibration: share of the taught groups (people, rooms) the student never trains on, its epoch
    (not with average_from) and its threshold then chosen on them (``calibrate``); 0 (the default, as the shipped fast
    model was made): all groups, the last epoch, threshold 0.5.
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
    calibration: float = 0.0
    average_from: int = 0
    device: str = "cpu"


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
    for r in read_manifest_rows(mf):
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
        f = shifts.jpeg(f, q)
    return f


def teach(rows: list[dict], teacher, cfg: DistilConfig = DistilConfig(), log=print) -> Taught:
    """Score every row's frame and ``cfg.copies`` altered versions with ``teacher`` (a
    ``LivenessModel``); an altered frame's face is found again by BlazeFace, as the pipeline would."""
    from ..detect import create_detector
    from ..evaluation.shifts import PersonCutout
    from ..margin import CONTEXT_MARGIN, CONTEXT_SIZE, crop_margin
    rng = np.random.default_rng(cfg.seed)
    det, cutout = create_detector(), PersonCutout()
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


@dataclass
class Student:
    """A distilled network (``result.net``), the threshold on its P(real) and how it was chosen:
    ``agreement`` with the teacher's decisions on the ``calibration_groups`` (None: no calibration)."""
    result: object
    threshold: float = 0.5
    agreement: float | None = None
    calibration_groups: tuple[str, ...] = ()


def check_calibration_share(share: float) -> None:
    """DatasetError unless ``share`` (of the groups left out for calibration) lies in [0, 1)."""
    if not 0 <= share < 1:
        raise DatasetError(f"the calibration share is in [0, 1), got {share}")


def calibration_mask(groups: np.ndarray, share: float, seed: int = 0) -> np.ndarray:
    """Boolean (N,): the crops of ``share`` of the distinct ``groups`` (at least one group when
    ``share`` > 0, never all of them), drawn with ``seed``."""
    check_calibration_share(share)
    uniq = np.array(sorted(set(np.asarray(groups).tolist())), object)
    k = min(len(uniq) - 1, int(np.ceil(share * len(uniq)))) if share > 0 else 0
    picked = np.random.default_rng(seed).choice(uniq, size=k, replace=False) if k > 0 else []
    return np.isin(np.asarray(groups, object), np.asarray(picked, object))


THRESHOLDS = np.round(np.arange(0.1, 0.91, 0.01), 2)   # where the student's threshold may lie


def calibrate(student: np.ndarray, teacher: np.ndarray, teacher_threshold: float) -> tuple[float, float]:
    """The threshold on the student's P(real) (N,) that agrees best with the teacher's decisions
    (``teacher`` (N,) P(real) >= ``teacher_threshold``) on crops neither trained on, as the mean of
    the agreement on the crops the teacher passes and on those it turns away (so that the larger
    class does not set it); ties go to the lower threshold (live users first).
    Returns (threshold, agreement in [0, 1])."""
    passed = np.asarray(teacher) >= teacher_threshold
    student = np.asarray(student)
    if passed.all() or not passed.any():
        raise DatasetError("calibration needs crops the teacher passes and crops it turns away")
    score = [0.5 * (np.mean(student[passed] >= t) + np.mean(student[~passed] < t)) for t in THRESHOLDS]
    best = int(np.argmax(score))          # the first maximum: the lowest threshold among equals
    return float(THRESHOLDS[best]), float(score[best])


def save_taught(taught: Taught, path: str | Path) -> Path:
    """Write ``taught`` to ``path`` (.npz, uncompressed: about 200 KB a crop), atomically, so that
    several students can learn from one pass of the teacher (the slow part)."""
    from .._util import atomic_path
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **{k: getattr(taught, k) for k in ("contexts", "teacher", "labels", "altered")},
                     groups=np.asarray(taught.groups, str))
    return Path(path)


def load_taught(path: str | Path) -> Taught:
    """A ``Taught`` written by ``save_taught``."""
    try:
        z = np.load(path, allow_pickle=False)
        return Taught(z["contexts"], z["teacher"], z["labels"], z["groups"].astype(object), z["altered"])
    except (OSError, ValueError, KeyError) as e:
        raise DatasetError(f"{path}: not a file of taught crops ({e})") from None


def distil(taught: Taught, cfg: DistilConfig = DistilConfig(), log=print, teacher_threshold: float = 0.5) -> Student:
    """Train the student on ``taught`` (targets: (1 - hard_weight) * teacher + hard_weight * label),
    leaving out ``cfg.calibration`` of its groups to choose its epoch (the lowest loss against the
    labels there) and its threshold (``calibrate`` against the teacher's decisions, made at
    ``teacher_threshold``). A student's operating point moves between teaching runs far more than
    its ranking of the crops does, so 0.5 is not taken as given."""
    from .dataset import Dataset
    from .train import TrainConfig, train
    n = len(taught.labels)
    ds = Dataset(taught.contexts, taught.labels.astype(np.int64), taught.groups, np.array([""] * n, object),
                 np.array(["distil"] * n, object), [""] * n)
    target = (1 - cfg.hard_weight) * taught.teacher + cfg.hard_weight * taught.labels
    tc = TrainConfig(arch=cfg.arch, margin=4.0, size=cfg.size, epochs=cfg.epochs, batch=cfg.batch, lr=cfg.lr,
                     aug="strong", seed=cfg.seed, weight_decay=1e-4, device=cfg.device, average_from=cfg.average_from)
    held = calibration_mask(taught.groups, cfg.calibration, cfg.seed)
    result = train(ds, tc, np.flatnonzero(~held), np.flatnonzero(held), show_progress=False, log=log,
                   targets=np.clip(target, 0, 1))
    if not held.any():
        return Student(result)
    t, agreement = calibrate(result.val_scores, taught.teacher[held], teacher_threshold)
    unseen = tuple(sorted(set(taught.groups[held].tolist())))
    log(f"student threshold {t:.2f}: agrees with the teacher on {100 * agreement:.1f}% of "
        f"{int(held.sum())} crops of {len(unseen)} groups it never trained on")
    return Student(result, t, agreement, unseen)


def meta(cfg: DistilConfig, teacher_name: str, taught: Taught, student: Student, name: str) -> dict:
    """The student's model metadata (what it reads, what taught it, on how many crops, its
    threshold and where that was chosen)."""
    r = student.result
    return {"name": name, "arch": cfg.arch, "input_size": cfg.size, "margin": 4.0, "threshold": student.threshold,
            "training": {"distilled_from": teacher_name, "config": asdict(cfg), "crops": int(len(taught.labels)),
                         "altered": int(taught.altered.sum()), "groups": len(set(taught.groups.tolist())),
                         "calibration": {"groups": list(student.calibration_groups), "agreement":
                                         None if student.agreement is None else round(student.agreement, 4),
                                         "best_epoch": r.best_epoch},
                         "seconds": round(r.seconds, 1), "images_per_s": round(r.images_per_s, 1)}}
