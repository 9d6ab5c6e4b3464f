"""Graph rewrites that keep a model's numbers (liveness/rewrite.py), run on ONNX Runtime."""
import numpy as np
import pytest

from marginlive.liveness.runtime import session_options

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from marginlive.liveness.rewrite import prelu_as_max  # noqa: E402


def _conv_prelu(slopes: np.ndarray, slope_input: bool = False):
    """float (N, 3, 8, 8) -> Conv to len(slopes) channels -> PRelu with one slope a channel."""
    c = len(slopes)
    w = np.random.default_rng(0).normal(size=(c, 3, 3, 3)).astype(np.float32)
    inits = [numpy_helper.from_array(w, "w")]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 8, 8])]
    if slope_input:
        inputs.append(helper.make_tensor_value_info("a", TensorProto.FLOAT, [c, 1, 1]))
    else:
        inits.append(numpy_helper.from_array(slopes.reshape(c, 1, 1).astype(np.float32), "a"))
    g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["z"], pads=[1, 1, 1, 1]),
                           helper.make_node("PRelu", ["z", "a"], ["y"], name="act")],
                          "conv_prelu", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", c, 8, 8])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _run(model, **feeds):
    s = ort.InferenceSession(model.SerializeToString(), session_options(), providers=["CPUExecutionProvider"])
    return s.run(None, feeds)[0]


def _ops(model):
    return [n.op_type for n in model.graph.node]


def test_prelu_with_slopes_up_to_one_becomes_max_with_bit_identical_outputs():
    slopes = np.array([-0.36, 0.0, 0.25, 0.525, 1.0], np.float32)   # the Silent-Face slopes lie in -0.36..0.53
    x = np.random.default_rng(1).normal(scale=3.0, size=(4, 3, 8, 8)).astype(np.float32)
    x[0, :, :4] = 0.0                                                 # zeros, where both sides meet
    before = _run(_conv_prelu(slopes), x=x)
    rewritten = prelu_as_max(_conv_prelu(slopes))
    onnx.checker.check_model(rewritten)
    assert "PRelu" not in _ops(rewritten) and _ops(rewritten).count("Max") == 1
    after = _run(rewritten, x=x)
    assert (before < 0).any() and (before > 0).any()
    assert np.array_equal(before, after)


def test_prelu_it_cannot_rewrite_exactly_is_kept():
    steep = prelu_as_max(_conv_prelu(np.array([0.5, 1.5], np.float32)))       # a slope above 1
    assert _ops(steep) == ["Conv", "PRelu"]
    fed = prelu_as_max(_conv_prelu(np.array([0.5, 0.5], np.float32), slope_input=True))  # not a constant
    assert _ops(fed) == ["Conv", "PRelu"]


def test_composed_models_hold_no_prelu_and_score_as_their_source():
    from marginlive.liveness.compose import Branch, compose
    slopes = np.array([-0.2, 0.1, 0.3], np.float32)
    src = _conv_prelu(slopes)
    # a logit per face: the PRelu output's mean, so the branch's vote is its activations
    src.graph.node.append(helper.make_node("ReduceMean", ["y"], ["m"], axes=[1, 2, 3], keepdims=0))
    src.graph.node.append(helper.make_node("Unsqueeze", ["m", "zero"], ["logit"]))
    src.graph.initializer.append(numpy_helper.from_array(np.array([0], np.int64), "zero"))
    del src.graph.output[:]
    src.graph.output.append(helper.make_tensor_value_info("logit", TensorProto.FLOAT, [1, "n"]))
    fused = compose([Branch(src, "logit", {"x": "crops"}, 1.0, "prelu net")], ["crops"])
    assert "PRelu" not in _ops(fused)
    x = np.random.default_rng(2).normal(size=(3, 3, 8, 8)).astype(np.float32)
    s = ort.InferenceSession(fused.SerializeToString(), session_options(), providers=["CPUExecutionProvider"])
    assert np.array_equal(s.run(["logits"], {"crops": x})[0], _run(src, x=x))


def test_shipped_models_hold_no_prelu():
    from marginlive.liveness.runtime import NAMED_MODELS
    for path in NAMED_MODELS.values():
        assert "PRelu" not in _ops(onnx.load(str(path))), path


def _has_subnormal(model) -> bool:
    tiny = np.finfo(np.float32).tiny
    arrays = [numpy_helper.to_array(t) for t in model.graph.initializer if t.data_type == TensorProto.FLOAT]
    arrays += [numpy_helper.to_array(a.t) for n in model.graph.node if n.op_type == "Constant"
               for a in n.attribute if a.name == "value" and a.t.data_type == TensorProto.FLOAT]
    return any(((w != 0) & (np.abs(w) < tiny)).any() for w in arrays)


def test_subnormal_weights_are_flushed_and_the_outputs_stay():
    """A convolution with some weights left subnormal by weight decay (and a subnormal Constant):
    those become zero, every other value stays, and the outputs are the same to float rounding."""
    from marginlive.liveness.rewrite import flush_subnormals
    model = _conv_prelu(np.array([0.1, 0.2, 0.3], np.float32))
    w = numpy_helper.to_array(model.graph.initializer[0]).copy()
    w[0, 0, :2] = [[1e-40, -3e-39, 2e-45], [5e-39, 0.0, 1e-42]]          # five subnormal, one zero
    model.graph.initializer[0].CopyFrom(numpy_helper.from_array(w, "w"))
    model.graph.node.insert(0, helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(
        np.array([1e-39, 2.0], np.float32), "c")))                         # and a sixth
    x = np.random.default_rng(3).normal(size=(2, 3, 8, 8)).astype(np.float32)
    before = _run(model, x=x)
    assert _has_subnormal(model) and flush_subnormals(model) == 6 and not _has_subnormal(model)
    after_w = numpy_helper.to_array(model.graph.initializer[0])
    assert (after_w[0, 0, :2] == 0).all() and np.array_equal(after_w[1:], w[1:])
    assert numpy_helper.to_array(model.graph.node[0].attribute[0].t).tolist() == [0.0, 2.0]
    np.testing.assert_allclose(_run(model, x=x), before, rtol=0, atol=1e-6)


def test_shipped_models_hold_no_subnormal_weights():
    from marginlive.liveness.runtime import NAMED_MODELS
    for path in NAMED_MODELS.values():
        assert not _has_subnormal(onnx.load(str(path))), path
