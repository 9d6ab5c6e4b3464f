"""Distillation (training/distil.py): the student learns the teacher's scores, not only the labels."""
import cv2
import numpy as np
import pytest
from conftest import bezel_views

from marginlive.errors import DatasetError
from marginlive.training.distil import DistilConfig, Taught, distil, source_rows, teach


def _crops(n, rng, bezel):
    return bezel_views(n, rng, bezel, rect=(40, 30, 216, 226), shade=15, thickness=14)


def test_student_follows_the_teacher_where_it_disagrees_with_the_labels():
    """The labels call the framed crops live and the plain ones attacks; the teacher says the
    opposite. With the labels' share at 0, the student must follow the teacher."""
    rng = np.random.default_rng(0)
    x = np.concatenate([_crops(24, rng, False), _crops(24, rng, True)])
    teacher = np.array([0.95] * 24 + [0.05] * 24, np.float32)
    labels = np.array([0] * 24 + [1] * 24)
    taught = Taught(x, teacher, labels, np.array([f"g{i % 6}" for i in range(48)], object), np.zeros(48, bool))
    cfg = DistilConfig(size=32, epochs=25, batch=16, hard_weight=0.0, lr=3e-3)
    net = distil(taught, cfg, log=lambda m: None).net.eval()
    import torch

    from marginlive.margin import crop_from_context
    test = np.concatenate([_crops(6, rng, False), _crops(6, rng, True)])
    v = torch.from_numpy(np.stack([crop_from_context(c, 4.0, 32) for c in test])).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        p = torch.sigmoid(net(v)).numpy()
    assert p[:6].mean() > 0.5 > p[6:].mean()


def test_teacher_scores_each_frame_and_its_altered_copies(nuaa_real_images):
    from marginlive.detect import create_detector
    from marginlive.liveness.runtime import LivenessModel
    det = create_detector("mediapipe")
    rows = []
    subject = sorted(nuaa_real_images)[0]
    for path in nuaa_real_images[subject][:2]:
        face = max(det.detect(cv2.imread(str(path))), key=lambda b: b.score)
        rows.append({"frame": path, "box": face, "label": 1, "group": "nuaa-print/s"})
    taught = teach(rows, LivenessModel(), DistilConfig(copies=2), log=lambda m: None)
    assert 2 <= len(taught.labels) <= 6 and (~taught.altered).sum() == 2
    assert taught.contexts.shape[1:] == (256, 256, 3) and ((taught.teacher >= 0) & (taught.teacher <= 1)).all()
    assert (taught.labels == 1).all()


def test_distil_refuses_a_dataset_without_its_sources(tmp_path, capsys):
    with pytest.raises(DatasetError, match="no manifest"):
        source_rows(tmp_path, tmp_path)
    (tmp_path / "manifest.csv").write_text("path,label,group,attack,source,frame,box,box_source,dataset\n"
                                           "c.png,real,g,,missing.jpg,0,1 2 3 4,detector,webcam-replay\n")
    with pytest.raises(DatasetError, match="missing"):
        source_rows(tmp_path, tmp_path)
    from marginlive.cli import main
    rc = main(["distil", str(tmp_path), "--sources", str(tmp_path), "--out", str(tmp_path / "m.txt")])
    assert rc != 0 and "must end in .onnx" in capsys.readouterr().err
