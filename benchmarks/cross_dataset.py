"""Cross-dataset: train on webcam-replay, test on nuaa-print, and the reverse; the peer model
evaluated by the same code on the same faces. Writes docs/cross_dataset.md (+ .json).

Run: .venv/bin/python benchmarks/cross_dataset.py DATASET [--arch minires --margin 2.0 ...]
(DATASET: `marginlive collect` of the shared manifests; test sets are read from ../shared in place.)
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from common import DOCS, SHARED


def main():
    from marginlive.detect import create_detector
    from marginlive.evaluation.evaluate import detect_faces, evaluate_dataset, read_items
    from marginlive.evaluation.scorers import MarginScorer, PeerScorer
    from marginlive.training.dataset import load_dataset
    from marginlive.training.export import export_onnx
    from marginlive.training.synth import add_synthetic_screens
    from marginlive.training.train import TrainConfig, train
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--arch", default="minires")
    ap.add_argument("--margin", type=float, default=2.0)
    ap.add_argument("--aug", default="strong")
    ap.add_argument("--synth", type=float, default=1.0)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=16)
    a = ap.parse_args()
    full = load_dataset(a.dataset)
    det = create_detector()
    peer = PeerScorer(SHARED / "models" / "peer-minifasnet-celebaspoof" / "AntiSpoofing_bin_1.5_128.onnx")
    tests = {d: read_items(str(SHARED / "data" / d / "manifest.csv")) for d in ("webcam-replay", "nuaa-print")}
    rows, out = [], {"config": vars(a), "runs": {}}
    tmp = Path(tempfile.mkdtemp())
    for src, dst in (("webcam-replay", "nuaa-print"), ("nuaa-print", "webcam-replay")):
        ds = full.subset(np.flatnonzero(full.datasets == src))
        if a.synth:
            ds = add_synthetic_screens(ds, a.synth, 0)
        cfg = TrainConfig(arch=a.arch, margin=a.margin, aug=a.aug, epochs=a.epochs, batch=a.batch,
                          balance=a.aug == "strong")
        r = train(ds, cfg, show_progress=False)
        path = export_onnx(r.net, tmp / f"{src}.onnx", {"name": f"trained-on-{src}", "arch": a.arch,
                                                        "input_size": 64, "margin": a.margin, "threshold": 0.5})
        ours = MarginScorer(path)
        name, items = tests[dst]
        faces = detect_faces(items, det, [ours, peer], dst)
        for sc in (ours, peer):
            m = evaluate_dataset(name, faces, sc)["metrics"]
            out["runs"][f"{src}->{dst}|{sc.name}"] = {k: m[k] for k in ("n", "auc", "eer", "apcer", "bpcer", "acer")}
            rows.append(f"| {src if sc is ours else 'CelebA-Spoof (peer)'} | {dst} | {sc.name} | {m['auc']:.3f} | "
                        f"{100 * m['eer']:.1f}% | {100 * m['apcer']:.1f}% | {100 * m['bpcer']:.1f}% | {100 * m['acer']:.1f}% |")
            print(rows[-1], flush=True)
    (DOCS / "cross_dataset.json").write_text(json.dumps(out, indent=1))
    syn = f" + synthetic screens ({a.synth:g} per live image)" if a.synth else ""
    text = ["# Cross-dataset", "", f"Trained on one shared dataset only ({a.arch}, margin {a.margin:g}, {a.aug} "
            f"augmentation{syn}, {a.epochs} epochs, batch {a.batch}), tested on all faces of the other; the peer "
            "(trained on CelebA-Spoof) scored by the same code on the same faces. `benchmarks/cross_dataset.py`.", "",
            "| trained on | tested on | model | AUC | EER | APCER | BPCER | ACER |", "|---|---|---|---|---|---|---|---|",
            *rows, ""]
    (DOCS / "cross_dataset.md").write_text("\n".join(text))


if __name__ == "__main__":
    sys.exit(main())
