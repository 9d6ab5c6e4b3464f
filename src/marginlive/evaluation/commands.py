"""The `evaluate` command."""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import DatasetError


def run_evaluate(a) -> int:
    """``evaluate MODEL... --dataset D... [--clip real=PATH] [--dev D] [--report DIR]``: every model
    on every dataset's faces (ISO/IEC 30107-3 metrics; at a threshold set on ``--dev`` where given)
    and every clip decided over its frames; a report folder where asked."""
    from ..detect import create_detector
    from .evaluate import evaluate_clips, read_items
    from .report import _num, write_report
    from .scorers import load_scorer

    scorers = [load_scorer(m) for m in a.models]
    names = [s.name for s in scorers]
    if len(set(names)) != len(names):
        raise DatasetError("two models share a name; rename one of the files")
    datasets = [read_items(d) for d in a.datasets]
    clips = [_clip(spec) for spec in a.clip or []]
    if not datasets and not clips:
        raise DatasetError("give at least one dataset (manifest.csv or folder with real/ and fake/) or --clip")
    if a.report:
        from .._util import check_writable
        check_writable(Path(a.report) / "report.md")   # before minutes of scoring, not after
    detector = create_detector(a.detector, a.detector_model)
    dev_thr = _dev_thresholds(read_items(a.dev), detector, scorers) if a.dev else {}
    all_results = {}
    for name, items in datasets:
        clips += [(i.label, i.path) for i in items if i.kind == "video"]
        imgs = [i for i in items if i.kind in ("image", "context")]
        if imgs:
            all_results[name] = _evaluate_images(name, imgs, detector, scorers, dev_thr)
    clip_res = None
    if clips:
        ours = [m for m, s in zip(a.models, scorers) if s.kind == "marginlive"]
        if not ours:
            raise DatasetError("clip evaluation needs a marginlive model (the peer has no tracker)")
        clip_res = evaluate_clips(clips, ours[0], detector)
        for c in clip_res["clips"]:
            print(f"clip\t{c['path']}\t{'real' if c['label'] else 'fake'}\t{c['decision']}\t"
                  f"mean P(real) {_num(c['score'])}\tframes {c['frames']}")
    if a.report:
        p = write_report(Path(a.report), all_results, clip_res, worst=not a.no_worst)
        print(f"report: {p}")
    return 0


def _clip(spec: str) -> tuple[int, Path]:
    """``--clip real=PATH`` or ``fake=PATH`` as (label, path), the file checked to exist."""
    lab, _, path = spec.partition("=")
    if lab not in ("real", "fake") or not path:
        raise DatasetError(f"--clip {spec}: use real=PATH or fake=PATH")
    if not Path(path).is_file():
        raise DatasetError(f"--clip {path}: no such file")
    return (1 if lab == "real" else 0), Path(path)


def _dev_thresholds(dev, detector, scorers) -> dict[str, float]:
    """Each model's equal-error threshold on the ``--dev`` dataset's faces, by model name."""
    from .evaluate import detect_faces, evaluate_dataset
    dname, ditems = dev
    dfaces = detect_faces([i for i in ditems if i.kind in ("image", "context")], detector, scorers, f"dev {dname}")
    thresholds = {}
    for s in scorers:
        r = evaluate_dataset(dname, dfaces, s)
        if r["metrics"] and r["metrics"]["eer_threshold"] is not None:
            thresholds[s.name] = r["metrics"]["eer_threshold"]
    return thresholds


def _evaluate_images(name: str, imgs: list, detector, scorers, dev_thr: dict) -> list[dict]:
    """Every model on one dataset's images (each file checked to exist first), a line each printed."""
    from .evaluate import detect_faces, evaluate_dataset
    from .report import _num, _pct
    missing = [i.path for i in imgs if not i.path.is_file()]
    if missing:
        raise DatasetError(f"{name}: {len(missing)} listed file(s) do not exist, e.g. {missing[0]}")
    faces = detect_faces(imgs, detector, scorers, name)
    results = [evaluate_dataset(name, faces, s, dev_thr.get(s.name)) for s in scorers]
    for r in results:
        m = r["metrics"]
        if m is None:
            print(f"{name}\t{r['model']}\tno face found in any image", file=sys.stderr)
            continue
        print(f"{name}\t{r['model']}\tn={m['n']}\tAUC {_num(m['auc'])}\tEER {_pct(m['eer'])}\t"
              f"APCER {_pct(m['apcer'])}\tBPCER {_pct(m['bpcer'])}\tACER {_pct(m['acer'])}\t"
              f"F1 {_num(m['f1'])}\tno-face {r['no_face']['real']}/{r['no_face']['fake']}")
        for note in m["notes"]:
            print(f"{name}\t{r['model']}\tnote: {note}")
    return results
