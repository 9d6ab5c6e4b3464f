"""`marginlive evaluate`: score labelled data with one or more models and report.

Each dataset is a manifest.csv (columns path, label and optionally group/subject, attack;
paths relative to the manifest) or a folder with ``real/`` and ``fake/`` subfolders. Video
files among them are evaluated as whole clips with the pipeline's temporal smoothing.
Faces are detected once per image and shared by every model evaluated.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._util import progress, read_csv_rows
from ..errors import DatasetError
from ..frames import IMAGE_EXTS, VIDEO_EXTS, kind_of, read_image_or_warn
from ..liveness.runtime import stack_crops, take
from ..tracking import TrackVerdict
from .metrics import all_metrics

LABELS = {"real": 1, "live": 1, "bonafide": 1, "fake": 0, "spoof": 0, "attack": 0}


@dataclass
class Item:
    path: Path
    label: int
    group: str
    attack: str
    kind: str  # image | video | context (a context crop stored by `marginlive collect`)


@dataclass
class Faces:
    """Per item: the chosen face's crops per scorer (None when no face was found)."""

    items: list[Item]
    crops: dict[str, list] = field(default_factory=dict)
    no_face: list[bool] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


def read_items(spec: str) -> tuple[str, list[Item]]:
    """(the set's name, its items) from ``spec``: a manifest CSV (columns path, label; group or subject
    and attack where given; paths relative to the CSV's folder), a dataset folder `marginlive collect`
    made, or a folder with ``real/`` and ``fake/`` subfolders of images and videos. DatasetError for
    anything else, or a label outside ``LABELS``."""
    p = Path(spec)
    if p.is_file() and p.suffix == ".csv":
        root, name = p.parent, p.resolve().parent.name or p.stem   # a manifest in the working folder too
        rows = read_csv_rows(p)
        if not rows or not {"path", "label"} <= set(rows[0]):
            raise DatasetError(f"{p}: a manifest needs the columns path and label")
        collected = "box_source" in rows[0]  # our own dataset: context crops, faces already found
        items = []
        for i, r in enumerate(rows):
            lab = r["label"].strip().lower()
            if lab not in LABELS:
                raise DatasetError(f"{p}: row {i + 2}: unknown label {r['label']!r} "
                                   f"(known: {', '.join(sorted(LABELS))})")
            f = root / r["path"]
            y = LABELS[lab]
            items.append(Item(f, y, r.get("group") or r.get("subject") or "all",
                              "" if y else (r.get("attack") or "attack"), "context" if collected else kind_of(f)))
        return name, items
    if p.is_dir() and (p / "manifest.csv").is_file():   # a dataset folder (`marginlive collect` makes them)
        return read_items(str(p / "manifest.csv"))
    if p.is_dir():
        items = []
        for sub in sorted(q for q in p.iterdir() if q.is_dir()):
            if sub.name.lower() not in LABELS:
                continue
            y = LABELS[sub.name.lower()]
            for f in sorted(sub.rglob("*")):
                if f.is_file() and f.suffix.lower() in IMAGE_EXTS | VIDEO_EXTS:
                    grp = f.parent.name if f.parent != sub else "all"
                    items.append(Item(f, y, grp, "" if y else "attack", kind_of(f)))
        if not items:
            raise DatasetError(f"{p}: expected a manifest.csv (a collected dataset) or real/ and fake/ subfolders "
                               "with images or videos")
        return p.name, items
    raise DatasetError(f"{spec}: neither a manifest.csv, a collected dataset nor a folder with real/ and fake/")


def detect_faces(items: list[Item], detector, scorers: list, desc: str) -> Faces:
    """Detect once per image; keep the most confident face; crop it for every scorer.
    Context crops from `marginlive collect` are cut at each scorer's margin without detecting."""
    from ..margin import CONTEXT_MARGIN
    faces = Faces(items, {s.name: [] for s in scorers})
    if any(it.kind == "context" for it in items):
        for s in scorers:
            if s.margin > CONTEXT_MARGIN:
                raise DatasetError(f"model {s.name} crops {s.margin:g}x the face box, wider than the "
                                   f"{CONTEXT_MARGIN:g}x context this dataset stored; evaluate it on full frames")
            if s.from_frames_only:
                raise DatasetError(f"model {s.name} also crops the frame beyond the stored "
                                   f"{CONTEXT_MARGIN:g}x context; evaluate it on full frames")
    for it in progress(items, total=len(items), desc=desc, unit="img"):
        if it.kind == "context":
            ctx = _read(it, faces)
            faces.no_face.append(False)
            for s in scorers:
                faces.crops[s.name].append(None if ctx is None else s.context_crops(ctx))
            continue
        img = _read(it, faces) if it.kind == "image" else None
        boxes = detector.detect(img)[:1] if img is not None else []
        faces.no_face.append(img is not None and not boxes)
        for s in scorers:
            faces.crops[s.name].append(take(s.crops(img, boxes), 0) if boxes else None)
    return faces


def _read(it: Item, faces: Faces):
    img = read_image_or_warn(it.path, "marginlive evaluate")
    if img is None:
        faces.unreadable.append(str(it.path))
    return img


def evaluate_dataset(name: str, faces: Faces, scorer, dev_threshold: float | None = None) -> dict:
    """One model's results on one set whose faces were found and cut already (``faces``): ISO/IEC
    30107-3 metrics at the model's threshold (``all_metrics``; ``dev_threshold``: also at one chosen on
    a development set), faceless images counted apart and into the system rates (a live image with no
    face is a rejection), per-group BPCER and APCER, and the scores and crops for the report (the keys
    starting with '_', not written to JSON)."""
    items = faces.items
    crops = faces.crops[scorer.name]
    idx = [i for i, c in enumerate(crops) if c is not None]
    scores = scorer.score_crops(stack_crops([crops[i] for i in idx])) if idx else np.zeros(0)
    y = np.array([items[i].label for i in idx])
    att = np.array([items[i].attack for i in idx], dtype=object)
    grp = np.array([items[i].group for i in idx], dtype=object)
    thr = scorer.threshold
    res = {"dataset": name, "model": scorer.name, "images": len(items),
           "metrics": all_metrics(scores, y, thr, att, dev_threshold) if len(idx) else None}
    nf_real = sum(1 for i, it in enumerate(items) if faces.no_face[i] and it.label == 1)
    nf_fake = sum(1 for i, it in enumerate(items) if faces.no_face[i] and it.label == 0)
    res["no_face"] = {"real": nf_real, "fake": nf_fake, "unreadable": len(faces.unreadable),
                      "note": "a live image with no face is a rejection; an attack with no face is not an acceptance"}
    if res["metrics"] and (nf_real or nf_fake):
        m = res["metrics"]
        n_real = m["n_real"] + nf_real
        n_fake = m["n_attack"] + nf_fake
        rej_real = (m["bpcer"] or 0) * m["n_real"] + nf_real
        acc_fake = (m["apcer_pooled"] or 0) * m["n_attack"]
        res["system"] = {"bpcer": rej_real / n_real if n_real else None,
                         "apcer_pooled": acc_fake / n_fake if n_fake else None}
    res["per_group"] = {}
    for g in sorted(set(grp.tolist())):
        m = grp == g
        pred = scores[m] >= thr
        res["per_group"][g] = {"n": int(m.sum()), "real": int(y[m].sum()),
                               "bpcer": float((~pred[y[m] == 1]).mean()) if (y[m] == 1).any() else None,
                               "apcer": float(pred[y[m] == 0].mean()) if (y[m] == 0).any() else None}
    res["_scores"] = {"scores": scores.tolist(), "labels": y.tolist(), "attacks": att.tolist(),
                      "groups": grp.tolist(), "paths": [str(items[i].path) for i in idx]}
    res["_crops"] = [crops[i] for i in idx]
    return res


def evaluate_clips(clips: list[tuple[int, Path]], model_path, detector, window=10, min_frames=5) -> dict:
    """Whole-clip decisions by the model at ``model_path``: a clip's main track (the face seen in
    the most frames) judged over all the frames its stream counted (``TrackVerdict``: their mean
    P(real) against the threshold; not a noisy camera's first averages, ``marginlive.denoise``)."""
    from ..frames import VideoSource
    from ..pipeline import LivenessDetector
    det = LivenessDetector(model=model_path, detector=detector)
    rows = []
    for y, path in clips:
        tracks: dict[int, list] = {}
        with VideoSource(path) as src:
            for _, results in det.process(src, window=window, min_frames=min_frames):
                for r in results:
                    if r.counted:
                        tracks.setdefault(r.track_id, []).append(r.frame_score)
        if not tracks:
            rows.append({"path": str(path), "label": y, "score": None, "decision": "no face", "frames": 0})
            continue
        v = TrackVerdict.of(max(tracks.values(), key=len), det.threshold)
        rows.append({"path": str(path), "label": y, "score": v.mean, "decision": v.label, "frames": v.frames,
                     "frame_accuracy": v.share if y else 1.0 - v.share})
    correct = [r for r in rows if r["decision"] == ("real" if r["label"] else "fake")]
    return {"model": det.model.name, "clips": rows, "clip_accuracy": len(correct) / len(rows) if rows else None}
