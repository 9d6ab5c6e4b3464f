"""The decision threshold fitted to one deployment's camera: live users first.

A model's threshold was chosen on the collections of ../shared. A camera, room or picture
pipeline unlike those moves live faces' scores down (docs/collections.md: its left-out rows), and
a login that turns genuine users away gets switched off. ``calibrate`` takes the scores of faces
of genuine users filmed with the deployment's own camera (and, if given, of attacks presented to
it) and picks the threshold at which at most ``target_bpcer`` of those live faces are turned
away: never above the model's own threshold (live frames alone cannot say how far to tighten it)
and never below ``floor``: the lower the threshold, the more screen replays pass
(docs/collections.md sweeps the shipped model's threshold down to 0.35), and the random challenge
then has to stop what the passive check lets through.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class CalibrationOptions:
    """target_bpcer: largest share of the live faces the threshold may turn away (0.02).
    floor: lowest threshold on P(real) it may choose (0.35, the lowest the benchmarks measure).
    min_live: fewest live faces to calibrate on (30: below that one frame moves the share by
    more than the target)."""
    target_bpcer: float = 0.02
    floor: float = 0.35
    min_live: int = 30


@dataclass(frozen=True)
class Calibration:
    """The chosen ``threshold`` and what it trades on the frames given: live faces turned away
    and attacks let through (None without attacks) at the model's threshold and at the chosen
    one, measured on the frames it was chosen on (hold some users back to check it on others).
    ``at_floor``: the target needed a threshold below the floor (the model does not fit this
    camera: collect its frames and retrain)."""
    threshold: float
    model_threshold: float
    target_bpcer: float
    live: int
    bpcer_model: float
    bpcer: float
    attacks: int
    apcer_model: float | None
    apcer: float | None
    at_floor: bool

    def to_dict(self) -> dict:
        return asdict(self)


def choose_threshold(live_scores: np.ndarray, model_threshold: float,
                     opts: CalibrationOptions = CalibrationOptions()) -> tuple[float, bool]:
    """(threshold, at_floor): the highest threshold at or below ``model_threshold`` that turns away
    at most ``opts.target_bpcer`` of the (N,) P(real) ``live_scores`` (a face scoring exactly the
    threshold passes), raised to ``opts.floor`` where it falls below it."""
    s = np.sort(np.asarray(live_scores, np.float64))
    allowed = int(math.floor(opts.target_bpcer * len(s) + 1e-9))   # faces that may fall below
    t = min(float(model_threshold), float(s[allowed]) if allowed < len(s) else float(model_threshold))
    if t < opts.floor:
        return float(opts.floor), True
    return t, False


def _share(mask: np.ndarray) -> float | None:
    return float(np.mean(mask)) if len(mask) else None


def check_options(opts: CalibrationOptions, model_threshold: float) -> None:
    """InputError for an option out of range for a model of threshold ``model_threshold`` (checked
    before any frame is scored: calibrating on videos takes minutes)."""
    if not 0.0 <= opts.target_bpcer < 1.0:
        raise InputError(f"the target BPCER must lie in [0, 1), got {opts.target_bpcer}")
    if not 0.0 < opts.floor <= model_threshold:
        raise InputError(f"the floor must lie in (0, {model_threshold:g}] (the model's threshold), got {opts.floor}")


def calibrate(live_scores, attack_scores, model_threshold: float,
              opts: CalibrationOptions = CalibrationOptions()) -> Calibration:
    """The ``Calibration`` of a model with threshold ``model_threshold`` from the P(real) of live
    faces (N,) and of attack faces (M,; may be empty). InputError when fewer than
    ``opts.min_live`` live faces are given or an option is out of range."""
    check_options(opts, model_threshold)
    live, att = np.asarray(live_scores, np.float64), np.asarray(attack_scores, np.float64)
    if len(live) < opts.min_live:
        raise InputError(f"{len(live)} live face(s) found; calibrating needs at least {opts.min_live} "
                         "(give more frames of genuine users: a video of a few seconds each)")
    t, at_floor = choose_threshold(live, model_threshold, opts)
    return Calibration(threshold=t, model_threshold=float(model_threshold), target_bpcer=opts.target_bpcer,
                       live=len(live), bpcer_model=float(np.mean(live < model_threshold)),
                       bpcer=float(np.mean(live < t)), attacks=len(att),
                       apcer_model=_share(att >= model_threshold), apcer=_share(att >= t), at_floor=at_floor)
