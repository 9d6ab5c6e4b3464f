"""The head on the Silent-Face network's features (training/probe.py): the features are what the
network's own classifier reads, and the head in the graph is the head that was fitted."""
import numpy as np
import pytest
from conftest import edge_strength, need_shared

from marginlive.errors import DatasetError
from marginlive.training.probe import (PROBE_TENSOR, ProbeFit, ProbeSetting, blurred_copies, feature_tensor, features,
                                       fit_probe, vignetted_copies, with_probe)


@pytest.fixture(scope="module")
def silentface():
    import onnx
    return onnx.load(str(need_shared("models", "silentface-minifasnet") / "4_0_0_80x80_MiniFASNetV1SE.onnx"))


@pytest.fixture(scope="module")
def crops():
    return np.random.default_rng(0).integers(0, 256, (6, 80, 80, 3), dtype=np.uint8)


def _run(model, crops, outputs):
    import onnxruntime as ort
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(outputs, {model.graph.input[0].name: crops})


def test_features_are_what_the_networks_classifier_reads(silentface, crops):
    """Its linear layer, batch norm and classifier applied to the features give its own softmax."""
    from onnx import numpy_helper
    x = features(silentface, crops)
    assert x.shape == (6, 512) and x.dtype == np.float32
    init = {i.name: numpy_helper.to_array(i) for i in silentface.graph.initializer}
    by_op = {}
    for n in silentface.graph.node:
        by_op.setdefault(n.op_type, []).append(n)
    first, second = by_op["MatMul"][-2:]
    bn = by_op["BatchNormalization"][-1]
    assert first.input[0] == feature_tensor(silentface)
    h = x @ init[first.input[1]]
    g, beta, mu, var = (init[t] for t in bn.input[1:])
    h = (h - mu) / np.sqrt(var + 1e-5) * g + beta
    z = h @ init[second.input[1]]
    soft = np.exp(z - z.max(1, keepdims=True))
    soft /= soft.sum(1, keepdims=True)
    assert soft == pytest.approx(_run(silentface, crops, None)[0], abs=1e-4)


def test_the_head_in_the_graph_is_the_fitted_head(silentface, crops):
    w = np.random.default_rng(1).normal(size=512).astype(np.float32)
    head = with_probe(silentface, w, 0.25)
    probs, logit = _run(head, crops, [silentface.graph.output[0].name, PROBE_TENSOR])
    assert logit.shape == (6, 1)
    assert logit[:, 0] == pytest.approx(features(silentface, crops) @ w + 0.25, rel=1e-4, abs=1e-3)
    assert np.array_equal(probs, _run(silentface, crops, None)[0])      # the network's own vote unchanged


def test_the_head_separates_what_it_was_fitted_on_and_needs_both_classes():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 8)).astype(np.float32) * 5 + 3
    y = (x[:, 0] > 3).astype(int)
    units = np.array(["a", "b"] * 100, object)
    w, b = fit_probe(x, y, units, c=1.0)
    assert np.mean(((x @ w + b) > 0) == y) > 0.95        # the standardisation folded into w and b
    with pytest.raises(DatasetError, match="live and attack"):
        fit_probe(x, np.ones(200, int), units, c=1.0)


def test_vignetted_copies_keep_their_label_and_leave_the_fit_with_their_crop(silentface):
    crops = np.random.default_rng(3).integers(0, 256, (12, 80, 80, 3), dtype=np.uint8)
    labels, units = np.array([0, 1] * 6), np.array(["a", "a", "b", "b"] * 3, object)
    assert len(ProbeFit(silentface, crops, labels, units, ProbeSetting(weight=1.0)).source) == 12   # none asked
    fit = ProbeFit(silentface, crops, labels, units, ProbeSetting(weight=1.0, vignette=0.5))
    copies, source = vignetted_copies(crops, 0.5)
    assert 0 < len(source) < 12 and np.array_equal(fit.source, np.r_[np.arange(12), source])
    assert np.array_equal(fit.labels, labels[fit.source]) and len(fit.x) == 12 + len(source)
    k, copy = source[0], copies[0]
    assert np.array_equal(copy[40, 40], crops[k][40, 40])                        # the centre as it was
    assert (copy[0, 0].astype(int) <= 0.7 * crops[k][0, 0] + 1).all()            # the corners darker
    with pytest.raises(DatasetError, match="live and attack"):
        fit.fit(exclude=labels == 1)            # every live crop left out: none of their copies stays
    w, b = fit.fit(exclude=np.arange(12) < 2)
    assert w.shape == (512,) and np.isfinite(b)


def test_blurred_copies_blur_the_room_keep_the_face_and_join_the_fit_with_their_crop(silentface):
    """On a real frame's 4x crop (MediaPipe's segmentation finds the person): the face as it was, the
    room above the head blurred; the same draw each time; each copy keeps its crop's label."""
    from marginlive.detect import create_detector
    from marginlive.frames import read_video_frames
    from marginlive.margin import crop_margin
    frame = read_video_frames(need_shared("data", "videos", "live-1.webm"), max_frames=1)[0].image
    box = max(create_detector().detect(frame), key=lambda b: b.score)
    noise = np.random.default_rng(4).integers(0, 256, (5, 80, 80, 3), dtype=np.uint8)
    crops = np.concatenate([crop_margin(frame, box, 4.0, 80)[None], noise])
    copies, source = blurred_copies(crops, 1.0)
    assert np.array_equal(source, np.arange(6)) and copies.shape == crops.shape
    again, _ = blurred_copies(crops, 1.0)
    assert np.array_equal(copies, again)
    face = (slice(32, 48), slice(34, 46))                 # the face is the crop's centre quarter
    assert np.abs(copies[0][face].astype(int) - crops[0][face]).mean() < 3
    room = (slice(14, 28), slice(50, 63))                 # the wall and things right of the head
    assert edge_strength(copies[0][room]) < 0.7 * edge_strength(crops[0][room])
    labels, units = np.array([1, 0, 1, 0, 1, 0]), np.array(["a", "a", "b", "b", "c", "c"], object)
    fit = ProbeFit(silentface, crops, labels, units, ProbeSetting(weight=1.0, background_blur=0.5))
    _, half = blurred_copies(crops, 0.5)
    assert 0 < len(half) < 6 and np.array_equal(fit.source, np.r_[np.arange(6), half])
    assert np.array_equal(fit.labels, labels[fit.source]) and len(fit.x) == len(fit.source)
