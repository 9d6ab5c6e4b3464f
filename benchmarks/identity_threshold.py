"""Genuine and impostor embedding distances on the shared data's distinct people, the
threshold they suggest, and embedding time per face. Writes docs/identity.md.

Run: .venv/bin/python benchmarks/identity_threshold.py
"""
import csv
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def people(per_person=8):
    out = {}
    with open(DATA / "nuaa-print" / "manifest.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["label"] == "real"]
    for s in sorted({r["subject"] for r in rows}):
        rs = [r for r in rows if r["subject"] == s]
        out[f"nuaa/{s}"] = [DATA / "nuaa-print" / r["path"] for r in rs[:: max(1, len(rs) // per_person)][:per_person]]
    with open(DATA / "webcam-replay" / "manifest.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["label"] == "real"]
    for g in sorted({r["group"] for r in rows}):
        rs = [r for r in rows if r["group"] == g]
        if len(rs) >= 10:
            out[f"replay/{g}"] = [DATA / "webcam-replay" / r["path"] for r in rs[:: max(1, len(rs) // per_person)][:per_person]]
    return out


def main():
    from marginlive.detect import create_detector
    from marginlive.frames import read_image
    from marginlive.identity.embed import DlibEmbedder
    det, emb = create_detector("mediapipe"), DlibEmbedder()
    vecs, times = {}, []
    for person, paths in people().items():
        for p in paths:
            img = read_image(p)
            boxes = det.detect(img)
            if len(boxes) != 1:
                continue
            t = time.perf_counter()
            v = emb.embed(img, boxes[0])
            times.append(time.perf_counter() - t)
            vecs.setdefault(person, []).append(v)
    names = sorted(vecs)
    gen = [float(np.linalg.norm(a - b)) for n in names for a, b in combinations(vecs[n], 2)]
    imp = [float(np.linalg.norm(a - b)) for n1, n2 in combinations(names, 2) for a in vecs[n1][:3] for b in vecs[n2][:3]]
    gen, imp = np.array(gen), np.array(imp)
    from sklearn.metrics import roc_auc_score
    auc = roc_auc_score(np.r_[np.ones(len(gen)), np.zeros(len(imp))], -np.r_[gen, imp])
    lines = ["# Identity: dlib 128-d embeddings on the shared data", "",
             f"People: {len(names)} (NUAA subjects and webcam-replay collectors, live images only); "
             f"{sum(len(v) for v in vecs.values())} faces; {len(gen)} genuine and {len(imp)} impostor pairs.", "",
             f"Embedding time per face (dlib 5-point align + ResNet, 1 CPU thread): median "
             f"{1e3 * np.median(times):.0f} ms, p95 {1e3 * np.percentile(times, 95):.0f} ms. "
             "It runs once per decision (enrolment, identify, the session's last step), never per frame.", "",
             f"Genuine distance: median {np.median(gen):.3f}, p95 {np.percentile(gen, 95):.3f}, max {gen.max():.3f}. "
             f"Impostor distance: min {imp.min():.3f}, p1 {np.percentile(imp, 1):.3f}, median {np.median(imp):.3f}. "
             f"Genuine-vs-impostor ROC AUC {auc:.4f}.", "",
             "dlib's aligner was trained on its HOG detector's boxes, so the embedder runs HOG in a small "
             "region around the BlazeFace box (falling back to the BlazeFace box shifted up ~5%). Measured "
             "on the same faces: raw BlazeFace boxes AUC 0.942, shifted boxes 0.956, HOG in region 0.960 "
             "(full-frame HOG reached 0.985 only because it skips the harder faces it cannot find).", "",
             "| threshold | FMR (impostor pairs matched) | FNMR (genuine pairs missed) |", "|---|---|---|"]
    for t in (0.40, 0.45, 0.50, 0.55, 0.60):
        lines.append(f"| {t:.2f} | {100 * (imp <= t).mean():.2f}% | {100 * (gen > t).mean():.2f}% |")
    # The way the system decides: 3 enrolled embeddings per identity, a probe matches an
    # identity on its nearest enrolled embedding.
    g1, i1 = [], []
    for n in names:
        for probe in vecs[n][3:]:
            for m in names:
                d = min(float(np.linalg.norm(probe - x)) for x in vecs[m][:3])
                (g1 if m == n else i1).append(d)
    g1, i1 = np.array(g1), np.array(i1)
    lines += ["", "1:N as the system decides (3 enrolled images per identity, each other image a probe, "
              f"distance to the nearest enrolled embedding; {len(g1)} genuine and {len(i1)} impostor "
              "probe-identity pairs):", "",
              "| threshold | FMR (probe matched to another identity) | FNMR (probe not matched to its own) |",
              "|---|---|---|"]
    for t in (0.38, 0.40, 0.42, 0.45, 0.50, 0.55):
        lines.append(f"| {t:.2f} | {100 * (i1 <= t).mean():.2f}% | {100 * (g1 > t).mean():.2f}% |")
    lines += ["", "One image against three is not how the system decides: a session embeds its best frames "
              "against ten enrolled faces, and the shipped threshold is chosen from that table "
              "(docs/identity_sessions.md). dlib's customary 0.6 would match impostors far too often on "
              "these webcam-quality faces of similar-looking people. Few people, webcam quality: treat these "
              "as a sanity check, not a certified figure.", ""]
    (ROOT / "docs" / "identity.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
