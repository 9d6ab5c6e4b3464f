"""Render docs/margin_experiment.md (+ plot) and docs/generalisation.md from the experiments' JSON.

Run: .venv/bin/python benchmarks/report_experiments.py [--margin-json PATH]
"""
import argparse
import json
import shutil
import sys
from pathlib import Path

from common import DOCS

DATASETS = ["webcam-replay", "nuaa-print"]


def cell(m, key, pct=True):
    v, s = m[key]["mean"], m[key]["std"]
    return f"{100 * v:.1f}% ± {100 * s:.1f}" if pct else f"{v:.3f} ± {s:.3f}"


def table(results: dict) -> list[str]:
    out = ["| setting | " + " | ".join(f"{d} AUC | {d} APCER | {d} BPCER | {d} ACER" for d in DATASETS) + " | seeds |",
           "|---" * (2 + 4 * len(DATASETS)) + "|"]
    for name, r in results.items():
        cells = [name]
        for d in DATASETS:
            m = r["summary"][d]
            cells += [cell(m, "auc", False), cell(m, "apcer"), cell(m, "bpcer"), cell(m, "acer")]
        cells.append(str(len(r["runs"])))
        out.append("| " + " | ".join(cells) + " |")
    return out


def margin_doc(path: Path):
    data = json.loads(path.read_text())
    res, meta = data["results"], data["meta"]
    shutil.copy(path, DOCS / "margin_experiment.json")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    margins = [float(k.split()[1]) for k in res]
    order = sorted(range(len(margins)), key=lambda i: margins[i])
    names = [list(res)[i] for i in order]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for d, style in zip(DATASETS, ("o-", "s--")):
        axes[0].plot([margins[i] for i in order], [res[n]["summary"][d]["auc"]["mean"] for n in names], style, label=d)
        axes[1].plot([margins[i] for i in order], [100 * res[n]["summary"][d]["acer"]["mean"] for n in names], style, label=d)
    axes[0].set(xlabel="margin (x face box)", ylabel="AUC", title="leave-groups-out AUC")
    axes[1].set(xlabel="margin (x face box)", ylabel="ACER %", title="leave-groups-out ACER")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    (DOCS / "img").mkdir(exist_ok=True)
    fig.savefig(DOCS / "img" / "margin_experiment.png", dpi=100)
    cfg = next(iter(res.values()))["config"]
    best = max(names, key=lambda n: res[n]["summary"]["webcam-replay"]["auc"]["mean"])
    lines = ["# The margin experiment", "",
             "The paper's central claim: a face box enlarged 2x (showing phone edges, fingers, paper borders) "
             "beats the tight face crop. Same recipe and seed at every margin: "
             f"`{cfg['arch']}`, `{cfg['aug']}` augmentation, {cfg['epochs']} epochs, batch {cfg['batch']}, Adam "
             f"{cfg['lr']:g}. Scored leave-groups-out: {meta['folds']} folds over the {', '.join(meta['eval_datasets'])} "
             "groups (collectors / subjects), every held-out image scored by a model that never saw its group; "
             "celeba-spoof always trains. Seeds: " + ", ".join(map(str, meta["seeds"])) +
             ". `marginlive experiment margin` (this table: `benchmarks/report_experiments.py`).", "",
             *table({n: res[n] for n in names}), "", "![margin experiment](img/margin_experiment.png)", "",
             f"Best on unseen replay groups: **{best}**. "]
    (DOCS / "margin_experiment.md").write_text("\n".join(lines) + "\n")
    return res, names


def generalisation_doc(extra_rows: dict):
    path = DOCS / "generalisation.json"
    res = json.loads(path.read_text())["results"] if path.exists() else {}
    res = {**extra_rows, **res}
    lines = ["# Generalising to unseen groups (issue 8)", "",
             "Leave-groups-out over webcam-replay (16 collector groups: person, room, webcam and spoof device) and "
             "nuaa-print (8 subjects) together: 4 folds, each image scored by a model that never saw its group nor "
             "any synthetic image made from it; celeba-spoof always trains. 12 epochs, batch 16. Mean ± spread over "
             "seeds (the seeds column says how many). `benchmarks/generalise.py`.", "", *table(res), "",
             "References on webcam-replay (whole set): strongest public model (MiniFASNet pair, ~5M private images) "
             "AUC 0.978, ACER 8.2% (APCER 13.2%, BPCER 3.2%); on nuaa-print ACER 0.1%. The peer in ../shared/models "
             "AUC 0.765, ACER 33.4% (our evaluator measures 0.771 / 35.1% with BlazeFace boxes). The goal of issue 8: "
             "ACER <= 5% and AUC >= 0.98 on webcam-replay, ACER <= 1% on nuaa-print.", ""]
    (DOCS / "generalisation.md").write_text("\n".join(lines))
    (DOCS / "generalisation_summary.json").write_text(json.dumps(
        {n: {"summary": r["summary"], "seeds": [x["seed"] for x in r["runs"]]} for n, r in res.items()}, indent=1))


def fused_rows(sources: dict, dataset: str, combos) -> dict:
    """Multi-scale fusion estimated without training: the mean of the out-of-fold P(real) of
    runs that share seed and folds (same seed and held-out groups), scored like any run.
    ``sources`` maps a branch label (e.g. "1x", "2x+synthetic") to an experiment result."""
    import numpy as np
    from marginlive.evaluation.metrics import all_metrics
    from marginlive.training.dataset import load_dataset
    from marginlive.training.experiment import summarise
    ds = load_dataset(dataset)
    out = {}
    for combo in combos:
        if not all(c in sources for c in combo):
            continue
        runs = []
        for i, first in enumerate(sources[combo[0]]["runs"]):
            idx = np.array(first["index"])
            parts = [sources[c]["runs"][i] for c in combo]
            assert all(p["index"] == first["index"] and p["seed"] == first["seed"] for p in parts)
            sc = np.mean([np.array(p["scores"]) for p in parts], 0)
            run = {"seed": first["seed"], "overall": all_metrics(sc, ds.labels[idx], 0.5, ds.attacks[idx]),
                   "per_dataset": {}}
            for d in DATASETS:
                m = ds.datasets[idx] == d
                run["per_dataset"][d] = all_metrics(sc[m], ds.labels[idx][m], 0.5, ds.attacks[idx][m])
            runs.append(run)
        name = "multi-scale livenessnet: " + " + ".join(combo) + " (mean of P(real))"
        out[name] = {"runs": runs, "summary": summarise(runs)}
    return out


FUSIONS = [("1x", "4x"), ("2x", "4x"), ("1x", "2x", "4x"), ("2x+synthetic", "4x"), ("1x", "2x+synthetic", "4x"),
           ("1x", "2x+synthetic")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--margin-json", default="/tmp/exp/margin.json")
    ap.add_argument("--dataset", default="/tmp/ds/shared", help="the dataset the margin experiment ran on")
    a = ap.parse_args()
    extra = {}
    p = Path(a.margin_json)
    if p.exists():
        res, names = margin_doc(p)
        if "margin 2" in res:
            extra["paper: livenessnet, m2.0, paper aug (margin experiment)"] = res["margin 2"]
        if "margin 1" in res:
            extra["livenessnet, m1.0 (tight crop), paper aug (margin experiment)"] = res["margin 1"]
        if "margin 4" in res:
            extra["livenessnet, m4.0, paper aug (margin experiment)"] = res["margin 4"]
        sources = {f"{float(k.split()[1]):g}x": v for k, v in res.items()}
        gen_path = DOCS / "generalisation.json"
        if gen_path.exists():
            gen = json.loads(gen_path.read_text())["results"]
            if "livenessnet, m2.0, paper aug + synthetic screens" in gen:
                sources["2x+synthetic"] = gen["livenessnet, m2.0, paper aug + synthetic screens"]
        extra.update(fused_rows(sources, a.dataset, FUSIONS))
    generalisation_doc(extra)


if __name__ == "__main__":
    sys.exit(main())
