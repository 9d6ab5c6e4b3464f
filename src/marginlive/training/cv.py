"""Leave-groups-out cross-validation: every image is scored by a model that never saw its group.

Each fold trains for the configured number of epochs and keeps the last epoch: the held-out
groups are never used to pick a checkpoint, so the pooled scores are honest estimates.
"""
from __future__ import annotations

import numpy as np

from ..evaluation.metrics import all_metrics
from ..errors import DatasetError
from .dataset import Dataset, group_kfold
from .train import TrainConfig, predict_crops, train


def fold_train_indices(ds: Dataset, test: np.ndarray) -> np.ndarray:
    """Training indices for a fold: every image whose *group* is not held out. By group, not
    by index, so images derived from a held-out group (synthetic attacks) stay out too."""
    return np.flatnonzero(~np.isin(ds.groups, list(set(ds.groups[test].tolist()))))


def cross_validate(ds: Dataset, cfg: TrainConfig, k: int = 4, seed: int | None = None,
                   show_progress: bool = False, log=print, eval_mask: np.ndarray | None = None) -> dict:
    """k-fold group CV; pooled out-of-fold scores and metrics (overall and per dataset).

    ``eval_mask`` restricts which images are held out and scored (e.g. only webcam-replay);
    the others are always in training.
    """
    seed = cfg.seed if seed is None else seed
    pool = np.flatnonzero(np.ones(len(ds), bool) if eval_mask is None else np.asarray(eval_mask, bool))
    folds = group_kfold(ds.groups[pool], k, seed)
    scores = np.full(len(ds), np.nan, np.float32)
    ips = []
    for f, rel in enumerate(folds):
        test = pool[rel]
        train_idx = fold_train_indices(ds, test)
        if set(ds.labels[train_idx].tolist()) != {0, 1}:
            # a fold that would train on one class scores its held-out groups by nothing learnt
            raise DatasetError(f"fold {f + 1} of {k} leaves only {'real' if ds.labels[train_idx].any() else 'fake'} "
                               "images to train on: give more groups or fewer folds")
        log(f"  fold {f + 1}/{k}: train {len(train_idx)}, test {len(test)} ({len(set(ds.groups[test]))} groups)")
        r = train(ds, cfg, train_idx, None, show_progress=show_progress, log=log)
        scores[test] = predict_crops(r.net, ds.subset(test).crops(cfg.margin, cfg.size))
        ips.append(r.images_per_s)
    return {**pooled_result(ds, pool, scores, k, seed, dict(cfg.__dict__)),
            "train_images_per_s": float(np.mean(ips))}


def pooled_result(ds: Dataset, pool: np.ndarray, scores: np.ndarray, k: int, seed: int, config: dict) -> dict:
    """One cross-validation run: metrics of the pooled out-of-fold scores, overall and per
    dataset, with the scores themselves (so runs of one seed can be fused image by image)."""
    out = {"k": k, "seed": seed, "config": config,
           "overall": all_metrics(scores[pool], ds.labels[pool], 0.5, ds.attacks[pool]), "per_dataset": {}}
    for d in sorted(set(ds.datasets[pool].tolist())):
        m = pool[ds.datasets[pool] == d]
        out["per_dataset"][d] = all_metrics(scores[m], ds.labels[m], 0.5, ds.attacks[m])
    out["index"], out["scores"] = pool.tolist(), scores[pool].tolist()
    return out
