"""Plain data types at the boundaries between stages. No logic beyond geometry helpers."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FaceBox:
    """A face in frame pixel coordinates (x2, y2 exclusive), with the detector's score.

    ``keypoints`` holds the detector's landmarks as (x, y) pixels where it gives them
    (BlazeFace: right eye, left eye, nose tip, mouth, right ear, left ear).
    """

    x1: float
    y1: float
    x2: float
    y2: float
    score: float = 1.0
    keypoints: tuple[tuple[float, float], ...] = ()

    @property
    def w(self) -> float:
        return self.x2 - self.x1

    @property
    def h(self) -> float:
        return self.y2 - self.y1

    @property
    def cx(self) -> float:
        return (self.x1 + self.x2) / 2

    @property
    def cy(self) -> float:
        return (self.y1 + self.y2) / 2

    @property
    def area(self) -> float:
        return max(0.0, self.w) * max(0.0, self.h)

    def iou(self, other: "FaceBox") -> float:
        ix = max(0.0, min(self.x2, other.x2) - max(self.x1, other.x1))
        iy = max(0.0, min(self.y2, other.y2) - max(self.y1, other.y1))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def region(self, frame):
        """The pixels of ``frame`` (H, W, ...) inside the box, clipped to the frame: a view, empty
        where the box lies wholly outside it."""
        x1, y1 = max(0, int(self.x1)), max(0, int(self.y1))
        return frame[y1:max(y1 + 1, int(self.y2)), x1:max(x1 + 1, int(self.x2))]

    def as_list(self) -> list[float]:
        return [round(self.x1, 1), round(self.y1, 1), round(self.x2, 1), round(self.y2, 1)]


REAL, FAKE, PENDING = "real", "fake", "pending"


@dataclass
class FaceResult:
    """The liveness verdict for one face in one frame.

    ``score`` is P(real) in [0, 1] (smoothed over the track for video), ``frame_score`` the
    model's score on this frame alone. ``label`` is ``real`` or ``fake``, or ``pending`` while
    a video track has not yet seen enough consistent frames to decide. ``turned``: degrees
    clockwise (0, 90 or 270) the frame was turned to make the face upright before it was
    detected and scored; ``box`` is in that turned frame (``marginlive.orientation``).
    ``counted``: whether a video's stream took ``frame_score`` into the face's track (False while a
    noisy camera's average settles, ``marginlive.denoise``); a verdict over the video's frames
    leaves out those not counted.
    """

    box: FaceBox
    score: float
    label: str
    frame_score: float
    track_id: int | None = None
    decided: bool = True
    turned: int = 0
    counted: bool = True

    @property
    def confidence(self) -> float:
        """Confidence in the label shown: P(real) for real, 1 - P(real) for fake."""
        return self.score if self.label == REAL else 1.0 - self.score

    def to_dict(self) -> dict:
        return {
            "box": self.box.as_list(),
            "detector_score": round(self.box.score, 4),
            "score": round(float(self.score), 4),
            "frame_score": round(float(self.frame_score), 4),
            "label": self.label,
            "track": self.track_id,
            "decided": self.decided,
            "turned": self.turned,
        }


@dataclass
class Frame:
    """One frame of a source with its index and time in seconds."""

    index: int
    time: float
    image: object  # np.ndarray, BGR uint8
    source: str = ""
