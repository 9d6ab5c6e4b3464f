import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MARGINLIVE_SHARED", ROOT.parent / "shared"))
DATA = SHARED / "data"


def need_shared(*parts) -> Path:
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"needs {p} (../shared is absent on a fresh clone; these tests use its real faces)")
    return p


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """An untrained LivenessNet exported as a real marginlive model file (seeded)."""
    torch = pytest.importorskip("torch")
    from marginlive.liveness.networks import build
    from marginlive.training.export import export_onnx
    torch.manual_seed(0)
    net = build("livenessnet").eval()
    return export_onnx(net, tmp_path_factory.mktemp("model") / "tiny.onnx",
                       {"name": "tiny-test", "arch": "livenessnet", "input_size": 64, "margin": 2.0,
                        "threshold": 0.5})


@pytest.fixture(scope="session")
def replay_frames():
    from marginlive.frames import read_video_frames
    return read_video_frames(need_shared("data", "videos", "replay-1.webm"), every=15, max_frames=12)


@pytest.fixture(scope="session")
def live_frames():
    from marginlive.frames import read_video_frames
    return read_video_frames(need_shared("data", "videos", "live-1.webm"), every=15, max_frames=12)


@pytest.fixture(scope="session")
def nuaa_real_images():
    import csv
    d = need_shared("data", "nuaa-print")
    with open(d / "manifest.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["label"] == "real"]
    by_subject = {}
    for r in rows:
        by_subject.setdefault(r["subject"], []).append(d / r["path"])
    return by_subject


def blank(h=480, w=640, value=128):
    return np.full((h, w, 3), value, np.uint8)


def edge_strength(img) -> float:
    """Mean absolute difference between horizontal neighbours, levels: how much fine detail an image holds."""
    return float(np.abs(np.diff(img.astype(float), axis=1)).mean())


def as_grey(img):
    """A BGR image as a monochrome camera delivers it: its grey level in all three channels."""
    import cv2
    return cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


def _constant_model(path, logit: float):
    torch = pytest.importorskip("torch")
    from marginlive.training.export import export_onnx

    class Const(torch.nn.Module):
        def forward(self, x):
            return x.mean(dim=(1, 2, 3)) * 0 + logit

    return export_onnx(Const(), path, {"name": f"const{logit:+g}", "arch": "constant", "input_size": 64,
                                       "margin": 2.0, "threshold": 0.5})


@pytest.fixture(scope="session")
def always_real_model(tmp_path_factory):
    """Says every face is live (P(real) ~ 1): isolates identity tests from liveness."""
    return _constant_model(tmp_path_factory.mktemp("const") / "real.onnx", 8.0)


@pytest.fixture(scope="session")
def always_fake_model(tmp_path_factory):
    return _constant_model(tmp_path_factory.mktemp("const") / "fake.onnx", -8.0)


def bezel_views(n, rng, bezel, rect=None, shade=20, thickness=10):
    """``n`` smooth (256, 256, 3) uint8 views; with ``bezel`` a dark frame round the centre (a
    phone's edge): at ``rect`` (x1, y1, x2, y2), or where drawn from ``rng`` when None."""
    import cv2
    out = []
    for _ in range(n):
        x = cv2.GaussianBlur(rng.integers(60, 200, (256, 256, 3), dtype=np.uint8), (0, 0), 8)
        if bezel:
            if rect is None:
                a, b = rng.integers(50, 70), rng.integers(186, 206)
                x1, y1, x2, y2 = int(a), int(a) - 10, int(b), int(b) + 10
            else:
                x1, y1, x2, y2 = rect
            cv2.rectangle(x, (x1, y1), (x2, y2), (shade,) * 3, thickness)
        out.append(x)
    return np.stack(out)
