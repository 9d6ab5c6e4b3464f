"""Every webcam-replay group left out in turn: the live users and screens of one collector at a time,
scored by the default recipe refitted without them.

`leave_collections_out.py` rebuilds the recipe without whole collections (CelebA-Spoof, NUAA) and
without the five groups added last, together. The other sixteen groups are always in its fit, and each
is a room, a camera and people of its own. Here each of the 21 is held out alone: the texture branches
and the Silent-Face head are refitted without its crops (and without every copy made from them), the
cdcnet is the shipped one (it saw the group: a leak toward getting it right), the Silent-Face network
saw none. Each frame's widest BlazeFace face, the shipped threshold. About 20 s a group on two cores,
after a minute or two for the texture features of every crop.

A group whose rate (live frames turned away or attacks let through) is above ``--whole-above`` (5%)
is then rebuilt whole, its cdcnet trained again without it (about 10 minutes a group): the rows that
decide the worst carry no leak, and the README's line reads them.

Run: .venv/bin/python benchmarks/every_group_left_out.py   (needs `make dataset`'s .marginlive/dataset)
Writes docs/every_group.json, docs/every_group.md and the README's line on the worst group.
"""
import argparse
import csv
import sys
import tempfile
from pathlib import Path

import numpy as np
from common import DOCS, ROOT, SHARED, machine, markdown_table, render_block, save_json

from marginlive.evaluation.metrics import error_interval

DATASET = ROOT / ".marginlive" / "dataset"
GROUPS = SHARED / "data" / "webcam-replay"


def scored_by_label(rows: list[dict], score) -> dict:
    """{"real": [...], "fake": [...]}: ``score(frame)`` of each of the group's frames (``rows`` of the manifest),
    by its label; a frame ``score`` gives None (no face) left out."""
    import cv2
    out = {"real": [], "fake": []}
    for r in rows:
        s = score(cv2.imread(str(GROUPS / r["path"])))
        if s is not None:
            out[r["label"]].append(s)
    return out


def group_scores(model_path: Path, rows: list[dict]) -> dict:
    """{"real": [P(real)], "fake": [...]} of the group's frames (``rows`` of the manifest) by the
    model at ``model_path``: each frame's widest face, frames without one left out."""
    from marginlive.pipeline import LivenessDetector
    det = LivenessDetector(model=str(model_path))

    def widest(frame):
        faces = det.predict(frame)
        return max(faces, key=lambda f: f.box.w).score if faces else None
    return scored_by_label(rows, widest)


def public_rated(rows: list[dict], pair) -> dict:
    """{"bpcer", "apcer"} of the group's frames by the public Silent-Face pair (``pair``, scored as
    `leave_collections_out.py` scores it), on each frame's widest BlazeFace face."""
    from marginlive.detect import create_detector
    detector = create_detector("blazeface")

    def widest(frame):
        boxes = detector.detect(frame)
        return pair.score(frame, max(boxes, key=lambda b: b.w)) if boxes else None
    out = scored_by_label(rows, widest)
    return {"bpcer": rated(out["real"], True, pair.threshold), "apcer": rated(out["fake"], False, pair.threshold)}


def rated(scores: list[float], live: bool, threshold: float) -> dict | None:
    """{"n", "errors", "rate", "low", "high"} of one label's scores (the 95% Wilson interval); None without any."""
    if not scores:
        return None
    s = np.asarray(scores)
    errors = int(np.sum(s < threshold) if live else np.sum(s >= threshold))
    lo, hi = error_interval(errors, len(s))
    return {"n": len(s), "errors": errors, "rate": errors / len(s), "low": lo, "high": hi}


def left_out_in_turn(only: list[str], whole_above: float = 0.05) -> dict:
    """{group: {"held_out_crops", "bpcer": rated, "apcer": rated}} for each webcam-replay group (or those
    whose name contains one of ``only``); a group with either rate above ``whole_above`` also gets
    "whole": {"bpcer", "apcer"} of the recipe rebuilt whole without it (``rated_build`` given the dataset),
    and every group "public": the Silent-Face pair's (``public_rated``)."""
    from leave_collections_out import SilentFacePair

    from marginlive.training.dataset import load_dataset
    from marginlive.training.recipes import DEFAULT, TextureFit, probe_fit
    rows = list(csv.DictReader(open(GROUPS / "manifest.csv")))
    pair = SilentFacePair()
    ds = load_dataset(DATASET)
    fit = TextureFit(DEFAULT, ds.contexts, ds.labels, ds.units)    # the slow part, once
    probes = probe_fit(DEFAULT, ds)
    out, held = {}, {}     # held: each group's (crops of the dataset, frames of the manifest)
    for group in sorted({r["group"] for r in rows}):
        if only and not any(o in group for o in only):
            continue
        mask = np.array([g.endswith("/" + group) or g == group for g in ds.groups])
        held[group] = mask, [r for r in rows if r["group"] == group]
        out[group] = {"held_out_crops": int(mask.sum()), **rated_build(fit, probes, *held[group], group),
                      "public": public_rated(held[group][1], pair)}
        print(f"{group[:45]:45s} {_cell(out[group]['bpcer'])} / {_cell(out[group]['apcer'])}; Silent-Face pair "
              f"{_cell(out[group]['public']['bpcer'])} / {_cell(out[group]['public']['apcer'])}", flush=True)
    for group, r in out.items():
        if max(x["rate"] for x in (r["bpcer"], r["apcer"]) if x) > whole_above:
            r["whole"] = rated_build(fit, probes, *held[group], group, ds=ds)
            print(f"{group[:45]:45s} rebuilt whole: {_cell(r['whole']['bpcer'])} / {_cell(r['whole']['apcer'])}",
                  flush=True)
    return out


def rated_build(fit, probes, mask: np.ndarray, rows: list[dict], group: str, ds=None) -> dict:
    """{"bpcer", "apcer", "below_floor"} of ``rows`` scored by the default recipe without the crops of ``mask``:
    its texture branches and head refitted, its cdcnet the shipped one, or, given the dataset ``ds``, trained
    again without them too (the whole recipe rebuilt). ``below_floor``: the live frames below a session's
    unsure floor, which a session started at such a moment rejects (a session's second of frames changes
    little; the frames between the floor and 0.5 it asks for more actions instead)."""
    from marginlive.challenge.session import SessionConfig
    from marginlive.training.recipes import COMPONENTS, DEFAULT, assemble, train_network
    with tempfile.TemporaryDirectory() as tmp:
        components = COMPONENTS
        if ds is not None:
            components = train_network(DEFAULT, ds.subset(np.flatnonzero(~mask)), tmp, {"left_out": group}).parent
        path = assemble(DEFAULT, fit.fit(exclude=mask), Path(tmp) / "fused.onnx", {"left_out": group},
                        components=components, probe=probes.fit(exclude=mask) if probes else None)
        scores = group_scores(path, rows)
    return {"bpcer": rated(scores["real"], True, 0.5), "apcer": rated(scores["fake"], False, 0.5),
            "below_floor": rated(scores["real"], True, SessionConfig().unsure_floor)}


def _cell(r: dict | None) -> str:
    return "-" if r is None else f"{100 * r['rate']:.1f}% ({100 * r['low']:.1f}-{100 * r['high']:.1f}) of {r['n']}"


def final(r: dict, key: str) -> dict | None:
    """A group's ``key`` ("bpcer", "apcer" or "below_floor") rate as the README reads it: the whole rebuild's
    where it has one; None where that rebuild has no such rate (no frames of the label, or results from
    before the key was measured)."""
    return r.get("whole", r).get(key)


def worst(res: dict, key: str) -> tuple[str, dict]:
    """The group whose ``final`` ``key`` rate is highest, and its rate."""
    return max(((g, final(r, key)) for g, r in res.items() if final(r, key)), key=lambda x: x[1]["rate"])


def readme_line(res: dict, whole_above: float = 0.05) -> str:
    """The README's and the model card's line on the worst group, from the groups' results ``res``."""
    (bg, b), (ag, a) = worst(res, "bpcer"), worst(res, "apcer")
    name = lambda g: g.split("__")[0]     # noqa: E731
    line = (f"Each of the {len(res)} webcam-replay groups left out alone (the texture branches and the head refitted "
            f"without it, a group over {100 * whole_above:g}% rebuilt whole, `docs/every_group.md`): the worst turns "
            f"away {100 * b['rate']:.1f}% of its live frames ({name(bg)}, {b['n']} frames{_below_floor(res[bg])}) "
            f"and lets {100 * a['rate']:.1f}% of its attacks through ({name(ag)})")
    if all("public" in r for r in res.values()):
        public = {g: r["public"] for g, r in res.items()}
        (pbg, pb), (pag, pa) = worst(public, "bpcer"), worst(public, "apcer")
        line += (f"; the Silent-Face pair's worst, {100 * pb['rate']:.1f}% ({name(pbg)}, {pb['n']} frames) and "
                 f"{100 * pa['rate']:.1f}% ({name(pag)})")
    return line + "."


def _below_floor(r: dict) -> str:
    """The README's words on the live frames a session would reject outright, "" where the results lack them."""
    f = final(r, "below_floor")
    if f is None:
        return ""
    return (f"; {100 * f['rate']:.1f}% below the unsure floor, where a session rejects, "
            "the others asked for more actions")


def write(res: dict, whole_above: float) -> None:
    from marginlive.challenge.session import SessionConfig
    save_json("every_group", {"machine": machine(), "threshold": 0.5, "whole_above": whole_above, "groups": res})
    both = lambda r: f"{_cell(r['bpcer'])} / {_cell(r['apcer'])}"     # noqa: E731
    rows = [[g.split("__")[0], r["held_out_crops"], _cell(r["bpcer"]), _cell(r["apcer"]),
             both(r["whole"]) if "whole" in r else "", _cell(final(r, "below_floor")), both(r["public"])]
            for g, r in res.items()]
    (bg, b), (ag, a) = worst(res, "bpcer"), worst(res, "apcer")
    page = [f"# Every webcam-replay group left out in turn\n\nWritten by `benchmarks/every_group_left_out.py` "
            f"({machine()}). The default recipe's texture branches and Silent-Face head refitted without one group's "
            "crops (and their copies), its cdcnet as shipped (which saw every group), scored on that group's frames "
            f"at 0.5; a group with either rate above {100 * whole_above:g}% rebuilt whole as well, its cdcnet trained "
            "again without it (what the worst line reads); beside them the public Silent-Face pair on the same faces, "
            "as `leave_collections_out.py` scores it. The 95% interval of each rate. BPCER: live frames turned away; "
            "APCER: attacks let through; below the floor: live frames under a session's unsure floor "
            f"({SessionConfig().unsure_floor}), which a session started at that moment rejects outright (the last "
            "rebuild's; a live frame between the floor and 0.5 is asked for more actions instead).\n",
            *markdown_table(["group left out", "crops held out", "BPCER", "APCER", "rebuilt whole: BPCER / APCER",
                             "live frames below the floor", "Silent-Face pair (public): BPCER / APCER"], rows),
            f"\nWorst: BPCER {_cell(b)} ({bg}), APCER {_cell(a)} ({ag}).\n"]
    (DOCS / "every_group.md").write_text("\n".join(page))
    for page_path in (ROOT / "README.md", ROOT / "models" / "MODEL_CARD.md"):
        render_block(page_path, "groups", readme_line(res, whole_above))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("only", nargs="*", help="only the groups whose name contains one of these (not written)")
    ap.add_argument("--whole-above", type=float, default=0.05,
                    help="rebuild whole (the cdcnet trained again) a group with either rate above this (0.05)")
    a = ap.parse_args()
    if not (DATASET / "manifest.csv").is_file() or not (GROUPS / "manifest.csv").is_file():
        sys.exit(f"needs {DATASET} (`make dataset`) and {GROUPS}")
    res = left_out_in_turn(a.only, a.whole_above)
    if not a.only:
        write(res, a.whole_above)


if __name__ == "__main__":
    main()
