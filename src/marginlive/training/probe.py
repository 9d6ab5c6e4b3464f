"""A linear head on the Silent-Face network's own features, fitted here: one more vote of the fusion.

The branches trained on ../shared pixels (LBP, LPQ, the cdcnet) learn what the training webcams do
to skin; the Silent-Face network, trained on its authors' many cameras, has features that move less
with the camera. A logistic regression on those features (the flattened 512 values before its
classifier, on its own crop) learns the screens and prints of ../shared from what that network
sees. Rebuilt without each never-seen collection, as a fifth branch it turned away fewer live
frames of the collections unlike the webcams (NUAA 12.4 -> 5.6%) and let fewer tilted and
frame-filling TV replays through (docs/research/2026-12-03-silent-face-probe.md). It costs one
matrix product: the network runs for its own vote anyway.

Every collection counts alike, whatever its size (``balance.cell_weights``): fitted frame by
frame, the webcam groups' thousands of frames outvoted the two datasets of other cameras.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DatasetError, ModelError
from .balance import cell_weights

#: the fused model's name for the head's (N, 1) logit
PROBE_TENSOR = "silentface_probe_logit"


#: how much darker a vignetted copy's corners are than its centre: U(0.3, 0.6) of their brightness
VIGNETTE_STRENGTH = (0.3, 0.6)
#: the seed of the copies' draw: the same copies in every fit (``make model`` rebuilds to the bit)
VIGNETTE_SEED = (0, 36)
#: the seed of the background-blurred copies' draw (their crops and their blur)
BLUR_SEED = (0, 37)


@dataclass(frozen=True)
class ProbeSetting:
    """The head: its ``weight`` in the fusion (normalised with the others') and ``c``, the logistic
    regression's inverse regularisation strength on standardised features (default 0.001: the
    fused model moved little between 0.0003 and 0.01). ``vignette``: the share of the crops (0-1,
    default 0) fitted on a second time, their corners darkened as a lens without shading correction
    darkens them (``VIGNETTE_STRENGTH``), label kept: the network reads such a fall-off as a screen's
    surround, the head learns that a camera's dark corners are none. ``background_blur``: the share
    of the crops (0-1, default 0) fitted on again with all but the person blurred, as a video call's
    camera effect blurs it (``blurred_copies``), label kept: the network reads a replay whose bezel and
    hand are blurred away as live, the head learns that a blurred surround can still hold a screen."""
    weight: float
    c: float = 0.001
    vignette: float = 0.0
    background_blur: float = 0.0


def feature_tensor(model) -> str:
    """The tensor of a Silent-Face MiniFASNet (an ``onnx.ModelProto``) that holds its features:
    the (N, D) input of its first MatMul (the flattened output of its last depthwise convolution)."""
    mm = next((n for n in model.graph.node if n.op_type == "MatMul"), None)
    if mm is None:
        raise ModelError("not a Silent-Face MiniFASNet: no MatMul reads its features")
    return mm.input[0]


def features(model, crops: np.ndarray, batch: int = 256) -> np.ndarray:
    """(N, D) float32 features of the (N, S, S, 3) uint8 BGR ``crops`` (the network's own crop)."""
    import onnx
    import onnxruntime as ort

    from ..liveness.rewrite import prelu_as_max
    from ..liveness.runtime import session_options
    m = onnx.ModelProto()
    m.CopyFrom(model)
    prelu_as_max(m)   # the same features, twice as fast
    name = feature_tensor(m)
    m.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    s = ort.InferenceSession(m.SerializeToString(), sess_options=session_options(), providers=["CPUExecutionProvider"])
    feed = m.graph.input[0].name
    out = [s.run([name], {feed: crops[i:i + batch]})[0] for i in range(0, len(crops), batch)]
    return np.concatenate(out).astype(np.float32).reshape(len(crops), -1)


def fit_probe(x: np.ndarray, labels: np.ndarray, units: np.ndarray, c: float) -> tuple[np.ndarray, float]:
    """Logistic regression of ``labels`` (1 live) on the (N, D) features ``x``, each (unit, label)
    pair of ``units`` weighing alike; the standardisation folded in. Returns (w (D,), b): the
    logit of features f is f @ w + b."""
    from sklearn.linear_model import LogisticRegression
    labels = np.asarray(labels)
    if set(labels.tolist()) != {0, 1}:
        raise DatasetError("the Silent-Face probe needs live and attack crops")
    mean, std = x.mean(0), x.std(0) + 1e-6
    clf = LogisticRegression(C=c, max_iter=3000).fit((x - mean) / std, labels, sample_weight=cell_weights(units, labels))
    w = clf.coef_[0] / std
    return w.astype(np.float32), float(clf.intercept_[0] - mean @ w)


def with_probe(model, w: np.ndarray, b: float):
    """A copy of the Silent-Face ``model`` with the head's (N, 1) logit ``PROBE_TENSOR`` as a second
    output, computed from ``feature_tensor``'s features."""
    import onnx
    from onnx import helper, numpy_helper
    m = onnx.ModelProto()
    m.CopyFrom(model)
    m.graph.initializer.extend([numpy_helper.from_array(np.asarray(w, np.float32).reshape(-1, 1), "probe_w"),
                                numpy_helper.from_array(np.array([b], np.float32), "probe_b")])
    m.graph.node.extend([helper.make_node("Gemm", [feature_tensor(m), "probe_w", "probe_b"], [PROBE_TENSOR])])
    m.graph.output.append(helper.make_tensor_value_info(PROBE_TENSOR, onnx.TensorProto.FLOAT, ["n", 1]))
    return m


def vignetted_copies(crops: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray]:
    """(copies, source): a seeded draw of ``share`` of the (N, S, S, 3) uint8 ``crops``, each with its
    corners darkened (``VIGNETTE_STRENGTH``), and the index of the crop each was made from."""
    from ..evaluation.processing import vignetted
    rng = np.random.default_rng(VIGNETTE_SEED)
    source = np.flatnonzero(rng.random(len(crops)) < share)
    copies = [vignetted(crops[k], None, rng, strength=VIGNETTE_STRENGTH) for k in source]
    return (np.stack(copies) if copies else crops[:0]), source


def blurred_copies(crops: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray]:
    """(copies, source): a seeded draw of ``share`` of the (N, S, S, 3) uint8 ``crops``, each with all
    but the person blurred (``scene.background_blurred_context``; the person found by MediaPipe's
    selfie segmentation on the crop enlarged to 256 px, where it finds a face of 64 px as in a
    context crop), and the index of the crop each was made from."""
    import cv2

    from ..evaluation.shifts import PersonCutout
    from .scene import background_blurred_context
    rng = np.random.default_rng(BLUR_SEED)
    source = np.flatnonzero(rng.random(len(crops)) < share)
    if not len(source):
        return crops[:0], source
    h, w = crops.shape[1:3]
    cutout, copies = PersonCutout(), []
    try:
        for k in source:
            person = cutout(cv2.resize(crops[k], (256, 256), interpolation=cv2.INTER_CUBIC))
            person = cv2.resize(person, (w, h), interpolation=cv2.INTER_AREA)[..., None]
            copies.append(background_blurred_context(crops[k], person, rng))
    finally:
        cutout.close()
    return np.stack(copies), source


class ProbeFit:
    """The head fitted on any subset of one dataset: the network's features of the (N, S, S, 3)
    ``crops`` (and of the copies ``setting.vignette`` and ``setting.background_blur`` ask for)
    computed once (about 5 s for 3,700 crops, 15 s more for blurred copies of half), ``fit(exclude)``
    in a second."""

    def __init__(self, model, crops: np.ndarray, labels: np.ndarray, units: np.ndarray, setting: ProbeSetting):
        vignetted, v_source = vignetted_copies(crops, setting.vignette)   # none at a share of 0
        blurred, b_source = blurred_copies(crops, setting.background_blur)
        # per row of the fit, the crop it was made from (itself for the crops as collected)
        self.source = np.concatenate([np.arange(len(crops)), v_source, b_source])
        labels, units = np.asarray(labels), np.asarray(units, object)
        self.x = features(model, np.concatenate([crops, vignetted, blurred]))
        self.labels, self.units, self.setting = labels[self.source], units[self.source], setting

    def fit(self, exclude: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        """(w, b) fitted on every row but those of the crops in the boolean (N,) ``exclude`` and their copies."""
        keep = np.ones(len(self.labels), bool) if exclude is None else ~np.asarray(exclude, bool)[self.source]
        return fit_probe(self.x[keep], self.labels[keep], self.units[keep], self.setting.c)
