"""Every webcam-replay group left out in turn: the live users and screens of one collector at a time,
scored by the default recipe refitted without them.

`leave_collections_out.py` rebuilds the recipe without whole collections (CelebA-Spoof, NUAA) and
without the five groups added last, together. The other sixteen groups are always in its fit, and each
is a room, a camera and people of its own. Here each of the 21 is held out alone: the texture branches
and the Silent-Face head are refitted without its crops (and without every copy made from them), the
cdcnet is the shipped one (it saw the group: a small leak toward passing; it votes near 0 on frames it
never saw, and a full rebuild of one group, its cdcnet trained again, gave the same BPCER), the
Silent-Face network saw none. Each frame's widest BlazeFace face, the shipped threshold. About 20 s a
group on two cores, after a minute or two for the texture features of every crop.

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


def group_scores(model_path: Path, rows: list[dict]) -> dict:
    """{"real": [P(real)], "fake": [...]} of the group's frames (``rows`` of the manifest) by the
    model at ``model_path``: each frame's widest face, frames without one left out."""
    import cv2

    from marginlive.pipeline import LivenessDetector
    det = LivenessDetector(model=str(model_path))
    out = {"real": [], "fake": []}
    for r in rows:
        faces = det.predict(cv2.imread(str(GROUPS / r["path"])))
        if faces:
            out[r["label"]].append(max(faces, key=lambda f: f.box.w).score)
    return out


def rated(scores: list[float], live: bool, threshold: float) -> dict | None:
    """{"n", "errors", "rate", "low", "high"} of one label's scores (the 95% Wilson interval); None without any."""
    if not scores:
        return None
    s = np.asarray(scores)
    errors = int(np.sum(s < threshold) if live else np.sum(s >= threshold))
    lo, hi = error_interval(errors, len(s))
    return {"n": len(s), "errors": errors, "rate": errors / len(s), "low": lo, "high": hi}


def left_out_in_turn(only: list[str]) -> dict:
    """{group: {"bpcer": rated, "apcer": rated}} for each webcam-replay group (or those whose name
    contains one of ``only``)."""
    from marginlive.training.dataset import load_dataset
    from marginlive.training.recipes import DEFAULT, TextureFit, assemble, probe_fit
    rows = list(csv.DictReader(open(GROUPS / "manifest.csv")))
    ds = load_dataset(DATASET)
    fit = TextureFit(DEFAULT, ds.contexts, ds.labels, ds.units)    # the slow part, once
    probes = probe_fit(DEFAULT, ds)
    out = {}
    for group in sorted({r["group"] for r in rows}):
        if only and not any(o in group for o in only):
            continue
        mask = np.array([g.endswith("/" + group) or g == group for g in ds.groups])
        with tempfile.TemporaryDirectory() as tmp:
            path = assemble(DEFAULT, fit.fit(exclude=mask), Path(tmp) / "fused.onnx", {"left_out": group},
                            probe=probes.fit(exclude=mask) if probes else None)
            scores = group_scores(path, [r for r in rows if r["group"] == group])
        out[group] = {"held_out_crops": int(mask.sum()), "bpcer": rated(scores["real"], True, 0.5),
                      "apcer": rated(scores["fake"], False, 0.5)}
        print(f"{group[:45]:45s} {_cell(out[group]['bpcer'])} / {_cell(out[group]['apcer'])}", flush=True)
    return out


def _cell(r: dict | None) -> str:
    return "-" if r is None else f"{100 * r['rate']:.1f}% ({100 * r['low']:.1f}-{100 * r['high']:.1f}) of {r['n']}"


def worst(res: dict, key: str) -> tuple[str, dict]:
    """The group whose ``key`` ("bpcer" or "apcer") rate is highest, and its rate."""
    return max(((g, r[key]) for g, r in res.items() if r[key]), key=lambda x: x[1]["rate"])


def readme_line(res: dict) -> str:
    (bg, b), (ag, a) = worst(res, "bpcer"), worst(res, "apcer")
    name = lambda g: g.split("__")[0]     # noqa: E731
    return (f"Each of the {len(res)} webcam-replay groups left out alone (the texture branches and the head refitted "
            f"without it, `docs/every_group.md`): the worst turns away {100 * b['rate']:.1f}% of its live frames "
            f"({name(bg)}, {b['n']} frames) and lets {100 * a['rate']:.1f}% of its attacks through ({name(ag)}).")


def write(res: dict) -> None:
    save_json("every_group", {"machine": machine(), "threshold": 0.5, "groups": res})
    rows = [[g.split("__")[0], r["held_out_crops"], _cell(r["bpcer"]), _cell(r["apcer"])] for g, r in res.items()]
    (bg, b), (ag, a) = worst(res, "bpcer"), worst(res, "apcer")
    page = [f"# Every webcam-replay group left out in turn\n\nWritten by `benchmarks/every_group_left_out.py` "
            f"({machine()}). The default recipe's texture branches and Silent-Face head refitted without one group's "
            "crops (and their copies), its cdcnet as shipped (which saw every group), scored on that group's frames "
            "at 0.5; the 95% interval of each rate. BPCER: live frames turned away; APCER: attacks let through.\n",
            *markdown_table(["group left out", "crops held out", "BPCER", "APCER"], rows),
            f"\nWorst: BPCER {_cell(b)} ({bg}), APCER {_cell(a)} ({ag}).\n"]
    (DOCS / "every_group.md").write_text("\n".join(page))
    for page_path in (ROOT / "README.md", ROOT / "models" / "MODEL_CARD.md"):
        render_block(page_path, "groups", readme_line(res))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("only", nargs="*", help="only the groups whose name contains one of these (not written)")
    a = ap.parse_args()
    if not (DATASET / "manifest.csv").is_file() or not (GROUPS / "manifest.csv").is_file():
        sys.exit(f"needs {DATASET} (`make dataset`) and {GROUPS}")
    res = left_out_in_turn(a.only)
    if not a.only:
        write(res)


if __name__ == "__main__":
    main()
