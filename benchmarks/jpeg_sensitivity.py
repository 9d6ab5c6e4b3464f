"""How much does JPEG compression of the camera frame move a model's scores?

The web page sends JPEG frames; the models are trained on lossless crops. For the live and the
replay video in ../shared/data/videos (neither trained on), every 2nd frame is scored raw and
after a JPEG round trip at each quality, with the face box found on the raw frame (so only
the pixels change). Reports the share of live frames below each model's threshold (genuine
users turned away), of replay frames at or above it (attacks let through), and the mean P(real).
With ``--heldout DATASET`` (a `marginlive collect` of the shared manifests) it also measures the
texture branch on held-out groups: fitted leave-groups-out on the lossless crops, then scored on
crops re-cut from the source frames after a JPEG round trip at quality 95, at each fold's
held-out-fold EER threshold (3 seeds), with the fixed and the contrast-adaptive tolerance.
Writes docs/jpeg_sensitivity.md and .json.

Run: .venv/bin/python benchmarks/jpeg_sensitivity.py [MODEL.onnx ...] [--heldout DATASET]
(default model: the shipped one)
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
from common import DOCS, SHARED, jpeg_round_trip, machine, save_json, video_faces

QUALITIES = [None, 95, 90, 80, 70]
# texture settings compared on held-out groups (2x2 grid, chi-squared map, as shipped; HOG: its
# blocks, at full resolution)
def variants():
    """The texture settings compared: (label, ``TextureSetting``; chi-squared map: the kind's default)."""
    from marginlive.training.texture import TextureSetting
    return [("tolerance 2", TextureSetting(tolerance=2, sigma_step=0.0)),
            ("tolerance max(1, ceil(sigma/24))", TextureSetting(tolerance=1, sigma_step=24.0)),
            ("LPQ, tolerance 20 (phase texture)", TextureSetting(kind="lpq", tolerance=20.0)),
            ("HOG, 256 px (gradient histogram)", TextureSetting(kind="hog", size=256)),
            ("LPQ of the face box alone, 1x at 64 px (face branch)",
             TextureSetting(kind="lpq", tolerance=20.0, margin=1.0, size=64))]


def scores_at(model, frames, boxes, quality):
    # model.crops: every input the model takes (a fused model also reads the Silent-Face crop)
    return np.array([model.predict(model.crops(jpeg_round_trip(f, quality), [b]))[0]
                     for f, b in zip(frames, boxes)])


def quality_rates(model, videos: dict) -> dict:
    """Per JPEG quality ("raw", "95", ...): the share of the live video's frames below the model's
    threshold, of the replay's at or above it, and both mean P(real). ``videos``: {"live": (frames,
    boxes), "replay": (frames, boxes)} from ``video_faces``."""
    out = {}
    for q in QUALITIES:
        live, replay = (scores_at(model, *videos[k], q) for k in ("live", "replay"))
        out["raw" if q is None else str(q)] = {
            "live_below": float(np.mean(live < model.threshold)),
            "replay_at_or_above": float(np.mean(replay >= model.threshold)),
            "live_mean": float(live.mean()), "replay_mean": float(replay.mean())}
    return out


def heldout_rows(dataset: str, quality: int = 95) -> list[str]:
    from marginlive.evaluation.metrics import apcer_bpcer
    from marginlive.frames import read_image
    from marginlive.margin import crop_margin
    from marginlive.training.collect import read_manifest_rows
    from marginlive.training.cv import fold_train_indices
    from marginlive.training.dataset import group_kfold, load_dataset
    from marginlive.training.texture import _regression, texture_features, texture_histograms
    from marginlive.types import FaceBox
    from report_experiments import fold_thresholds
    ds = load_dataset(dataset)
    by_path = {r["path"]: r for r in read_manifest_rows(Path(dataset) / "manifest.csv")}
    jpeg = np.zeros_like(ds.contexts)
    for i, r in enumerate(by_path[p] for p in ds.paths):   # the stored crop's frame and box, JPEG-compressed first
        f = jpeg_round_trip(read_image(Path(SHARED) / "data" / r["dataset"] / r["source"]), quality)
        jpeg[i] = crop_margin(f, FaceBox(*map(float, r["box"].split())), 4.0, ds.contexts.shape[1])
    pool = np.flatnonzero(np.isin(ds.datasets, ["webcam-replay", "nuaa-print"]))
    out = []
    for label, setting in variants():
        feats = [texture_features(texture_histograms(c, setting), setting.chi2) for c in (ds.contexts, jpeg)]
        per = {d: [] for d in ("webcam-replay", "nuaa-print")}
        for seed in (0, 1, 2):
            s, sq, thr = (np.full(len(ds), np.nan) for _ in range(3))
            for rel in group_kfold(ds.groups[pool], 4, seed):
                test = pool[rel]
                tr = fold_train_indices(ds, test)
                m = _regression(setting.c).fit(feats[0][tr], ds.labels[tr])
                s[test], sq[test] = (m.predict_proba(f[test])[:, 1] for f in feats)
            thr[pool] = fold_thresholds({"index": pool.tolist(), "scores": s[pool].tolist(), "seed": seed}, ds)[2]
            for d in per:
                m = pool[ds.datasets[pool] == d]
                per[d].append([apcer_bpcer((x[m] >= thr[m]).astype(float), ds.labels[m], 0.5, ds.attacks[m])[k]
                               for x in (s, sq) for k in ("apcer", "bpcer")])
        for d, v in per.items():
            a = 100 * np.mean(v, 0)
            out.append(f"| {label} | {d} | {a[0]:.1f}% | {a[1]:.1f}% | "
                       f"{a[2]:.1f}% | {a[3]:.1f}% |")
            print(out[-1], flush=True)
    return out


def main():
    from marginlive.liveness.runtime import LivenessModel, default_model_path
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="*", default=[str(default_model_path())])
    ap.add_argument("--frames", type=int, default=460, help="frames read from each video (every 2nd is scored)")
    ap.add_argument("--heldout", metavar="DATASET", help="also measure the texture branch on held-out groups")
    ap.add_argument("--keep-earlier", action="store_true",
                    help="keep the rows of docs/jpeg_sensitivity.json's models not named here (earlier defaults "
                         "whose files are gone), after the ones measured now")
    a = ap.parse_args()
    videos = {kind: video_faces(name, a.frames) for kind, name in (("live", "live-1.webm"), ("replay", "replay-1.webm"))}
    n_live, n_rep = len(videos["live"][0]), len(videos["replay"][0])
    data = {}
    for path in a.models:
        m = LivenessModel(path)
        data[Path(path).name] = {"threshold": m.threshold, "qualities": quality_rates(m, videos)}
    if a.keep_earlier:
        data.update({k: v for k, v in earlier_models(n_live, n_rep).items() if k not in data})
    save_json("jpeg_sensitivity", {"machine": machine(), "live_frames": n_live, "replay_frames": n_rep, "models": data})
    page = DOCS / "jpeg_sensitivity.md"
    before = page.read_text() if page.is_file() else ""
    page.write_text(models_section(data, n_live, n_rep, a.keep_earlier) + heldout_section(before, a.heldout))


def earlier_models(n_live: int, n_rep: int) -> dict:
    """The models of the last run's docs/jpeg_sensitivity.json ({} if none), refused if measured on
    other frames."""
    earlier = DOCS / "jpeg_sensitivity.json"
    if not earlier.is_file():
        return {}
    old = json.loads(earlier.read_text())
    if (old.get("live_frames"), old.get("replay_frames")) != (n_live, n_rep):
        raise SystemExit(f"{earlier}: measured on other frames (--frames); cannot keep its rows")
    return old["models"]


def models_section(data: dict, n_live: int, n_rep: int, kept: bool) -> str:
    """The page's first part: one row per model and JPEG quality (each also printed)."""
    rows = []
    for name, d in data.items():
        for q, r in d["qualities"].items():
            rows.append(f"| {name} | {d['threshold']:.2f} | {q} | {100 * r['live_below']:.0f}% | "
                        f"{r['live_mean']:.3f} | {100 * r['replay_at_or_above']:.0f}% | {r['replay_mean']:.3f} |")
            print(rows[-1], flush=True)
    return "\n".join([
        "# JPEG sensitivity", "",
        f"`benchmarks/jpeg_sensitivity.py`: {n_live} frames of `videos/live-1.webm` and {n_rep} of `videos/replay-1.webm` "
        "(every 2nd frame with a face; neither video is in any training set), scored raw and after a JPEG round trip "
        "of the whole 640x480 frame at each quality, face boxes from the raw frame. The web page sends JPEG quality 0.95. "
        "Other models: earlier defaults (previous-*) and candidates not shipped (candidate-*), named for what they "
        "change (docs/generalisation.md)" + ("; the rows of models not measured in this run are kept from earlier runs "
                                             "on the same frames (`--keep-earlier`)." if kept else "."),
        "", "| model | threshold | JPEG quality | live frames below threshold | live mean P(real) | replay frames at or "
        "above threshold | replay mean P(real) |", "|---|---|---|---|---|---|---|", *rows, ""])


def heldout_section(before: str, heldout: str | None) -> str:
    """The page's held-out section: measured on ``heldout`` (a dataset folder), else the last one
    kept from the page as it was (``before``): it measures texture settings, not these model files."""
    heading = "\n## Held-out groups\n"
    if not heldout:
        return heading + before.split(heading, 1)[1] if heading in before else ""
    return "\n".join([
        "", "## Held-out groups", "",
        "Each texture branch alone at 128 px (LBP codes unless the row says LPQ; chi-squared map, 2x2 grid; the "
        "HOG branch at 256 px on its blocks; the face branch on the face box alone at 64 px), fitted leave-groups-out on lossless crops (4 folds, seeds 0-2), "
        "scored on crops cut from the same frames with the same boxes after a JPEG round trip of the whole frame "
        "at quality 95, decided at each fold's held-out-fold EER threshold. The webcam-replay sources are already "
        "JPEG files, so this is a second compression.", "",
        "| texture histograms | held out | APCER lossless | BPCER lossless | APCER JPEG 95 | BPCER JPEG 95 |",
        "|---|---|---|---|---|---|", *heldout_rows(heldout), ""])


if __name__ == "__main__":
    sys.exit(main())
