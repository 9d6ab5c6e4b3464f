"""Leave-collections-out: how often is a live user turned away, per collection, and at worst?

Every collection of ../shared/data is scored on its own: each webcam-replay collector group (one
person, room, webcam and screen), all of nuaa-print, the CelebA-Spoof sample, and each video pair
(a webcam; a phone held upright). The shipped recipe fits on every collected crop, so its column is
scored, where a collection is to count as never seen, by the recipe rebuilt without it
(``left_out_models``: the cdcnet branch trained again and the texture branches and the Silent-Face
head refitted on the collected dataset less that collection; the Silent-Face branch as shipped, it saw none of them;
about 25 minutes more): without the five webcam groups added last (`NEWEST`, their rows), without
the CelebA-Spoof sample (web photographs), without nuaa-print ('left out' rows). No branch saw the
videos. Then the live frames of the five groups and the videos are shifted as a new user's camera
or room would shift them
(`marginlive.evaluation.shifts`: another room, a phone held upright, a dim room, the face close to
the camera or at the frame's edge, motion blur, a tilted camera, a phone in the hand, a second
person beside the user, a camera of higher or of lower resolution, a lamp on one side, a screen's
light in a dark room, a bright window behind the user; a new room, light and camera all at once,
`marginlive.evaluation.compound`;
`marginlive.evaluation.processing`: a camera's sharpening, HDR tone mapping, wide-angle lens, dark
corners, sensor grain, flicker bands, background blur, a beauty filter, overexposure and a missed
white balance; the camera shifts also
applied to their attack frames) and scored again (the recipe rebuilt without the five groups),
each shift rated on the five groups pooled and on each video pair apart, its row the worst of the
three. Each frame's most
confident BlazeFace face is scored at each model's own threshold, through the same crops the
pipeline makes (`LivenessModel.crops`).

Reports per collection and model: live frames and BPCER (live frames below the threshold),
attack frames and APCER (attacks at or above it), the worst collection for each, and whether the
model was trained on it (a trained-on collection's figures are not an estimate of anything); the
shipped model's never-seen rows with the 95% interval of each rate, and its worst rows at other
thresholds and unsure floors; per never-seen collection, its AUC and what ``marginlive calibrate``
fitted on half its live frames does on the other half.
Writes docs/collections.json, docs/collections.md and the accuracy table of the README and the model card.

Run: .venv/bin/python benchmarks/leave_collections_out.py [--rebuilds DIR] [--also NAME=MODEL.onnx]
[--previous OLD.onnx]
(``--pages-only``: the pages written again from docs/collections.json, in seconds)
"""
import argparse
import csv
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from common import DOCS, ROOT, SHARED, machine, markdown_table, render_block, save_json

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from marginlive.challenge.session import SessionConfig  # noqa: E402
from marginlive.evaluation.metrics import error_interval  # noqa: E402
from marginlive.training.recipes import DEFAULT, NEWEST_GROUPS  # noqa: E402

# the five webcam-replay groups added last (7+ live people, frame-filling TV replays): with the two
# videos, the collections scored as never seen, by the default recipe rebuilt without them (the
# fast recipe never fits on them)
NEWEST = NEWEST_GROUPS
WITHOUT_NEWEST = "the five webcam-replay groups added last"
VIDEOS = {"video pair 1 (webcam)": ("live-1.webm", "replay-1.webm"),
          "video pair 2 (phone, portrait)": ("live-2.mp4", "replay-2.mp4")}
SILENTFACE = SHARED / "models" / "silentface-minifasnet"
DATASET = ROOT / ".marginlive" / "dataset"        # what `make model` collects and fits on
LEFT_OUT = ("celeba-spoof-sample", "nuaa-print")
# CelebA-Spoof's printed faces cut out and worn over a real face outdoors, also scored apart as
# "celeba-spoof-sample: worn paper masks": fakes 59-81 (the data README says 57-81; 57 is the
# poster of 55, looked at one by one)
WORN_MASKS = {f"fake/{n}.jpg" for n in range(59, 82, 2)}


def collections():
    """{collection: [(frame loader, label)]}, every manifest row and every 2nd video frame."""
    import cv2
    from marginlive.frames import read_video_frames
    out = {}
    for name, col in (("webcam-replay", "group"), ("nuaa-print", None), ("celeba-spoof-sample", None)):
        root = SHARED / "data" / name
        for r in csv.DictReader(open(root / "manifest.csv")):
            key = f"webcam-replay: {r[col].split('__')[0]}" if col else name
            item = (lambda p=root / r["path"]: cv2.imread(str(p)), int(r["label"] == "real"))
            out.setdefault(key, []).append(item)
            if name == "celeba-spoof-sample" and r["path"] in WORN_MASKS:
                out.setdefault(f"{name}: worn paper masks", []).append(item)
    for key, (live, replay) in VIDEOS.items():
        for video, label in ((live, 1), (replay, 0)):
            frames = [f.image for f in read_video_frames(SHARED / "data" / "videos" / video, every=2)]
            out.setdefault(key, []).extend((lambda f=f: f, label) for f in frames)
    return out


def left_out_models(tmp) -> dict:
    """{collection: model file in ``tmp``} for each of ``LEFT_OUT`` and ``WITHOUT_NEWEST``: the
    shipped recipe rebuilt without that collection (nor any augmented copy made from it): its
    cdcnet trained again, its texture branches refitted. {} when the dataset has not been
    collected (``make model`` collects it)."""
    if not (DATASET / "manifest.csv").is_file():
        print(f"no {DATASET} (make model collects it): the shipped file scores every collection", file=sys.stderr)
        return {}
    from dataclasses import replace

    from marginlive.training.dataset import load_dataset
    from marginlive.training.recipes import TextureFit, assemble, probe_fit, train_network
    ds = load_dataset(DATASET)
    fit = TextureFit(DEFAULT, ds.contexts, ds.labels, ds.units)   # the slow part, once
    probes = probe_fit(DEFAULT, ds)
    without = {name: ds.datasets == name for name in LEFT_OUT}
    without[WITHOUT_NEWEST] = replace(DEFAULT, hold_out=NEWEST).held_out(ds.groups)
    out = {}
    for name, mask in without.items():
        folder = Path(tmp) / name
        net = train_network(DEFAULT, ds.subset(np.flatnonzero(~mask)), folder, {"left_out": name})
        out[name] = assemble(DEFAULT, fit.fit(exclude=mask), folder / "fused.onnx", {"left_out": name},
                             components=net.parent, probe=probes.fit(exclude=mask) if probes else None)
        print(f"{name}: the recipe rebuilt without it", file=sys.stderr, flush=True)
    return out


def rebuilds(folder: Path) -> dict:
    """``left_out_models`` written to ``folder``, or those a run kept there (one ``fused.onnx`` per rebuild)."""
    kept = {name: folder / name / "fused.onnx" for name in (*LEFT_OUT, WITHOUT_NEWEST)}
    if all(p.is_file() for p in kept.values()):
        print(f"the recipe's rebuilds kept in {folder}", file=sys.stderr, flush=True)
        return kept
    folder.mkdir(parents=True, exist_ok=True)
    return left_out_models(folder)


def parts_of(colls, collection: str) -> list[str]:
    """The keys of ``colls`` that are ``collection`` or a part of it ('celeba-spoof-sample: worn paper masks')."""
    return [k for k in colls if k == collection or k.startswith(collection + ": ")]


def left_out_rows(colls, rows, det, scored, refits) -> list[dict]:
    """The rows of ``LEFT_OUT`` (and of their parts, as the worn masks ``WORN_MASKS``): the default
    model's column scored by ``refits`` ({collection: the recipe rebuilt without it}), the other
    columns copied from the collection's own row in ``rows``; each refit's scores also go into
    ``scored`` for the threshold sweep."""
    out = []
    for collection, refit in refits.items():
        for key in parts_of(colls, collection):
            s, y = score_all([refit], colls[key], det)
            row = f"{collection}, left out" + (" (the recipe rebuilt without it)" if key == collection
                                                  else ": " + key.split(": ", 1)[1])
            scored[row] = (s[refit.name], y)
            shipped = next(r for r in rows if r["collection"] == key)
            out.append({**shipped, "collection": row,
                        "trained_on": [n for n in shipped["trained_on"] if n != refit.name],
                        "models": {**shipped["models"], refit.name: rates(s[refit.name], y, refit.threshold)}})
            print(row, out[-1]["models"][refit.name], file=sys.stderr, flush=True)
    return out


def held_out(key: str) -> bool:
    """Whether collection ``key`` counts as never seen: a video pair or one of ``NEWEST``."""
    return key in VIDEOS or any(key.endswith(": " + g) for g in NEWEST)


def scorers(models, unseen, video: bool) -> tuple[list, list[str]]:
    """(models scoring a collection counted as never seen, the names of those trained on it): the
    default's column by ``unseen`` (the recipe rebuilt without ``NEWEST``; None: the shipped file,
    then trained on the five groups, not on a ``video``). The other marginlive models (``--also``,
    ``--previous``) count as fitted on every collection but those never seen."""
    if unseen is not None:
        return [unseen] + models[1:], []
    return models, [] if video else [models[0].name]


class SilentFacePair:
    """The strongest public model, as its authors run it: the mean softmax of both MiniFASNets,
    each on its own shifted crop; P(real) = column 1; threshold 0.5."""
    name, threshold = "Silent-Face pair (public)", 0.5

    def __init__(self):
        import onnxruntime as ort
        from marginlive.liveness.runtime import session_options
        self.nets = [(ort.InferenceSession(str(SILENTFACE / f), sess_options=session_options(),
                                           providers=["CPUExecutionProvider"]), s)
                     for f, s in (("2.7_80x80_MiniFASNetV2.onnx", 2.7), ("4_0_0_80x80_MiniFASNetV1SE.onnx", 4.0))]

    def score(self, frame, box) -> float:
        from marginlive.silentface_crop import ShiftedCrop
        return float(np.mean([s.run(None, {"crops": ShiftedCrop(k).cut(frame, box)[None]})[0][0, 1]
                              for s, k in self.nets]))


class Marginlive:
    def __init__(self, path, name):
        from marginlive.liveness.runtime import LivenessModel
        self.model, self.name = LivenessModel(path), name
        self.threshold = self.model.threshold

    def score(self, frame, box) -> float:
        return float(self.model.predict(self.model.crops(frame, [box]))[0])


def score_all(models, items, detector, shift_fn=None, rng=None, others=None):
    """Per model, the scores of the frames whose face BlazeFace finds (after ``shift_fn``)."""
    scores, labels = {m.name: [] for m in models}, []
    for load, label in items:
        frame = load()
        if frame is None:
            continue
        faces = detector.detect(frame)
        if not faces:
            continue
        if shift_fn is not None:
            box = max(faces, key=lambda b: b.score)
            frame = shift_fn(frame, box, rng, others[rng.integers(len(others))] if others else None)
            faces = detector.detect(frame)
            if not faces:
                continue
        box = max(faces, key=lambda b: b.score)
        for m in models:
            scores[m.name].append(m.score(frame, box))
        labels.append(label)
    return {k: np.array(v) for k, v in scores.items()}, np.array(labels)


def rates(scores, labels, threshold) -> dict:
    live, att = scores[labels == 1], scores[labels == 0]
    return {"live": int(len(live)), "attacks": int(len(att)),
            "bpcer": float(np.mean(live < threshold)) if len(live) else None,
            "apcer": float(np.mean(att >= threshold)) if len(att) else None}


def people(items, n=60):
    """About ``n`` live frames, evenly spaced, of ``items`` (the trained-on collections): the second
    person of the 'two people' shift, and the rooms of the 'other room' one."""
    live = [load for load, y in items if y == 1]
    return [f for f in (load() for load in live[:: max(1, len(live) // n)]) if f is not None]


def shifted_sets(rooms, cutout, others):
    """{shift name: (function, which of a source's frames it applies to, backgrounds)}; see the
    module docstring."""
    from marginlive.evaluation import compound, processing, shifts

    def live(items):
        return [it for it in items if it[1] == 1]

    def every(items):
        return items
    return {
        "another room (plain wall)": (lambda f, b, r, o: shifts.new_room(f, b, r, None, cutout), live, None),
        "another room (a real room)": (lambda f, b, r, o: shifts.new_room(f, b, r, o, cutout), live, rooms),
        "a phone in the hand": (shifts.phone_in_hand, live, rooms),
        "portrait phone": (shifts.portrait_phone, every, None),
        "dim room, noisy sensor": (shifts.dim_room, every, None),
        "close-up (the face fills the frame)": (shifts.close_up, every, None),
        "off-centre (the face at the frame's edge)": (shifts.off_centre, every, None),
        "motion blur": (shifts.motion_blur, every, None),
        "tilted 15-25 degrees": (shifts.tilted, every, None),
        "two people in the frame": (lambda f, b, r, o: shifts.second_person(f, b, r, o, cutout), live, others),
        # last: the shifts before it draw the same random numbers as before it was added
        "a camera of 3x the resolution": (shifts.high_resolution, every, None),
        # a camera's own processing (after the others, for the same reason)
        "sharpened by the camera": (processing.sharpened, every, None),
        "tone-mapped (HDR)": (processing.tone_mapped, every, None),
        "a wide-angle lens": (processing.wide_angle, every, None),
        "dark corners (vignetting)": (processing.vignetted, every, None),
        "sensor grain (noise over 2-4 px)": (processing.grain, every, None),
        "flicker bands (mains light, rolling shutter)": (processing.banded, every, None),
        "lit from one side": (shifts.side_lit, live, None),
        "background blurred by the camera": (lambda f, b, r, o: processing.background_blurred(f, b, r, o, cutout),
                                             every, None),
        "a camera of a third to half the resolution": (shifts.low_resolution, every, None),
        "skin smoothed by a beauty filter": (processing.smoothed, every, None),
        "overexposed (highlights burnt out)": (processing.overexposed, every, None),
        "white balance missed (a warm or cool cast)": (processing.white_balanced, every, None),
        # live only: a replay's screen gives its own light, which a dark room does not dim
        "lit only by a screen in a dark room": (shifts.screen_lit, live, None),
        "a bright window behind the user": (lambda f, b, r, o: shifts.backlit(f, b, r, None, cutout), live, None),
        # a new user's room, light and camera all at once, drawn afresh for every frame
        "a new room, light and camera at once": (compound.room_light_and_camera(cutout), live, rooms),
    }


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _rates_cell(row: dict, name: str) -> str:
    """Model ``name``'s 'BPCER / APCER' on ``row``, marked where it trained on the collection."""
    r = row["models"][name]
    return f"{_pct(r['bpcer'])} / {_pct(r['apcer'])}" + (" (trained on)" if name in row["trained_on"] else "")


def markdown(res) -> str:
    names = res["models"]
    lines = markdown_table(["collection", "live", "attacks"] + [f"{n}: BPCER / APCER" for n in names],
                           [[row["collection"], row["live"], row["attacks"]] + [_rates_cell(row, n) for n in names]
                            for row in res["rows"]])
    worst = ["", "Worst collection not trained on (BPCER, then APCER):", ""]
    for n in names:
        w = res["worst"][n]
        worst.append(f"- {n}: BPCER {100 * w['bpcer'][1]:.1f}% ({w['bpcer'][0]}), "
                     f"APCER {100 * w['apcer'][1]:.1f}% ({w['apcer'][0]})")
    return "\n".join(lines + worst) + "\n"


def sources_markdown(res) -> str:
    """Each 'shift:' row per source, every model: the figures its worst-of cells were taken from."""
    names = [n for n in res["models"] if n != "previous default"]
    rows = [[row["collection"], src] + [f"{_pct(row['models'][n]['by_source'][src]['bpcer'])} / "
                                         f"{_pct(row['models'][n]['by_source'][src]['apcer'])}" for n in names]
            for row in res["rows"] if "by_source" in row["models"][names[0]]
            for src in row["models"][names[0]]["by_source"]]
    return "\n".join(markdown_table(["shift", "source"] + [f"{n}: BPCER / APCER" for n in names], rows)) + "\n"


def _counted(r: dict, key: str) -> tuple[int, int] | None:
    """(errors, frames) behind a row's rate ``key`` for one model (a shift row: its worst source's);
    None where the row has no such frames."""
    if r[key] is None:
        return None
    n = r["by_source"][r[f"{key}_source"]] if "by_source" in r else r
    n = n["live" if key == "bpcer" else "attacks"]
    return round(r[key] * n), n


def _rate_with_interval(counted) -> str:
    if counted is None:
        return "-"
    lo, hi = error_interval(*counted)
    return f"{_pct(counted[0] / counted[1])} ({_pct(lo)}-{_pct(hi)}) of {counted[1]}"


def intervals_markdown(res) -> str:
    """The never-seen rows of the shipped model with the 95% interval of each rate and the frames
    it counts (a shift row: its worst source's)."""
    name = "marginlive-default"
    rows = [[row["collection"]] + [_rate_with_interval(_counted(row["models"][name], k)) for k in ("bpcer", "apcer")]
            for row in res["rows"] if name not in row["trained_on"]]
    return "\n".join(markdown_table(["collection", "BPCER (95% interval) of frames", "APCER (95% interval) of frames"],
                                    rows)) + "\n"


def worst(rows, name):
    out = {}
    for key in ("bpcer", "apcer"):
        cands = [(r["collection"], r["models"][name][key]) for r in rows
                 if r["models"][name][key] is not None and name not in r["trained_on"]]
        out[key] = max(cands, key=lambda c: c[1])
    return out


SWEEP = (0.35, 0.4, 0.45, 0.5, 0.55, 0.6)


MASKS = "worn paper masks"   # the rows of attacks no texture stops (the challenge's job), apart in the sweep


def threshold_sweep(scored: dict) -> list[dict]:
    """The shipped model at other thresholds: per threshold, the worst BPCER and the worst APCER of
    screens and prints (the worn paper masks apart) over the collections and shifts it was not trained
    on (``scored``: {row: (scores, labels)}), and how many rows of each stay within 5%."""
    return _sweep(scored, SWEEP)


def _sweep(scored: dict, thresholds) -> list[dict]:
    out = []
    for t in thresholds:
        r = {k: rates(s, y, t) for k, (s, y) in scored.items()}
        flat = [r[k] for k in r if MASKS not in k]
        masks = [r[k]["apcer"] for k in r if MASKS in k and r[k]["apcer"] is not None]
        w = worst([{"collection": k, "trained_on": [], "models": {"at t": v}} for k, v in r.items()
                   if MASKS not in k], "at t")
        out.append({"threshold": t, "worst_bpcer": list(w["bpcer"]), "worst_apcer": list(w["apcer"]),
                    "masks_apcer": max(masks) if masks else None,
                    "live_rows_within_5pct": sum(v["bpcer"] <= 0.05 for v in flat if v["bpcer"] is not None),
                    "live_rows": sum(v["bpcer"] is not None for v in flat),
                    "attack_rows_within_5pct": sum(v["apcer"] <= 0.05 for v in flat if v["apcer"] is not None),
                    "attack_rows": sum(v["apcer"] is not None for v in flat)})
    return out


FLOORS = (0.1, 0.15, 0.2, 0.25, 0.3)


def floor_sweep(scored: dict, threshold: float) -> list[dict]:
    """The session's unsure floor (``SessionConfig.unsure_floor``): per floor, over the rows the shipped
    model was not trained on (``scored``), the worst share of live frames below it (where a session
    rejects a user whose frames stay there) and the worst share of screen and print frames at or above it
    (where a session asks for more actions instead of rejecting at once), with that row's share at or
    above ``threshold`` (passed on to the usual challenge)."""
    out = []
    for f, r in zip(FLOORS, _sweep(scored, FLOORS)):
        s, y = scored[r["worst_apcer"][0]]
        out.append({"floor": f, **{k: v for k, v in r.items() if k != "threshold"},
                    "worst_apcer_at_threshold": float(np.mean(s[y == 0] >= threshold))})
    return out


# the never-seen webcam groups as one collection: the leave-groups-out AUC the issues count
POOLED = "webcam-replay: the five groups added last, pooled"


def calibrated(scored: dict, threshold: float) -> list[dict]:
    """What ``marginlive calibrate`` does for a deployment whose camera is one of the collections the
    shipped model never saw (``scored``; the shift rows mix collections and are left out; the never-seen
    webcam groups also pooled): how well it ranks the collection's frames (AUC), and the thresholds
    calibrate fits on each half of its live frames (a deployer films a few users first: for NUAA some
    subjects, for a video one half of it), each checked on the other half: BPCER over all live frames,
    each judged by the threshold fitted without it; APCER on all the attacks, the mean of the two
    thresholds'. At ``threshold`` as well. Collections with fewer live frames than two calibrations
    need are skipped."""
    from sklearn.metrics import roc_auc_score

    from marginlive.evaluation.calibrate import CalibrationOptions, calibrate
    opts, out = CalibrationOptions(), []
    groups = [v for k, v in scored.items() if k.startswith("webcam-replay:")]
    pooled = {POOLED: tuple(np.concatenate(part) for part in zip(*groups))} if groups else {}
    for key, (s, y) in {**scored, **pooled}.items():
        live, att = s[y == 1], s[y == 0]
        if key.startswith("shift:") or len(live) < 2 * opts.min_live or not len(att):
            continue
        halves = np.array_split(live, 2)
        cals = [calibrate(h, att, threshold, opts) for h in halves]
        turned = [np.mean(h < c.threshold) * len(h) for h, c in zip(halves, cals[::-1])]
        out.append({"collection": key, "auc": float(roc_auc_score(y, s)), "thresholds": [c.threshold for c in cals],
                    "live": len(live), "attacks": len(att),
                    "bpcer_shipped": float(np.mean(live < threshold)), "bpcer": float(sum(turned) / len(live)),
                    "apcer_shipped": cals[0].apcer_model, "apcer": float(np.mean([c.apcer for c in cals]))})
    return out


def _worst_cell(pair) -> str:
    """A (row name, rate) worst pair as 'rate% (row name)'."""
    return f"{_pct(pair[1])} ({pair[0]})"


def calibrated_markdown(rows, threshold: float) -> str:
    header = ["collection", "AUC", "thresholds calibrate fits (on each half of the live frames)",
              f"BPCER at {threshold:g} / calibrated (on the other half)", f"APCER at {threshold:g} / calibrated"]
    return "\n".join(markdown_table(header, [
        [r["collection"], f"{r['auc']:.3f}", " and ".join(f"{t:.3f}" for t in r["thresholds"]),
         f"{_pct(r['bpcer_shipped'])} / {_pct(r['bpcer'])} ({r['live']})",
         f"{_pct(r['apcer_shipped'])} / {_pct(r['apcer'])} ({r['attacks']})"] for r in rows])) + "\n"


def floor_markdown(floors, threshold: float) -> str:
    header = ["floor", "worst live row below it", "rows with <= 5% below it",
              "worst screen or print row at or above it (more actions, not rejected)",
              f"that row at or above {threshold:g} (passed)"]
    return "\n".join(markdown_table(header, [
        [f"{r['floor']:g}", _worst_cell(r["worst_bpcer"]), f"{r['live_rows_within_5pct']} of {r['live_rows']}",
         _worst_cell(r["worst_apcer"]), _pct(r["worst_apcer_at_threshold"])] for r in floors])) + "\n"


def sweep_markdown(sweep) -> str:
    header = ["threshold", "worst BPCER", "worst APCER, screens and prints", "rows with BPCER <= 5%",
              "rows with APCER <= 5%", "worn paper masks let through"]
    return "\n".join(markdown_table(header, [
        [f"{r['threshold']:g}", _worst_cell(r["worst_bpcer"]), _worst_cell(r["worst_apcer"]),
         f"{r['live_rows_within_5pct']} of {r['live_rows']}", f"{r['attack_rows_within_5pct']} of {r['attack_rows']}",
         _pct(r["masks_apcer"])] for r in sweep])) + "\n"


def sweep_sentence(res) -> str:
    """The README's line on what moving the threshold trades: the sweep's ends, not the shipped point
    (its rates are the table's)."""
    shipped, sweep = res["thresholds"]["marginlive-default"], res["threshold_sweep"]
    ends = [r for r in (sweep[0], sweep[-1]) if r["threshold"] != shipped]
    parts = [f"at {r['threshold']:g} the worst live row turns away {100 * r['worst_bpcer'][1]:.1f}% and the worst "
             f"screen or print row lets {100 * r['worst_apcer'][1]:.1f}% through" for r in ends]
    return ("Moved from " + f"{shipped:g}, " + "; ".join(parts)
            + " (`docs/collections.md`, every step between)." + floor_sentence(res) + calibrated_sentence(res))


def floor_sentence(res) -> str:
    """What the session's default unsure floor trades, from the floor sweep ("" before it was run)."""
    floor = SessionConfig.unsure_floor
    r = next((r for r in res.get("floor_sweep", []) if r["floor"] == floor), None)
    if r is None:
        return ""
    return (f" A session rejects a face outright only below its unsure floor ({floor:g}), where the worst live row "
            f"has {100 * r['worst_bpcer'][1]:.1f}% of its frames; a face between the floor and the threshold is asked "
            "for more actions that change its shape, as the worst screen row's frames are "
            f"{100 * (r['worst_apcer'][1] - r['worst_apcer_at_threshold']):.1f}% of the time.")


def calibrated_sentence(res) -> str:
    """What ``marginlive calibrate`` did on the never-seen collection with the most live frames turned
    away ("" before it was measured)."""
    rows = res.get("calibrated", [])
    if not rows:
        return ""
    r = max(rows, key=lambda r: r["bpcer_shipped"])
    return (f" `marginlive calibrate`, fitted on half of a never-seen collection's live frames and checked on the "
            f"other half, moved the worst of them ({r['collection']}) from {100 * r['bpcer_shipped']:.1f}% to "
            f"{100 * r['bpcer']:.1f}% of live frames turned away, and from {100 * r['apcer_shipped']:.1f}% to "
            f"{100 * r['apcer']:.1f}% of its attacks let through.")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="the model to measure (default: the shipped one)")
    ap.add_argument("--previous", default=None, help="an earlier marginlive model to score beside it")
    ap.add_argument("--also", action="append", default=[], metavar="NAME=MODEL.onnx",
                    help="another model to score beside it, counted as fitted on every collection but the "
                         "five newest groups and the videos (repeatable; the shipped fast model always is)")
    ap.add_argument("--rebuilds", type=Path, metavar="DIR",
                    help="keep the recipe's rebuilds in DIR, or take them from there where a run kept them "
                         "(half an hour saved; they hold the recipe and dataset of the run that built them)")
    ap.add_argument("--pages-only", action="store_true",
                    help="write docs/collections.md and the README's blocks again from docs/collections.json, "
                         "scoring nothing (after a change of the pages' text)")
    a = ap.parse_args()
    if a.pages_only:
        res = json.loads((DOCS / "collections.json").read_text())
        (DOCS / "collections.md").write_text(page(res, "previous default" in res["models"]))
        render_readme(res)
        return
    from marginlive.detect import create_detector
    from marginlive.liveness.runtime import default_model_path, model_path
    models = [Marginlive(a.model or default_model_path(), "marginlive-default")]
    also = dict(spec.partition("=")[::2] for spec in [f"marginlive-fast={model_path('fast')}", *a.also])
    models += [Marginlive(path, name) for name, path in also.items()]
    if a.previous:
        models.append(Marginlive(a.previous, "previous default"))
    models.append(SilentFacePair())
    with tempfile.TemporaryDirectory() as tmp:    # the sessions hold the rebuilt models in memory
        refits = {k: Marginlive(path, models[0].name) for k, path in rebuilds(a.rebuilds or Path(tmp)).items()}
    unseen = refits.pop(WITHOUT_NEWEST, None)
    det, colls = create_detector(), collections()
    scored = {}   # the default's scores of the rows it never saw, for the threshold sweep
    rows = collection_rows(models, unseen, colls, det, scored)
    rows += left_out_rows(colls, rows, det, scored, refits)
    rows += shift_rows(models, unseen, colls, det, scored)
    res = {"machine": machine(), "models": [m.name for m in models],
           "thresholds": {m.name: m.threshold for m in models},
           "held_out": [f"{k} (recipe rebuilt)" for k in (*NEWEST, *LEFT_OUT)] + list(VIDEOS), "rows": rows}
    res["worst"] = {m.name: worst(rows, m.name) for m in models}
    res["threshold_sweep"] = threshold_sweep(scored)
    res["floor_sweep"] = floor_sweep(scored, res["thresholds"]["marginlive-default"])
    res["calibrated"] = calibrated(scored, res["thresholds"]["marginlive-default"])
    save_json("collections", res)
    (DOCS / "collections.md").write_text(page(res, bool(a.previous)))
    render_readme(res)


def collection_rows(models, unseen, colls, det, scored) -> list[dict]:
    """A row per collection as it was collected; the default's scores of those it never saw go into
    ``scored``."""
    rows = []
    for key, items in colls.items():
        scoring, trained = (scorers(models, unseen, key in VIDEOS) if held_out(key)
                            else (models, [m.name for m in models if isinstance(m, Marginlive)]))
        s, y = score_all(scoring, items, det)
        if held_out(key):
            scored[key] = (s[models[0].name], y)
        rows.append(_row(key, y, trained, {m.name: rates(s[m.name], y, m.threshold) for m in scoring}))
    return rows


def shift_sources(colls) -> dict:
    """{source: frames} of the never-seen collections the shifts move: the five newest webcam groups
    pooled (21-90 live frames each: one alone is too few to rate), then each video pair (another
    camera each), in the order of ``colls`` (so the seeded draws fall as they did pooled)."""
    out = {}
    for key, items in colls.items():
        if held_out(key):
            out.setdefault(key if key in VIDEOS else WITHOUT_NEWEST, []).extend(items)
    return out


def shift_rows(models, unseen, colls, det, scored) -> list[dict]:
    """A row per shift (``shifted_sets``) of the never-seen collections' frames, seeded: the same
    frames, rooms and draws in every run. Each source (``shift_sources``) is rated on its own and
    the row gives the worst of them, per model and rate, as every other row gives one collection:
    pooled, the videos' many easy frames would hide what a shift does to the webcam groups."""
    from marginlive.evaluation.shifts import PersonCutout, empty_room
    cutout, rng = PersonCutout(), np.random.default_rng(0)
    sources = shift_sources(colls)
    trained = people([it for k, items in colls.items() if not held_out(k) for it in items])
    rooms = [empty_room(f, cutout) for f in trained]   # backgrounds for the 'other room' shift
    scoring, shifted_trained = scorers(models, unseen, video=False)
    rows = []
    for name, (fn, applies, others) in shifted_sets(rooms, cutout, trained).items():
        by_source, y_all = {}, []
        for src, frames in sources.items():
            s, y = score_all(scoring, applies(frames), det, fn, rng, others)
            scored[f"shift: {name} [{src}]"] = (s[models[0].name], y)
            by_source[src] = {m.name: rates(s[m.name], y, m.threshold) for m in scoring}
            y_all.append(y)
        rows.append(_row(f"shift: {name}", np.concatenate(y_all), shifted_trained,
                         {m.name: worst_source(by_source, m.name) for m in scoring}))
    return rows


def worst_source(by_source: dict, name: str) -> dict:
    """Model ``name``'s rates on a shift: the worst source's BPCER and APCER (None where no source has
    such frames), the frames of all sources, and each source's rates with the worst named."""
    per = {src: r[name] for src, r in by_source.items()}
    out = {"live": sum(r["live"] for r in per.values()), "attacks": sum(r["attacks"] for r in per.values()),
           "by_source": per}
    for key in ("bpcer", "apcer"):
        cands = [(r[key], src) for src, r in per.items() if r[key] is not None]
        out[key], out[f"{key}_source"] = max(cands) if cands else (None, None)
    return out


def _row(collection: str, y, trained: list[str], by_model: dict) -> dict:
    row = {"collection": collection, "live": int((y == 1).sum()), "attacks": int((y == 0).sum()),
           "trained_on": trained, "models": by_model}
    print(collection, {n: (r["bpcer"], r["apcer"]) for n, r in by_model.items()}, file=sys.stderr, flush=True)
    return row


def page(res: dict, previous: bool) -> str:
    """docs/collections.md: what each column is, the table, the worst rows and the threshold sweep."""
    return (
        "# Per collection: live users turned away, attacks let through\n\n"
        f"Written by `benchmarks/leave_collections_out.py` ({res['machine']}). Each model at its own threshold "
        f"({', '.join(f'{n} {t:g}' for n, t in res['thresholds'].items())}); one face per frame (the most "
        "confident BlazeFace box). BPCER: live frames turned away; APCER: attack frames let through. "
        + ("'previous default': an earlier shipped model (`--previous`), scored as it is. " if previous else "") +
        "marginlive-default fits on every collected crop: in the rows of the five webcam-replay groups added "
        f"last ({', '.join(NEWEST)}) and in the 'shift:' rows its column is its recipe rebuilt without those "
        "five groups, in the 'left out' rows its recipe rebuilt without that collection (cdcnet trained "
        "again, texture branches and the head on the Silent-Face features refitted; the Silent-Face network "
        "never saw any; the other columns as in "
        "the collection's own row). 'shift:' rows are the live (and, for the camera shifts, attack) frames "
        "of the five groups and the videos, moved into another room, filmed upright by a phone, in a dim "
        "room, close to the camera or at the frame's edge, blurred by motion, tilted, beside a phone in the hand, with a second person beside them or by a camera of 3x the resolution (`marginlive.evaluation.shifts`), "
        "or as another camera's processing leaves them: sharpened, tone-mapped, bent by a wide-angle lens, darker in "
        "the corners, grainy, banded by flickering light, the background blurred as a video call does it, "
        "the skin smoothed by a beauty filter, overexposed, cast warm or cool by a missed white balance "
        "(`marginlive.evaluation.processing`); by a camera of a third to half the resolution; the live frames lit "
        "from one side (`shifts.side_lit`), only by a screen in a dark room (`shifts.screen_lit`) or from "
        "behind by a bright window (`shifts.backlit`); and a new room, light and camera at once, one of each "
        "drawn afresh for every live frame (`marginlive.evaluation.compound`); "
        "each shift is rated on three sources apart (the five groups pooled, each video pair) and its row gives "
        "the worst of them (every source below the table).\n\n" + markdown(res)
        + "\n## The shift rows per source\n\n" + sources_markdown(res)
        + "\n## How sure these rates are\n\nmarginlive-default on the rows it never trained on, each rate with "
        "its 95% Wilson interval and the frames it counts. The interval counts frames as independent; the frames "
        "of one person, room or video are not, so the truth is less sure than it says. Two models' rates on a "
        "row whose intervals overlap widely are not shown apart by that row.\n\n" + intervals_markdown(res)
        + "\n## The shipped model at other thresholds\n\nThe rows above that marginlive-default never "
        "trained on, its threshold moved (it ships at " + f"{res['thresholds']['marginlive-default']:g}" + "):\n\n"
        + sweep_markdown(res["threshold_sweep"])
        + "\n## What a session rejects: its unsure floor\n\nA session rejects a face the model turns away only "
        "where the mean P(real) of its window is below the floor (`SessionConfig.unsure_floor`, "
        f"{SessionConfig.unsure_floor:g}); at or above it, it asks for more actions that change the face's shape "
        "(`docs/research/2026-12-03-unsure-faces.md`). Per floor, over the same rows, per frame:\n\n"
        + floor_markdown(res["floor_sweep"], res["thresholds"]["marginlive-default"])
        + "\n## Calibrated to the camera\n\nmarginlive-default on each collection it never saw that has live frames "
        "enough for `marginlive calibrate` (at least 30) to fit a threshold on each half of them (as a deployer "
        "films a few users first: some subjects of NUAA, one half of a video), each checked on the other half "
        "(its defaults: at most 2% of the live frames turned away, never below 0.35 nor above the model's "
        "threshold); AUC over all the collection's frames (the five webcam groups also pooled, their "
        "leave-groups-out AUC):\n\n"
        + calibrated_markdown(res.get("calibrated", []), res["thresholds"]["marginlive-default"]))


PAGES = (ROOT / "README.md", ROOT / "models" / "MODEL_CARD.md")


def readme_table(res) -> str:
    """The accuracy table of the README and the model card: the rows of the collections the
    shipped model's branches never saw, and the worst of them (an earlier default, ``--previous``,
    only in docs/collections.md)."""
    names = [n for n in res["models"] if n != "previous default"]
    shown = [r for r in res["rows"] if "marginlive-default" not in r["trained_on"]]
    rows = [[row["collection"]] + [_rates_cell(row, n) for n in names] for row in shown]
    rows.append(["**worst of these**"] + [f"{_pct(worst(shown, n)['bpcer'][1])} / {_pct(worst(shown, n)['apcer'][1])}"
                                          for n in names])
    return "\n".join(markdown_table(["left-out collection"] + [f"{n} BPCER / APCER" for n in names], rows))


def render_readme(res):
    for page in PAGES:
        render_block(page, "collections", readme_table(res))
        render_block(page, "threshold", sweep_sentence(res))


if __name__ == "__main__":
    main()
