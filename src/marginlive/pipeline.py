"""detect -> margin -> liveness, for single frames and for video streams."""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from .denoise import DenoiseOptions, TemporalDenoiser
from .detect import DEFAULT_DETECTOR, FaceDetector, create_detector
from .errors import InputError
from .frames import as_bgr
from .liveness.runtime import LivenessModel, map_crops
from .orientation import SIDEWAYS_DEG, Upright
from .tracking import FaceTracker
from .types import FAKE, REAL, FaceResult, Frame


def check_threshold(threshold: float | None) -> float | None:
    """``threshold`` if it is a probability strictly between 0 and 1 (or None: the model's own).

    A value such as 45 (a percentage typed for 0.45) would label every face fake without a word;
    it is refused instead, as an ``InputError`` the CLI prints on one line.
    """
    if threshold is not None and not 0.0 < float(threshold) < 1.0:
        raise InputError(f"--threshold is a probability in (0, 1), got {threshold}")
    return threshold


class LivenessDetector:
    """Face detector + margin ROI + liveness model.

    ``predict(frame)`` decides each face of one frame on its own. ``stream()`` returns a
    stateful ``LivenessStream`` that tracks faces across frames and smooths their scores.

    ``mirrored``: the frames are selfie-mirrored (left and right swapped, as some cameras and
    recording apps deliver them). Each margin crop is then flipped back before scoring, which
    gives the crop of the unmirrored frame: the texture branches are not mirror-symmetric
    (docs/camera_sensitivity.md scores a mirrored live video both ways).

    Frames are turned upright before scoring where the face's keypoints show them sideways
    (``marginlive.orientation``); each result's ``turned`` says by how much, and its box is in
    the turned frame. ``upright=False`` scores frames as they come.

    ``denoise``: a stream's frames are averaged over time where the camera is noisy, before they are
    detected and scored (``marginlive.denoise``; None: never). Grain that one frame cannot tell from
    detail otherwise lets screen replays through. ``predict`` and ``score`` see one frame and cannot.

    ``model``: "default", "fast", a .onnx path or a loaded ``LivenessModel`` (None: $MARGINLIVE_MODEL,
    else the default). ``detector``: a name of ``marginlive.detect.DETECTORS`` ("blazeface") or a
    ``FaceDetector``. ``margin``: the face box's enlargement (None: the model's; a fused model's is
    fixed). ``threshold``: P(real) at or above which a face is real, in (0, 1) (None: the model's, 0.5
    for the shipped ones).
    """

    def __init__(self, model: str | LivenessModel | None = None,
                 detector: str | FaceDetector = DEFAULT_DETECTOR, detector_model=None,
                 margin: float | None = None, threshold: float | None = None, mirrored: bool = False,
                 upright: bool = True, denoise: DenoiseOptions | None = DenoiseOptions()):
        if margin is not None and not float(margin) > 0:
            raise InputError(f"--margin must be > 0, got {margin}")
        check_threshold(threshold)
        self.model = model if isinstance(model, LivenessModel) else LivenessModel(model)
        self.model.check_margin(margin)      # refused here, not at the first frame
        self.detector = create_detector(detector, detector_model) if isinstance(detector, str) else detector
        self.margin = float(margin) if margin is not None else self.model.margin
        self.threshold = float(threshold) if threshold is not None else self.model.threshold
        self.mirrored = bool(mirrored)
        self.sideways_deg = SIDEWAYS_DEG if upright else None
        self.denoise = denoise

    def score(self, frame: np.ndarray, boxes) -> np.ndarray:
        """P(real) of given boxes in one frame (``as_bgr``): all faces in one batch."""
        return self._score(as_bgr(frame), boxes)

    def _score(self, frame: np.ndarray, boxes) -> np.ndarray:
        """``score`` of a frame already (H, W, 3) uint8 BGR."""
        crops = self.model.crops(frame, boxes, self.margin)
        if self.mirrored:
            crops = map_crops(lambda c: np.ascontiguousarray(c[:, :, ::-1]), crops)
        return self.model.predict(crops)

    def predict(self, frame: np.ndarray) -> list[FaceResult]:
        """Each face of one (H, W, 3) uint8 BGR ``frame`` (``as_bgr``: grayscale and BGRA taken too),
        decided on its own."""
        frame, boxes, quarters = Upright(self.detector.detect, self.sideways_deg).find(as_bgr(frame))
        scores = self._score(frame, boxes)
        return [FaceResult(b, float(s), REAL if s >= self.threshold else FAKE, float(s), turned=90 * quarters)
                for b, s in zip(boxes, scores)]

    def stream(self, window: int = 10, min_frames: int = 5, reject_frames: int | None = None,
               max_missed: int = 10) -> "LivenessStream":
        """A ``LivenessStream`` for the frames of one video or camera, in order: each face is followed
        from frame to frame, its score the mean P(real) of its last ``window`` frames (10), its label
        "pending" until ``min_frames`` (5) frames agree, "fake" only after ``reject_frames`` (None:
        ``min_frames``; at most ``window``); a face missed for more than ``max_missed`` frames (10) is
        a new face when found again (``tracking.FaceTracker``; ValueError outside those bounds)."""
        return LivenessStream(self, FaceTracker(self.threshold, window, min_frames, max_missed=max_missed,
                                                reject_frames=reject_frames))

    def process(self, frames: Iterable[Frame], **kw) -> Iterator[tuple[Frame, list[FaceResult]]]:
        """(frame, its faces) for each ``Frame`` of ``frames`` (``frames.VideoSource`` yields them),
        through one ``stream(**kw)``."""
        s = self.stream(**kw)
        for f in frames:
            yield f, s.update(f.image)


class LivenessStream:
    """One video's faces over time. ``update(frame)`` averages it with the frames before where the
    camera is noisy (``TemporalDenoiser``), detects (turning the frame upright when its faces are
    sideways; the turn is kept for the following frames), scores and tracks. ``frame``: the frame
    the last results refer to (averaged, and turned upright where it was turned). Each result's
    ``counted`` says whether its score was taken into its track (not while a noisy camera's
    average settles)."""

    def __init__(self, detector: LivenessDetector, tracker: FaceTracker):
        self.detector, self.tracker = detector, tracker
        self.upright = Upright(detector.detector.detect, detector.sideways_deg)
        self.denoiser = TemporalDenoiser(detector.denoise) if detector.denoise else None
        self.frame: np.ndarray | None = None

    def update(self, frame: np.ndarray, boxes=None) -> list[FaceResult]:
        """Results for one frame. ``boxes``: detections made by the caller on ``frame`` as
        given (no turn is then applied)."""
        quarters, frame = 0, as_bgr(frame)
        if self.denoiser is not None:
            frame = self.denoiser.update(frame)
        if boxes is None:
            frame, boxes, quarters = self.upright.find(frame)
        resized = self.frame is not None and self.frame.shape[:2] != frame.shape[:2]
        self.frame = frame
        scores = self.detector._score(frame, boxes)
        # a noisy camera's first averaged frames are still noisy: followed, their scores not counted
        counted = self.denoiser is None or self.denoiser.settled
        tracked = self.tracker.update(boxes, scores, counted, resized)
        return [FaceResult(b, mean, label, float(s), tid, decided, turned=90 * quarters, counted=counted)
                for b, s, (tid, mean, label, decided) in zip(boxes, scores, tracked)]
