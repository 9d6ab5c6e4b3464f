"""Load and run a self-describing marginlive liveness model on ONNX Runtime.

A model file is one ``.onnx`` file. Its graph takes a batch of margin crops as uint8 BGR
NHWC (N, S, S, 3) and returns P(real) of shape (N,): scaling and channel order live inside
the graph, so nothing outside the file can disagree with it. Its metadata (ONNX
``metadata_props``, key ``marginlive``) is a JSON object with at least::

    {"format": 1, "input_size": 64, "margin": 2.0, "threshold": 0.5,
     "labels": ["fake", "real"], "input": "uint8 BGR NHWC", "output": "p_real",
     "arch": "...", "training": {...}, "metrics": {...}}

A model may take more than one crop of each face (a fused model whose branches were trained on
different crop recipes). Its metadata then lists them under ``"inputs"``, in the graph's order::

    "inputs": [{"name": "crops", "crop": "margin", "margin": 4.0, "size": 256},
               {"name": "silentface_4", "crop": "shifted", "scale": 4.0, "size": 80}]

``margin`` is the square, centred, black-padded margin crop (``margin.crop_margin``); ``shifted``
the aspect-keeping crop moved inside the frame, its keys ``silentface_crop.ShiftedCrop``'s options
(``"min_scale"`` extends a frame too small for that scale of the face, ``"max_side"`` averages down
a window wider than that many pixels, ``"noise_level"`` a noisy one). The first input is the
primary one: ``size`` and ``margin`` describe it. ``crops(frame, boxes)`` builds every input; for a
one-input model it is the plain (N, S, S, 3) array, else a dict of arrays by input name.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from ..errors import ModelError  # noqa: E402
from ..silentface_crop import ShiftedCrop  # noqa: E402

META_KEY = "marginlive"
FORMAT = 1
REQUIRED = ("input_size", "margin", "threshold", "labels")

REPO_ROOT = Path(__file__).resolve().parents[3]
WEIGHTS = Path(__file__).resolve().parents[1] / "weights"   # in the package
DEFAULT_MODEL = WEIGHTS / "marginlive-default.onnx"
# the shipped models by name (--model NAME): the fused model, and a network distilled from it fused with its LBP branch
NAMED_MODELS = {"default": DEFAULT_MODEL, "accurate": DEFAULT_MODEL, "fast": WEIGHTS / "marginlive-fast.onnx"}


def model_path(spec: str | os.PathLike | None = None) -> Path:
    """A model file from ``spec``: a shipped model's name (``NAMED_MODELS``), a path, or None for
    $MARGINLIVE_MODEL (itself a name or a path) or else (unset or empty) the default model."""
    spec = (os.environ.get("MARGINLIVE_MODEL") or None) if spec is None else spec
    if spec is None:
        return DEFAULT_MODEL
    return NAMED_MODELS.get(str(spec), Path(spec))


def default_model_path() -> Path:
    """$MARGINLIVE_MODEL if set (a name or a path), else the fused model shipped in the package."""
    return model_path(None)


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
        p = model_path(path)
        if not p.exists():
            hint = " (train one with `marginlive train`, or pass --model)" if path is None else ""
            raise ModelError(f"{p}: no such model file{hint}")
        try:
            self.session = ort.InferenceSession(str(p), sess_options=session_options(threads),
                                                providers=["CPUExecutionProvider"])
        except Exception as e:  # ORT raises its own Fail/InvalidProtobuf types
            raise ModelError(f"{p}: not a loadable ONNX model ({type(e).__name__})") from None
        meta = _read_meta(self.session, p)
        inp = self.session.get_inputs()[0]
        specs = meta.get("inputs") or [{"name": inp.name, "crop": "margin", "margin": meta["margin"],
                                        "size": meta["input_size"]}]
        self._shifted = _check_inputs(self.session, specs, meta, p)
        self.path = p
        self.meta = meta
        self.input_name = inp.name
        self.inputs = specs
        self.size = int(meta["input_size"])
        self.margin = float(meta["margin"])
        self.threshold = float(meta["threshold"])
        self.name = meta.get("name", p.stem)

    def crops(self, frame: np.ndarray, boxes: list, margin: float | None = None):
        """Every input of the model for the faces ``boxes`` of one BGR frame: (N, S, S, 3) uint8
        for a one-input model, else a dict by input name. ``margin`` overrides the primary
        input's margin (a one-input model only: a fused model's branches were trained on its own)."""
        from ..margin import crop_batch, crop_batch_from_context
        self.check_margin(margin)
        out, widest = {}, None
        for k, spec in enumerate(self.inputs):
            name, size = spec["name"], int(spec["size"])
            if spec["crop"] != "margin":
                cut = self._shifted[name].cut
                out[name] = np.stack([cut(frame, b) for b in boxes]) if boxes else np.zeros((0, size, size, 3), np.uint8)
                continue
            m = float(margin) if (margin is not None and k == 0) else float(spec["margin"])
            if widest is not None and m <= widest[0] and size * widest[0] <= widest[1].shape[1] * m:
                # cut from the first margin crop where that holds the pixels (no upsampling), as
                # training cut every crop from the stored 4x context (the same geometry, margin.py),
                # and about 5x cheaper than from the frame
                out[name] = crop_batch_from_context(widest[1], m, size, widest[0])
            else:
                out[name] = crop_batch(frame, boxes, m, size)
                widest = widest or (m, out[name])
        return out[self.input_name] if len(self.inputs) == 1 else out

    def check_margin(self, margin: float | None) -> None:
        """ModelError where ``margin`` would override a fused model's own (its branches were trained
        on their crops); None, or a one-input model, takes any."""
        if margin is not None and len(self.inputs) > 1 and float(margin) != self.margin:
            raise ModelError(f"model {self.name} crops the face at {self.margin:g}x; a fused model's margin "
                             "cannot be changed")

    def predict(self, crops) -> np.ndarray:
        """P(real), shape (N,), for a batch of crops as ``crops`` makes them: a (N, S, S, 3)
        uint8 BGR array of margin crops, or for a model of several inputs a dict of such arrays."""
        feed = crops if isinstance(crops, dict) else {self.input_name: crops}
        if set(feed) != {s["name"] for s in self.inputs}:
            need = ", ".join(s["name"] for s in self.inputs)
            raise ModelError(f"model {self.name} takes the crops {need}; build them with model.crops(frame, boxes)")
        n = {len(v) for v in feed.values()}
        if len(n) != 1:
            raise ModelError("every input needs the same number of faces")
        if n == {0}:
            return np.zeros((0,), np.float32)
        for s in self.inputs:
            x, size = feed[s["name"]], int(s["size"])
            if x.dtype != np.uint8 or x.shape[1:] != (size, size, 3):
                raise ModelError(f"model expects uint8 crops of {size}x{size}x3, got {x.dtype} {x.shape[1:]}")
        out = self.session.run(None, {k: np.ascontiguousarray(v) for k, v in feed.items()})[0]
        return np.asarray(out, np.float32).reshape(-1)

    def predict_many(self, crops, batch: int = 256) -> np.ndarray:
        n = len(next(iter(crops.values()))) if isinstance(crops, dict) else len(crops)
        return np.concatenate([self.predict(take(crops, slice(i, i + batch))) for i in range(0, n, batch)]
                              or [np.zeros((0,), np.float32)])


CROPS = ("margin", "shifted")


def _read_meta(session, p: Path) -> dict:
    """The model's ``marginlive`` metadata, checked for the ``REQUIRED`` keys (``ModelError`` if not)."""
    raw = session.get_modelmeta().custom_metadata_map.get(META_KEY)
    if raw is None:
        raise ModelError(f"{p}: an ONNX model but not a marginlive model (no '{META_KEY}' metadata)")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError:
        raise ModelError(f"{p}: corrupt marginlive metadata") from None
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        raise ModelError(f"{p}: metadata lacks {', '.join(missing)}")
    return meta


def _check_inputs(session, specs: list[dict], meta: dict, p: Path) -> dict:
    """{input name: its ShiftedCrop, or None for a margin crop}, once every spec matches a uint8
    (N, S, S, 3) input of the graph and the graph has no other (``ModelError`` if not)."""
    graph = {i.name: i for i in session.get_inputs()}
    cutters = {}
    for spec in specs:
        i = graph.get(spec.get("name"))
        try:
            shifted = ShiftedCrop.from_spec(spec) if spec.get("crop") == "shifted" else None
            ok = (i is not None and i.type == "tensor(uint8)" and spec.get("crop") in CROPS
                  and list(i.shape[1:]) == [spec.get("size"), spec.get("size"), 3])
        except ValueError:
            ok = False
        if not ok:
            raise ModelError(f"{p}: input {spec.get('name')!r} does not match its metadata")
        cutters[spec["name"]] = shifted
    if len(specs) != len(graph) or specs[0]["size"] != meta["input_size"]:
        raise ModelError(f"{p}: the graph's inputs do not match its metadata")
    return cutters


def map_crops(fn, crops):
    """``fn`` applied to a batch of crops: an array, or each array of a dict (a model of several inputs)."""
    return {k: fn(v) for k, v in crops.items()} if isinstance(crops, dict) else fn(crops)


def take(crops, index):
    """Index or slice a batch of crops (see ``map_crops``)."""
    return map_crops(lambda v: v[index], crops)


def stack_crops(items: list):
    """Stack single faces' crops (each an array, or a dict of arrays) into one batch."""
    if items and isinstance(items[0], dict):
        return {k: np.stack([it[k] for it in items]) for k in items[0]}
    return np.stack(items)
