"""The never-seen rows of leave_collections_out.py, kept once and rated again in a minute.

The benchmark spends half an hour per run: most of it rebuilding the default recipe without each
never-seen collection, the rest finding faces in and shifting 17,000 frames. A change to the fusion
(a weight, a rule, a head patched into the rebuilds) reads the same inputs, so:

    .venv/bin/python benchmarks/never_seen_crops.py keep     # once: ~30 min, ~4 GB
    .venv/bin/python benchmarks/never_seen_crops.py rate [--rebuilds DIR]   # ~1.5 min

``keep`` walks the benchmark's never-seen rows (the same frames, shifts and seeds, through its own
functions) with a scorer that keeps each frame's default-model inputs (``LivenessModel.crops``),
and writes the default recipe rebuilt without each never-seen collection (``left_out_models``).
``rate`` scores each row by its rebuild (``--rebuilds``: another folder of the same layout, as a
variant recipe's rebuilds), prints BPCER and APCER per row at the rebuilds' threshold as the
benchmark rates them (a shift row: its worst source), the worst live row and the attack rows' mean,
and saves every frame's branch logits (``logits.npz``: keys, labels, logits (N, branches), p_real)
for rules tried in numpy. The rows are the benchmark's, rated as its table rates them, but nothing
here writes docs/: a change that ships is measured by the benchmark itself.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import leave_collections_out as lco
from common import ROOT

KEPT = ROOT / ".marginlive" / "never-seen"


class Keeper:
    """A scorer for ``lco.score_all`` that keeps every input of the default model for each frame
    (in call order) and scores nothing."""
    name, threshold = "kept", 0.5

    def __init__(self):
        from marginlive.liveness.runtime import LivenessModel
        self.model = LivenessModel(None)
        self.kept = {s["name"]: [] for s in self.model.inputs}

    def score(self, frame, box) -> float:
        for name, x in self.model.crops(frame, [box]).items():
            self.kept[name].append(x[0])
        return 0.0


def rebuild_of(row: str) -> str:
    """The rebuild that scores ``row`` as the benchmark does: a 'left out' row by the recipe without
    that collection, every other never-seen row by the recipe without the five newest groups."""
    return next((c for c in lco.LEFT_OUT if row.startswith(f"{c}, left out")), lco.WITHOUT_NEWEST)


def keep(out: Path) -> None:
    from marginlive.detect import create_detector
    if (out / "rows.json").exists():
        sys.exit(f"{out} holds kept rows already: remove it first")
    if not (lco.DATASET / "manifest.csv").is_file():
        sys.exit(f"no {lco.DATASET}: `make dataset` collects it (the rebuilds fit on it)")
    lco.left_out_models(out)     # out/<collection>/fused.onnx; prints each as it is built
    det, colls, keeper, scored = create_detector(), lco.collections(), Keeper(), {}
    # every call of score_all below puts exactly one entry into ``scored``, its labels one per kept
    # frame: the kept frames split by those lengths, in order
    lco.collection_rows([keeper], keeper, {k: v for k, v in colls.items() if lco.held_out(k)}, det, scored)
    stubs = [{"collection": k, "trained_on": [], "models": {}} for c in lco.LEFT_OUT for k in lco.parts_of(colls, c)]
    lco.left_out_rows(colls, stubs, det, scored, {c: keeper for c in lco.LEFT_OUT})
    lco.shift_rows([keeper], keeper, colls, det, scored)
    rows = [{"row": k, "labels": y.astype(int).tolist(), "rebuild": rebuild_of(k)} for k, (_, y) in scored.items()]
    n = sum(len(r["labels"]) for r in rows)
    if any(len(v) != n for v in keeper.kept.values()):
        raise RuntimeError("kept frames and scored labels disagree: the benchmark's row walk changed")
    for name, crops in keeper.kept.items():
        np.save(out / f"{name}.npy", np.stack(crops))
    (out / "rows.json").write_text(json.dumps(rows))
    print(f"kept {n} frames of {len(rows)} rows in {out}")


def branch_logits(kept: Path, rebuilds: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """(row key (N,), label (N,), branch logits (N, B), p_real (N,), threshold) of every kept frame,
    each scored by its row's rebuild in ``rebuilds``."""
    from marginlive.liveness.runtime import LivenessModel
    rows = json.loads((kept / "rows.json").read_text())
    keys = np.array([r["row"] for r in rows for _ in r["labels"]])
    labels = np.array([v for r in rows for v in r["labels"]])
    which = np.array([r["rebuild"] for r in rows for _ in r["labels"]])
    logits, p, threshold = None, np.zeros(len(keys), np.float32), None
    for name in dict.fromkeys(which):
        model = LivenessModel(rebuilds / name / "fused.onnx", threads=2)
        threshold = model.threshold
        arrays = {s["name"]: np.load(kept / f"{s['name']}.npy", mmap_mode="r") for s in model.inputs}
        for idx in np.array_split(np.flatnonzero(which == name), max(1, (which == name).sum() // 256)):
            feed = {k: np.ascontiguousarray(v[idx]) for k, v in arrays.items()}
            pr, lg = model.session.run(["p_real", "logits"], feed)
            logits = np.zeros((len(keys), lg.shape[0]), np.float32) if logits is None else logits
            logits[idx], p[idx] = lg.T, pr
    return keys, labels, logits, p, threshold


def rated(keys, labels, p_real, threshold) -> dict:
    """{row: its rates (``lco.rates``' keys)} as the benchmark rates its rows: the sources of a shift
    ('shift: X [source]') folded into one row by ``lco.worst_source``."""
    by_row = {}
    for key in dict.fromkeys(keys):
        s = keys == key
        row, _, source = key.partition(" [")
        by_row.setdefault(row, {})[source.rstrip("]") or row] = {"m": lco.rates(p_real[s], labels[s], threshold)}
    return {row: lco.worst_source(sources, "m") for row, sources in by_row.items()}


def rate(kept: Path, rebuilds: Path) -> None:
    keys, labels, logits, p, threshold = branch_logits(kept, rebuilds)
    np.savez(kept / "logits.npz", keys=keys, labels=labels, logits=logits, p_real=p)
    table = rated(keys, labels, p, threshold)
    for row, r in table.items():
        print(f"{row[:70]:70s} {lco._pct(r['bpcer']):>7s} / {lco._pct(r['apcer'])}")
    flat = [{"collection": row, "trained_on": [], "models": {"m": r}}     # as lco.worst reads rows
            for row, r in table.items() if lco.MASKS not in row]
    w = lco.worst(flat, "m")
    mean = lco._pct(np.mean([f["models"]["m"]["apcer"] for f in flat if f["models"]["m"]["apcer"] is not None]))
    print(f"worst live row {lco._pct(w['bpcer'][1])} ({w['bpcer'][0]}); attack rows (worn masks apart) {mean} on "
          f"average, worst {lco._pct(w['apcer'][1])} ({w['apcer'][0]}); logits in {kept / 'logits.npz'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=("keep", "rate"))
    ap.add_argument("--out", type=Path, default=KEPT, help=f"where the kept rows live (default {KEPT})")
    ap.add_argument("--rebuilds", type=Path, default=None,
                    help="rate: a folder of rebuilds laid out as the kept ones (default: those in --out)")
    a = ap.parse_args()
    if a.command == "keep":
        a.out.mkdir(parents=True, exist_ok=True)
        keep(a.out)
    elif not (a.out / "rows.json").is_file():
        sys.exit(f"no kept rows in {a.out}: run `keep` first")
    else:
        from marginlive.errors import MarginliveError
        try:
            rate(a.out, a.rebuilds or a.out)
        except MarginliveError as e:     # a rebuild missing or not a marginlive model
            sys.exit(str(e))


if __name__ == "__main__":
    main()
