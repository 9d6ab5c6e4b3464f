import json

import numpy as np
import pytest

from marginlive.errors import ModelError
from marginlive.liveness.runtime import LivenessModel


def test_model_is_self_describing(tiny_model):
    m = LivenessModel(tiny_model)
    assert m.size == 64 and m.margin == 2.0 and m.threshold == 0.5
    assert m.meta["labels"] == ["fake", "real"] and m.meta["input"] == "uint8 BGR NHWC"


def test_batch_prediction_is_per_face_and_in_unit_interval(tiny_model):
    m = LivenessModel(tiny_model)
    rng = np.random.default_rng(1)
    crops = rng.integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    p = m.predict(crops)
    assert p.shape == (5,) and ((p >= 0) & (p <= 1)).all()
    # batching does not change a face's score
    assert np.allclose(p[2], m.predict(crops[2:3])[0], atol=1e-5)
    assert m.predict(crops[:0]).shape == (0,)


def test_wrong_crop_shape_is_a_clear_error(tiny_model):
    with pytest.raises(ModelError, match="64x64x3"):
        LivenessModel(tiny_model).predict(np.zeros((1, 32, 32, 3), np.uint8))


def test_missing_model(tmp_path):
    with pytest.raises(ModelError, match="no such model"):
        LivenessModel(tmp_path / "nope.onnx")


def test_not_onnx(tmp_path):
    p = tmp_path / "x.onnx"
    p.write_bytes(b"this is not a model")
    with pytest.raises(ModelError, match="not a loadable ONNX"):
        LivenessModel(p)


def test_onnx_without_metadata(tmp_path, tiny_model):
    onnx = pytest.importorskip("onnx")
    m = onnx.load(tiny_model)
    del m.metadata_props[:]
    p = tmp_path / "foreign.onnx"
    onnx.save(m, p)
    with pytest.raises(ModelError, match="not a marginlive model"):
        LivenessModel(p)


def test_corrupt_and_incomplete_metadata(tmp_path, tiny_model):
    onnx = pytest.importorskip("onnx")
    for value, msg in (("{not json", "corrupt"), (json.dumps({"margin": 2.0}), "lacks")):
        m = onnx.load(tiny_model)
        m.metadata_props[0].value = value
        p = tmp_path / "bad.onnx"
        onnx.save(m, p)
        with pytest.raises(ModelError, match=msg):
            LivenessModel(p)


def test_truncated_model_file(tmp_path, tiny_model):
    p = tmp_path / "cut.onnx"
    p.write_bytes(tiny_model.read_bytes()[:2000])
    with pytest.raises(ModelError):
        LivenessModel(p)


def test_multiscale_model_equals_its_branches_on_training_crops(tmp_path):
    """The fused model cuts each branch's view out of the 4x context inside the graph; on a
    context crop it must give the mean of the branches run on the training-time crops."""
    torch = pytest.importorskip("torch")
    from marginlive.liveness.fusion import MultiScale
    from marginlive.liveness.networks import build
    from marginlive.margin import crop_from_context
    from marginlive.training.export import export_onnx
    from marginlive.training.train import predict_crops
    torch.manual_seed(0)
    nets = {1.0: build("livenessnet").eval(), 4.0: build("livenessnet").eval()}
    p = export_onnx(MultiScale(nets), tmp_path / "ms.onnx",
                    {"name": "ms", "input_size": 256, "margin": 4.0, "threshold": 0.5}, deployable=True)
    rng = np.random.default_rng(0)
    import cv2
    ctx = np.stack([cv2.GaussianBlur(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8), (0, 0), 2) for _ in range(4)])
    got = LivenessModel(p).predict(ctx)
    want = np.mean([predict_crops(n, np.stack([crop_from_context(c, m, 64) for c in ctx])) for m, n in nets.items()], 0)
    assert np.allclose(got, want, atol=2e-3)
    with pytest.raises(ValueError):
        MultiScale({1.5: build("livenessnet")})


def test_shipped_models_by_name(monkeypatch):
    """--model default|accurate|fast name the shipped models; $MARGINLIVE_MODEL may name one too."""
    from marginlive.errors import ModelError
    from marginlive.liveness.runtime import LivenessModel
    fast = LivenessModel("fast")
    assert fast.name == "marginlive-fast" and [(i["size"], i["margin"]) for i in fast.inputs] == [(256, 4.0), (96, 4.0)]
    assert fast.meta["training"]["network"]["distilled_from"] == "marginlive-default"
    assert LivenessModel("default").name == LivenessModel("accurate").name == "marginlive-default"
    monkeypatch.setenv("MARGINLIVE_MODEL", "fast")
    assert LivenessModel().name == "marginlive-fast"
    monkeypatch.setenv("MARGINLIVE_MODEL", "")         # set empty (`MARGINLIVE_MODEL= make run`): as unset
    assert LivenessModel().name == "marginlive-default"
    with pytest.raises(ModelError, match="no such model file"):
        LivenessModel("quick")
