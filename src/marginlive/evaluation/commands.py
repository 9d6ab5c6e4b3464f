"""The `evaluate` command."""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import DatasetError


def run_evaluate(a) -> int:
    from ..detect import create_detector
    from .evaluate import detect_faces, evaluate_clips, evaluate_dataset, read_items
    from .report import _num, _pct, write_report
    from .scorers import load_scorer

    scorers = [load_scorer(m) for m in a.models]
    names = [s.name for s in scorers]
    if len(set(names)) != len(names):
        raise DatasetError("two models share a name; rename one of the files")
    datasets = [read_items(d) for d in a.datasets]
    clips = []
    for spec in a.clip or []:
        lab, _, path = spec.partition("=")
        if lab not in ("real", "fake") or not path:
            raise DatasetError(f"--clip {spec}: use real=PATH or fake=PATH")
        if not Path(path).is_file():
            raise DatasetError(f"--clip {path}: no such file")
        clips.append((1 if lab == "real" else 0, Path(path)))
    if not datasets and not clips:
        raise DatasetError("give at least one dataset (manifest.csv or folder with real/ and fake/) or --clip")
    detector = create_detector(a.detector, a.detector_model)
    dev_thr = {}
    if a.dev:
        dname, ditems = read_items(a.dev)
        dfaces = detect_faces([i for i in ditems if i.kind in ("image", "context")], detector, scorers, f"dev {dname}")
        for s in scorers:
            r = evaluate_dataset(dname, dfaces, s)
            if r["metrics"] and r["metrics"]["eer_threshold"] is not None:
                dev_thr[s.name] = r["metrics"]["eer_threshold"]
    all_results = {}
    for name, items in datasets:
        imgs = [i for i in items if i.kind in ("image", "context")]
        vids = [i for i in items if i.kind == "video"]
        clips += [(i.label, i.path) for i in vids]
        if not imgs:
            continue
        missing = [i.path for i in imgs if not i.path.is_file()]
        if missing:
            raise DatasetError(f"{name}: {len(missing)} listed file(s) do not exist, e.g. {missing[0]}")
        faces = detect_faces(imgs, detector, scorers, name)
        all_results[name] = [evaluate_dataset(name, faces, s, dev_thr.get(s.name)) for s in scorers]
        for r in all_results[name]:
            m = r["metrics"]
            if m is None:
                print(f"{name}\t{r['model']}\tno face found in any image", file=sys.stderr)
                continue
            print(f"{name}\t{r['model']}\tn={m['n']}\tAUC {_num(m['auc'])}\tEER {_pct(m['eer'])}\t"
                  f"APCER {_pct(m['apcer'])}\tBPCER {_pct(m['bpcer'])}\tACER {_pct(m['acer'])}\t"
                  f"F1 {_num(m['f1'])}\tno-face {r['no_face']['real']}/{r['no_face']['fake']}")
            for note in m["notes"]:
                print(f"{name}\t{r['model']}\tnote: {note}")
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
