"""Load and run a self-describing marginlive liveness model on ONNX Runtime.

A model file is one ``.onnx`` file. Its graph takes a batch of margin crops as uint8 BGR
NHWC (N, S, S, 3) and returns P(real) of shape (N,): scaling and channel order live inside
the graph, so nothing outside the file can disagree with it. Its metadata (ONNX
``metadata_props``, key ``marginlive``) is a JSON object with at least::

    {"format": 1, "input_size": 64, "margin": 2.0, "threshold": 0.5,
     "labels": ["fake", "real"], "input": "uint8 BGR NHWC", "output": "p_real",
     "arch": "...", "training": {...}, "metrics": {...}}
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from ..errors import ModelError  # noqa: E402

META_KEY = "marginlive"
FORMAT = 1
REQUIRED = ("input_size", "margin", "threshold", "labels")

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_MODEL = REPO_ROOT / "models" / "marginlive-default.onnx"


def default_model_path() -> Path:
    """$MARGINLIVE_MODEL if set, else the model shipped in this repository's models/."""
    env = os.environ.get("MARGINLIVE_MODEL")
    return Path(env) if env else DEFAULT_MODEL


def session_options(threads: int = 1):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    return so


class LivenessModel:
    """A loaded model: ``predict(crops_uint8_bgr) -> P(real)`` for a whole batch at once."""

    def __init__(self, path: str | os.PathLike | None = None, threads: int = 1):
        import onnxruntime as ort
        p = Path(path) if path is not None else default_model_path()
        if not p.exists():
            hint = " (train one with `marginlive train`, or pass --model)" if path is None else ""
            raise ModelError(f"{p}: no such model file{hint}")
        try:
            self.session = ort.InferenceSession(str(p), sess_options=session_options(threads),
                                                providers=["CPUExecutionProvider"])
        except Exception as e:  # ORT raises its own Fail/InvalidProtobuf types
            raise ModelError(f"{p}: not a loadable ONNX model ({type(e).__name__})") from None
        raw = self.session.get_modelmeta().custom_metadata_map.get(META_KEY)
        if raw is None:
            raise ModelError(f"{p}: an ONNX model but not a marginlive model (no '{META_KEY}' metadata)")
        try:
            meta = json.loads(raw)
        except json.JSONDecodeError:
            raise ModelError(f"{p}: corrupt marginlive metadata") from None
        missing = [k for k in REQUIRED if k not in meta]
        if missing:
            raise ModelError(f"{p}: metadata lacks {', '.join(missing)}")
        inp = self.session.get_inputs()[0]
        if inp.type != "tensor(uint8)" or list(inp.shape[1:]) != [meta["input_size"], meta["input_size"], 3]:
            raise ModelError(f"{p}: input {inp.type} {inp.shape} does not match its metadata")
        self.path = p
        self.meta = meta
        self.input_name = inp.name
        self.size = int(meta["input_size"])
        self.margin = float(meta["margin"])
        self.threshold = float(meta["threshold"])
        self.name = meta.get("name", p.stem)

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """P(real) for a (N, S, S, 3) uint8 BGR batch of margin crops."""
        if crops.shape[0] == 0:
            return np.zeros((0,), np.float32)
        if crops.dtype != np.uint8 or crops.shape[1:] != (self.size, self.size, 3):
            raise ModelError(f"model expects uint8 crops of {self.size}x{self.size}x3, got "
                             f"{crops.dtype} {crops.shape[1:]}")
        out = self.session.run(None, {self.input_name: np.ascontiguousarray(crops)})[0]
        return np.asarray(out, np.float32).reshape(-1)

    def predict_many(self, crops: np.ndarray, batch: int = 256) -> np.ndarray:
        return np.concatenate([self.predict(crops[i:i + batch]) for i in range(0, len(crops), batch)]
                              or [np.zeros((0,), np.float32)])
