"""Fusing ONNX branches of several crop recipes into one model file (liveness/compose.py,
training/recipes.py) and running it from frames (runtime.LivenessModel.crops)."""
import json

import numpy as np
import pytest
from conftest import DATA, need_shared

from marginlive.errors import ModelError
from marginlive.liveness.runtime import META_KEY, LivenessModel
from marginlive.types import FaceBox

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def _mean_logit_model(size: int):
    """uint8 NHWC (N, size, size, 3) -> (1, N): mean pixel / 255 - 0.5, a 'logit' per face."""
    g = helper.make_graph(
        [helper.make_node("Cast", ["x"], ["f"], to=TensorProto.FLOAT),
         helper.make_node("ReduceMean", ["f"], ["m"], axes=[1, 2, 3], keepdims=0),
         helper.make_node("Mul", ["m", "scale"], ["s"]), helper.make_node("Sub", ["s", "half"], ["l"]),
         helper.make_node("Unsqueeze", ["l", "zero"], ["logit"])],
        "mean", [helper.make_tensor_value_info("x", TensorProto.UINT8, ["n", size, size, 3])],
        [helper.make_tensor_value_info("logit", TensorProto.FLOAT, [1, "n"])],
        [numpy_helper.from_array(np.array(1 / 255, np.float32), "scale"),
         numpy_helper.from_array(np.array(0.5, np.float32), "half"),
         numpy_helper.from_array(np.array([0], np.int64), "zero")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _softmax_model(size: int):
    """uint8 (N, size, size, 3) -> softmax over (blue, green, red) channel means: 3 'classes'."""
    g = helper.make_graph(
        [helper.make_node("Cast", ["crops"], ["f"], to=TensorProto.FLOAT),
         helper.make_node("ReduceMean", ["f"], ["m"], axes=[1, 2], keepdims=0),
         helper.make_node("Mul", ["m", "scale"], ["s"]), helper.make_node("Softmax", ["s"], ["probs"], axis=1)],
        "soft", [helper.make_tensor_value_info("crops", TensorProto.UINT8, ["n", size, size, 3])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["n", 3])],
        [numpy_helper.from_array(np.array(4 / 255, np.float32), "scale")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _fused(tmp_path, weights=(1.0, 3.0), live_above=None):
    from marginlive.liveness.compose import Branch, compose
    a, b = _mean_logit_model(32), _softmax_model(16)
    m = compose([Branch(a, "logit", {"x": "crops"}, weights[0], "mean"),
                 Branch(b, "probs", {"crops": "tight"}, weights[1], "soft", kind="softmax", real_index=1,
                        live_above=live_above)],
                ["crops", "tight"])
    meta = {"format": 1, "input_size": 32, "margin": 2.0, "threshold": 0.5, "labels": ["fake", "real"],
            "name": "fused-test", "inputs": [{"name": "crops", "crop": "margin", "margin": 2.0, "size": 32},
                                             {"name": "tight", "crop": "shifted", "scale": 1.5, "size": 16}]}
    e = m.metadata_props.add()
    e.key, e.value = META_KEY, json.dumps(meta)
    onnx.save(m, str(tmp_path / "fused.onnx"))
    return LivenessModel(tmp_path / "fused.onnx")


def test_fused_model_is_the_weighted_mean_of_its_branches_logits(tmp_path):
    model = _fused(tmp_path)
    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    small = rng.integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    got = model.predict({"crops": big, "tight": small})
    mean_logit = big.reshape(5, -1).mean(1) / 255 - 0.5
    ch = small.reshape(5, -1, 3).mean(1) * 4 / 255
    p = np.exp(ch) / np.exp(ch).sum(1, keepdims=True)
    soft_logit = np.log(p[:, 1] / (1 - p[:, 1]))
    want = 1 / (1 + np.exp(-(0.25 * mean_logit + 0.75 * soft_logit)))
    np.testing.assert_allclose(got, want, atol=1e-5)
    logits = model.session.run(["logits"], {"crops": big, "tight": small})[0]
    assert logits.shape == (2, 5)


def test_live_above_branch_passes_a_face_alone_and_only_votes_below(tmp_path):
    from marginlive.liveness.compose import branch_logit_tensors, fused_logit_tensor
    model = _fused(tmp_path, weights=(3.0, 1.0), live_above=0.5)
    big = np.zeros((3, 32, 32, 3), np.uint8)                 # mean branch: logit -0.5, votes fake
    small = np.zeros((3, 16, 16, 3), np.uint8)
    small[0, ..., 1] = 255                                   # soft branch near certain: logit ~ 2
    small[1, ..., 1] = 60                                    # mildly live: logit ~ 0.25 < 0.5
    logits = model.session.run(["logits"], {"crops": big, "tight": small})[0]
    mean = 0.75 * logits[0] + 0.25 * logits[1]
    want = 1 / (1 + np.exp(-np.maximum(mean, logits[1] - 0.5)))
    got = model.predict({"crops": big, "tight": small})
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert got[0] > 0.5 and got[1] < 0.5 and got[2] < 0.5  # only the confident branch overrules
    g = onnx.load(str(tmp_path / "fused.onnx"))
    assert fused_logit_tensor(g) == "fused" and len(branch_logit_tensors(g)) == 2


def test_fused_model_builds_every_crop_from_the_frame(tmp_path):
    model = _fused(tmp_path)
    frame = np.random.default_rng(1).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    boxes = [FaceBox(40, 30, 80, 80), FaceBox(100, 60, 150, 118)]
    crops = model.crops(frame, boxes)
    assert crops["crops"].shape == (2, 32, 32, 3) and crops["tight"].shape == (2, 16, 16, 3)
    assert model.predict(crops).shape == (2,)
    assert model.predict(model.crops(frame, [])).shape == (0,)
    with pytest.raises(ModelError, match="model.crops"):
        model.predict(crops["crops"])   # one array is not enough for a model of two inputs
    with pytest.raises(ModelError, match="cannot be changed"):
        model.crops(frame, boxes, margin=3.0)   # its branches were trained on their own crops
    assert model.crops(frame, boxes, margin=2.0)["crops"].shape == (2, 32, 32, 3)


def test_metadata_that_misnames_an_input_is_refused(tmp_path):
    _fused(tmp_path)
    m = onnx.load(str(tmp_path / "fused.onnx"))
    meta = json.loads(m.metadata_props[0].value)
    for key, value in (("size", 80), ("min_scale", -1.0), ("min_scale", "1.5"), ("max_side", -1),
                       ("max_side", 480.5), ("noise_level", True), ("scale", None)):
        bad = json.loads(json.dumps(meta))
        bad["inputs"][1][key] = value
        m.metadata_props[0].value = json.dumps(bad)
        onnx.save(m, str(tmp_path / "bad.onnx"))
        with pytest.raises(ModelError, match="does not match its metadata"):
            LivenessModel(tmp_path / "bad.onnx")


def test_compose_rejects_bad_weights_and_input_names():
    from marginlive.liveness.compose import Branch, compose
    a = _mean_logit_model(32)
    with pytest.raises(ValueError, match="weights"):
        compose([Branch(a, "logit", {"x": "crops"}, 0.0, "mean")], ["crops"])
    with pytest.raises(ValueError, match="input_order"):
        compose([Branch(a, "logit", {"x": "crops"}, 1.0, "mean")], ["other"])


def test_shipped_fusion_scores_a_phone_portrait_video(tmp_path):
    """The shipped fusion on the phone video in portrait (never trained on): every live frame
    accepted, the replay decided fake over its frames."""
    from marginlive.frames import read_video_frames
    from marginlive.pipeline import LivenessDetector
    det = LivenessDetector()
    assert len(det.model.inputs) == 2
    live = read_video_frames(need_shared("data", "videos", "live-2.mp4"), every=13)
    replay = read_video_frames(DATA / "videos" / "replay-2.mp4", every=13)
    live_scores = [r.score for f in live for r in det.predict(f.image)[:1]]
    replay_scores = [r.score for f in replay for r in det.predict(f.image)[:1]]
    assert len(live_scores) >= 8 and min(live_scores) >= det.threshold
    assert len(replay_scores) >= 8 and np.mean(replay_scores) < det.threshold
