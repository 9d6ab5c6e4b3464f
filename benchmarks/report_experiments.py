"""Render docs/margin_experiment.md (+ plot) and docs/generalisation.md from the experiments' JSON.

Run: .venv/bin/python benchmarks/report_experiments.py [--margin-json PATH]
"""
import argparse
import json
import shutil
import sys
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


NOTES = """## What was tried, and what it showed

**Seeds.** A seed sets both the partition of the groups into 4 folds and the training
initialisation, so the spread includes which groups happen to be held out together. Rows with
one seed are screening runs from the margin experiment or earlier; the rows that decided the
shipped model have three.

**Colour texture is the step that helped most.** LBP histograms of the Y, Cr and Cb channels
(Boulkenafet et al.'s colour-texture cue) of the *whole 4x context* at 128 px, with a strongly
regularised logistic regression, reach webcam-replay AUC 0.925 ± 0.009 on unseen groups,
against 0.703 for the paper's network at 2x and 0.796 for the best single network (4x). It is
weak on prints (NUAA AUC 0.909), where the networks are strong (0.99), so the two are fused.
Screening that chose it (seed-0 folds, exploratory scripts, on JPEG-stored crops, see below;
webcam-replay AUC):

| what | webcam-replay AUC |
|---|---|
| YCrCb LBP of the 4x context at 128 px (kept) | 0.932 |
| same at 1x / 64 px, 2x / 64, 2x / 128, 3x / 96, 4x / 64, 4x / 256 (native) | 0.737, 0.818, 0.771, 0.896, 0.874, 0.870 |
| Y channel only; Cr and Cb only; uniform LBP (59 bins) | 0.875; 0.894; 0.921 |
| HSV LBP; YCrCb + HSV LBP; + colour histograms | 0.845; 0.885; 0.857 |
| colour histograms alone (YCrCb, HSV) | 0.69-0.74 (they learn rooms) |
| regularisation C = 3e-4 / 1e-3 / 3e-3 | 0.928 / 0.932 / 0.927 |
| fitted with synthetic screen attacks added | 0.869 (so the shipped branch is fitted without them) |
| 3 seeds, every 2nd pixel: radius-2 LBP; radius 1 + 2; 128 + 64 px | 0.886; 0.900; 0.901 (vs 0.906 for radius 1 at 128 px) |
| 2 seeds, lossless crops: LBP bit needs neighbour >= centre + 0 / 1 / 2 / 3 levels | 0.929 / 0.918 / 0.933 / 0.920 (NUAA 0.909 / 0.919 / 0.939 / 0.950) |

**Fusion.** A weighted mean of logits of the texture branch and the 2x network trained with
synthetic screens and the 4x network. Texture weight 0.7 is the balance (0.6, 0.7, 0.8 in the
table; 0.5 and 0.9 screened on the classic LBP): 0.8 gains on replay but NUAA ACER rises
(calibrated 4.7% -> 6.2% with tolerance 2); 0.6 loses replay AUC.

**LBP tolerance.** The classic LBP sets a bit when a neighbour is >= the centre, so flat areas
(ties) flip with every level of noise or compression. Requiring the neighbour to be at least 2
levels above the centre raised the texture branch's AUC on both sets (replay 0.925 -> 0.931,
NUAA 0.909 -> 0.941, three seeds) and halved the drift under JPEG (below). The classic-LBP fusion
scored replay AUC 0.936 with a lower calibrated ACER (12.9% ± 1.5) but NUAA 5.4%, and drifts more
under JPEG. Computing texture codes at every 2nd pixel halves the branch's time for about 0.02 AUC.

**Chi-squared map.** A linear model on raw histograms weighs a bin's count linearly; histogram
comparisons work better with the chi-squared distance. The explicit additive chi-squared feature
map (Vedaldi and Zisserman; 2 steps: per bin sqrt(h) and sqrt(h) times cos and sin of log h)
makes the same logistic regression act like a chi-squared kernel machine, and it is cheap inside
the graph (a histogram, then element-wise functions and one dot product). Texture branch alone,
three seeds: replay AUC 0.931 -> 0.943 ± 0.002, NUAA 0.941 -> 0.947. Fused (texture 0.7, networks
0.15 each): replay AUC 0.946 ± 0.009, calibrated ACER 13.1% ± 1.6; NUAA AUC 0.993, ACER 4.5%.

**A 2x2 grid.** One histogram per channel in each quadrant of the 4x view instead of one for the
whole view. The face sits at the centre, so the quadrants keep apart what is above and below it
(a bezel's top edge, the hand and the phone's lower half, a paper's edge) and left and right.
Texture branch alone, three seeds: replay AUC 0.943 -> 0.957 ± 0.006, NUAA 0.947 -> 0.988; with
the networks it was an earlier default (texture 0.8, networks 0.1 each): webcam-replay AUC
0.962 ± 0.005, ACER 10.9% ± 0.6 with the calibrated threshold (13.1% at 0.5); NUAA AUC 0.998,
ACER 2.3% (2.8%). Texture weight 0.7 gives replay 0.957 / 11.3% and NUAA 0.999 / 2.0%: a tie on
the mean of the two calibrated ACERs; 0.8 was kept for the higher replay AUC. Earlier defaults:
the chi-squared model without the grid 0.946 / 13.1% (NUAA 4.5%), the raw-histogram model 0.940 /
14.2% (NUAA 4.7%), the networks-only model 0.829 / 27.3%. Other splits (texture alone, three seeds,
replay / NUAA AUC): 2 rows 0.950 / 0.976, 2 columns 0.951 / 0.966, 3x3 0.929 / 0.996 (the face
alone in the middle cell: prints separate, replays do not), 4x4 0.947 / 0.995. Codes at every 2nd
pixel with the grid: 0.941 / 0.977. Around the kept 2x2 setting: + the whole view's histograms
0.959 / 0.985; tolerance 3 0.944 / 0.987; the view at 64 px 0.928 / 0.979; a 3x view at 96 px
0.946 / 0.987; + a second grid at 64 px 0.957 / 0.992; none is clearly better. The regression's
C with the grid: 1e-4 0.957 / 0.982, 1e-3 0.952 / 0.989 (3e-4 kept).

**Two scales of the grid texture.** The outside check (table above) showed the 128 px grid
branch turning away 22% of the new camera's live frames (26% at JPEG 95). The same branch on the
4x view pooled to 64 px reads coarser texture, which compression and a camera's own processing
change less: alone it is weaker on the held-out groups (replay AUC 0.928, NUAA 0.979) but rejects
5% of the outside live frames, raw and at JPEG 95, and accepts 5% of its replay. The two fused,
each its own regression, at 0.7 / 0.3 of the texture weight: held-out replay AUC 0.962 ± 0.005,
calibrated ACER 11.4% (128 px alone 0.957 / 11.8%), NUAA 0.990 / 5.6% (0.988 / 6.7%); on the
outside videos (exploratory script) 11% / 13% of live frames rejected and none of the replay's
accepted. At 0.5 / 0.5: 0.961 / 12.2%, outside 6% / 7% / 1%. With the networks (texture 0.56 at
128 px + 0.24 at 64 px, networks 0.1 each) it was the previous default: webcam-replay AUC
0.964 ± 0.003, calibrated ACER 10.5% ± 0.7 (APCER 11.1%, BPCER 9.9%; 13.4% at 0.5); NUAA AUC
0.999, ACER 2.0% ± 0.1; against 0.962 / 10.9% and 2.3% with the 128 px branch alone. The 64 px
view costs a quarter of the 128 px branch's codes. Other weights (replay / NUAA calibrated ACER):
0.48 / 0.32 at the two scales 0.964 / 10.5% and 1.9%; 0.4 / 0.4 0.963 / 10.7% and 2.0%; 0.63 /
0.27 with networks at 0.05 each 0.966 / 10.3% and 3.4%. The 0.7 / 0.3 split was the first tried
and was kept, not tuned further on the same groups.

**Central-difference networks with pixel-wise supervision (trained on a GPU).** Every network
above looks at its whole view and gives one logit, and with 16 replay groups it can learn a room or
a pose instead of a screen. `cdcnet` (`liveness/model.py`) is built from central difference
convolutions (Yu et al., CVPR 2020), which respond to local intensity differences (print dots,
screen pixels, moire) as well as to intensity, and is trained pixel-wise (DeepPixBiS, George and
Marcel, ICB 2019): each cell of a 16x16 map of the 4x view at 128 px must say real or fake on its
own, and the image's logit is the map's mean. About 49k parameters; exported as plain
convolutions (a central difference convolution is one convolution with a changed centre tap),
1.1 ms a face on one core. 30 epochs, batch 32, Adam 1e-3. These rows were trained on an NVIDIA
H200 (this task's 15-minute lease; `generalise.py PACK --device cuda`), five settings at a time,
1.5-3 min per seed for the 4 folds; on this CPU an epoch of a fold's 2,460 images takes about 17 s
(148 images/s, `docs/training.md`), so about 35 min per seed. The GPU read the dataset packed at 128 px (`pack_dataset` in `benchmarks/common.py`,
lossless): the 4x view at 128 px has exactly the pixels of the full crops, and augmentation sampled
from a 2x-upsampled copy. Alone (three seeds): strong augmentation replay AUC 0.892 ± 0.014, NUAA
0.935; paper augmentation 0.903 ± 0.016, NUAA 0.990; plain convolutions (`pixnet`, the ablation)
0.860 ± 0.059, NUAA 0.957; the 4x view at 64 px 0.862 ± 0.056; 60 epochs (one seed) 0.915, NUAA
0.997. That is the best any network reached here (the 4x LivenessNet: 0.796) but still short of
the texture branch (0.957). Central differences helped against the same network with plain
convolutions (0.892 ± 0.014 against 0.860 ± 0.059). On the outside videos the 30-epoch networks at
128 px, trained on all the data, turn away none of the live frames, raw or at JPEG 95, and let
through none of the replay's (the texture branch at 128 px: 22% / 26% / 1%); the 60-epoch one
turns away 23%, so longer training learned something this camera does not share. In fusions with the two texture scales (table):
0.3 of cdcnet lifts replay AUC to 0.970-0.971 and brings the calibrated ACER to 9.8-10.2%, but NUAA ACER
rises to 4.6-5.1% (the texture + LivenessNet default: 2.0%), because the cdcnets are weak on
prints; with both cdcnets at 0.2, 0.973 / 9.6% and NUAA 4.4%. The previous default kept cdcnet
(strong augmentation) at 0.1 beside the two LivenessNets at 0.1 each and the texture at 0.49 (128 px)
+ 0.21 (64 px), the only mix screened that was better than the default before it on all three
measures, by less than the spread over seeds: webcam-replay AUC 0.966 ± 0.002, calibrated ACER 10.0% ± 1.0 (APCER
10.6%, BPCER 9.3%) against 0.964 ± 0.003 / 10.5% ± 0.7; NUAA AUC 0.999, ACER 1.7% ± 0.1 against
2.0% ± 0.1. On the outside live video it turned away 5% of frames raw, 7% at JPEG 95 and 7-11% at
90-70 (the default before it 7%, 7%, 11-13%), and let through none of the replay's. It was chosen
among 8 fusions on these same groups, so the small held-out gain is optimistic; the outside video,
which no choice was tuned on, agreed in direction. The cdcnet in the model file was trained on all
the data on the GPU (seed 0, 62 s; `generalise.py --save-final`, `make_default_model.py --extra
ROW=W --extra-weights DIR`); without `--extra-weights` it trains on the CPU (about 11 min).

**Local phase quantisation: a second texture code (kept).** An LBP bit compares two pixels,
and a camera's sharpening, its blur and JPEG all change such comparisons. LPQ (Ojansivu and
Heikkila 2008; one of the colour-texture codes of Boulkenafet et al.) codes instead the signs of
the real and imaginary parts of each 7x7 neighbourhood's Fourier coefficients at the four lowest
non-zero frequencies: a phase that a mild symmetric blur leaves in place. `PhaseTexture`
(`liveness/model.py`) computes it inside the graph (eight fixed 7x7 convolutions per channel),
then the same 2x2 grid histograms, chi-squared map and regression as the LBP branch, on the same
4x view at 128 px. As with LBP, a tolerance matters: a part must exceed 20 levels to set its bit,
so a flat neighbourhood codes 0 instead of noise (texture branch alone, three seeds, replay / NUAA
AUC: no tolerance 0.851 / 0.996; 10, 20, 30, 40, 80, 160 levels 0.922, 0.929, 0.914, 0.902, 0.882,
0.831 on replay; windows 3 and 5 0.888 and 0.909 at the best tolerance tried (6 and 20); the coefficients
decorrelated (rho 0.9), no tolerance, 0.870; the 4x view at 64 px 0.855; C 1e-3 0.920; codes at
every 2nd pixel 0.926 / 0.992; the Y channel alone 0.921 / 0.989, Cr and Cb alone 0.865 / 0.967, and
in the shipped mix Y alone, a third of the branch's convolutions, gives NUAA ACER 2.3% against
1.6%). Alone: replay AUC 0.929 ± 0.021 (the LBP grid branch: 0.957) but
NUAA AUC 0.997 ± 0.001, calibrated ACER 2.6%, the best single branch on prints here (LBP: 0.988 /
6.7%); on the outside videos it turns away 0% of the live frames raw and 1% at JPEG 95 (LBP at 128
px: 22% / 26%) but lets 32% of the replay's frames through. It complements LBP rather than
replacing it. In fusions (21 with LPQ screened on these groups; 9 are in the tables) LPQ at 0.2-0.3
beside the LBP branches and cdcnet gives replay AUC 0.971-0.976 and calibrated ACER 8.6-9.5%
(without LPQ: 0.968-0.971, 9.8-10.0%), and on the outside videos turns away 3-5% of the live frames
raw and 5-11% at JPEG 95 (without: 7-10%, 11-13%); NUAA ACER stays at 3-4% unless the LivenessNets
stay in. Dropping the 64 px LBP view for LPQ (0.5 at 128 px + LPQ 0.2 + cdcnet 0.2 + LivenessNets
0.05 each) held the held-out figures (0.974, 8.5%, NUAA 1.7%) but on the outside live video turned
away 9% at JPEG 95 and 13% at 90-70, so the 64 px view stays. The default that shipped with it,
before HOG (below): LBP at 0.35 (128 px) + 0.15 (64 px), LPQ 0.2, cdcnet 0.2, the LivenessNets
0.05 each: webcam-replay AUC 0.975 ± 0.003,
calibrated ACER 8.3% ± 0.0 (APCER 9.0%, BPCER 7.6%) against 0.966 ± 0.002 / 10.0% ± 1.0 for the
previous default; NUAA AUC 0.999, ACER 1.6% ± 0.4 against 1.7% ± 0.1. On the outside live video
it turns away 2% of frames raw, 3% at JPEG 95 and 5-7% at 90-70 (previous: 5%, 7%, 7-11%) and
lets through none of the replay's, though the replay's mean P(real) rose from 0.14 to 0.20. The
replay AUC gain is about three times the spread over seeds, but the mix was picked among 21 on
the same groups; the outside video agrees in direction. Cost: the LPQ branch is the model's
largest (its convolutions), so the model took about 7.9 ms a face against 5.5 ms.

**Histograms of oriented gradients: the edges around the face (shipped).** Every branch above
reads texture, histograms of tiny neighbourhoods; none reads where the long edges are. Yet what
gives most replays away to a person looking at the worst group (sudipto0315, about half of whose
replays the model before this one accepted; 39% with HOG, 41% with the face branch too, seed 0) is the layout: a phone's bezel around the face, the hand holding it,
the screen's straight border against the room. HOG (Dalal and Triggs 2005) is the classic
descriptor of that layout. `GradientHistogram` (`liveness/model.py`) computes it inside the graph
on the Y channel of the whole 4x context at full resolution (256 px): central-difference
gradients, each pixel's magnitude shared between the two orientation bins nearest its unsigned
orientation (9 bins of 20 degrees; the share max(0, cos 2(theta - centre) - cos 40 degrees)
normalised, computed from products of the gradient, no arctangent), bilinear votes to the
centres of 8x8 cells of 32 px (two matrix products), blocks of 2x2 cells L2-Hys normalised, then a
logistic regression (C 3e-4) on the 1,764 block values. The gradients next to pure black pixels
are left out: where the 4x square overruns the camera frame, the black padding's straight edge
says how large and where the face is, not whether it is live. Screening (branch alone, three
seeds, replay / NUAA AUC): OpenCV's HOGDescriptor on the 4x view at 64 px (8 px cells) 0.896 /
0.992, at 128 px (16 px cells) 0.930 / 0.997, at 256 px (32 px cells) 0.945 / 0.998, 32 px
0.870, 18 bins 0.905, each of Y, Cr and Cb 0.896-0.911, gamma correction 0.944, no Gaussian
block window 0.943; in the graph form, bins by a power of the cosine 0.870-0.917, by the
two-nearest-bin share 0.922, + the padding left out 0.925, + bilinear cell votes 0.934, both
0.947 ± 0.008 (calibrated ACER 12.9%, against 18.1% for OpenCV's), NUAA 0.996; 4 or 16 cells a
side 0.905 / 0.926, 18 signed bins 0.932, the view at 128 px 0.924, C 1e-3 / 1e-4 0.946 / 0.945,
blocks not normalised 0.833. The tight 2x view at full resolution (128 px) scores 0.808: HOG reads
the wide context, the margin idea again. Alone it turns away 1% of the outside live video's
frames raw and 1% at JPEG 95 and lets none of the replay's through, the first texture-like
branch to make no more errors there than cdcnet. In fusions (26 with HOG screened on these
groups, 17 with the shipped setting; 7 are in the tables), with the LivenessNets in, it lifts
replay AUC from 0.975 to 0.983 and lowers the calibrated ACER from 8.3% to 7.0-7.1%, NUAA ACER
1.6% -> 1.1-1.4%; without the LivenessNets replay scores 0.982-0.984 / 6.5-6.6% but NUAA ACER
rises to 2.4-3.5% (on the outside videos those two turn away 2-4% of the live frames raw, 3-6% at
JPEG 95, and accept no replay frame); HOG in place of LPQ scores 0.981 / 7.9% / 1.7%, so both stay. The
default that shipped with it, before the face branch (below): LBP 0.25 (128 px) + 0.1 (64 px), LPQ 0.15, HOG 0.2,
cdcnet 0.2, the LivenessNets 0.05 each: webcam-replay AUC 0.983 ± 0.002, calibrated ACER 7.1% ± 0.8 (APCER
7.5%, BPCER 6.7%), NUAA AUC 1.000, ACER 1.1%. On the outside live video it turns away 1% of the frames raw, 3% at JPEG 95 and 3-5% at
90-70 (the model before it: 2%, 3%, 5-7%) and lets through none of the replay's (mean P(real) 0.19,
before 0.20). The replay AUC gain is three to four
times the spread over seeds; the mix was picked among the 17 on the same groups, and the outside
video, which no choice was made on, agrees. Cost: the HOG branch reads the context at full resolution, 256x256 pixels, and is
the model's largest part (23% of ORT's profile), so the model takes about 11.0 ms a face against
7.9 ms (`docs/speed.md`). The same branch on the 4x view pooled to 128 px costs about a third
(1.1 ms against 3.5 ms for the branch alone in ORT, input conversion included) and in the shipped
mix scores replay AUC 0.982, calibrated ACER 7.6%, NUAA 1.2% (table): the cheaper choice where
frame rate matters more than half a point of ACER.
frame rate matters more than half a point of ACER.

**The face's own texture beside the context (shipped).** Every branch above reads the 4x
context, and the worst errors left are context confusions: a live face in an office full of
monitors (Vicky2003rit: nearly all its live frames rejected), a phone held up against a bright
window (sudipto0315). The face itself carries what a print or a screen does to skin texture,
without the room. A branch on the face box alone (1x, no context, 64 px: the context's own resolution) sees none of that room.
Alone (three seeds, replay / NUAA AUC): LPQ codes 0.814 / 0.991, LBP codes 0.774 / 0.969, HOG 0.717
/ 0.965; the 1.5x and 2x views with LPQ 0.830-0.864 / 0.981-0.993, LBP on the 2x view 0.874 / 0.963,
HOG on the 2x view 0.808 / 0.989. None is a replay detector, but beside the context branches (29
such fusions screened, 6 in the tables) the face LPQ branch at 0.1 takes NUAA ACER from 1.1% to
0.6-0.7% and leaves replay as it was (AUC 0.983-0.984, calibrated ACER 6.9-7.0%); at 0.2, or as
LBP, HOG, the 1.5x or 2x view, or two face views, replay falls back (AUC 0.976-0.983, ACER
7.2-8.8%). **The mix shipped with it: LBP 0.15 (128 px) + 0.1 (64 px), LPQ 0.15, HOG 0.2, face LPQ 0.1, cdcnet
0.2, the LivenessNets 0.05 each** (shipped again with bounded logits, below; the face branch's weight taken from the 128 px LBP view, whose
0.25 and 0.15 score alike): webcam-replay AUC 0.983 ± 0.002, calibrated ACER 6.9% ± 0.9 (APCER
7.4%, BPCER 6.4%), NUAA AUC 1.000, calibrated ACER 0.6% ± 0.1 (goal <= 1%: met). The NUAA gain is
two to five times the spread over seeds, but it was picked among the 29 on the same subjects,
and NUAA has only 8 of them. On the outside live video the model turns away 0% of the frames raw,
0% at JPEG 95 and 0-1% at 90-70 (the model before it: 1%, 3%, 3-5%) and lets through none of the
replay's (mean P(real) 0.22, before 0.19). Its cdcnet was trained again for it, on this CPU with the
same recipe (the GPU-trained file was gone); alone, that network rates the outside live frames lower
than the GPU-trained one did (mean P(real) 0.51 against 0.57), so the gain there is not the
network's. Cost: the branch reads 64x64 pixels, a sixteenth of the HOG branch's; the model takes
8.8 ms a face against 8.5 ms for the model before it, measured the same day (`docs/speed.md`; that
day's machine ran the model before it in 8.5 ms, not the 11.0 ms of the day it shipped).

**Bounded branch logits (shipped).** A check of camera conditions on the outside videos
(`benchmarks/camera_sensitivity.py`, `docs/camera_sensitivity.md`: lower resolution, zoom, blur,
mirroring, light, colour, sensor noise, sharpening) found one way through: Gaussian sensor noise,
independent per pixel and channel, as a small sensor in dim light gives, on the replay video. The
model before this one let through 13% of the replay's frames at a standard deviation of 3 levels,
94% at 6 and 100% at 10 (25% at 6 after the web page's JPEG 95); of the other settings only the
strongest sharpening let one frame in a hundred through.
The branch that gives way is the 128 px LBP one: noise makes a screen's flat areas code like skin,
and its logit rises from -1.7 to +9 on average at 6 levels, where 99% of held-out frames stay within
-5.1..+3.9; at weight 0.15 that alone outvotes the other seven branches. The others hardly move
(LPQ's tolerance of 20 levels ignores such noise, HOG reads long edges, the networks pool). Each
hand-crafted branch's logit is now clipped to +-2 before the weighted mean (`bounded_logit`,
`liveness/model.py`): one branch can lean the fusion, not decide it. Held out (the same runs,
clipped at fusion; replay AUC / calibrated ACER): +-1 0.979 / 7.6%, +-1.5 0.982 / 7.2%, +-2 0.983 /
7.0%, +-2.5 and +-3 0.983 / 6.9%, unclipped 0.983 / 6.9%; NUAA ACER 0.5-0.6% throughout. Clipping the
networks too (+-2 to +-5) gave replay 0.984-0.985 / 6.7-6.8% but NUAA 0.7-1.1%. **Shipped: the same
mix, hand-crafted logits within +-2**: webcam-replay AUC 0.983 ± 0.003, calibrated ACER 7.0% ± 0.9
(APCER 7.5%, BPCER 6.4%), NUAA AUC 1.000, ACER 0.6% ± 0.1: a tenth of a point of replay ACER, within the
spread over seeds, for a replay that noise no longer carries through: of its noisy frames the
shipped model lets through 0% at 3 levels, 26% at 6 and 84% at 10, and 1% at 6 after JPEG 95 (before:
13%, 94%, 100% and 25%); on every other setting of the check, live or replay, it decides as before
(`docs/camera_sensitivity.md`). Strong noise still wins in the end (84% at 10 levels): with a camera
that noisy it is the challenge step that has to stop a replay. Tried first:
fitting the LBP branches with a noisy copy of every training context (0.5-4 levels at 256 px): the
128 px branch alone held out 0.957 -> 0.949, in the fusion 0.981 / 7.3% and NUAA 0.9%, and on the
noisy outside replay its own mean P(real) fell from 0.91 to 0.42 (3 levels) and from 1.00 to 0.75 (6):
a partial cure at a held-out cost, not shipped. The check also found that the texture branches are
not mirror-symmetric: with the live video mirrored, 17% of its frames fall below the threshold (the
LBP and LPQ branches' logits drop by 1.4-2.9, the LivenessNets' rise). The web page sends the camera's
frames unmirrored; for sources that mirror, `LivenessDetector(mirrored=True)` (`authenticate
--mirrored`) flips each crop back before scoring, which gives the unmirrored crop (0% turned away).
Fitting with mirrored copies, which would make the branches symmetric, cost held-out replay AUC
when tried (0.943 -> 0.926, below).

**A contrast-adaptive tolerance (tried, not shipped).** A fixed tolerance of 2 levels is a large
step in a dim, flat view and a small one in a bright, contrasty view, and the group whose live
frames were rejected most (Foxriver-2005) is a dark room. `ColourTexture(sigma_step=)` gives each
image and channel its own tolerance, max(tolerance, ceil(sigma / step)), sigma being that
channel's standard deviation over the view. With max(1, ceil(sigma / 24)) (about 2-3 levels for
Y, 1 for Cr and Cb, whose spread is small), texture branch alone, three seeds: replay AUC 0.957 ->
0.964 ± 0.003, calibrated ACER 11.8% -> 9.6%; NUAA AUC 0.988 -> 0.986. Fused like the previous
default (texture 0.8, networks 0.1 each): webcam-replay AUC 0.967 ± 0.002, calibrated ACER 9.0% ±
0.4 (APCER 10.0%, BPCER 8.0%) against 0.962 / 10.9%; NUAA AUC 0.997, ACER 3.2% against 2.3%; over
10-frame windows replay 0.992 / 4.1%, NUAA 0.8%. On held-out groups it is also less moved by JPEG
(`docs/jpeg_sensitivity.md`: replay BPCER 8.9% -> 9.2% at quality 95, against 11.9% -> 14.0%).
But on the two videos outside ../shared (a new person and camera, live and replayed) it did much
worse: the fused candidate turned away 19% of the live frames raw and 32% at JPEG 95 (that
default 9% and 16%). The texture branch alone, fitted on all groups and decided at its out-of-fold
EER threshold, per setting (an exploratory screen with per-channel tolerances; the settings the
library expresses are in the outside-check table above, from generalise.py; held-out groups,
three seeds; videos: share of live frames rejected, raw / JPEG 95, and of replay frames
accepted; s/N: max(1, ceil(sigma / N))):

| Y / Cr, Cb tolerance | replay AUC | replay calibrated ACER | NUAA AUC | live video rejected | at JPEG 95 | replay video accepted |
|---|---|---|---|---|---|---|
| 2 / 2 (as shipped) | 0.957 | 11.8% | 0.988 | 23% | 26% | 1% |
| s/24 / s/24 | 0.964 | 9.6% | 0.986 | 45% | 69% | 10% |
| 2 / 1 | 0.958 | 10.7% | 0.987 | 29% | 42% | 5% |
| s/24 / 2 | 0.958 | 12.0% | 0.986 | 16% | 29% | 4% |
| s/24 / 3 | 0.942 | 14.4% | 0.986 | 23% | 39% | 2% |
| s/24 / s/8 | 0.952 | 11.3% | 0.981 | 38% | 51% | 0% |
| s/24 / s/12 | 0.955 | 11.3% | 0.984 | 25% | 44% | 18% |
| s/16 / 2 | 0.948 | 14.2% | 0.984 | 15% | 24% | 2% |
| 1 / 2 | 0.950 | 13.0% | 0.986 | 7% | 11% | 3% |
| 1 / 1 | 0.943 | 12.7% | 0.985 | 5% | 11% | 21% |

Cr and Cb at 1 (s/24 is 1 for them) is what separates the held-out groups better (replay AUC
0.958-0.964), and with Y at 2 or s/24 it is what fails on the new camera (29-45% of its live
frames rejected, against 16-23% with Cr, Cb at 2); a lower Y tolerance helps the new camera and
costs on the groups. No row is better on both, so the shipped tolerance stays at 2. The videos are one person and one camera, so this is
a warning rather than a measurement, but it is the only data here that no choice was made on.
The outside-check table above shows the same for the settings the library expresses, and it
backs the 2x2 grid: without the grid the texture branch accepts 24% of the replay's frames, with
it 1%, for more live frames rejected (22% against 12% raw, 26% against 23% at JPEG 95).
Screened first (replay / NUAA AUC): divisor 16 / 20 / 28 / 32 instead of 24, 0.953 / 0.960 /
0.964 / 0.962 on replay; a floor of 2, 0.959; C 1e-4 / 1e-3, 0.964 / 0.961 (NUAA 0.979 / 0.988).

Screened beside it (texture branch alone, three seeds, lossless crops; replay / NUAA AUC):

| what | replay AUC | NUAA AUC |
|---|---|---|
| chi-squared map, C 3e-4 (kept) / 1e-3 | 0.943 / 0.939 | 0.947 / 0.955 |
| map with 1 / 3 steps | 0.937 / 0.941 | 0.933 / 0.952 |
| square-root (Hellinger) histograms; log histograms | 0.936; 0.922 | 0.945; 0.954 |
| exact chi-squared kernel SVM (seed 0, best of 6 settings); gradient-boosted trees (seed 0) | 0.917; 0.886 | 0.934; 0.951 |
| codes only where the 4x square lies inside the frame (black padding left out) | 0.935 | 0.953 |
| + a second view's histograms (2x at 128 or 64 px, 1x at 64, 4x at 256 or 64) | 0.914-0.944 | 0.958-0.972 |
| + tolerance-3 histograms | 0.942 | 0.962 |
| + log-magnitude spectrum of the Y channel (16x16 bins, 4x or 2x view) | 0.932-0.938 | 0.963-0.974 |
| fitted with mirrored copies (and mirrored test-time average) | 0.926 | 0.951 |

Nonlinear learners fit the 24 groups and lose on unseen ones. Leaving the black padding out
costs replay AUC: how far the 4x square overruns the frame (how large the face is) carries
information here (a held-up phone tends to fill the view). It is kept, and named as a possible
shortcut: a user far from the camera has more of the frame in view and less padding. The spectrum
shows no moire at these resolutions; it and the face-region views help prints, which the
networks already cover.

**Lossless crops.** `collect` first stored context crops as JPEG (quality 95). The texture
branch then learned the re-encoding: on fresh crops of the same frames the first fused model's
attack scores rose by 0.16 on average (APCER at its threshold 1% -> 32% on 200 webcam-replay
frames). Crops are now stored as PNG, and the texture rows above were measured on them; the
network rows were measured on the JPEG crops and not rerun (about 25 minutes per setting and
seed on this machine), so the fused rows mix the two. A check with one seed, the 4x network on
lossless crops (`generalise.py DATASET --configs "livenessnet, m4.0, paper aug" --out OTHER.json`):
replay AUC 0.816 vs 0.792 on the JPEG crops, NUAA 0.944 vs 0.972, within the spread over seeds.

**JPEG frames.** The texture branch reads fine texture, and JPEG compression of the camera
frame smooths it, so everything looks a little less live. `benchmarks/jpeg_sensitivity.py`
(`docs/jpeg_sensitivity.md`) scores the live and the replay video (never trained on) raw and after
a JPEG round trip of the frame. Share of live frames below the threshold, raw / quality 95 / 90 /
80 / 70: raw-histogram tolerance-2 model 4% / 14% / 21% / 21% / 27%; chi-squared model without
the grid 3% / 4% / 8% / 7% / 7% (mean P(real) 0.620 raw, 0.537 at quality 70); the single-scale
grid model 9% / 16% / 21% / 23% / 21%; the two-scale model 7% / 7% / 11% / 12% / 13%; the shipped
model before LPQ (two scales + cdcnet) 5% / 7% / 8% / 7% / 11%; the model before HOG (+ LPQ)
2% / 3% / 7% / 5% / 6%; the model before the face branch (+ HOG) 1% / 3% / 3% / 3% / 5%; the
shipped model (+ the face branch) 0% / 0% / 1% / 0% / 0%. The
square root in the map shrinks the effect of the many small changes that compression makes to the
flat-area bins, and the 64 px view reads texture coarser than compression's. The replay video
stays below the threshold at every quality for all of them. On held-out groups the LPQ branch
alone moves less under JPEG 95 than the LBP one (replay BPCER 15.1% -> 16.0%, against 11.9% ->
14.0%; `docs/jpeg_sensitivity.md`), and the HOG branch hardly at all (replay APCER 11.9% -> 12.3%, BPCER 14.5% ->
14.2%). The face branch (LPQ of the face box alone, 64 px) moves most on prints (NUAA BPCER 10.4% ->
15.8%); at its weight of 0.1 in the shipped mix the outside live video stays at 0% turned away at
quality 95. An earlier check (classic LBP)
found that on held-out groups JPEG keeps the AUC but moves the operating point (BPCER 17% -> 37%
at quality 85), and that fitting with JPEG-compressed copies did not remove the shift, so it is not
used. Rechecked with the 128 px grid texture branch (chi-squared map; three seeds): fitting with
JPEG-95 copies of every training frame leaves the held-out shift as it was (replay BPCER at JPEG
95 14.4% against 14.0%), costs a little on replay (AUC 0.955, calibrated ACER 12.4% against 0.957
/ 11.8%), and on the outside videos rejects fewer live frames (16% raw, 20% at JPEG 95, against
23% and 26%) but accepts more replay frames (3% against 1%): no clear gain, so still not used.
The web page sends frames at JPEG quality 0.95.

**Calibration.** BPCER at 0.5 is high for every setting; deciding each fold at the EER threshold
of the other folds lowers ACER by 2-4 points for the fused rows. The shipped model's threshold
(0.45) is that EER threshold over all of its out-of-fold scores.

**What did not help.** MiniResNet with strong colour/blur/noise augmentation (0.657 on
replay); synthetic screens for the texture branch (above); the tight 1x crop in any fusion
(it drags replay AUC down, though it is the best single view for prints). Weighting every
group and class equally in the texture regression (replay AUC 0.636; with the square root of
those weights 0.871): the few frames of the small groups then dominate. Learning the fusion
instead of fixing it: a logistic regression on the three branches' out-of-fold logits, fitted
on the other folds, scored replay 0.948 / 12.2% (fixed weights 0.962 / 10.9%, previous texture);
z-scored logits at texture weight 0.7 gave 0.961 / 10.7%, no better. Rechecked with the seven
branches of the model before the face branch (three seeds): the learned fusion (non-negative weights,
both datasets and classes weighted equally, C 0.01-1) scores 0.973 / 8.6-9.0%, NUAA 1.7-2.4%,
against 0.983 / 7.1% / 1.1% for the fixed weights. Its weights (0.13-0.31 for each of the 128 px
LBP, LPQ and HOG branches, 0.1-0.26 for cdcnet) resemble the fixed ones; the gap is the cost of
choosing per fold, and so also a measure of how optimistic weights picked on all folds are. Other
poolings of the 128 px LBP view, alone: a 3x3 grid 0.929, the 2x2 grid plus a centre cell 0.923,
centre and surround 0.922 (2x2: 0.957); LBP of H, S and V instead of Y, Cr and Cb 0.925 / 0.976;
added to that mix at 0.1 or 0.2 none helped on both sets (replay 0.980-0.983, ACER 6.9-8.1%, NUAA
1.0-1.8%; the best, HSV at 0.1, 0.983 / 6.9% but NUAA 1.4%). Colour alone, without texture: square-rooted
16x16-bin Cr-Cb histograms of the context (2x2 grid) or of the face box score replay AUC 0.61-0.72,
NUAA 0.71-0.84, and beside the shipped branches at 0.1 or 0.2 none helps both sets (replay
0.973-0.983, ACER 7.0-9.4%; NUAA 0.4-1.2%, the lowest where replay falls to 0.973 / 9.4%).
Long straight edges (a bezel, a paper's border) as profiles: the signed Y gradient of the 4x
context at 256 px averaged down each column (and along each row) within 2-8 bands, its magnitude's
peak per 8 or 4 pixels, scaled by the view's mean gradient (up to 512 values): alone replay AUC
0.68-0.82, NUAA 0.82-0.96, and beside the shipped branches at 0.1 or 0.2 replay falls (0.976-0.982,
ACER 7.3-8.8%, NUAA 0.9-1.3%); HOG's cells already hold those edges. HOG of the Cr or Cb channel
(same 256 px view and blocks), alone 0.850 / 0.869 (both 0.879), NUAA 0.95-0.98; beside the
shipped branches at 0.1 replay 0.983 / 6.8% and NUAA 0.9-1.1%, at 0.2 worse: no gain on replay
beyond the spread over seeds, and NUAA loses.
Synthetic screen attacks (one per live frame, from the training groups) in the regressions'
training folds: HOG 0.947 -> 0.941, the 128 px LBP branch 0.957 -> 0.893; that HOG branch in the
mix 0.983 / 7.3% / 1.2%. The synthetic screens look like attacks in ways no real one does.

**Worst errors.** Listed per group above ("Decisions over several frames") for the shipped
setting: a few groups, most of them small, carry most of the ACER. By how much of the 4x context
lies beyond the camera frame (black padding; shipped setting, seed 0, held-out webcam-replay
frames at each fold's threshold), live frames turned away: under 5% padding 11% (35 frames),
5-25% 16% (292), 25-50% 3% (466), 50-75% 4% (209); attacks let through: 1% (262), 5% (286), 6%
(176), 19% (162), and 7 of 9 above 75%. A large or off-centre face does not make a live face look
fake here; it hides the surroundings that give an attack away. On the outside live video the face
enlarged about itself to 310 px (0.65 of the frame's height) is still accepted, at 356 px (0.74)
23% of its frames are turned away, and a session asks a user that close to move back
(`docs/camera_sensitivity.md`).

**Caveats.** The texture settings and the fusion weight were chosen on folds of the same 24 groups
(seed-0 folds first, then all three partitions), so these estimates are optimistic; on cameras,
rooms and screens outside ../shared expect worse. The goal (replay ACER <= 5%, AUC >= 0.98, print
ACER <= 1%) is met per frame for the replay AUC and the print ACER: the replay AUC went from 0.70
(paper recipe) to 0.983 (the strongest public model, trained on ~5 million images: 0.978), NUAA
ACER to 0.6% (calibrated), but the calibrated replay ACER is 7.0% (6.9% before the logits were
bounded; no setting screened here reached 5% per frame). Over
windows of 5 and 10 frames of one group (a different measure: a session decides over frames; 10
frames are 1 s at the web page's rate) see "Decisions over several frames" above. The contrast-adaptive tolerance (above) is a warning about choosing on
these groups: it won on them and lost on the only camera outside them.
"""


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


def _mix_row(t128: float, t64: float, lpq: float, cdc: float, nets: float, every: str = "",
             hog: float = 0.0, hog_size: int = 256, face: float = 0.0, face_kind: str = "lpq",
             limit: float = 0.0) -> tuple[str, dict]:
    """(row name, {setting: weight}) of a fusion with the LPQ and/or HOG branch (``nets``: each
    LivenessNet's weight; ``hog_size``: the HOG branch's view, px; ``face``: the weight of the
    ``face_kind`` branch on the face box alone; ``limit`` > 0: the hand-crafted branches' logits
    clipped to +-limit, recorded in LOGIT_LIMITS)."""
    name = (GRIDS.format(t128, t64) if t64 else f"colour texture tolerance 2, chi2 map, 2x2 grid at 128 px {t128:.2g}")
    if lpq:
        name += f" + LPQ{' every 2nd pixel' if every else ''} {lpq:.2g}"
    if hog:
        name += f" + HOG{'' if hog_size == 256 else f' at {hog_size} px'} {hog:.2g}"
    if face:
        name += f" + face {face_kind.upper()} {face:.2g}"
    spec = {GRID_128: t128, GRID_64: t64, LPQ.format(every): lpq, HOG_ROW.replace("256 px", f"{hog_size} px"): hog,
            FACE_ROWS_BY_KIND[face_kind]: face, CDC_S: cdc, CNN_2XS: nets, CNN_4X: nets}
    if cdc:
        name += f" + cdcnet 4x strong aug {cdc:.2g}"
    if nets:
        name += f" + livenessnet 2x+synthetic {nets:.2g} + 4x {nets:.2g}"
    name += f" (logits, hand-crafted within +-{limit:g})" if limit else " (logits)"
    if limit:
        LOGIT_LIMITS[name] = limit
    return name, {k: w for k, w in spec.items() if w}


def part_limits(name: str, spec: dict) -> list[float] | None:
    """Per part of the fusion ``name`` (its ``spec``'s keys, in order) the logit limit, or None."""
    limit = LOGIT_LIMITS.get(name, 0.0)
    return [limit if k.startswith(HANDCRAFTED) else 0.0 for k in spec] if limit else None


TEXTURE_FUSIONS += [_mix_row(*w) for w in (
    (0.49, 0.21, 0.3, 0, 0), (0.49, 0.21, 0.2, 0.1, 0), (0.42, 0.18, 0.3, 0.1, 0), (0.35, 0.15, 0.3, 0.2, 0),
    (0.35, 0.15, 0.2, 0.1, 0.1), (0.35, 0.15, 0.2, 0.2, 0.05), (0.5, 0, 0.2, 0.2, 0), (0.5, 0, 0.2, 0.2, 0.05),
    (0.5, 0, 0.2, 0.2, 0.05, "2nd "))]
# histograms of oriented gradients (the edges' layout) beside them; 26 such fusions were screened (17 with the
# shipped HOG setting), these are reported
TEXTURE_FUSIONS += [_mix_row(*w[:5], hog=w[5]) for w in (
    (0.25, 0.1, 0.15, 0.2, 0.05, 0.2), (0.25, 0.1, 0.15, 0.15, 0.05, 0.25), (0.25, 0.1, 0.1, 0.15, 0.05, 0.3),
    (0.25, 0.1, 0.15, 0.2, 0, 0.2), (0.35, 0.15, 0, 0.2, 0.05, 0.2), (0.35, 0.15, 0, 0.2, 0, 0.3))] + [
    _mix_row(0.25, 0.1, 0.15, 0.2, 0.05, hog=0.2, hog_size=128)]   # the shipped mix, HOG at a quarter of the pixels
# a branch on the face box alone (1x, 64 px: the face's own texture, no context) beside them; 29 such
# fusions were screened (20 adding a 1x, 1.5x or 2x LBP, LPQ or HOG view at 0.1 or 0.2, 9 weightings of the
# face LPQ one), these are reported
TEXTURE_FUSIONS += [_mix_row(*w[:5], hog=w[5], face=w[6]) for w in (
    (0.15, 0.1, 0.15, 0.2, 0.05, 0.2, 0.1), (0.25, 0.1, 0.15, 0.1, 0.05, 0.2, 0.1), (0.25, 0.1, 0.05, 0.2, 0.05, 0.2, 0.1),
    (0.25, 0.1, 0.15, 0.2, 0, 0.2, 0.1))] + [
    _mix_row(0.15, 0.1, 0.15, 0.2, 0.05, hog=0.2, face=0.1, face_kind=k) for k in ("lbp", "hog")]
# the same mix with each hand-crafted branch's logit clipped (1, 1.5, 2, 2.5 and 3 screened): the shipped model
TEXTURE_FUSIONS += [_mix_row(0.15, 0.1, 0.15, 0.2, 0.05, hog=0.2, face=0.1, limit=x) for x in (1.5, 2.0, 3.0)]

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
