"""A built model's fitted weights written again by today's graph code (training/reexport.py)."""
import collections

import numpy as np
import onnx
import pytest
from conftest import bezel_views, need_shared

from marginlive.cli import main
from marginlive.errors import ModelError
from marginlive.liveness.runtime import NAMED_MODELS, LivenessModel
from marginlive.training.recipes import COMPONENTS
from marginlive.training.reexport import reexport

SHIPPED_FAST = NAMED_MODELS["fast"]


def _inputs(model, n=6):
    """Every input of ``model`` for ``n`` synthetic faces (screens in a bezel and plain ones), cut
    from one frame each as a session cuts them."""
    rng = np.random.default_rng(3)
    views = np.concatenate([bezel_views(n // 2, rng, True), bezel_views(n - n // 2, rng, False)])
    from marginlive.types import FaceBox
    crops = [model.crops(v, [FaceBox(96, 96, 160, 160)]) for v in views]
    return {k: np.concatenate([c[k] for c in crops]) for k in crops[0]}


def _ops(path):
    return collections.Counter(n.op_type for n in onnx.load(str(path)).graph.node)


def test_the_shipped_fast_model_is_its_own_reexport(tmp_path):
    """Re-exported, the shipped fast model scores every face as before (to float rounding) with the
    same graph: a change of the graph code that was not re-exported into the shipped file fails here."""
    out = reexport(SHIPPED_FAST, tmp_path / "fast.onnx")
    shipped, again = LivenessModel(SHIPPED_FAST), LivenessModel(out)
    feed = _inputs(shipped)
    assert np.allclose(again.predict(feed), shipped.predict(feed), atol=1e-5)
    assert _ops(out) == _ops(SHIPPED_FAST)
    assert again.meta["training"] == shipped.meta["training"] and again.meta["branches"] == shipped.meta["branches"]
    # and the re-export of a re-export is the same file (the fitted weights keep their names)
    assert reexport(out, tmp_path / "twice.onnx").read_bytes() == out.read_bytes()


def test_the_shipped_default_keeps_its_silent_face_head(tmp_path):
    """The default's Silent-Face network comes from ../shared/models and its fitted head from the file:
    re-exported, it scores as the shipped file does."""
    from marginlive.training.recipes import SILENTFACE_DIR
    need_shared("models", "silentface-minifasnet")
    out = reexport(NAMED_MODELS["default"], tmp_path / "default.onnx", silentface_dir=SILENTFACE_DIR)
    shipped, again = LivenessModel(NAMED_MODELS["default"]), LivenessModel(out)
    feed = _inputs(shipped)
    assert np.allclose(again.predict(feed), shipped.predict(feed), atol=1e-5)
    assert _ops(out) == _ops(NAMED_MODELS["default"])


def test_a_model_no_recipe_built_is_refused(tmp_path):
    with pytest.raises(ModelError, match="no known recipe"):
        reexport(COMPONENTS / "student-4x-96.onnx", tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()


def test_reexport_command_errors_are_clear(tmp_path, capsys):
    assert main(["reexport", str(tmp_path / "missing.onnx")]) != 0
    assert "no such model file" in capsys.readouterr().err
    assert main(["reexport", "fast", "--out", str(tmp_path / "fast.txt")]) != 0
    assert "must end in .onnx" in capsys.readouterr().err
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"not a model")
    assert main(["reexport", str(photo)]) != 0          # re-exported in place: named as the input, not --out
    assert f"{photo}: not a model file (.onnx)" in capsys.readouterr().err and photo.read_bytes() == b"not a model"
    assert main(["reexport", "fast", "--out", str(tmp_path / "fast.onnx")]) == 0
    assert "re-exported" in capsys.readouterr().err and (tmp_path / "fast.onnx").is_file()
