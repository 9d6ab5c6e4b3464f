"""Draw results the way the paper's Figure 8 shows them: blue for real, red for fake."""
from __future__ import annotations

import cv2
import numpy as np

from .types import FAKE, REAL, FaceResult

BLUE, RED, GREY, WHITE, GREEN, BLACK = (255, 0, 0), (0, 0, 255), (160, 160, 160), (255, 255, 255), (0, 170, 0), (0, 0, 0)
COLOURS = {REAL: BLUE, FAKE: RED}


def draw_results(frame: np.ndarray, results: list[FaceResult], copy: bool = True) -> np.ndarray:
    """``frame`` (H, W, 3) uint8 BGR with each face's box and label drawn: blue "real", red "fake" with
    the decision's confidence, grey "checking" with the score while a stream is still deciding. Lines
    scale with the frame (2 px per 240 px of its shorter side). ``copy``: draw on a copy (default) or
    in place."""
    img = frame.copy() if copy else frame
    t = max(1, round(min(img.shape[:2]) / 240))
    for r in results:
        c = COLOURS.get(r.label, GREY)
        b = r.box
        p1, p2 = (int(b.x1), int(b.y1)), (int(b.x2), int(b.y2))
        cv2.rectangle(img, p1, p2, c, 2 * t)
        text = f"{r.label} {r.confidence:.2f}" if r.label in COLOURS else f"checking {r.score:.2f}"
        put_label(img, text, (p1[0], max(p1[1] - 4, 14)), c, t)
    return img


def put_label(img, text, org, colour, t=1):
    scale = 0.5 * t
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, t)
    x, y = int(org[0]), int(org[1])
    cv2.rectangle(img, (x, y - h - base - 2), (x + w + 4, y + 2), colour, -1)
    cv2.putText(img, text, (x + 2, y - base + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, WHITE, t, cv2.LINE_AA)


def banner(img: np.ndarray, lines: list[str], colour=BLACK) -> np.ndarray:
    """Instruction lines on a band at the top of the frame (the authentication flow)."""
    t = max(1, round(min(img.shape[:2]) / 480))
    y = 6
    for line in lines:
        (w, h), base = cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, 0.7 * t, 2 * t)
        cv2.rectangle(img, (0, y), (w + 16, y + h + base + 10), colour, -1)
        cv2.putText(img, line, (8, y + h + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.7 * t, WHITE, 2 * t, cv2.LINE_AA)
        y += h + base + 14
    return img
