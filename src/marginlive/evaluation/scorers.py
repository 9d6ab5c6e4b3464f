"""Anything that turns (frame, face box) into P(real): our model, or the peer model with its
own crop and normalisation, so that both are evaluated by the same command on the same faces."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..errors import ModelError
from ..margin import CONTEXT_MARGIN, crop_batch
from ..types import FaceBox


class MarginScorer:
    """A marginlive model: the margin crop from its metadata."""

    kind = "marginlive"

    def __init__(self, path):
        from ..liveness.runtime import LivenessModel
        self.model = LivenessModel(path)
        self.name = self.model.name
        self.margin, self.size, self.threshold = self.model.margin, self.model.size, self.model.threshold
        # a crop of another kind (the Silent-Face branch's, shifted off the face) or wider than the
        # 4x context that `marginlive collect` stores needs the whole frame
        self.from_frames_only = any(s["crop"] != "margin" or float(s["margin"]) > CONTEXT_MARGIN
                                    for s in self.model.inputs)

    def crops(self, frame, boxes: list[FaceBox]):
        return self.model.crops(frame, boxes)

    def context_crops(self, context: np.ndarray):
        """One face's inputs cut from its stored (S, S, 3) 4x context: an (size, size, 3) crop, or for
        a model of several inputs a dict of them by input name (as ``take(crops(...), 0)`` gives)."""
        from ..margin import crop_from_context
        if len(self.model.inputs) == 1:
            return crop_from_context(context, self.margin, self.size)
        return {s["name"]: crop_from_context(context, float(s["margin"]), int(s["size"])) for s in self.model.inputs}

    def score_crops(self, crops) -> np.ndarray:
        return self.model.predict_many(crops)


class PeerScorer:
    """The MiniFASNet-style peer (../shared/models/peer-minifasnet-celebaspoof): a square crop
    of 1.5x the face box padded with black, 128x128 RGB in [0, 1], NCHW, batch 1; output logits
    [N, 2] (index 0 = real) or [N, 3] (live, print, replay). P(real) = softmax[0]."""

    kind = "peer"
    margin, size, threshold = 1.5, 128, 0.5
    from_frames_only = False

    def __init__(self, path):
        import onnxruntime as ort
        from ..liveness.runtime import session_options
        p = Path(path)
        if not p.is_file():
            raise ModelError(f"{p}: no such model file")
        try:
            self.session = ort.InferenceSession(str(p), sess_options=session_options(),
                                                providers=["CPUExecutionProvider"])
        except Exception as e:
            raise ModelError(f"{p}: not a loadable ONNX model ({type(e).__name__})") from None
        inp = self.session.get_inputs()[0]
        if list(inp.shape[1:]) != [3, 128, 128]:
            raise ModelError(f"{p}: not the peer's input layout (got {inp.shape})")
        self.input_name = inp.name
        self.name = f"peer:{p.stem}"

    def crops(self, frame, boxes):
        return crop_batch(frame, boxes, self.margin, self.size)

    def context_crops(self, context: np.ndarray) -> np.ndarray:
        from ..margin import crop_from_context
        return crop_from_context(context, self.margin, self.size)

    def score_crops(self, crops: np.ndarray) -> np.ndarray:
        out = []
        for c in crops:  # the peer takes batch size 1 only
            x = cv2.cvtColor(c, cv2.COLOR_BGR2RGB).astype(np.float32).transpose(2, 0, 1)[None] / 255.0
            logits = self.session.run(None, {self.input_name: x})[0][0].astype(np.float64)
            e = np.exp(logits - logits.max())
            out.append(e[0] / e.sum())
        return np.array(out, np.float32)


def load_scorer(path: str | os.PathLike):
    """Our model if the file carries marginlive metadata, else the peer adapter."""
    from ..liveness.runtime import META_KEY
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"{p}: no such model file")
    try:
        import onnxruntime as ort
        from ..liveness.runtime import session_options
        meta = ort.InferenceSession(str(p), sess_options=session_options(),
                                    providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    except Exception as e:
        raise ModelError(f"{p}: not a loadable ONNX model ({type(e).__name__})") from None
    return MarginScorer(p) if META_KEY in meta else PeerScorer(p)
