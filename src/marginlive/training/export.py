"""Export a trained network to the self-describing ONNX model file, and check it."""
from __future__ import annotations

import copy
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from .._util import atomic_path
from ..errors import ModelError
from ..liveness.networks import Deployable, plain_convolutions
from ..liveness.rewrite import flush_subnormals
from ..liveness.runtime import FORMAT, META_KEY, LivenessModel


def export_onnx(net: torch.nn.Module, path: str | os.PathLike, meta: dict,
                check_crops: np.ndarray | None = None, atol: float = 1e-4, deployable: bool = False) -> Path:
    """Write ``net`` as a marginlive model file, atomically, and check ORT == PyTorch.

    ``net`` maps float NCHW crops to logits (wrapped here with the uint8 input), or, with
    ``deployable=True``, already maps uint8 NHWC crops to P(real) (e.g. ``MultiScale``).
    The file appears only once it is complete and verified; on any failure nothing is left.
    """
    import onnx

    path = Path(path)
    size = int(meta["input_size"])
    meta = {"format": FORMAT, "input": "uint8 BGR NHWC", "output": "p_real",
            "labels": ["fake", "real"], **meta}
    # central difference convolutions as the plain convolutions they equal: fewer operators
    dep = plain_convolutions(copy.deepcopy(net if deployable else Deployable(net))).eval()
    with atomic_path(path) as tmp:  # the file appears only complete and verified
        dummy = torch.zeros(2, size, size, 3, dtype=torch.uint8)
        with warnings.catch_warnings():
            # the tracer's notes on the view-size constants (grid cells, pooling) that the graph fixes
            # on purpose; the export is checked against PyTorch below, on crops that are not the dummy
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", message="Constant folding")
            torch.onnx.export(dep, (dummy,), str(tmp), input_names=["crops"], output_names=["p_real"],
                              dynamic_axes={"crops": {0: "n"}, "p_real": {0: "n"}}, opset_version=17,
                              dynamo=False)
        m = onnx.load(str(tmp))
        flush_subnormals(m)    # weight decay leaves some; they run slowly on one thread (liveness/rewrite.py)
        del m.metadata_props[:]
        entry = m.metadata_props.add()
        entry.key, entry.value = META_KEY, json.dumps(meta, sort_keys=True)
        m.doc_string = f"marginlive liveness model {meta.get('name', '')}"
        onnx.save(m, str(tmp))
        if check_crops is None:
            check_crops = np.random.default_rng(0).integers(0, 256, (8, size, size, 3), dtype=np.uint8)
        with torch.no_grad():
            want = dep(torch.from_numpy(check_crops)).numpy()
        got = LivenessModel(tmp).predict(check_crops)
        err = float(np.max(np.abs(got - want)))
        if err > atol:
            raise ModelError(f"exported model disagrees with PyTorch (max |diff| {err:.2e})")
    return path
