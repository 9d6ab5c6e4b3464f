"""Train the shipped default model on all of ../shared/data with the recipe that won the
leave-groups-out comparison (docs/generalisation.md), export it to models/, evaluate it next
to the peer, and write models/MODEL_CARD.md.

Run: .venv/bin/python benchmarks/make_default_model.py DATASET --config NAME
"""
import argparse
import json
import sys

from pathlib import Path

from common import DOCS, ROOT, SHARED
from generalise import CONFIGS, load_saved, network_config, safe_name

LICENCES = """| data | what | terms (from ../shared/data/README.md) |
|---|---|---|
| webcam-replay | 1,902 laptop-webcam frames, 16 collector groups of a public anti-spoofing tutorial; fakes are phone, tablet, monitor and TV replays (one group printed photos); each group's source repository and commit are in its manifest | for training and evaluating this project's models; not to be redistributed |
| nuaa-print | NUAA Photograph Imposter Database (Tan et al., ECCV 2010), 8 subjects, live and hand-held prints | academic research use only |
| celeba-spoof-sample | 150 live web photos and 150 photographed prints from CelebA-Spoof | non-commercial research use only |"""


EXTRA_TEXT = {"cdcnet": "central difference convolutions with pixel-wise supervision, `liveness/model.py`",
              "pixnet": "the cdcnet layout with plain convolutions, pixel-wise supervision"}


def calibrated_text(gen: dict) -> str:
    c = gen.get("calibrated")
    if not c:
        return ""
    cells = "; ".join(f"{d}: APCER {100 * c[d]['apcer']['mean']:.1f}%, BPCER {100 * c[d]['bpcer']['mean']:.1f}%, "
                      f"ACER {100 * c[d]['acer']['mean']:.1f}% ± {100 * c[d]['acer']['std']:.1f}" for d in c)
    return ("With the threshold calibrated on held-out folds (each fold decided at the EER threshold of the "
            f"other folds' scores), as the shipped threshold {gen['eer_threshold']:.2f} is: {cells}.")


def jpeg_text(path) -> str:
    """The model card's sentence on the two outside videos, measured on this model file as
    jpeg_sensitivity.py measures it (raw frames and JPEG round trips at each quality)."""
    from common import video_faces
    from jpeg_sensitivity import QUALITIES, quality_rates
    from marginlive.liveness.runtime import LivenessModel
    rates = quality_rates(LivenessModel(path), {"live": video_faces("live-1.webm"),
                                                "replay": video_faces("replay-1.webm")})
    below = {q: 100 * r["live_below"] for q, r in rates.items()}
    passed = max(100 * r["replay_at_or_above"] for r in rates.values())
    low = [below[str(q)] for q in QUALITIES[2:]]
    rest = ("its replay stays rejected at every quality" if passed == 0 else
            f"{passed:.0f}% of its replay's frames pass at worst")
    return (f"On one live video never trained on, {below['raw']:.0f}% of frames fall below the threshold raw, "
            f"{below['95']:.0f}% at JPEG quality 95 and {min(low):.0f}-{max(low):.0f}% at "
            f"{QUALITIES[2]}-{QUALITIES[-1]} (`docs/jpeg_sensitivity.md`); {rest}.")


def camera_text(path) -> str:
    """The model card's sentences on faces of other sizes and on sensor noise, measured on this
    model file as camera_sensitivity.py measures them (the outside videos rescaled about the face,
    and with Gaussian noise)."""
    from camera_sensitivity import SETTINGS, label, video_rows
    from marginlive.challenge.session import SessionConfig
    from marginlive.liveness.runtime import LivenessModel
    m = {"m": LivenessModel(path)}
    live = video_rows(m, "live-1.webm", 460, [(k, z) for k, z in SETTINGS if k in ("shrink", "zoom")])["m"]
    noisy = [(k, z) for k, z in SETTINGS if k.startswith("noise")]
    replay = video_rows(m, "replay-1.webm", 460, noisy)["m"]

    def at(key):
        return f"{100 * live[key]['below']:.0f}% with the face at {live[key]['face_width_px']:.0f} px"
    passed = ", ".join(f"{100 * replay[label(k, z)]['at_or_above']:.0f}% at {z:g} levels"
                       + (" after JPEG 95" if "JPEG" in k else "") for k, z in noisy)
    return (f"Rescaled about the face (`docs/camera_sensitivity.md`), that live video has {at('shrink 0.5')} "
            f"(a 320x240 camera), {at('zoom 1')} as filmed, {at('zoom 1.5')}, {at('zoom 1.75')} and {at('zoom 2')} "
            "below the threshold: a face that fills most of the frame leaves little context to read, so a session "
            f"counts no frame whose face is larger than {SessionConfig().max_face_fraction:g} of the frame's shorter "
            "side and asks the user to move back. Sensor noise (Gaussian, per pixel and channel, as a small sensor "
            f"in dim light) makes a replay look more live: of the replay video's frames, {passed} pass.")


def main():
    from marginlive.detect import create_detector
    from marginlive.evaluation.evaluate import detect_faces, evaluate_dataset, read_items
    from marginlive.evaluation.scorers import MarginScorer, PeerScorer
    from marginlive.liveness.model import MultiScale
    from marginlive.margin import CONTEXT_MARGIN, CONTEXT_SIZE
    from marginlive.training.dataset import load_dataset
    from marginlive.training.export import export_onnx
    from marginlive.training.synth import add_synthetic_screens
    from marginlive.training.texture import (FACE_MARGIN, FACE_SIZE, HOG_BINS, HOG_CELLS, HOG_SIZE, TEXTURE_MARGIN,
                                             TEXTURE_SIZE, fit_texture, texture_histograms, texture_meta)
    from marginlive.training.train import TrainConfig, save_curves, train
    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("--row", required=True, help="the docs/generalisation_summary.json row this recipe is")
    ap.add_argument("--margins", type=float, nargs="+", default=[2.0], help="one margin, or several to fuse")
    ap.add_argument("--arch", default="livenessnet")
    ap.add_argument("--aug", default="paper")
    ap.add_argument("--balance", action="store_true")
    ap.add_argument("--synth", type=float, default=0.0, help="synthetic screen attacks per live image")
    ap.add_argument("--synth-margins", type=float, nargs="*", help="branches trained with them (default: all)")
    ap.add_argument("--texture", type=float, default=0.0,
                    help="add the colour-texture branch with this fusion weight (the networks share the rest)")
    ap.add_argument("--texture-stride", type=int, default=1)
    ap.add_argument("--texture-tolerance", type=int, default=2, help="the LBP tolerance (the least, with a sigma step)")
    ap.add_argument("--texture-sigma-step", type=float, default=0.0,
                    help="one more tolerance level per this much of a channel's standard deviation (0: fixed)")
    ap.add_argument("--texture-chi2", type=int, default=2, help="chi-squared map steps (0: raw histograms)")
    ap.add_argument("--texture-c", type=float, default=3e-4, help="the texture regression's C")
    ap.add_argument("--texture-grid", type=int, default=2, help="histograms per cell of a GRID x GRID split")
    ap.add_argument("--texture-sizes", type=int, nargs="+", default=[128],
                    help="one texture branch per view size (px) of the 4x context, each its own regression")
    ap.add_argument("--texture-split", type=float, nargs="+", default=None,
                    help="each size's share of the texture weight (default: equal)")
    ap.add_argument("--phase", type=float, default=0.0,
                    help="add a phase-texture branch (LPQ codes of the 4x context at 128 px) with this fusion weight")
    ap.add_argument("--phase-stride", type=int, default=1)
    ap.add_argument("--phase-tolerance", type=float, default=20.0, help="the LPQ tolerance (levels)")
    ap.add_argument("--hog", type=float, default=0.0,
                    help="add a gradient branch (HOG of the 4x context at 256 px) with this fusion weight")
    ap.add_argument("--face-phase", type=float, default=0.0,
                    help="add a phase-texture branch of the face box alone (LPQ, 1x at 64 px) with this fusion weight")
    ap.add_argument("--logit-limit", type=float, default=0.0,
                    help="clip each hand-crafted branch's logit to +-LIMIT (0: not clipped)")
    ap.add_argument("--extra", nargs="*", default=[], metavar="ROW=WEIGHT",
                    help="more network branches: a network row of generalise.py's CONFIGS and its fusion weight "
                         "(the margin networks share what texture and extras leave)")
    ap.add_argument("--extra-weights", metavar="DIR",
                    help="take the extra branches' weights from generalise.py --save-final DIR (e.g. trained on a "
                         "GPU) instead of training them here")
    ap.add_argument("--device", default="cpu", help="where extra branches train without --extra-weights")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=16)
    a = ap.parse_args()
    split = a.texture_split or [1.0 / len(a.texture_sizes)] * len(a.texture_sizes)
    if len(split) != len(a.texture_sizes) or abs(sum(split) - 1) > 1e-6:
        ap.error("--texture-split needs one share per --texture-sizes entry, summing to 1")
    extras = []
    for e in a.extra:
        row, _, w = e.rpartition("=")
        if row not in CONFIGS or "arch" not in CONFIGS[row]:
            ap.error(f"--extra {row!r}: not a network row of generalise.py")
        try:
            extras.append((row, float(w)))
        except ValueError:
            ap.error(f"--extra {e!r}: needs ROW=WEIGHT")
    rows = json.loads((DOCS / "generalisation_summary.json").read_text())
    gen = rows[a.row]
    base = load_dataset(a.dataset)
    synth_ds = add_synthetic_screens(base, a.synth, 0) if a.synth else base
    synth_margins = set(a.margins if a.synth_margins is None else a.synth_margins)
    nets, results = {}, []
    for m in a.margins:
        ds = synth_ds if m in synth_margins else base
        cfg = TrainConfig(arch=a.arch, margin=m, aug=a.aug, balance=a.balance, epochs=a.epochs, batch=a.batch)
        r = train(ds, cfg, show_progress=False)
        nets[m], _ = r.net, results.append(r)
        save_curves(r.history, DOCS / "img" / f"default_model_curves_m{m:g}.png", f"default model branch: margin {m:g}")
    extra_nets = []   # (row, net, config, weight, where it trained)
    for row, w in extras:
        saved = Path(a.extra_weights or "") / (safe_name(row) + ".pt")
        if a.extra_weights:
            if not saved.is_file():
                ap.error(f"{saved}: no saved weights for {row!r} (generalise.py --save-final)")
            net, c = load_saved(saved)
            where = "a GPU" if str(c.get("device", "cpu")).startswith("cuda") else "a CPU"
            extra_nets.append((row, net, c, w,
                               f"trained on all of the data on {where} by `generalise.py --save-final`, seed {c['seed']}"))
        else:
            c = network_config(CONFIGS[row], device=a.device)
            r = train(base, c, show_progress=False)
            extra_nets.append((row, r.net, c.__dict__, w, f"trained here in {r.seconds / 60:.1f} min"))
    seconds = sum(r.seconds for r in results)
    ips = sum(r.images_per_s for r in results) / len(results)
    ds = synth_ds
    out = ROOT / "models" / "marginlive-default.onnx"
    cv = {d: {k: round(v["mean"], 4) for k, v in m.items() if isinstance(v, dict)} for d, m in gen["summary"].items()}
    meta = {"name": "marginlive-default", "arch": a.arch if len(nets) == 1 else f"multiscale({a.arch})",
            "threshold": round(gen.get("eer_threshold", 0.5), 4),
            "training": {"data": ["webcam-replay", "nuaa-print", "celeba-spoof-sample"] + (["synthetic screens"] if a.synth else []),
                         "images": len(ds), "real": int(ds.labels.sum()), "config": cfg.__dict__ | {"margins": a.margins, "synthetic_margins": sorted(synth_margins) if a.synth else []},
                         "recipe": a.row, "images_per_s": round(ips, 1), "seconds": round(seconds, 1)},
            "metrics": {"leave_groups_out_cv": cv, "cv_seeds": gen["seeds"], "cv_folds": 4}}
    if a.texture:  # fitted on the shared data as collected (synthetic screens measured worse for it)
        kw = dict(stride=a.texture_stride, tolerance=a.texture_tolerance, grid=a.texture_grid,
                  sigma_step=a.texture_sigma_step)
        limit = dict(logit_limit=a.logit_limit)
        texs = [fit_texture(texture_histograms(base.contexts, size=size, **kw), base.labels, c=a.texture_c,
                            chi2_steps=a.texture_chi2, **kw, **limit) for size in a.texture_sizes]
        more = []     # (weight, (margin, view size)) of the LPQ, HOG and face branches, after the LBP ones
        lpq = dict(stride=a.phase_stride, tolerance=a.phase_tolerance, grid=a.texture_grid, kind="lpq")
        if a.phase:   # the LPQ branch, at 128 px
            texs.append(fit_texture(texture_histograms(base.contexts, **lpq), base.labels, c=a.texture_c,
                                    chi2_steps=a.texture_chi2, **lpq, **limit))
            more.append((a.phase, (TEXTURE_MARGIN, TEXTURE_SIZE)))
        if a.hog:     # the HOG branch, at full resolution; no chi-squared map (its blocks are normalised)
            texs.append(fit_texture(texture_histograms(base.contexts, size=HOG_SIZE, kind="hog"), base.labels,
                                    c=a.texture_c, kind="hog", **limit))
            more.append((a.hog, (TEXTURE_MARGIN, HOG_SIZE)))
        if a.face_phase:   # LPQ of the face box alone, no context around it
            h = texture_histograms(base.contexts, margin=FACE_MARGIN, size=FACE_SIZE, **lpq)
            texs.append(fit_texture(h, base.labels, c=a.texture_c, chi2_steps=a.texture_chi2, **lpq, **limit))
            more.append((a.face_phase, (FACE_MARGIN, FACE_SIZE)))
        views = [(TEXTURE_MARGIN, z) for z in a.texture_sizes] + [v for _, v in more]   # (margin, size) per branch
        branches = ([(m, t, size) for t, (m, size) in zip(texs, views)] +
                    [(m, n) for m, n in nets.items()] + [(c["margin"], n, c["size"]) for _, n, c, _, _ in extra_nets])
        share = (1 - a.texture - a.phase - a.hog - a.face_phase - sum(w for _, w in extras)) / len(nets)
        weights = [a.texture * f for f in split] + [w for w, _ in more] + [share] * len(nets) + [w for _, w in extras]
        meta.update(input_size=CONTEXT_SIZE, margin=CONTEXT_MARGIN, arch=f"colour-texture + multiscale({a.arch})",
                    branches=[texture_meta(t, w, size, m) for t, w, (m, size) in zip(texs, weights, views)] +
                             [{"margin": m, "arch": a.arch, "size": 64, "weight": round(w, 4)}
                              for m, w in zip(nets, weights[len(texs):])] +
                             [{"margin": c["margin"], "arch": c["arch"], "size": c["size"], "weight": w, "recipe": row,
                               "trained": how} for row, _, c, w, how in extra_nets])
        export_onnx(MultiScale(branches, weights=weights), out, meta, check_crops=base.contexts[:16], deployable=True)
    elif len(nets) == 1:
        meta.update(input_size=64, margin=a.margins[0])
        export_onnx(nets[a.margins[0]], out, meta, check_crops=base.subset(list(range(16))).crops(a.margins[0]))
    else:
        meta.update(input_size=CONTEXT_SIZE, margin=CONTEXT_MARGIN, branches=[{"margin": m, "arch": a.arch} for m in a.margins])
        export_onnx(MultiScale(nets), out, meta, check_crops=base.contexts[:16], deployable=True)
    # in-sample evaluation beside the peer (the honest figures are the cross-validation ones)
    det = create_detector("mediapipe")
    ours = MarginScorer(out)
    peer = PeerScorer(SHARED / "models" / "peer-minifasnet-celebaspoof" / "AntiSpoofing_bin_1.5_128.onnx")
    ins = []
    for d in ("webcam-replay", "nuaa-print"):
        name, items = read_items(str(SHARED / "data" / d / "manifest.csv"))
        faces = detect_faces(items, det, [ours, peer], d)
        for sc in (ours, peer):
            m = evaluate_dataset(name, faces, sc)["metrics"]
            ins.append(f"| {d} | {sc.name} | {m['auc']:.3f} | {100 * m['acer']:.1f}% | {100 * m['apcer']:.1f}% | {100 * m['bpcer']:.1f}% |")
    size_kb = out.stat().st_size / 1024
    outside = jpeg_text(out) + " " + camera_text(out)

    def row(d):
        m = gen["summary"][d]
        return (f"| {d} | {m['auc']['mean']:.3f} ± {m['auc']['std']:.3f} | {100 * m['eer']['mean']:.1f}% | "
                f"{100 * m['apcer']['mean']:.1f}% | {100 * m['bpcer']['mean']:.1f}% | "
                f"{100 * m['acer']['mean']:.1f}% ± {100 * m['acer']['std']:.1f} |")
    if a.texture:
        tolerance_text = (f"max({a.texture_tolerance}, ceil(sigma / {a.texture_sigma_step:g})) levels above the centre "
                          "(sigma: the channel's standard deviation over the view)" if a.texture_sigma_step else
                          f"{a.texture_tolerance} levels above the centre")
        views = " and ".join(f"{z}x{z}" for z in a.texture_sizes) + (
            " (one branch per view size, each its own regression)" if len(a.texture_sizes) > 1 else "")
        tex_weights = " + ".join(f"{a.texture * f:.2g} at {z} px" for f, z in zip(split, a.texture_sizes)) \
            if len(a.texture_sizes) > 1 else f"{a.texture:g}"
        shape = (f"- Colour texture + multi-scale network: a colour-texture branch (8-neighbour LBP codes, a bit set "
                 f"where the neighbour is at least {tolerance_text}, of the Y, Cr "
                 f"and Cb channels of the whole 4x context at {views}{', at every 2nd pixel' if a.texture_stride == 2 else ''}"
                 f"{f', one histogram per channel in each cell of a {a.texture_grid}x{a.texture_grid} grid (the face at the centre)' if a.texture_grid > 1 else ''}; "
                 + ("a logistic regression on their histograms after an explicit additive chi-squared map, so it "
                    "acts like a chi-squared kernel machine, all inside the graph) and " if a.texture_chi2 else
                    "a logistic regression on their histograms) and ") +
                 (f"a phase-texture branch (local phase quantisation: the signs of the 7x7 neighbourhood's four "
                  f"lowest-frequency Fourier coefficients, a bit set where a part exceeds {a.phase_tolerance:g} levels, "
                  f"of the same channels and view at 128x128{', at every 2nd pixel' if a.phase_stride == 2 else ''}, "
                  "the same grid, map and regression) and " if a.phase else "") +
                 (f"a gradient branch (histograms of oriented gradients of Y over {HOG_CELLS}x{HOG_CELLS} cells of the "
                  f"whole 4x context at full resolution, {HOG_SIZE}x{HOG_SIZE}: {HOG_BINS} unsigned orientation bins, "
                  "bilinear votes to the cell centres, blocks of 2x2 cells L2-Hys normalised, gradients beside the black "
                  "padding left out; the layout and sharpness of the edges around the face, a bezel's, a hand's, a "
                  "paper's; a logistic regression on the blocks) and " if a.hog else "") +
                 (f"a phase-texture branch of the face alone (the same LPQ codes, grid, map and regression on the "
                  f"face box without context, {FACE_SIZE}x{FACE_SIZE}: the face's own texture, a print's or a "
                  "screen's, whatever surrounds it) and " if a.face_phase else "") +
                 f"{len(nets)} `{a.arch}` branches at margins {', '.join(f'{m:g}x' for m in a.margins)} (64x64 each)"
                 + "".join(f", a `{c['arch']}` branch ({EXTRA_TEXT.get(c['arch'], '')}) on the {c['margin']:g}x view "
                           f"at {c['size']} px ({row}; {how})" for row, _, c, _, how in extra_nets) +
                 f", fused by a weighted mean of logits (texture {tex_weights}"
                 f"{f', phase texture {a.phase:g}' if a.phase else ''}{f', HOG {a.hog:g}' if a.hog else ''}"
                 f"{f', face phase texture {a.face_phase:g}' if a.face_phase else ''}, "
                 f"each `{a.arch}` {share:.3g}"
                 + "".join(f", `{c['arch']}` {w:g}" for _, _, c, w, _ in extra_nets) + "). "
                 + (f"Each hand-crafted branch's logit is clipped to +-{a.logit_limit:g} before the mean, so that no one "
                    "of these linear models, pushed far beyond its training range by a frame unlike any it was fitted "
                    "on (sensor noise on a replay makes the LBP codes look like skin), can outvote the rest. "
                    if a.logit_limit else "") +
                 "Input: the 4x context crop (256x256, face box enlarged 4x about its centre, squared, black outside "
                 "the frame); each branch cuts and pools its view inside the graph, the same arithmetic as in "
                 f"training. Threshold {meta['threshold']:.2f} on P(real): the EER threshold of this recipe's "
                 "leave-groups-out scores.")
    elif len(nets) == 1:
        shape = (f"- Architecture: `{a.arch}`; input: the face box enlarged {a.margins[0]:g}x about its centre (the "
                 "paper's margin ROI), squared, black outside the frame, 64x64. "
                 f"Threshold {meta['threshold']:.2f} on P(real).")
    else:
        shape = (f"- Multi-scale: {len(nets)} `{a.arch}` branches looking at the face at margins "
                 f"{', '.join(f'{m:g}x' for m in a.margins)}, fused by the mean of their logits. Input: the 4x "
                 "context crop (256x256, face box enlarged 4x about its centre, squared, black outside the frame); "
                 "each branch cuts its own margin from the centre and pools it to 64x64 inside the graph, the same "
                 "arithmetic as its training crops. "
                 f"Threshold {meta['threshold']:.2f} on P(real).")
    extra_recipes = "".join(
        f"  The `{c['arch']}` branch: Adam {c['lr']:g}, batch {c['batch']}, {c['epochs']} epochs, a binary cross-entropy on "
        f"every cell of its map, augmentation `{c['aug']}`"
        f"{' (the paper geometry plus colour, blur, noise and resampling)' if c['aug'] == 'strong' else ''}; {how}.\n"
        for _, _, c, _, how in extra_nets)
    card = f"""# Model card: marginlive-default

`models/marginlive-default.onnx` ({size_kb:.0f} KB), a self-describing ONNX file: uint8 BGR
crops in, P(real) out; the metadata key `marginlive` holds input size, margin, threshold,
training data and the scores below. Inference needs only ONNX Runtime.

## What it is
{shape}
- Recipe: {a.row}. The `{a.arch}` branches: Adam {cfg.lr:g}, batch {cfg.batch}, {cfg.epochs} epochs, binary cross-entropy,
  seed {cfg.seed}; augmentation `{cfg.aug}` (the paper's geometry{', plus colour, blur, noise and resampling' if cfg.aug == 'strong' else ''}){'; every dataset x class cell weighted equally' if cfg.balance else ''}.
  {'Synthetic screen-replay attacks, one per live image, rendered from the live crops (`training/synth.py`), for the ' + ', '.join(f'{m:g}x' for m in sorted(synth_margins)) + ' branch.' if a.synth else ''}
{extra_recipes}- Trained on all of the shared data ({len(base)} images, {int(base.labels.sum())} live{f', plus {len(synth_ds) - len(base)} synthetic attacks' if a.synth else ''}), the
  `{a.arch}` branches in {seconds / 60:.1f} min on 2 CPU cores ({ips:.0f} images/s).

## Data and its terms
{LICENCES}

The weights inherit these terms: research and non-commercial evaluation only, unless you
retrain on data you may use otherwise (`marginlive collect` + `marginlive train`).

## How well it does on people, rooms and screens it never saw
Leave-groups-out cross-validation of this recipe (4 folds; every webcam-replay collector
group and every NUAA subject scored by a model trained without it; seeds {gen["seeds"]}; mean ± spread
over seeds; `docs/generalisation.md`):

| held-out data | AUC | EER | APCER | BPCER | ACER |
|---|---|---|---|---|---|
{row('webcam-replay')}
{row('nuaa-print')}

APCER, BPCER and ACER above are at P(real) >= 0.5. {calibrated_text(gen)}

For comparison on webcam-replay: the strongest public model we know (MiniFASNet pair, ~5M
private images) AUC 0.978, ACER 8.2%; the peer in ../shared/models AUC 0.765, ACER 33.4%.

In-sample (this model has seen these images; shown only beside the peer, scored by the same
code on the same faces, not as an estimate of accuracy):

| data | model | AUC | ACER | APCER | BPCER |
|---|---|---|---|---|---|
{chr(10).join(ins)}

## Limitations
- Few sources: 16 webcam collections, 8 NUAA subjects, 300 CelebA photos. Expect errors on
  cameras, rooms, screens and skin tones unlike these; calibrate the threshold on your own data.
- Screen replays of a new device in a new room are the weak case (see the APCER above); the
  behavioural challenge and the identity step are there because passive liveness alone is not
  enough.
- Its colour-texture branches read fine texture, which compression smooths. On held-out groups,
  JPEG quality 95 of the frames raises the 128 px LBP branch's BPCER by about 2 points
  (webcam-replay 11.9% -> 14.0%; the LPQ branch's 15.1% -> 16.0%). {outside} A session's fake
  decision needs a whole window of low frames (10); the load test (`docs/speed.md`) counts the
  sessions of that video that passive liveness stopped. Send high-quality frames (the web
  page uses JPEG 0.95) or recalibrate the threshold for your camera path.
- Not evaluated on 3D masks, cut-out prints worn as masks (a few in celeba-spoof), or
  deepfake injection attacks that bypass the camera.
"""
    (ROOT / "models" / "MODEL_CARD.md").write_text(card)
    print(card)


if __name__ == "__main__":
    sys.exit(main())
