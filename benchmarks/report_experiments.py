"""Render docs/margin_experiment.md (+ plot) and docs/generalisation.md from the experiments' JSON.

Run: .venv/bin/python benchmarks/report_experiments.py [--margin-json PATH]
"""
import argparse
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from common import DOCS
from generalise import FACE_ROWS, HOG_ROW

FACE_ROWS_BY_KIND = {spec.get("kind", "lbp"): name for name, spec in FACE_ROWS.items()}

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
             f"Best on unseen replay groups: **{best}**. ", "", MARGIN_NOTES]
    (DOCS / "margin_experiment.md").write_text("\n".join(lines) + "\n")
    return res, names


def _logit(p):
    import numpy as np
    p = np.clip(np.asarray(p, float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _fuse_logits(ps, w, limits=None):
    """P(real) of the weighted sum of the logits of ``ps`` (one row of P(real) per weight), each
    row's logits clipped to +-its limit where ``limits`` gives one above 0 (the model's
    bounded_logit)."""
    import numpy as np
    z = _logit(ps)
    if limits is not None:
        lim = np.where(np.asarray(limits, float) > 0, limits, np.inf)[:, None]
        z = np.clip(z, -lim, lim)
    return 1 / (1 + np.exp(-(np.asarray(w, float)[:, None] * z).sum(0)))


def fold_thresholds(run: dict, ds):
    """(index, scores, threshold per image) of one run: each fold's images get the EER threshold
    of the other folds' out-of-fold scores (a threshold that never saw their groups)."""
    import numpy as np
    from marginlive.evaluation.metrics import eer
    from marginlive.training.dataset import group_kfold
    idx, sc = np.array(run["index"]), np.array(run["scores"], float)
    thr = np.zeros(len(idx))
    for rel in group_kfold(ds.groups[idx], 4, run["seed"]):
        other = np.setdiff1d(np.arange(len(idx)), rel)
        thr[rel] = eer(sc[other], ds.labels[idx][other])[1]
    return idx, sc, thr


def window_section(name: str, res: dict, ds, windows=(1, 5, 10)) -> list[str]:
    """A session decides on a smoothed score over several frames, not on one frame. Estimate
    that from the out-of-fold scores: windows of W frames of one group and class (in manifest
    order), scored by their mean logit, decided at the held-out-fold threshold; and list the
    groups where the single-frame errors concentrate (seed 0)."""
    import numpy as np
    from marginlive.evaluation.metrics import all_metrics, apcer_bpcer
    folds = {run["seed"]: fold_thresholds(run, ds) for run in res["runs"]}   # (index, scores, thresholds)
    rows = ["| frames per decision | " + " | ".join(f"{d} windows | {d} AUC | {d} APCER | {d} BPCER | {d} ACER"
                                                  for d in DATASETS) + " |", "|---" * (1 + 5 * len(DATASETS)) + "|"]
    for w in windows:
        cells = [str(w)]
        for d in DATASETS:
            per = []
            for idx, sc, thr in folds.values():
                z, ws, ys, atk, dec = _logit(sc), [], [], [], []
                for g in sorted(set(ds.groups[idx][ds.datasets[idx] == d].tolist())):
                    for y in (0, 1):
                        pos = np.flatnonzero((ds.groups[idx] == g) & (ds.labels[idx] == y))
                        for i in range(0, len(pos) - w + 1, w):
                            win = pos[i:i + w]
                            ws.append(z[win].mean())
                            ys.append(y)
                            atk.append(ds.attacks[idx[win[0]]])
                            dec.append(float(ws[-1] >= _logit(thr[win[0]])))
                r = apcer_bpcer(np.array(dec), np.array(ys), 0.5, np.array(atk))
                per.append((all_metrics(np.array(ws), np.array(ys), 0.0, np.array(atk))["auc"], r["apcer"],
                            r["bpcer"], r["acer"], len(ws)))
            a = np.array(per)
            cells += [str(int(a[0, 4])), f"{a[:, 0].mean():.3f}"] + [f"{100 * a[:, k].mean():.1f}%" for k in (1, 2, 3)]
        rows.append("| " + " | ".join(cells) + " |")
    idx, sc, thr = folds[0]
    worst = []
    for g in sorted(set(ds.groups[idx].tolist())):
        m = ds.groups[idx] == g
        live, atk = m & (ds.labels[idx] == 1), m & (ds.labels[idx] == 0)
        rej = float(np.mean(sc[live] < thr[live])) if live.any() else 0.0
        acc = float(np.mean(sc[atk] >= thr[atk])) if atk.any() else 0.0
        if rej >= 0.2 or acc >= 0.2:
            worst.append(f"{g.split('/')[-1].split('__')[0]} ({int(live.sum())} live, {100 * rej:.0f}% rejected; "
                         f"{int(atk.sum())} attacks, {100 * acc:.0f}% accepted)")
    return ["## Decisions over several frames", "",
            f"Setting: {name}. A session decides on the tracker's smoothed score over several frames. Windows of W "
            "frames of one group and class (manifest order: the frames are spread evenly over each collector's "
            "video, so a window spans more time than W consecutive camera frames), scored by their mean logit and "
            "decided at the held-out-fold threshold; mean over seeds. Not comparable with per-frame figures of "
            "other models.", "", *rows, "",
            "Where the single-frame errors are (seed 0, held-out-fold threshold; groups with >= 20% of live frames "
            "rejected or attacks accepted): " + "; ".join(worst) + ". The errors are concentrated in a few groups "
            "(a camera, room or screen unlike the others), which is why averaging frames helps less than it would "
            "for independent errors.", ""]


def calibrate(res: dict, ds) -> None:
    """Threshold calibration, measured honestly: in every run, each fold is decided at the EER
    threshold of the *other* folds' out-of-fold scores (both datasets pooled); adds
    ``calibrated`` (APCER/BPCER/ACER per dataset, mean and spread over seeds) and
    ``eer_threshold`` (the EER threshold of all runs' scores pooled: what a shipped model uses)."""
    import numpy as np
    from marginlive.evaluation.metrics import apcer_bpcer, eer
    pooled_s, pooled_y = [], []
    per = {d: [] for d in DATASETS}
    for run in res["runs"]:
        idx, sc, thr = fold_thresholds(run, ds)
        for d in DATASETS:
            m = ds.datasets[idx] == d
            y, s, t = ds.labels[idx][m], sc[m], thr[m]
            # per-image thresholds: decide each image, then count as apcer_bpcer does
            r = apcer_bpcer((s >= t).astype(float), y, 0.5, ds.attacks[idx][m])
            per[d].append({k: r[k] for k in ("apcer", "bpcer", "acer")})
        pooled_s.append(sc)
        pooled_y.append(ds.labels[idx])
    res["calibrated"] = {d: {k: {"mean": float(np.mean([x[k] for x in v])), "std": float(np.std([x[k] for x in v]))}
                             for k in ("apcer", "bpcer", "acer")} for d, v in per.items()}
    res["eer_threshold"] = eer(np.concatenate(pooled_s), np.concatenate(pooled_y))[1]


def calibrated_table(results: dict) -> list[str]:
    out = ["| setting | " + " | ".join(f"{d} APCER | {d} BPCER | {d} ACER" for d in DATASETS) + " | threshold |",
           "|---" * (2 + 3 * len(DATASETS)) + "|"]
    for name, r in results.items():
        if "calibrated" in r:
            cells = [name] + [cell(r["calibrated"][d], k) for d in DATASETS for k in ("apcer", "bpcer", "acer")]
            out.append("| " + " | ".join(cells + [f"{r['eer_threshold']:.2f}"]) + " |")
    return out


def outside_table(results: dict) -> list[str]:
    """Texture rows' outside check (generalise.py): error rates on the two videos at the row's
    calibrated threshold (the EER threshold of its out-of-fold scores)."""
    import numpy as np
    out, n = [], {}
    for name, r in results.items():
        o = r.get("outside")
        if o and "eer_threshold" in r:
            t, n = r["eer_threshold"], {k: len(v) for k, v in o.items()}
            out.append(f"| {name} | {100 * np.mean(np.array(o['live']) < t):.0f}% | "
                       f"{100 * np.mean(np.array(o['live_jpeg95']) < t):.0f}% | "
                       f"{100 * np.mean(np.array(o['replay']) >= t):.0f}% | {t:.2f} |")
    if not out:
        return []
    return ["## Outside ../shared's groups", "",
            "Each texture setting fitted on all the data, each network row trained on all the data (seed 0; "
            "`generalise.py --save-final`, then `--outside-from`), and fusions of those, run on the two videos in "
            "../shared/data/videos, a person "
            "and a camera that no set contains (and no choice above was made on): "
            f"{n['live']} frames of the live video (raw, and after a JPEG round trip at quality 95 as the web page "
            f"sends) and {n['replay']} of its phone replay, decided at the setting's calibrated threshold. One person "
            "and one camera: a warning light, not an estimate. `benchmarks/generalise.py`.", "",
            "| setting | live frames rejected | at JPEG 95 | replay frames accepted | threshold |", "|---|---|---|---|---|",
            *out, ""]


SHIPPED = ("colour texture tolerance 2, chi2 map, 2x2 grid at 128 px 0.15 + at 64 px 0.1 + LPQ 0.15 + HOG 0.2 + face "
           "LPQ 0.1 + cdcnet 4x strong aug 0.2 + livenessnet 2x+synthetic 0.05 + 4x 0.05 (logits, hand-crafted within "
           "+-2)")


def generalisation_doc(res: dict, ds):
    lines = ["# Generalising to unseen groups (issue 8)", "",
             "Leave-groups-out over webcam-replay (16 collector groups: person, room, webcam and spoof device) and "
             "nuaa-print (8 subjects) together: 4 folds, each image scored by a model that never saw its group nor "
             "any synthetic image made from it; celeba-spoof always trains. 12 epochs, batch 16. Mean ± spread over "
             "seeds (the seeds column says how many). `benchmarks/generalise.py`.", "", *table(res), "",
             "References on webcam-replay (whole set): strongest public model (MiniFASNet pair, ~5M private images) "
             "AUC 0.978, ACER 8.2% (APCER 13.2%, BPCER 3.2%); on nuaa-print ACER 0.1%. The peer in ../shared/models "
             "AUC 0.765, ACER 33.4% (our evaluator measures 0.771 / 35.1% with BlazeFace boxes). The goal of issue 8: "
             "ACER <= 5% and AUC >= 0.98 on webcam-replay, ACER <= 1% on nuaa-print.", "",
             "## With a calibrated threshold", "",
             "The table above decides at P(real) >= 0.5. Here each fold is decided at the EER threshold of the other "
             "folds' out-of-fold scores (so the threshold never saw the groups it decides); mean ± spread over seeds. "
             "The last column is the EER threshold of all out-of-fold scores pooled, which the shipped model uses.",
             "", *calibrated_table(res), "", *outside_table(res),
             *(window_section(SHIPPED, res[SHIPPED], ds) if SHIPPED in res else []),
             NOTES]
    (DOCS / "generalisation.md").write_text("\n".join(lines))
    (DOCS / "generalisation_summary.json").write_text(json.dumps(
        {n: {"summary": r["summary"], "seeds": [x["seed"] for x in r["runs"]],
             **({"calibrated": r["calibrated"], "eer_threshold": r["eer_threshold"]} if "calibrated" in r else {})}
         for n, r in res.items()}, indent=1))


MARGIN_NOTES = """What it shows: on screen replays of unseen collector groups the paper's claim holds, and more
context helps further (AUC 0.591 tight, 0.678 at 2x, 0.792 at 4x). On print attacks of unseen
NUAA subjects it reverses: the tight crop is best (ACER 2.7%) and 4x is worst (16.4%, mostly
live faces rejected). This disagrees with the earlier measurement quoted in issue 8 (20 epochs:
tight AUC 0.891 vs 2x 0.791 on replay), which used other folds, epochs and face boxes. Every row
here is one seed; the 2x and 4x settings were rerun with three seeds in `generalisation.md`
(replay AUC 0.703 ± 0.022 at 2x, 0.796 ± 0.022 at 4x), so the ordering holds but small
differences (1.5x vs 2x) mean little. The two regimes are why the shipped model fuses a wide
colour-texture view and a 4x network with the 2x network (`generalisation.md`).
"""


# the prose of docs/generalisation.md: what was tried for the eight-branch model and what it showed
NOTES = (DOCS / "research" / "2026-11-what-was-tried.md").read_text()


def fuse_runs(parts: list[list[dict]], weights, ds, mode: str = "prob", limits=None) -> list[dict]:
    """Fusion estimated without training: per seed (same seed = same held-out groups), the
    weighted mean of the out-of-fold P(real) (``prob``) or logits (``logit``, each part's clipped
    to +-its entry of ``limits`` where above 0) of runs of several settings, scored like any run."""
    import numpy as np
    from marginlive.training.cv import pooled_result
    w = np.asarray(weights, float) / np.sum(weights)
    seeds = sorted(set.intersection(*[{r["seed"] for r in runs} for runs in parts]))
    out = []
    for seed in seeds:
        rs = [next(r for r in runs if r["seed"] == seed) for runs in parts]
        assert all(r["index"] == rs[0]["index"] for r in rs), "runs of one seed must share their folds"
        idx = np.array(rs[0]["index"])
        p = np.array([r["scores"] for r in rs], float)
        if mode == "logit":
            sc = _fuse_logits(p, w, limits)
        else:
            sc = (w[:, None] * np.clip(p, 1e-6, 1 - 1e-6)).sum(0)
        full = np.full(len(ds), np.nan)
        full[idx] = sc
        out.append(pooled_result(ds, idx, full, rs[0].get("k", 4), seed, {"fusion": mode, "weights": w.tolist()}))
    return out


def fused_rows(sources: dict, ds, combos) -> dict:
    """Multi-scale fusion by the mean of P(real); ``sources`` maps a branch label (e.g. "1x",
    "2x+synthetic") to an experiment result."""
    from marginlive.training.experiment import summarise
    out = {}
    for combo in combos:
        if all(c in sources for c in combo):
            runs = fuse_runs([sources[c]["runs"] for c in combo], [1] * len(combo), ds)
            if runs:
                out["multi-scale livenessnet: " + " + ".join(combo) + " (mean of P(real))"] = \
                    {"runs": runs, "summary": summarise(runs)}
    return out


TEXTURE = "colour texture: YCrCb LBP{}, 4x context at 128 px, every {}pixel"
CNN_2XS, CNN_4X = "livenessnet, m2.0, paper aug + synthetic screens", "livenessnet, m4.0, paper aug"
# (row name, {setting: weight}): weighted mean of logits, the fusion the shipped model computes
TEXTURE_KINDS = ("", " tolerance 2", " tolerance 2, chi2 map", " tolerance 2, chi2 map, 2x2 grid",
                 " tolerance max(1, ceil(sigma/24)), chi2 map, 2x2 grid")
TEXTURE_FUSIONS = [
    (f"colour texture{t} (every {e}pixel) {wt:.2g} + livenessnet 2x+synthetic {1 - wt:.2g} (logits)",
     {TEXTURE.format(t, e): wt, CNN_2XS: 1 - wt}) for t in TEXTURE_KINDS for e in ("", "2nd ")
    for wt in (0.7, 0.8)] + [
    (f"colour texture{t} (every {e}pixel) {wt:.2g} + livenessnet 2x+synthetic {(1 - wt) / 2:.2g} + 4x "
     f"{(1 - wt) / 2:.2g} (logits)", {TEXTURE.format(t, e): wt, CNN_2XS: (1 - wt) / 2, CNN_4X: (1 - wt) / 2})
    for t in TEXTURE_KINDS for e in ("", "2nd ") for wt in (0.6, 0.7, 0.8)]
# two scales of the grid texture (128 and 64 px views of the 4x context), each its own regression
GRID_128 = TEXTURE.format(" tolerance 2, chi2 map, 2x2 grid", "")
GRID_64 = GRID_128.replace("at 128 px", "at 64 px")
TEXTURE_FUSIONS += [
    (f"colour texture tolerance 2, chi2 map, 2x2 grid at 128 px {a:.2g} + at 64 px {b:.2g} (logits)",
     {GRID_128: a, GRID_64: b}) for a, b in ((0.7, 0.3), (0.5, 0.5))] + [
    (f"colour texture tolerance 2, chi2 map, 2x2 grid at 128 px {a:.2g} + at 64 px {b:.2g} + livenessnet "
     f"2x+synthetic 0.1 + 4x 0.1 (logits)", {GRID_128: a, GRID_64: b, CNN_2XS: 0.1, CNN_4X: 0.1})
    for a, b in ((0.56, 0.24), (0.4, 0.4))]

# the central-difference networks (trained on a GPU) beside the two texture scales
CDC_S, CDC_P = (f"cdcnet, m4.0 at 128 px, {aug} aug, 30 epochs" for aug in ("strong", "paper"))
PIX = "pixnet, m4.0 at 128 px, strong aug, 30 epochs"
GRIDS = "colour texture tolerance 2, chi2 map, 2x2 grid at 128 px {:.2g} + at 64 px {:.2g}"
TEXTURE_FUSIONS += [
    (GRIDS.format(a, b) + f" + {label} {c:.2g} (logits)", {GRID_128: a, GRID_64: b, net: c})
    for a, b, c, net, label in ((0.56, 0.24, 0.2, CDC_S, "cdcnet 4x strong aug"), (0.49, 0.21, 0.3, CDC_S, "cdcnet 4x strong aug"),
                                (0.49, 0.21, 0.3, CDC_P, "cdcnet 4x paper aug"), (0.49, 0.21, 0.3, PIX, "pixnet 4x strong aug"))] + [
    (GRIDS.format(0.42, 0.18) + " + cdcnet 4x strong aug 0.2 + paper aug 0.2 (logits)",
     {GRID_128: 0.42, GRID_64: 0.18, CDC_S: 0.2, CDC_P: 0.2})] + [
    (GRIDS.format(a, b) + f" + cdcnet 4x strong aug {c:.2g} + livenessnet 2x+synthetic 0.1 + 4x 0.1 (logits)",
     {GRID_128: a, GRID_64: b, CDC_S: c, CNN_2XS: 0.1, CNN_4X: 0.1}) for a, b, c in ((0.49, 0.21, 0.1), (0.42, 0.18, 0.2))]

# local phase quantisation (a second texture code) beside them; 21 such fusions were screened, these are reported
LPQ = "phase texture: YCrCb LPQ tolerance 20, chi2 map, 2x2 grid, 4x context at 128 px, every {}pixel"


# fusions whose hand-crafted branches' logits are clipped (the model's bounded_logit): row name -> limit
LOGIT_LIMITS = {}
HANDCRAFTED = ("colour texture", "phase texture", "gradient histogram")   # how their rows' names begin


@dataclass(frozen=True)
class Mix:
    """A fusion with the LPQ and/or HOG branch, by each part's weight: ``t128`` and ``t64`` the colour
    texture grids at 128 and 64 px, ``lpq`` (``every`` "2nd ": its codes at every 2nd pixel),
    ``cdc`` the cdcnet, ``nets`` each LivenessNet, ``hog`` (its view ``hog_size`` px, default 256),
    ``face`` the ``face_kind`` branch on the face box alone; ``limit`` > 0: the hand-crafted
    branches' logits clipped to +-limit, recorded in LOGIT_LIMITS by ``row``."""
    t128: float
    t64: float
    lpq: float
    cdc: float
    nets: float
    every: str = ""
    hog: float = 0.0
    hog_size: int = 256
    face: float = 0.0
    face_kind: str = "lpq"
    limit: float = 0.0

    def row(self) -> tuple[str, dict]:
        """(row name, {setting: weight}) of the parts with a weight."""
        name = (GRIDS.format(self.t128, self.t64) if self.t64
                else f"colour texture tolerance 2, chi2 map, 2x2 grid at 128 px {self.t128:.2g}")
        if self.lpq:
            name += f" + LPQ{' every 2nd pixel' if self.every else ''} {self.lpq:.2g}"
        if self.hog:
            name += f" + HOG{'' if self.hog_size == 256 else f' at {self.hog_size} px'} {self.hog:.2g}"
        if self.face:
            name += f" + face {self.face_kind.upper()} {self.face:.2g}"
        spec = {GRID_128: self.t128, GRID_64: self.t64, LPQ.format(self.every): self.lpq,
                HOG_ROW.replace("256 px", f"{self.hog_size} px"): self.hog, FACE_ROWS_BY_KIND[self.face_kind]: self.face,
                CDC_S: self.cdc, CNN_2XS: self.nets, CNN_4X: self.nets}
        if self.cdc:
            name += f" + cdcnet 4x strong aug {self.cdc:.2g}"
        if self.nets:
            name += f" + livenessnet 2x+synthetic {self.nets:.2g} + 4x {self.nets:.2g}"
        name += f" (logits, hand-crafted within +-{self.limit:g})" if self.limit else " (logits)"
        if self.limit:
            LOGIT_LIMITS[name] = self.limit
        return name, {k: w for k, w in spec.items() if w}


def part_limits(name: str, spec: dict) -> list[float] | None:
    """Per part of the fusion ``name`` (its ``spec``'s keys, in order) the logit limit, or None."""
    limit = LOGIT_LIMITS.get(name, 0.0)
    return [limit if k.startswith(HANDCRAFTED) else 0.0 for k in spec] if limit else None


TEXTURE_FUSIONS += [Mix(*w).row() for w in (
    (0.49, 0.21, 0.3, 0, 0), (0.49, 0.21, 0.2, 0.1, 0), (0.42, 0.18, 0.3, 0.1, 0), (0.35, 0.15, 0.3, 0.2, 0),
    (0.35, 0.15, 0.2, 0.1, 0.1), (0.35, 0.15, 0.2, 0.2, 0.05), (0.5, 0, 0.2, 0.2, 0), (0.5, 0, 0.2, 0.2, 0.05),
    (0.5, 0, 0.2, 0.2, 0.05, "2nd "))]
# histograms of oriented gradients (the edges' layout) beside them; 26 such fusions were screened (17 with the
# shipped HOG setting), these are reported
TEXTURE_FUSIONS += [Mix(*w[:5], hog=w[5]).row() for w in (
    (0.25, 0.1, 0.15, 0.2, 0.05, 0.2), (0.25, 0.1, 0.15, 0.15, 0.05, 0.25), (0.25, 0.1, 0.1, 0.15, 0.05, 0.3),
    (0.25, 0.1, 0.15, 0.2, 0, 0.2), (0.35, 0.15, 0, 0.2, 0.05, 0.2), (0.35, 0.15, 0, 0.2, 0, 0.3))] + [
    Mix(0.25, 0.1, 0.15, 0.2, 0.05, hog=0.2, hog_size=128).row()]   # the shipped mix, HOG at a quarter of the pixels
# a branch on the face box alone (1x, 64 px: the face's own texture, no context) beside them; 29 such
# fusions were screened (20 adding a 1x, 1.5x or 2x LBP, LPQ or HOG view at 0.1 or 0.2, 9 weightings of the
# face LPQ one), these are reported
TEXTURE_FUSIONS += [Mix(*w[:5], hog=w[5], face=w[6]).row() for w in (
    (0.15, 0.1, 0.15, 0.2, 0.05, 0.2, 0.1), (0.25, 0.1, 0.15, 0.1, 0.05, 0.2, 0.1), (0.25, 0.1, 0.05, 0.2, 0.05, 0.2, 0.1),
    (0.25, 0.1, 0.15, 0.2, 0, 0.2, 0.1))] + [
    Mix(0.15, 0.1, 0.15, 0.2, 0.05, hog=0.2, face=0.1, face_kind=k).row() for k in ("lbp", "hog")]
# the same mix with each hand-crafted branch's logit clipped (1, 1.5, 2, 2.5 and 3 screened): the shipped model
TEXTURE_FUSIONS += [Mix(0.15, 0.1, 0.15, 0.2, 0.05, hog=0.2, face=0.1, limit=x).row() for x in (1.5, 2.0, 3.0)]

def texture_fused_rows(gen: dict, ds) -> dict:
    import numpy as np
    from marginlive.training.experiment import summarise
    out = {}
    for name, spec in TEXTURE_FUSIONS:
        if all(k in gen for k in spec):
            limits = part_limits(name, spec)
            runs = fuse_runs([gen[k]["runs"] for k in spec], list(spec.values()), ds, "logit", limits)
            out[name] = {"runs": runs, "summary": summarise(runs), "weights": spec}
            if limits:
                out[name]["logit_limits"] = limits
            if all("outside" in gen[k] for k in spec):   # fusions of rows that have one: the outside check too
                w = np.array(list(spec.values())) / sum(spec.values())
                out[name]["outside"] = {v: _fuse_logits([gen[k]["outside"][v] for k in spec], w, limits).tolist()
                                        for v in gen[next(iter(spec))]["outside"]}
    return out


FUSIONS = [("1x", "4x"), ("2x", "4x"), ("1x", "2x", "4x"), ("2x+synthetic", "4x"), ("1x", "2x+synthetic", "4x"),
           ("1x", "2x+synthetic")]


def main():
    from marginlive.training.dataset import load_dataset
    ap = argparse.ArgumentParser()
    ap.add_argument("--margin-json", default="/tmp/exp/margin.json")
    ap.add_argument("--dataset", default="/tmp/ds/shared", help="the dataset the experiments ran on")
    a = ap.parse_args()
    ds = load_dataset(a.dataset)
    gen_path = DOCS / "generalisation.json"
    gen = json.loads(gen_path.read_text())["results"] if gen_path.exists() else {}
    margin = {}
    p = Path(a.margin_json)
    if p.exists():
        margin, _ = margin_doc(p)
    rows = {}
    if "paper: livenessnet, m2.0, paper aug" in gen:
        rows["paper: livenessnet, m2.0, paper aug"] = gen["paper: livenessnet, m2.0, paper aug"]
    if "margin 1" in margin:
        rows["livenessnet, m1.0 (tight crop), paper aug (margin experiment)"] = margin["margin 1"]
    rows.update({k: v for k, v in gen.items() if k not in rows})
    sources = {f"{float(k.split()[1]):g}x": v for k, v in margin.items()}
    sources.update({label: gen[k] for label, k in (("2x", "paper: livenessnet, m2.0, paper aug"),
                                                   ("4x", CNN_4X), ("2x+synthetic", CNN_2XS)) if k in gen})
    rows.update(fused_rows(sources, ds, FUSIONS))
    rows.update(texture_fused_rows(gen, ds))
    for r in rows.values():
        if all("scores" in x for x in r["runs"]):
            calibrate(r, ds)
    generalisation_doc(rows, ds)


if __name__ == "__main__":
    sys.exit(main())
