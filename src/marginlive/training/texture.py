"""Fitting the colour-texture branches (``ColourTexture``: LBP codes; ``PhaseTexture``: LPQ codes)
and the gradient branch (``GradientHistogram``: HOG), and scoring them leave-groups-out.

Each branch is a linear model on (chi-squared mapped) code histograms, or on HOG's normalised
blocks, so "training" is a regularised logistic regression: seconds, not minutes. Its view is the
4x context pooled to 128 (or 64) px, HOG's the context at full resolution (256 px), the face LPQ
branch's the face box alone (1x, 64 px), cut inside the model graph exactly as here, so fitting
and inference see the same pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..liveness.texture import ColourTexture, GradientHistogram, PhaseTexture
from ..liveness.views import context_tensor, context_view, view_spec
from .dataset import Dataset, group_kfold

TEXTURE_MARGIN = 4.0      # the whole stored context ...
TEXTURE_SIZE = 128        # ... at half its resolution (measured best of 64/96/128/256 px, 1x-4x)
TEXTURE_C = 3e-4          # inverse regularisation strength (measured best of 3e-4 .. 1e-2; stronger,
                          # 1e-4 and 3e-5, a trade: docs/research/2026-12-05-texture-regularisation.md)
TEXTURE_STRIDE = 1        # codes at every pixel: every 2nd costs half the time but 0.02 AUC
TEXTURE_TOLERANCE = 2     # LBP bit needs the neighbour >= centre + 2 levels: measured more accurate
                          # and less shifted by JPEG frames than the classic >= centre
TEXTURE_SIGMA_STEP = 0.0  # no contrast-adaptive tolerance: max(1, ceil(sigma/24)) scored better on held-out
                          # groups (replay AUC 0.957 -> 0.964) but worse on the live and replay videos outside them
TEXTURE_CHI2_STEPS = 2    # chi-squared map of the histograms: replay AUC 0.931 -> 0.943 (0 = raw; HOG's
                          # normalised blocks get none)
TEXTURE_GRID = 2          # histograms per quadrant of the view: replay AUC 0.943 -> 0.957, NUAA 0.947 -> 0.988
KINDS = ("lbp", "lpq", "hog")   # local binary patterns, local phase quantisation, oriented gradients
LPQ_WINDOW = 7            # LPQ's window (3 and 5 measured less accurate)
LPQ_TOLERANCE = 20.0      # an LPQ bit needs its part above 20 levels: replay AUC 0.851 -> 0.929 (10-160 screened)
HOG_SIZE = 256            # HOG reads the 4x context at full resolution (128 px: replay AUC 0.924 against 0.947)
HOG_CELLS = 8             # 8x8 cells of 32 px (4: 0.905, 16: 0.926)
HOG_BINS = 9              # unsigned orientations, 20 degrees a bin (18 signed: 0.932)
FACE_MARGIN = 1.0         # the face box itself (no context) ...
FACE_SIZE = 64            # ... at the context's resolution: the LPQ view of the face's own texture, beside
                          # the context branches (alone: replay AUC 0.814, NUAA 0.991; in the fusion: NUAA
                          # ACER 1.1% -> 0.6%, replay unchanged)
LOGIT_LIMIT = 2.0         # each hand-crafted branch's logit clipped to +-2 in the shipped fusion: held out
                          # (replay / NUAA) as unclipped within 0.1 point of ACER, but sensor noise on
                          # a replay no longer lets the LBP branch outvote the rest (liveness/texture.py,
                          # bounded_logit)


@dataclass(frozen=True)
class TextureSetting:
    """One hand-crafted branch: ``kind`` (lbp, lpq, hog) and its code options (``stride``,
    ``tolerance`` None: the kind's default, ``chi2_steps`` None: the kind's default, ``grid``, LBP's
    ``sigma_step``, LPQ's ``window``), its view (``margin`` x the face box at ``size`` px) and the
    regression's inverse regularisation ``c``. Defaults: the LBP branch at 128 px. HOG takes none
    of the code options and no chi-squared map."""
    kind: str = "lbp"
    stride: int = TEXTURE_STRIDE
    tolerance: float | None = None
    chi2_steps: int | None = None
    grid: int = TEXTURE_GRID
    sigma_step: float = TEXTURE_SIGMA_STEP
    window: int = LPQ_WINDOW
    size: int = TEXTURE_SIZE
    margin: float = TEXTURE_MARGIN
    c: float = TEXTURE_C

    @property
    def chi2(self) -> int:
        """The chi-squared map's steps: as given, or (None) the kind's default: TEXTURE_CHI2_STEPS
        for the code histograms, none for HOG's normalised blocks."""
        if self.chi2_steps is not None:
            return self.chi2_steps
        return 0 if self.kind == "hog" else TEXTURE_CHI2_STEPS

    def branch(self, with_map: bool = True) -> ColourTexture | GradientHistogram:
        """The unfitted branch (``with_map`` False: without the chi-squared map, which only the
        fitted linear model reads; the histograms are the same)."""
        chi2 = self.chi2 if with_map else 0
        if self.kind == "hog":
            if chi2 or self.sigma_step or self.stride != TEXTURE_STRIDE or self.tolerance is not None:
                raise ValueError("the HOG branch takes no stride, tolerance, sigma step or chi-squared map")
            return GradientHistogram(HOG_CELLS, HOG_BINS)
        if self.kind == "lbp":
            return ColourTexture(self.stride, TEXTURE_TOLERANCE if self.tolerance is None else self.tolerance,
                                 chi2, grid=self.grid, sigma_step=self.sigma_step)
        if self.kind == "lpq":
            if self.sigma_step:
                raise ValueError("a contrast-adaptive tolerance (sigma_step) is an LBP option")
            return PhaseTexture(self.stride, LPQ_TOLERANCE if self.tolerance is None else self.tolerance, chi2,
                                grid=self.grid, window=self.window)
        raise ValueError(f"unknown texture kind {self.kind!r}; choose one of {', '.join(KINDS)}")


@torch.no_grad()
def texture_histograms(contexts: np.ndarray, setting: TextureSetting = TextureSetting(),
                       batch: int = 128) -> np.ndarray:
    """(N, 256, 256, 3) uint8 context crops -> (N, 768 * grid^2) float32 code histograms of the
    ``setting``'s view (HOG: its block vectors), ``batch`` contexts at a time."""
    side, pool = view_spec(setting.margin, setting.size)
    branch = setting.branch(with_map=False)
    out = []
    for i in range(0, len(contexts), batch):
        x = context_tensor(contexts[i:i + batch])
        out.append(branch.histograms(context_view(x, side, pool)).numpy())
    return np.concatenate(out) if out else np.zeros((0, branch.n_bins()), np.float32)


def texture_features(hists: np.ndarray, chi2_steps: int = TEXTURE_CHI2_STEPS) -> np.ndarray:
    """Histograms -> the features the branch's linear model reads (the same map as in the graph)."""
    return ColourTexture(chi2_steps=chi2_steps).features(torch.from_numpy(np.asarray(hists, np.float32))).numpy()


def _regression(c: float):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000, class_weight="balanced"))


def fit_texture(hists: np.ndarray, labels: np.ndarray, setting: TextureSetting = TextureSetting(),
                logit_limit: float = 0.0, sample_weight: np.ndarray | None = None) -> ColourTexture | GradientHistogram:
    """Fit the ``setting``'s logistic regression on (N, bins) ``hists`` (from ``texture_histograms``
    with the same setting) and (N,) 0/1 ``labels``, and fold it (scaler included) into the branch's
    weights. ``logit_limit`` > 0: the branch's logit is clipped to +-logit_limit. ``sample_weight``:
    (N,) weights of the crops (None: all 1), on top of the classes' balancing."""
    if logit_limit < 0:
        raise ValueError(f"a logit limit is > 0 (or 0: none), got {logit_limit}")
    branch = setting.branch()
    branch.logit_limit = float(logit_limit)
    if hists.shape[1] != branch.n_bins():
        grid = f", a {setting.grid}x{setting.grid} grid" if setting.kind != "hog" else ""
        raise ValueError(f"histograms of {hists.shape[1]} bins do not fit this {setting.kind} branch "
                         f"({branch.n_bins()} bins{grid})")
    model = _regression(setting.c).fit(texture_features(hists, setting.chi2), labels,
                                       logisticregression__sample_weight=sample_weight)
    scaler, lr = model[0], model[1]
    sd = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    w = lr.coef_[0] / sd
    branch.weight.data = torch.from_numpy(w.astype(np.float32)).reshape(-1, 1)
    branch.bias.data = torch.tensor(float(lr.intercept_[0] - np.sum(w * scaler.mean_)))
    return branch.eval()


def fit_texture_branches(contexts: np.ndarray, labels: np.ndarray, which: str = "shipped") -> list[tuple]:
    """Fit the hand-crafted branches on (N, 256, 256, 3) contexts: ``shipped``, those of the
    shipped recipe (``training.recipes.DEFAULT.texture``, logits clipped to +-LOGIT_LIMIT), or
    ``lbp``, the single LBP branch at 128 px. Returns (view margin, fitted branch, view size,
    share of the texture weight) per branch, shares summing to 1."""
    from .recipes import DEFAULT
    if which not in ("shipped", "lbp"):
        raise ValueError(f"unknown texture branch set {which!r}; choose shipped or lbp")
    spec = ([(v.kind, v.size, v.weight) for v in DEFAULT.texture] if which == "shipped"
            else [("lbp", TEXTURE_SIZE, 1.0)])
    total = sum(share for *_, share in spec)
    out = []
    for kind, size, share in spec:
        setting = TextureSetting(kind=kind, size=size)
        branch = fit_texture(texture_histograms(contexts, setting), labels, setting,
                             logit_limit=LOGIT_LIMIT if which == "shipped" else 0.0)
        out.append((TEXTURE_MARGIN, branch, size, share / total))
    return out


def texture_meta(branch: ColourTexture | GradientHistogram, weight: float, size: int = TEXTURE_SIZE,
                 margin: float = TEXTURE_MARGIN) -> dict:
    """The texture branch (its view: ``margin`` x the face box at ``size`` px) as the model file's
    metadata lists it among its branches."""
    limit = {"logit_limit": branch.logit_limit} if branch.logit_limit else {}
    if isinstance(branch, GradientHistogram):
        return {"margin": margin, "arch": "gradient-histogram", "size": size, "cells": branch.cells,
                "bins": branch.bins, "clip": branch.clip, "mask_padding": branch.mask_padding,
                "weight": round(weight, 4), **limit}
    meta = {"margin": margin, "arch": "colour-texture", "size": size, "stride": branch.stride,
            "tolerance": int(branch.tolerance), "sigma_step": branch.sigma_step, "chi2_steps": branch.chi2_steps,
            "grid": branch.grid, "weight": round(weight, 4), **limit}
    if isinstance(branch, PhaseTexture):
        meta.update(arch="phase-texture", code="lpq", window=branch.window, tolerance=branch.tolerance)
        del meta["sigma_step"]
    return meta


def cross_validate_texture(ds: Dataset, setting: TextureSetting = TextureSetting(), k: int = 4, seed: int = 0,
                           eval_mask: np.ndarray | None = None, hists: np.ndarray | None = None) -> dict:
    """Leave-groups-out scores of the texture branch ``setting``, on the same folds as
    ``cross_validate`` with this seed (so its scores can be fused with a network's, image by image).
    ``eval_mask``: the images scored (default all); ``hists``: their histograms if already computed."""
    from .cv import fold_train_indices, pooled_result
    h = texture_histograms(ds.contexts, setting) if hists is None else hists
    f = texture_features(h, setting.chi2)
    pool = np.flatnonzero(np.ones(len(ds), bool) if eval_mask is None else np.asarray(eval_mask, bool))
    scores = np.full(len(ds), np.nan, np.float32)
    for rel in group_kfold(ds.groups[pool], k, seed):
        test = pool[rel]
        tr = fold_train_indices(ds, test)
        scores[test] = _regression(setting.c).fit(f[tr], ds.labels[tr]).predict_proba(f[test])[:, 1]
    # the setting as the model file would describe this branch (its weight aside), and the regression's C
    meta = texture_meta(setting.branch(), 0.0, setting.size, setting.margin)
    config = {k: v for k, v in meta.items() if k != "weight"} | {"C": setting.c}
    return pooled_result(ds, pool, scores, k, seed, config)
