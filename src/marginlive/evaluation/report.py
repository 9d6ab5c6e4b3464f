"""Reports: JSON with every number, and a Markdown page with plots (ROC, DET, score
histograms per class and attack type, confusion matrix, grid of the worst errors)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from .._util import atomic_path


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: Path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    _plt().close(fig)


def plot_roc_det(results: list[dict], path_roc: Path, path_det: Path):
    """ROC and DET curves (APCER against BPCER, probit axes) of every model in ``results`` on one set,
    written to ``path_roc`` and ``path_det``; a model whose scores hold one label only is left out."""
    from scipy.stats import norm
    from sklearn.metrics import det_curve, roc_curve
    plt = _plt()
    f1, a1 = plt.subplots(figsize=(5.5, 5))
    f2, a2 = plt.subplots(figsize=(5.5, 5))
    for r in results:
        s = r["_scores"]
        y, sc = np.array(s["labels"]), np.array(s["scores"])
        if len(set(y.tolist())) < 2:
            continue
        lab = f"{r['model']} (AUC {r['metrics']['auc']:.3f})"
        fpr, tpr, _ = roc_curve(y, sc)
        a1.plot(fpr, tpr, label=lab)
        # DET: APCER (attacks accepted) vs BPCER (bona fide rejected), probit axes
        fpr_d, fnr_d, _ = det_curve(y, sc)
        eps = 1e-4
        a2.plot(norm.ppf(np.clip(fpr_d, eps, 1 - eps)), norm.ppf(np.clip(fnr_d, eps, 1 - eps)), label=r["model"])
    a1.plot([0, 1], [0, 1], "k:", lw=0.8)
    a1.set(xlabel="APCER (attack accepted)", ylabel="1 - BPCER (bona fide accepted)", title="ROC")
    ticks = [0.001, 0.01, 0.05, 0.2, 0.5, 0.8]
    a2.set_xticks(norm.ppf(ticks), [f"{t:g}" for t in ticks])
    a2.set_yticks(norm.ppf(ticks), [f"{t:g}" for t in ticks])
    a2.set(xlabel="APCER", ylabel="BPCER", title="DET")
    for a in (a1, a2):
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    _save(f1, path_roc)
    _save(f2, path_det)


def plot_hist(r: dict, path: Path):
    """The histogram of one model's P(real) on one set, live faces and each attack type apart, with its
    threshold, to ``path``."""
    plt = _plt()
    s = r["_scores"]
    y, sc, att = np.array(s["labels"]), np.array(s["scores"]), np.array(s["attacks"], dtype=object)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    bins = np.linspace(0, 1, 26)
    if (y == 1).any():
        ax.hist(sc[y == 1], bins, alpha=0.6, label=f"real (n={int((y == 1).sum())})", color="tab:blue")
    for a in sorted(set(att[y == 0].tolist())):
        m = (y == 0) & (att == a)
        ax.hist(sc[m], bins, alpha=0.5, label=f"{a} (n={int(m.sum())})")
    ax.axvline(r["metrics"]["threshold"], color="k", ls="--", lw=1, label="threshold")
    ax.set(xlabel="P(real)", ylabel="images", title=f"{r['dataset']}: {r['model']}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def plot_confusion(r: dict, path: Path):
    """One model's confusion matrix on one set at its threshold, to ``path``."""
    plt = _plt()
    cm = np.array(r["metrics"]["confusion_matrix"]["rows_true_cols_pred"])
    fig, ax = plt.subplots(figsize=(3.4, 3))
    ax.imshow(cm, cmap="Blues")
    for i in range(2):
        for j in range(2):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xticks([0, 1], ["fake", "real"])
    ax.set_yticks([0, 1], ["fake", "real"])
    ax.set(xlabel="predicted", ylabel="true", title="confusion matrix")
    fig.tight_layout()
    _save(fig, path)


def worst_errors_grid(r: dict, path: Path, n: int = 24, cols: int = 8):
    """The margin crops the model got most wrong, with their P(real)."""
    s = r["_scores"]
    y, sc = np.array(s["labels"]), np.array(s["scores"])
    err = np.where(y == 1, 1 - sc, sc)  # distance from the right answer
    order = [i for i in np.argsort(-err) if (sc[i] >= r["metrics"]["threshold"]) != bool(y[i])][:n]
    if not order:
        return False
    tile = 96
    rows = (len(order) + cols - 1) // cols
    grid = np.full((rows * (tile + 18), cols * tile, 3), 255, np.uint8)
    for k, i in enumerate(order):
        c = cv2.resize(r["_crops"][i], (tile, tile), interpolation=cv2.INTER_NEAREST)
        y0, x0 = (k // cols) * (tile + 18), (k % cols) * tile
        grid[y0:y0 + tile, x0:x0 + tile] = c
        txt = f"{'real' if y[i] else 'fake'} p={sc[i]:.2f}"
        cv2.putText(grid, txt, (x0 + 2, y0 + tile + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.38,
                    (0, 0, 200) if y[i] == 0 else (200, 0, 0), 1, cv2.LINE_AA)
    with atomic_path(path) as tmp:
        cv2.imwrite(str(tmp), grid)
    return True


def _pct(v):
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _num(v):
    return "n/a" if v is None else f"{v:.3f}"


def _intervals(m: dict) -> str:
    """One line: the 95% intervals of a model's BPCER and (worst species) APCER."""
    parts = [f"{k.upper()} {_pct(m[k + '_interval'][0])}-{_pct(m[k + '_interval'][1])}"
             for k in ("bpcer", "apcer") if m.get(k + "_interval")]
    return ("95% intervals (Wilson; they count frames as independent, and frames of one person or video are not, "
            "so the truth is less sure): " + ", ".join(parts))


def markdown(all_results: dict[str, list[dict]], clips: dict | None, images: dict[str, dict]) -> str:
    """The report page: per set, each model's metrics, its per-attack APCER, intervals and per-group
    rates, the plots named in ``images`` ('set|model' -> {kind: file}); then the clips' decisions."""
    out = ["# marginlive evaluation report", "",
           "Scores are P(real); *real* is the positive class for precision/recall/F1, and the "
           "ISO/IEC 30107-3 error rates count attacks accepted (APCER, max over attack types) and "
           "bona fide rejected (BPCER) at each model's own threshold.", ""]
    for ds, results in all_results.items():
        out += [f"## {ds}", "",
                "| model | n | AUC | EER | APCER (max) | BPCER | ACER | BPCER20 | BPCER100 | accuracy | precision | recall | F1 | no face (real/fake) |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in results:
            m = r["metrics"]
            if m is None:
                out.append(f"| {r['model']} | 0 | no face found in any image |||||||||||| ")
                continue
            out.append(f"| {r['model']} | {m['n']} | {_num(m['auc'])} | {_pct(m['eer'])} | {_pct(m['apcer'])} | "
                       f"{_pct(m['bpcer'])} | {_pct(m['acer'])} | {_pct(m['bpcer20'])} | {_pct(m['bpcer100'])} | "
                       f"{_pct(m['accuracy'])} | {_num(m['precision'])} | {_num(m['recall'])} | {_num(m['f1'])} | "
                       f"{r['no_face']['real']}/{r['no_face']['fake']} |")
        out.append("")
        for r in results:
            m = r["metrics"]
            if m is None:
                continue
            out += [f"### {r['model']}", ""]
            if m["apcer_per_attack"]:
                out.append("APCER per attack type: " + ", ".join(f"{k} {_pct(v)}" for k, v in m["apcer_per_attack"].items()))
            if m.get("bpcer_interval") or m.get("apcer_interval"):
                out.append(_intervals(m))
            if m.get("hter") is not None:
                out.append(f"HTER at the development threshold {m['hter_threshold']:.3f}: {_pct(m['hter'])}")
            for note in m["notes"]:
                out.append(f"Note: {note}")
            out.append("")
            im = images.get(f"{ds}|{r['model']}", {})
            for key in ("hist", "confusion", "worst"):
                if key in im:
                    out.append(f"![{key}]({im[key]})")
            out += ["", "| group | n | real | BPCER | APCER |", "|---|---|---|---|---|"]
            for g, v in r["per_group"].items():
                out.append(f"| {g} | {v['n']} | {v['real']} | {_pct(v['bpcer'])} | {_pct(v['apcer'])} |")
            out.append("")
        if f"{ds}|roc" in images:
            out += [f"![ROC]({images[ds + '|roc']}) ![DET]({images[ds + '|det']})", ""]
    if clips:
        out += [f"## Clips (each video's face judged over all its frames, {clips['model']})", "",
                "| clip | label | frames | mean P(real) | decision |", "|---|---|---|---|---|"]
        for c in clips["clips"]:
            out.append(f"| {c['path']} | {'real' if c['label'] else 'fake'} | {c['frames']} | "
                       f"{_num(c['score'])} | {c['decision']} |")
        out += ["", f"Clip accuracy: {_pct(clips['clip_accuracy'])}", ""]
    return "\n".join(out) + "\n"


def write_report(out_dir: Path, all_results: dict[str, list[dict]], clips: dict | None = None,
                 worst: bool = True) -> Path:
    """``worst=False`` leaves out the grid of face crops (for reports published where the
    evaluation data's terms forbid redistributing its images)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    images: dict[str, str] = {}
    for ds, results in all_results.items():
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in ds)
        usable = [r for r in results if r["metrics"] is not None]
        if any(r["metrics"]["auc"] is not None for r in usable):
            plot_roc_det(usable, out_dir / f"{safe}_roc.png", out_dir / f"{safe}_det.png")
            images[f"{ds}|roc"], images[f"{ds}|det"] = f"{safe}_roc.png", f"{safe}_det.png"
        for r in usable:
            ms = "".join(c if c.isalnum() or c in "-_" else "_" for c in r["model"])
            key = f"{ds}|{r['model']}"
            images[key] = {}
            plot_hist(r, out_dir / f"{safe}_{ms}_hist.png")
            images[key]["hist"] = f"{safe}_{ms}_hist.png"
            plot_confusion(r, out_dir / f"{safe}_{ms}_confusion.png")
            images[key]["confusion"] = f"{safe}_{ms}_confusion.png"
            if worst and worst_errors_grid(r, out_dir / f"{safe}_{ms}_worst.png"):
                images[key]["worst"] = f"{safe}_{ms}_worst.png"
    clean = {ds: [{k: v for k, v in r.items() if k != "_crops"} for r in rs] for ds, rs in all_results.items()}
    with atomic_path(out_dir / "report.json") as tmp:
        tmp.write_text(json.dumps({"datasets": clean, "clips": clips}, indent=1))
    with atomic_path(out_dir / "report.md") as tmp:
        tmp.write_text(markdown(all_results, clips, images))
    return out_dir / "report.md"
