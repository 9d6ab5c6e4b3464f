"""Issue 8: which recipe generalises to groups it never saw?

Leave-groups-out cross-validation over webcam-replay (16 collector groups) and nuaa-print
(8 subjects) at once: 4 folds, each holding out whole groups of both, every held-out image
scored by a model that never saw its group (nor synthetic images made from it). celeba-spoof
always trains. Writes docs/generalisation.json and the table in docs/generalisation.md.

Run: .venv/bin/python benchmarks/generalise.py DATASET [--configs NAME ...] [--seeds 0 1 2]
(DATASET: `marginlive collect` of the three shared manifests.)
"""
import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from common import DOCS

CONFIGS = {
    "paper: livenessnet, m2.0, paper aug": dict(arch="livenessnet", margin=2.0, aug="paper"),
    "livenessnet, m2.0, paper aug + synthetic screens": dict(arch="livenessnet", margin=2.0, aug="paper", synth=1.0),
    "minires, m2.0, strong aug, balanced": dict(arch="minires", margin=2.0, aug="strong", balance=True),
    "minires, m2.0, strong aug, balanced + synthetic screens": dict(arch="minires", margin=2.0, aug="strong",
                                                                    balance=True, synth=1.0),
    "minires, m1.5, strong aug, balanced + synthetic screens": dict(arch="minires", margin=1.5, aug="strong",
                                                                    balance=True, synth=1.0),
}


def main():
    from marginlive.training.dataset import load_dataset
    from marginlive.training.experiment import run_grid
    from marginlive.training.synth import add_synthetic_screens
    from marginlive.training.train import TrainConfig
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(DOCS / "generalisation.json"))
    a = ap.parse_args()
    base = load_dataset(a.dataset)
    out = Path(a.out)
    done = json.loads(out.read_text())["results"] if out.exists() else {}
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    for name in a.configs:
        spec = dict(CONFIGS[name])
        synth = spec.pop("synth", 0.0)
        cfg = TrainConfig(epochs=a.epochs, batch=a.batch, threads=a.threads, **spec)
        res = {}
        for seed in a.seeds:
            ds = add_synthetic_screens(base, synth, seed) if synth else base
            r = run_grid(ds, {name: replace(cfg, seed=seed)}, 4, [seed], ["webcam-replay", "nuaa-print"], log=log)[name]
            res = r if not res else {**res, "runs": res["runs"] + r["runs"]}
        from marginlive.training.experiment import summarise
        res["summary"] = summarise(res["runs"])
        res["synthetic_per_live"] = synth
        prev = done.get(name)
        if prev:  # more seeds of a setting already measured: pool them
            res["runs"] = prev["runs"] + [r for r in res["runs"] if r["seed"] not in {p["seed"] for p in prev["runs"]}]
            res["summary"] = summarise(res["runs"])
        done[name] = res
        out.write_text(json.dumps({"meta": {"folds": 4, "epochs": a.epochs, "batch": a.batch,
                                            "eval": ["webcam-replay", "nuaa-print"]}, "results": done}, indent=1))
        log(f"saved {name}")


if __name__ == "__main__":
    sys.exit(main())
