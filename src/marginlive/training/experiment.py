"""`marginlive experiment`: the same recipe at several settings, scored leave-groups-out.

``margin`` reproduces (or refutes) the paper's central claim that a 2x margin beats the
tight face crop. Every setting is trained with the same seed(s) and folds; the held-out
groups come from the datasets named in ``eval_datasets`` (the rest always train).
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from .._util import atomic_path
from ..errors import DatasetError
from .cv import cross_validate
from .dataset import Dataset
from .train import TrainConfig

SUMMARY_KEYS = ("auc", "eer", "apcer", "bpcer", "acer")


def run_grid(ds: Dataset, configs: dict[str, TrainConfig], k: int = 4, seeds=(0,),
             eval_datasets: list[str] | None = None, log=print) -> dict:
    """Each setting of ``configs`` cross-validated leave-groups-out (``k`` folds) at every seed:
    {name: {"config", "runs", "summary"}}; scored on ``eval_datasets`` only where given."""
    mask = np.isin(ds.datasets, eval_datasets) if eval_datasets else np.ones(len(ds), bool)
    if not mask.any():
        have = ", ".join(sorted(set(ds.datasets.tolist())))
        raise DatasetError(f"no images of {', '.join(eval_datasets)} in the dataset (it holds: {have}); "
                           "name them with --eval-datasets")
    results = {}
    for name, cfg in configs.items():
        runs = []
        for seed in seeds:
            t = time.perf_counter()
            log(f"{name}: seed {seed}")
            r = cross_validate(ds, replace(cfg, seed=seed), k, seed=seed, eval_mask=mask, log=log)
            r["seconds"] = time.perf_counter() - t
            runs.append(r)
        results[name] = {"config": dict(cfg.__dict__), "runs": runs, "summary": summarise(runs)}
        log(f"{name}: " + format_summary(results[name]["summary"]))
    return results


def summarise(runs: list[dict]) -> dict:
    """Mean and spread over seeds, per dataset and overall."""
    out = {}
    for key in ["overall", *runs[0]["per_dataset"].keys()]:
        ms = [r["overall"] if key == "overall" else r["per_dataset"][key] for r in runs]
        out[key] = {m: {"mean": float(np.mean([x[m] for x in ms if x.get(m) is not None] or [np.nan])),
                        "std": float(np.std([x[m] for x in ms if x.get(m) is not None] or [np.nan]))}
                    for m in SUMMARY_KEYS}
        out[key]["n"] = ms[0]["n"]
    return out


def format_summary(s: dict) -> str:
    parts = []
    for key, m in s.items():
        if key == "overall":
            continue
        parts.append(f"[{key}] AUC {m['auc']['mean']:.3f}±{m['auc']['std']:.3f} "
                     f"ACER {100 * m['acer']['mean']:.1f}±{100 * m['acer']['std']:.1f}%")
    return "  ".join(parts)


def save(results: dict, path: str | Path, meta: dict) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps({"meta": meta, "results": results}, indent=1))


def markdown_table(results: dict, datasets: list[str]) -> str:
    """One row per setting of ``results``: AUC, EER, APCER, BPCER and ACER per dataset, mean over seeds."""
    head = "| setting | " + " | ".join(f"{d} AUC | {d} EER | {d} APCER | {d} BPCER | {d} ACER" for d in datasets) + " |"
    sep = "|---" * (1 + 5 * len(datasets)) + "|"
    rows = [head, sep]
    for name, r in results.items():
        cells = [name]
        for d in datasets:
            m = r["summary"].get(d)
            if m is None:
                cells += ["-"] * 5
                continue
            cells.append(f"{m['auc']['mean']:.3f} ± {m['auc']['std']:.3f}")
            for key in ("eer", "apcer", "bpcer", "acer"):
                cells.append(f"{100 * m[key]['mean']:.1f} ± {100 * m[key]['std']:.1f}%")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def run_experiment(a) -> int:
    """`marginlive experiment margin`: the paper's margin claim, the recipe trained at each margin and
    scored leave-groups-out (``run_grid``): saved as JSON (``--out``), printed as a Markdown table."""
    from .dataset import load_dataset
    if a.kind != "margin":
        raise DatasetError(f"unknown experiment {a.kind!r} (margin)")
    if any(m <= 0 or m > 4 for m in a.margins):
        raise DatasetError("margins must be in (0, 4]")
    if a.folds < 2:
        raise DatasetError(f"--folds must be at least 2 (each fold trains on the others), got {a.folds}")
    ds = load_dataset(a.dataset)
    ds.check_trainable()
    base = TrainConfig(arch=a.arch, epochs=a.epochs, batch=a.batch, aug=a.aug, balance=a.balance)
    configs = {f"margin {m:g}": replace(base, margin=m) for m in a.margins}
    log = (lambda m: print(m, file=sys.stderr, flush=True))
    res = run_grid(ds, configs, a.folds, a.seeds, a.eval_datasets, log=log)
    meta = {"experiment": "margin", "dataset": str(a.dataset), "folds": a.folds, "seeds": a.seeds,
            "eval_datasets": a.eval_datasets, "images": len(ds)}
    if a.out:
        save(res, a.out, meta)
    print(markdown_table(res, a.eval_datasets or sorted(set(ds.datasets.tolist()))))
    return 0
