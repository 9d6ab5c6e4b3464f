"""The `collect` and `train` commands (CLI glue over the training library)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import DatasetError


def run_collect(a) -> int:
    """`marginlive collect`: every manifest's faces cut as context crops into ``--out`` (``collect.Collector``)."""
    from .collect import Collector
    if a.every < 1:
        raise DatasetError("--every must be >= 1")
    if not a.paths and not a.manifest:
        raise DatasetError("give videos/folders (with --label) or --manifest files")
    c = Collector(a.out, a.detector, a.detector_model)
    for m in a.manifest or []:
        c.add_manifest(m)
    if a.paths:
        if not a.label:
            raise DatasetError("--label real|fake is needed for videos and folders")
        c.add_files(a.paths, a.label, a.subject or "subject-0", a.attack or "", a.every)
    mf = c.write()
    s = c.stats
    print(f"stored {s.stored} face crops in {a.out} ({s.no_face} frames without a face, "
          f"{s.unreadable} unreadable files skipped); manifest: {mf}")
    return 0


def _model_out(path) -> Path:
    """--out as a path, refused unless it names an .onnx file that can be written (checked before
    the minutes of training whose result it holds)."""
    from .._util import check_writable
    out = Path(path)
    if out.suffix != ".onnx":
        raise DatasetError(f"--out {out}: the model file must end in .onnx")
    check_writable(out)
    return out


def _trainable(path):
    """The collected dataset at ``path``, refused unless it holds both classes; its summary on stderr."""
    from .dataset import load_dataset
    ds = load_dataset(path)
    ds.check_trainable()
    print(f"dataset: {ds.summary()}", file=sys.stderr)
    return ds


def run_reexport(a) -> int:
    """``reexport MODEL [--out FILE]``: the fused model written again by today's graph code."""
    from ..liveness.runtime import model_path
    from .reexport import reexport
    src = model_path(a.model)
    if src.suffix.lower() != ".onnx":
        raise DatasetError(f"{src}: not a model file (.onnx)")
    out = _model_out(a.out or src)
    reexport(src, out)   # it loads and checks the model (ModelError where it is none)
    print(f"re-exported {src.name} to {out}", file=sys.stderr)
    return 0


def run_recipe(a) -> int:
    """``train --recipe NAME DATASET``: the named fused model, written to --out."""
    from .recipes import build, recipe_named
    recipe = recipe_named(a.recipe)
    out = _model_out(a.out)
    ds = _trainable(a.dataset)
    build(recipe, ds, out, components=a.components, log=lambda m: print(m, file=sys.stderr))
    print(f"wrote {out} (recipe {recipe.name})")
    return 0


def _check_distil_options(a, archs) -> None:
    """DatasetError naming every option of ``distil`` out of its range (checked before the teacher's pass)."""
    bad = [rule for ok, rule in [
        (a.arch in archs, f"--arch one of {', '.join(archs)}"), (a.copies >= 0, "--copies >= 0"),
        (a.epochs >= 1, "--epochs >= 1"), (a.size >= 16 and a.size % 8 == 0, "--size a multiple of 8, at least 16"),
        (0 <= a.hard_weight <= 1, "--hard-weight between 0 and 1"),
        (0 <= a.average_from <= a.epochs, "--average-from between 0 (off) and --epochs")] if not ok]
    if bad:
        raise DatasetError("; ".join(bad))


def run_distil(a) -> int:
    """``distil DATASET --sources DIR --out FILE``: a student taught by the teacher, held-out groups left out."""
    from ..liveness.networks import ARCHS
    from ..liveness.runtime import LivenessModel
    from .distil import DistilConfig, check_calibration_share, distil, load_taught, meta, save_taught, teach
    from .export import export_onnx
    from .train import resolve_device
    out = _model_out(a.out)
    _check_distil_options(a, ARCHS)
    check_calibration_share(a.calibration)   # before the teacher's pass, which takes minutes
    resolve_device(a.device)
    cfg = DistilConfig(arch=a.arch, size=a.size, copies=a.copies, epochs=a.epochs, calibration=a.calibration,
                       hard_weight=a.hard_weight, seed=a.seed, average_from=a.average_from, device=a.device)
    teacher = LivenessModel(a.teacher)
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    if a.taught and Path(a.taught).is_file():
        log(f"{a.taught}: the teacher's scores of an earlier pass")
        taught = load_taught(a.taught)
    else:
        rows = _taught_rows(a.dataset, a.sources)
        log(f"teacher {teacher.name}: scoring {len(rows)} frames and {cfg.copies} altered copies of each")
        taught = teach(rows, teacher, cfg, log)
        if a.taught:
            save_taught(taught, a.taught)
    student = distil(taught, cfg, log, teacher_threshold=teacher.threshold)
    n = min(16, len(taught.labels))
    from ..margin import crop_batch_from_context
    check = crop_batch_from_context(taught.contexts[:n], 4.0, cfg.size)
    export_onnx(student.result.net, out, meta(cfg, teacher.name, taught, student, a.name), check_crops=check)
    print(f"wrote {out} ({len(taught.labels)} crops taught, {student.result.seconds:.0f} s of training, "
          f"threshold {student.threshold:.2f})")
    return 0


def _taught_rows(dataset, sources) -> list[dict]:
    """The collected dataset's rows with their source frames (``distil.source_rows``), less the fast
    recipe's held-out groups (``recipes.NEWEST_GROUPS``): what its network may learn from."""
    from .distil import source_rows
    from .recipes import FAST
    rows = source_rows(dataset, sources)
    held = FAST.held_out(np.array([r["group"] for r in rows], object))
    return [r for r, h in zip(rows, held) if not h]


def run_restem(a) -> int:
    """``restem MODEL DATASET --sources DIR [--stem pruned --keep N] --out FILE``: MODEL with a cheaper
    first stage fitted to do what its own did (``training/restem.py``)."""
    import onnx

    from ..liveness.runtime import LivenessModel
    from .export import export_onnx
    from .restem import RestemConfig, fit, meta, restem_inputs, stage_of, stage_weights
    out = _model_out(a.out)
    if a.steps < 10 or not (a.tune_steps == 0 or a.tune_steps >= 10) or a.shifted < 0:
        raise DatasetError("--steps must be at least 10, --tune-steps 0 or at least 10, --shifted 0 or more")
    source = LivenessModel(a.model)
    model = onnx.load(str(source.path))
    stage_of(model)   # refused before the crops are cut (minutes)
    if a.stem == "pruned":
        channels = stage_weights(model)[0][0].shape[0]
        if not 1 <= a.keep <= channels:
            raise DatasetError(f"--keep must be 1 to {channels} (the stem's channels)")
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    rows = _taught_rows(a.dataset, a.sources)
    cfg = RestemConfig(stem=a.stem, keep=a.keep, shifted=a.shifted, steps=a.steps, tune_steps=a.tune_steps)
    log(f"{source.name}: cutting crops of {len(rows)} frames")
    crops = restem_inputs(rows, source.margin, source.size, cfg, log)
    fitted = fit(model, crops, cfg, log, threshold=source.threshold)
    export_onnx(fitted.net, out, meta(source.meta, cfg, fitted, len(crops), a.name), check_crops=crops[:16])
    print(f"wrote {out} ({len(crops)} crops, {fitted.seconds:.0f} s of training; stage error "
          f"{fitted.first[0]:.3f} -> {fitted.last[0]:.3f}, logit error {fitted.first[1]:.2f} -> {fitted.last[1]:.2f})")
    return 0


def run_train(a) -> int:
    """``train DATASET --out FILE``: one network (optionally fused with the colour-texture branch),
    exported with its metadata and its loss curves; or ``--recipe NAME`` (``run_recipe``)."""
    if getattr(a, "recipe", None):
        return run_recipe(a)
    if getattr(a, "components", None):
        raise DatasetError("--components keeps a recipe's network: it needs --recipe")
    from .dataset import group_split
    from .distributed import process_group
    from .train import save_curves, train

    cfg, texture = _train_config(a)
    out = _model_out(a.out)
    ds = _trainable(a.dataset)
    metrics = _cross_validation(ds, cfg, a.cv) if a.cv else {}
    if a.val_frac > 0:
        tr, va = group_split(ds.groups, ds.labels, a.val_frac, a.seed)
    else:
        tr, va = np.arange(len(ds)), None
    r = train(ds, cfg, tr, va, show_progress=not a.quiet, log=lambda m: print(m, file=sys.stderr))
    if not process_group().main:     # under torchrun the other processes trained the same weights
        return 0
    which = getattr(a, "texture_branches", "shipped")
    fused = _with_texture(ds, tr, r.net, cfg.margin, texture, which) if texture else None
    if va is not None:
        metrics["group_disjoint_validation"] = _validation(ds, va, r, fused, a.val_frac)
    meta = _train_meta(a, out, ds, cfg, tr, r, metrics)
    _export_trained(out, meta, ds, cfg, r.net, fused)
    curves = Path(a.curves) if a.curves else out.with_suffix(".curves.png")
    save_curves(r.history, curves, f"{cfg.arch}, margin {cfg.margin}")
    print(f"wrote {out} and {curves} ({r.images_per_s:.0f} images/s, {r.seconds:.0f} s)")
    if a.json:
        print(json.dumps({"model": str(out), "metrics": metrics, "history": r.history}))
    return 0


def _train_config(a):
    """(TrainConfig, texture weight) from ``train``'s options, every one checked before any work."""
    from ..liveness.networks import ARCHS
    from .train import TrainConfig, resolve_device
    cfg = TrainConfig(arch=a.arch, margin=a.margin, size=a.size, epochs=a.epochs, batch=a.batch, lr=a.lr,
                      aug=a.aug, seed=a.seed, balance=a.balance, weight_decay=a.weight_decay, device=a.device)
    if a.size < 16 or a.size % 8:
        raise DatasetError(f"--size must be a multiple of 8, at least 16, got {a.size}")
    resolve_device(cfg.device)
    cfg.augment()  # validates the name
    if cfg.arch not in ARCHS:
        raise DatasetError(f"unknown architecture {cfg.arch!r}; choose one of {', '.join(ARCHS)}")
    if a.margin <= 0 or a.margin > 4:
        raise DatasetError(f"--margin must be in (0, 4] (collected context is 4x), got {a.margin}")
    if getattr(a, "cv", 0) and not a.cv >= 2:
        raise DatasetError(f"--cv is a number of folds, at least 2 (0: none), got {a.cv}")
    texture = getattr(a, "texture", 0.0) or 0.0
    if texture and not 0 < texture < 1:
        raise DatasetError(f"--texture is a fusion weight in (0, 1), got {texture}")
    if texture:
        from ..liveness.views import view_spec
        try:
            view_spec(a.margin, cfg.size)
        except ValueError:
            raise DatasetError(f"--margin {a.margin:g} cannot be fused with the texture branch: use 1, 2, 3 or 4") \
                from None
    return cfg, texture


def _cross_validation(ds, cfg, k: int) -> dict:
    """``--cv K``: leave-groups-out cross-validation's headline metrics, for the model's metadata."""
    from .cv import cross_validate
    print(f"leave-groups-out cross-validation, {k} folds", file=sys.stderr)
    cv = cross_validate(ds, cfg, k, log=lambda m: print(m, file=sys.stderr))
    print("cv: " + _fmt(cv["overall"]), file=sys.stderr)
    return {"cross_validation": {"k": k, "overall": _headline(cv["overall"]),
                                 "per_dataset": {d: _headline(m) for d, m in cv["per_dataset"].items()}}}


def _validation(ds, va, r, fused: "_Fused | None", val_frac: float) -> dict:
    """The trained (or fused) model's headline metrics on the validation groups, at 0.5; the
    ``fused`` model's scores replace ``r.val_scores`` (the network's alone), as the model file decides."""
    from ..evaluation.metrics import all_metrics
    if fused is not None:
        r.val_scores = _predict_contexts(fused.model, ds.contexts[va])
    v = all_metrics(r.val_scores, ds.labels[va], 0.5, ds.attacks[va])
    print("validation (unseen groups): " + _fmt(v), file=sys.stderr)
    return {"val_frac": val_frac, "best_epoch": r.best_epoch, **_headline(v)}


def _train_meta(a, out: Path, ds, cfg, tr, r, metrics: dict) -> dict:
    """The exported model's metadata: its input, its threshold and how it was trained."""
    groups = sorted(set(ds.groups.tolist()))
    return {"name": a.name or out.stem, "arch": cfg.arch, "input_size": cfg.size, "margin": cfg.margin,
            "threshold": 0.5,
            "training": {"dataset": str(a.dataset), **ds.fitted_on(), "groups": len(groups),
                         "train_images": int(len(tr)), "config": cfg.__dict__, "best_epoch": r.best_epoch,
                         "images_per_s": round(r.images_per_s, 1), "seconds": round(r.seconds, 1)},
            "metrics": metrics}


def _export_trained(out: Path, meta: dict, ds, cfg, net, fused: "_Fused | None") -> None:
    """The network alone (its crop in), or ``fused`` with the texture branches (the 4x context in)."""
    from .export import export_onnx
    if fused is None:
        check = ds.subset(np.arange(min(16, len(ds)))).crops(cfg.margin, cfg.size)
        export_onnx(net, out, meta, check_crops=check)
        return
    meta.update(arch=f"colour-texture + {cfg.arch}", input_size=256, margin=4.0,
                branches=fused.branches + [{"margin": cfg.margin, "arch": cfg.arch, "size": cfg.size,
                                            "weight": round(fused.network_weight, 4)}])
    export_onnx(fused.model, out, meta, check_crops=ds.contexts[:16], deployable=True)


class _Fused(NamedTuple):
    """``train --texture W``'s model: ``model`` (a ``MultiScale`` on the 4x context), its texture
    branches' metadata and the network's share of the vote (1 - W)."""
    model: object
    branches: list
    network_weight: float


def _with_texture(ds, tr, net, margin: float, weight: float, which: str = "shipped") -> _Fused:
    """The trained network fused with the hand-crafted branches (``which``: the shipped model's
    set, or the single LBP branch) fitted on the same images; they share ``weight``, the network
    the rest."""
    from ..liveness.fusion import MultiScale
    from .texture import fit_texture_branches, texture_meta
    fitted = fit_texture_branches(ds.contexts[tr], ds.labels[tr], which)
    weights = [weight * share for *_, share in fitted] + [1 - weight]
    model = MultiScale([(m, b, size) for m, b, size, _ in fitted] + [(margin, net)], weights=weights).eval()
    return _Fused(model, [texture_meta(b, w, size, m) for (m, b, size, _), w in zip(fitted, weights)], 1 - weight)


def _predict_contexts(model, contexts: np.ndarray, batch: int = 256) -> np.ndarray:
    import torch
    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(contexts[i:i + batch])).numpy()
                               for i in range(0, len(contexts), batch)])


HEADLINE = ("n", "auc", "eer", "apcer", "apcer_per_attack", "bpcer", "acer", "accuracy", "precision", "recall", "f1")


def _headline(m: dict) -> dict:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items() if k in HEADLINE}


def _fmt(m: dict) -> str:
    def p(v):
        return "n/a" if v is None else f"{100 * v:.1f}%"
    auc = "n/a" if m.get("auc") is None else f"{m['auc']:.3f}"
    return (f"AUC {auc}  EER {p(m.get('eer'))}  APCER {p(m.get('apcer'))}  BPCER {p(m.get('bpcer'))}  "
            f"ACER {p(m.get('acer'))}  (n={m['n']})")
