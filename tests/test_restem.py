"""A strided first stage for the fast model (training/restem.py), fitted to the model's own."""
import cv2
import numpy as np
import onnx
import pytest
import torch

from marginlive.errors import ModelError
from marginlive.liveness.runtime import LivenessModel, model_path
from marginlive.training.recipes import COMPONENTS, FAST
from marginlive.training.restem import (GraphTail, PrunedStage, RestemConfig, _Targets, fit, meta, prune_order,
                                        restem_inputs, stage_of, stage_weights)


def _pictures(n, rng, size=96):
    """Smooth random pictures with some edges: something for a stem to reproduce."""
    x = rng.integers(0, 256, (n, size // 8, size // 8, 3)).astype(np.uint8)
    x = np.stack([cv2.resize(v, (size, size), interpolation=cv2.INTER_CUBIC) for v in x])
    return np.clip(x.astype(int) + rng.integers(-6, 7, x.shape), 0, 255).astype(np.uint8)


STUDENT = str(COMPONENTS / FAST.network_file)   # the fast model's one network (distil wrote it)


@pytest.fixture(scope="module")
def fast():
    return onnx.load(STUDENT)


def test_tail_runs_the_rest_of_the_graph_as_onnx_runtime_does(fast):
    crops = _pictures(6, np.random.default_rng(0))
    stage = stage_of(fast)
    tail = GraphTail(fast, stage)
    got_stage, logit = _Targets(fast, stage, tail.logit)(crops)
    assert got_stage.shape == (6, 32, 48, 48)
    with torch.no_grad():
        mine = tail(got_stage)
    assert torch.allclose(mine, logit, atol=1e-4)
    p = LivenessModel(STUDENT).predict(crops)
    assert np.allclose(torch.sigmoid(mine).numpy(), p, atol=1e-5)


def test_restem_learns_the_stage_and_exports_a_model_with_the_same_inputs(fast, tmp_path):
    from marginlive.training.export import export_onnx
    crops = _pictures(64, np.random.default_rng(1))
    cfg = RestemConfig(steps=40, tune_steps=20, batch=16, lr=1e-2)
    fitted = fit(fast, crops, cfg, log=lambda m: None)
    assert fitted.last[0] < 0.7 * fitted.first[0] and fitted.last[1] < fitted.first[1]
    source = LivenessModel(STUDENT)
    out = export_onnx(fitted.net, tmp_path / "r.onnx", meta(source.meta, cfg, fitted, len(crops), "restemmed"),
                      check_crops=crops[:8])
    model = LivenessModel(out)
    assert (model.size, model.margin, model.threshold) == (source.size, source.margin, source.threshold)
    assert model.meta["restem"]["from"] == source.name and model.name == "restemmed"
    first_conv = next(n for n in onnx.load(str(out)).graph.node if n.op_type == "Conv")
    assert {a.name: list(a.ints) for a in first_conv.attribute}["strides"] == [2, 2]   # no 96 px map
    p = model.predict(crops[:8])
    assert p.shape == (8,) and ((p >= 0) & (p <= 1)).all()


def test_a_stage_keeping_every_stem_channel_is_the_stage_itself(fast):
    crops = _pictures(4, np.random.default_rng(2))
    stage = stage_of(fast)
    want, _ = _Targets(fast, stage, GraphTail(fast, stage).logit)(crops)
    with torch.no_grad():
        got = PrunedStage(stage_weights(fast), range(24))(torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255)
    assert torch.allclose(got, want, atol=1e-4)


def test_pruning_keeps_the_channels_whose_loss_moves_the_logit_least(fast, tmp_path):
    from marginlive.training.export import export_onnx
    crops = _pictures(48, np.random.default_rng(3))
    kept = prune_order(fast, crops[:24], 20, log=lambda m: None)
    assert len(kept) == 20 and kept == sorted(set(kept)) and all(0 <= c < 24 for c in kept)
    cfg = RestemConfig(stem="pruned", keep=20, steps=20, tune_steps=10, batch=16)
    fitted = fit(fast, crops, cfg, log=lambda m: None)
    assert fitted.first[0] < 0.5          # it starts from the stage's own weights: close already
    out = export_onnx(fitted.net, tmp_path / "p.onnx", meta(LivenessModel(STUDENT).meta, cfg, fitted, len(crops), "p"),
                      check_crops=crops[:8])
    first_conv = next(n for n in onnx.load(str(out)).graph.node if n.op_type == "Conv")
    weights = {t.name: t for t in onnx.load(str(out)).graph.initializer}
    assert tuple(weights[first_conv.input[1]].dims) == (20, 3, 3, 3)
    with pytest.raises(ModelError, match="keep must be 1 to 24"):
        prune_order(fast, crops[:4], 30)


def test_restem_refuses_a_model_without_the_stage(tmp_path, capsys):
    with pytest.raises(ModelError, match="no such first stage"):
        stage_of(onnx.load(str(model_path("default"))))
    from marginlive.cli import main
    out = tmp_path / "r.onnx"
    rc = main(["restem", "default", str(tmp_path), "--sources", str(tmp_path), "--out", str(out)])
    assert rc != 0 and "MiniResNet" in capsys.readouterr().err and not out.exists()
    rc = main(["restem", STUDENT, str(tmp_path), "--sources", str(tmp_path), "--out", str(out), "--steps", "3"])
    assert rc != 0 and "at least 10" in capsys.readouterr().err and not out.exists()
    rc = main(["restem", STUDENT, str(tmp_path), "--sources", str(tmp_path), "--out", str(out), "--stem", "pruned",
               "--keep", "25"])
    assert rc != 0 and "--keep must be 1 to 24" in capsys.readouterr().err and not out.exists()
    with pytest.raises(ModelError, match="crops to fit"):
        fit(onnx.load(STUDENT), np.zeros((0, 96, 96, 3), np.uint8))


def test_inputs_are_the_runtime_crops_and_shifted_copies(nuaa_real_images):
    from marginlive.detect import create_detector
    det = create_detector("mediapipe")
    subject = sorted(nuaa_real_images)[0]
    rows = [{"frame": p, "box": max(det.detect(cv2.imread(str(p))), key=lambda b: b.score)}
            for p in nuaa_real_images[subject][:2]]
    x = restem_inputs(rows, 4.0, 96, RestemConfig(jitter=1, shifted=2), log=lambda m: None)
    assert x.dtype == np.uint8 and x.shape[1:] == (96, 96, 3) and 4 <= len(x) <= 8
    from marginlive.margin import crop_margin
    assert np.array_equal(x[0], crop_margin(cv2.imread(str(rows[0]["frame"])), rows[0]["box"], 4.0, 96))
