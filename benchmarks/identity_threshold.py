"""Genuine and impostor embedding distances on the shared data's distinct people, the
threshold they suggest, and embedding time per face. Writes docs/identity.json and docs/identity.md.

Run: .venv/bin/python benchmarks/identity_threshold.py
"""
import csv
import sys
import time
from itertools import combinations

import numpy as np
from common import DOCS, SHARED, machine, save_json

DATA = SHARED / "data"
PAIR_THRESHOLDS = (0.40, 0.45, 0.50, 0.55, 0.60)
NEAREST_THRESHOLDS = (0.38, 0.40, 0.42, 0.45, 0.50, 0.55)


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


def embed_people():
    """({person: [128-d embedding]} of the faces found alone in their image, seconds per embedding)."""
    from marginlive.detect import create_detector
    from marginlive.frames import read_image
    from marginlive.identity.embed import DlibEmbedder
    det, emb = create_detector(), DlibEmbedder()
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
    return vecs, times


def pairs(vecs) -> tuple[np.ndarray, np.ndarray]:
    """Distances of every genuine pair, and of impostor pairs (three faces of each person)."""
    names = sorted(vecs)
    gen = [float(np.linalg.norm(a - b)) for n in names for a, b in combinations(vecs[n], 2)]
    imp = [float(np.linalg.norm(a - b)) for n1, n2 in combinations(names, 2) for a in vecs[n1][:3] for b in vecs[n2][:3]]
    return np.array(gen), np.array(imp)


def nearest_of_three(vecs) -> tuple[np.ndarray, np.ndarray]:
    """1:N with three enrolled faces per identity: each other face a probe, its distance to the
    nearest enrolled face of its own identity (genuine) and of every other (impostor)."""
    names = sorted(vecs)
    g1, i1 = [], []
    for n in names:
        for probe in vecs[n][3:]:
            for m in names:
                d = min(float(np.linalg.norm(probe - x)) for x in vecs[m][:3])
                (g1 if m == n else i1).append(d)
    return np.array(g1), np.array(i1)


def results(vecs, times) -> dict:
    from sklearn.metrics import roc_auc_score
    gen, imp = pairs(vecs)
    g1, i1 = nearest_of_three(vecs)
    auc = roc_auc_score(np.r_[np.ones(len(gen)), np.zeros(len(imp))], -np.r_[gen, imp])
    return {"machine": machine(), "people": len(vecs), "faces": sum(len(v) for v in vecs.values()),
            "embed_ms": {"median": 1e3 * float(np.median(times)), "p95": 1e3 * float(np.percentile(times, 95))},
            "genuine_pairs": len(gen), "impostor_pairs": len(imp), "auc": float(auc),
            "genuine": {"median": float(np.median(gen)), "p95": float(np.percentile(gen, 95)), "max": float(gen.max())},
            "impostor": {"min": float(imp.min()), "p1": float(np.percentile(imp, 1)), "median": float(np.median(imp))},
            "per_pair": [{"threshold": t, "fmr": float((imp <= t).mean()), "fnmr": float((gen > t).mean())}
                         for t in PAIR_THRESHOLDS],
            "nearest_of_three": {"genuine": len(g1), "impostor": len(i1),
                                 "rates": [{"threshold": t, "fmr": float((i1 <= t).mean()),
                                            "fnmr": float((g1 > t).mean())} for t in NEAREST_THRESHOLDS]}}


def page(r: dict) -> list[str]:
    """docs/identity.md's lines."""
    g, i, n3 = r["genuine"], r["impostor"], r["nearest_of_three"]
    lines = ["# Identity: dlib 128-d embeddings on the shared data", "",
             f"Written by `benchmarks/identity_threshold.py` ({r['machine']}). People: {r['people']} (NUAA subjects "
             f"and webcam-replay collectors, live images only); {r['faces']} faces; {r['genuine_pairs']} genuine and "
             f"{r['impostor_pairs']} impostor pairs.", "",
             f"Embedding time per face (dlib 5-point align + ResNet, 1 CPU thread): median "
             f"{r['embed_ms']['median']:.0f} ms, p95 {r['embed_ms']['p95']:.0f} ms. "
             "It runs once per decision (enrolment, identify, the session's last step), never per frame.", "",
             f"Genuine distance: median {g['median']:.3f}, p95 {g['p95']:.3f}, max {g['max']:.3f}. "
             f"Impostor distance: min {i['min']:.3f}, p1 {i['p1']:.3f}, median {i['median']:.3f}. "
             f"Genuine-vs-impostor ROC AUC {r['auc']:.4f}.", "",
             "dlib's aligner was trained on its HOG detector's boxes, so the embedder runs HOG in a small "
             "region around the BlazeFace box (falling back to the BlazeFace box shifted up ~5%). Measured "
             "on the same faces: raw BlazeFace boxes AUC 0.942, shifted boxes 0.956, HOG in region 0.960 "
             "(full-frame HOG reached 0.985 only because it skips the harder faces it cannot find).", "",
             "| threshold | FMR (impostor pairs matched) | FNMR (genuine pairs missed) |", "|---|---|---|"]
    lines += [f"| {x['threshold']:.2f} | {100 * x['fmr']:.2f}% | {100 * x['fnmr']:.2f}% |" for x in r["per_pair"]]
    lines += ["", "1:N with 3 enrolled images per identity, each other image a probe, "
              f"distance to the nearest enrolled embedding; {n3['genuine']} genuine and {n3['impostor']} impostor "
              "probe-identity pairs:", "",
              "| threshold | FMR (probe matched to another identity) | FNMR (probe not matched to its own) |",
              "|---|---|---|"]
    lines += [f"| {x['threshold']:.2f} | {100 * x['fmr']:.2f}% | {100 * x['fnmr']:.2f}% |" for x in n3["rates"]]
    lines += ["", "One image against three is not how the system decides: a session embeds its best frames "
              "against ten enrolled faces, and the shipped threshold is chosen from that table "
              "(docs/identity_sessions.md). dlib's customary 0.6 would match impostors far too often on "
              "these webcam-quality faces of similar-looking people. Few people, webcam quality: treat these "
              "as a sanity check, not a certified figure.", ""]
    return lines


def main():
    r = results(*embed_people())
    save_json("identity", r)
    lines = page(r)
    (DOCS / "identity.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
