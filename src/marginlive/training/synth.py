"""Synthetic screen-replay attacks rendered from live context crops.

14 collector groups give 14 rooms, webcams and screens; a model trained on them learns the
rooms. Here each live face is re-shown on a virtual phone or monitor held in front of a
*different* live scene: a screen rectangle around the face (random size and offset, portrait or
landscape), a dark bezel, sometimes fingers over its edge, a small tilt, then what a screen
does to an image (gamma, brightness, colour cast, blur, a moiré beat between pixel grids,
glare) and what the camera does to it (noise, JPEG). The face stays where the detector would
put it (the centre of the context crop, 64 px), so the sample goes through the same margin
crop as a real one.

Each synthetic image keeps the *group* of the live image it came from, so a group-disjoint
split or fold never trains on a synthetic copy of a held-out person.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..evaluation.shifts import jpeg
from ..margin import CONTEXT_SIZE
from .dataset import Dataset


def _screen_effects(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = img.astype(np.float32) / 255.0
    x = np.clip(x * rng.uniform(0.85, 1.3) + rng.uniform(-0.05, 0.1), 0, 1) ** rng.uniform(0.7, 1.3)
    cast = np.array([rng.uniform(1.0, 1.15), rng.uniform(0.95, 1.05), rng.uniform(0.85, 1.0)], np.float32)  # BGR
    x = np.clip(x * cast, 0, 1)
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * rng.uniform(0.7, 1.1)
    h, w = x.shape[:2]
    if rng.random() < 0.7:  # moiré: beat between the screen's pixel grid and the camera's
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        a = rng.uniform(0, np.pi)
        f = rng.uniform(0.15, 0.45)
        pattern = np.sin(2 * np.pi * f * (xx * np.cos(a) + yy * np.sin(a)) + rng.uniform(0, 6.3))
        x = x * (1 + rng.uniform(0.02, 0.09) * pattern[..., None])
    if rng.random() < 0.5:  # glare
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        s = rng.uniform(0.15, 0.5) * max(h, w)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
        x = x + rng.uniform(0.1, 0.45) * blob[..., None]
    x = np.clip(x, 0, 1)
    if rng.random() < 0.6:
        k = rng.uniform(0.3, 1.3)
        x = cv2.GaussianBlur(x, (0, 0), k)
    return (x * 255).astype(np.uint8)


def render_screen_attack(face_ctx: np.ndarray, scene_ctx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One synthetic replay: ``face_ctx`` shown on a screen held in front of ``scene_ctx``."""
    n = CONTEXT_SIZE
    c = n / 2
    # scene behind: another room, random scale and offset, maybe darker
    s = rng.uniform(1.0, 1.8)
    m = cv2.getRotationMatrix2D((c, c), 0, s)
    m[:, 2] += rng.uniform(-40, 40, 2)
    out = cv2.warpAffine(scene_ctx, m, (n, n), borderMode=cv2.BORDER_REFLECT)
    out = np.clip(out.astype(np.float32) * rng.uniform(0.6, 1.1), 0, 255).astype(np.uint8)
    # the screen: a rectangle around the face (face = central 64 px), off-centre a little
    portrait = rng.random() < 0.6
    hw = rng.uniform(44, 120) * (0.75 if portrait else 1.25)
    hh = rng.uniform(44, 120) * (1.3 if portrait else 0.8)
    ox, oy = rng.uniform(-0.3, 0.3) * hw, rng.uniform(-0.3, 0.3) * hh
    x0, x1 = int(c + ox - hw), int(c + ox + hw)
    y0, y1 = int(c + oy - hh), int(c + oy + hh)
    bez = int(rng.uniform(3, 14))
    layer = np.zeros_like(out)
    mask = np.zeros((n, n), np.uint8)
    grey = int(rng.uniform(0, 70))
    cv2.rectangle(layer, (x0 - bez, y0 - bez), (x1 + bez, y1 + bez), (grey, grey, grey), -1)
    cv2.rectangle(mask, (x0 - bez, y0 - bez), (x1 + bez, y1 + bez), 255, -1)
    screen = _screen_effects(face_ctx, rng)
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(n, x1), min(n, y1)
    if sx1 > sx0 and sy1 > sy0:
        layer[sy0:sy1, sx0:sx1] = screen[sy0:sy1, sx0:sx1]
    if rng.random() < 0.5:  # fingers over the bezel edge, in the face's own skin tone
        skin = face_ctx[112:144, 112:144].reshape(-1, 3).mean(0)
        for _ in range(int(rng.integers(1, 4))):
            side = rng.integers(0, 4)
            px = x0 - bez if side == 0 else x1 + bez if side == 1 else rng.uniform(x0, x1)
            py = y1 + bez if side == 2 else y0 - bez if side == 3 else rng.uniform(y0, y1)
            axes = (int(rng.uniform(6, 12)), int(rng.uniform(14, 26)))
            ang = 90 if side in (2, 3) else 0
            col = tuple(float(v) * rng.uniform(0.8, 1.1) for v in skin)
            cv2.ellipse(layer, (int(px), int(py)), axes, ang + rng.uniform(-25, 25), 0, 360, col, -1)
            cv2.ellipse(mask, (int(px), int(py)), axes, ang + rng.uniform(-25, 25), 0, 360, 255, -1)
    # a small tilt of the whole device about the face
    rot = cv2.getRotationMatrix2D((c, c), rng.uniform(-12, 12), 1.0)
    layer = cv2.warpAffine(layer, rot, (n, n))
    mask = cv2.warpAffine(mask, rot, (n, n))
    a = (mask.astype(np.float32) / 255.0)[..., None]
    out = (out * (1 - a) + layer * a).astype(np.uint8)
    # the camera: noise and compression
    out = np.clip(out + rng.normal(0, rng.uniform(0, 4), out.shape), 0, 255).astype(np.uint8)
    q = int(rng.uniform(55, 95))
    return jpeg(out, q)


def add_synthetic_screens(ds: Dataset, per_live: float = 1.0, seed: int = 0) -> Dataset:
    """``ds`` plus about ``per_live`` synthetic screen attacks for each live image."""
    rng = np.random.default_rng(seed)
    live = np.flatnonzero(ds.labels == 1)
    if len(live) < 2:
        return ds
    pick = rng.choice(live, int(round(per_live * len(live))), replace=per_live > 1)
    out, groups = [], []
    for i in pick:
        others = live[ds.groups[live] != ds.groups[i]]
        j = rng.choice(others) if len(others) else rng.choice(live)
        out.append(render_screen_attack(ds.contexts[i], ds.contexts[j], rng))
        groups.append(ds.groups[i])
    k = len(out)
    return Dataset(np.concatenate([ds.contexts, np.stack(out)]), np.concatenate([ds.labels, np.zeros(k, np.int64)]),
                   np.concatenate([ds.groups, np.array(groups, dtype=object)]),
                   np.concatenate([ds.attacks, np.array(["synthetic-screen"] * k, dtype=object)]),
                   np.concatenate([ds.datasets, np.array(["synthetic"] * k, dtype=object)]),
                   ds.paths + [f"synthetic/{ds.paths[i]}" for i in pick], ds.skipped)
