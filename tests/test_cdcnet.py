"""The central-difference network with pixel-wise supervision (issue 8's "stronger small
architectures" and "depth-like auxiliary target"): its layer, its training and its export."""
import numpy as np
import pytest

from marginlive.cli import main

torch = pytest.importorskip("torch")
F = torch.nn.functional


def test_central_difference_conv_is_the_papers_formula_and_one_plain_convolution():
    from marginlive.liveness.networks import CDConv2d
    torch.manual_seed(0)
    x = torch.rand(2, 3, 20, 20)
    for stride in (1, 2):
        cd = CDConv2d(3, 5, stride, theta=0.7)
        w = cd.weight
        # Yu et al.: sum w(p_n) x(p_0 + p_n) - theta * x(p_0) * sum w(p_n)
        want = F.conv2d(x, w, stride=stride, padding=1) - 0.7 * F.conv2d(x, w.sum((2, 3), keepdim=True), stride=stride)
        assert torch.allclose(cd(x), want, atol=1e-5)
        assert torch.allclose(cd.plain()(x), want, atol=1e-5)
    plain = CDConv2d(3, 5, theta=0.0)
    assert torch.allclose(plain(x), F.conv2d(x, plain.weight, padding=1))
    # a flat image has no local differences: with theta = 1 the response is zero away from the border
    assert torch.allclose(CDConv2d(3, 4, theta=1.0)(torch.full((1, 3, 8, 8), 0.6))[..., 1:-1, 1:-1],
                          torch.zeros(1, 4, 6, 6), atol=1e-6)


def test_cdcnet_scores_an_image_by_the_mean_of_its_cell_map():
    from marginlive.liveness.networks import build, plain_convolutions
    torch.manual_seed(0)
    for size in (64, 128):
        net = build("cdcnet", size).eval()
        x = torch.rand(3, 3, size, size)
        with torch.no_grad():
            maps, logit = net.maps(x), net(x)
            assert maps.shape == (3, size // 8, size // 8)
            assert torch.allclose(logit, maps.mean((1, 2)))
            assert torch.allclose(plain_convolutions(net)(x), logit, atol=1e-5)
        assert not any(type(m).__name__ == "CDConv2d" for m in net.modules())
    from marginlive.errors import DatasetError
    with pytest.raises(DatasetError, match="unknown architecture"):
        build("pixnet")                 # a research ablation (benchmarks/generalise.py), not offered to users


def _texture_contexts(n, rng, fake):
    """4x contexts: live ones carry fine noise texture, fakes the same scene smoothed plus a
    faint screen-like pixel grid (a stand-in for a replay's moire)."""
    import cv2
    out = []
    for _ in range(n):
        base = cv2.resize(rng.integers(40, 215, (16, 16, 3), dtype=np.uint8), (256, 256), interpolation=cv2.INTER_CUBIC)
        img = base.astype(np.float32)
        if fake:
            img = cv2.GaussianBlur(img, (0, 0), 1.5)
            img[::4] *= 0.85
        else:
            img += rng.normal(0, 12, img.shape)
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(out)


def test_pixel_wise_training_learns_a_local_texture_cue():
    from marginlive.evaluation.metrics import all_metrics
    from marginlive.training.dataset import Dataset
    from marginlive.training.train import TrainConfig, predict_crops, train
    rng = np.random.default_rng(0)

    def make(n):
        ctx = np.concatenate([_texture_contexts(n, rng, False), _texture_contexts(n, rng, True)])
        lab = np.array([1] * n + [0] * n)
        return Dataset(ctx, lab, np.array([f"g{i % 4}" for i in range(2 * n)], object),
                       np.array([""] * n + ["screen"] * n, object), np.array(["toy"] * 2 * n, object),
                       [f"{i}.png" for i in range(2 * n)])
    ds, test = make(24), make(16)
    r = train(ds, TrainConfig(arch="cdcnet", margin=4.0, size=64, epochs=8, batch=4, lr=1e-3, aug="paper"),
              show_progress=False)
    assert r.history[-1]["loss"] < r.history[0]["loss"]
    p = predict_crops(r.net, test.crops(4.0, 64))
    # new images: every live one ranked above almost every fake (the threshold is calibrated later)
    assert all_metrics(p, test.labels, 0.5)["auc"] >= 0.95


def test_cdcnet_branch_exports_as_plain_convolutions(tmp_path):
    import onnx
    from marginlive.liveness.fusion import MultiScale
    from marginlive.liveness.networks import build
    from marginlive.liveness.runtime import LivenessModel
    from marginlive.margin import crop_from_context
    from marginlive.training.export import export_onnx
    from marginlive.training.train import predict_crops
    torch.manual_seed(0)
    net = build("cdcnet", 128).eval()
    for m in net.modules():  # non-trivial batch-norm statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    ctx = np.random.default_rng(1).integers(0, 256, (4, 256, 256, 3), dtype=np.uint8)
    p = export_onnx(MultiScale([(4.0, net, 128)]), tmp_path / "cdc.onnx",
                    {"name": "cdc", "input_size": 256, "margin": 4.0, "threshold": 0.5}, check_crops=ctx,
                    deployable=True)
    g = onnx.load(str(p)).graph
    weights = {i.name for i in g.initializer}
    convs = [n for n in g.node if n.op_type == "Conv"]
    assert len(convs) == 5 and all(n.input[1] in weights for n in convs)  # 4 layers + the cell head, fixed kernels
    want = predict_crops(net, np.stack([crop_from_context(c, 4.0, 128) for c in ctx]))
    assert np.allclose(LivenessModel(p).predict(ctx), want, atol=1e-4)
    assert any(type(m).__name__ == "CDConv2d" for m in net.modules())  # the caller's net is left as it was


def test_train_command_rejects_a_bad_device_or_size_before_any_work(tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert main(["train", str(tmp_path), "--device", "abacus", "--out", str(out)]) == 6
    assert "cannot train on device 'abacus'" in capsys.readouterr().err
    assert main(["train", str(tmp_path), "--arch", "cdcnet", "--size", "60", "--out", str(out)]) == 6
    assert "--size must be a multiple of 8" in capsys.readouterr().err
    assert not list(tmp_path.glob("m.onnx*"))
