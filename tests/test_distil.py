"""Distillation (training/distil.py): the student learns the teacher's scores, not only the labels."""
import json

import cv2
import numpy as np
import pytest
from conftest import bezel_views

from marginlive.errors import DatasetError
from marginlive.training.distil import (DistilConfig, Taught, calibrate, calibration_mask, distil, load_taught,
                                       save_taught, source_rows, teach)


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
    cfg = DistilConfig(size=32, epochs=25, batch=16, hard_weight=0.0, lr=3e-3, calibration=0.0)
    student = distil(taught, cfg, log=lambda m: None)
    assert student.threshold == 0.5 and student.agreement is None
    net = student.result.net.eval()
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
    # a model file that could not be written is refused before the teacher's pass, not after training
    (tmp_path / "file").write_text("a file where a folder would go")
    for cmd in (["distil", str(tmp_path), "--sources", str(tmp_path)], ["train", str(tmp_path), "--recipe", "fast"]):
        rc = main([*cmd, "--out", str(tmp_path / "file" / "m.onnx")])
        assert rc == 2 and "cannot write there" in capsys.readouterr().err


def test_calibration_picks_the_threshold_that_agrees_with_the_teacher():
    """A student whose scores sit lower than the teacher's but in the same order gets a lower
    threshold, where it makes the teacher's decisions; among equal thresholds the lowest."""
    teacher = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1])
    t, agreement = calibrate(teacher - 0.2, teacher, 0.5)    # same order, 0.2 lower
    assert agreement == 1.0 and t == 0.21                     # passes 0.4, turns away 0.2: lowest such
    # a class of one crop weighs as much as a class of seven
    t2, a2 = calibrate(np.array([0.6] * 7 + [0.55]), np.array([0.9] * 7 + [0.1]), 0.5)
    assert a2 == 1.0 and t2 == 0.56
    with pytest.raises(DatasetError, match="passes and crops it turns away"):
        calibrate(teacher, np.ones(8), 0.5)


def test_calibration_groups_are_whole_groups_and_never_all():
    groups = np.array([f"g{i % 5}" for i in range(50)], object)
    m = calibration_mask(groups, 0.2, seed=0)
    picked = set(groups[m].tolist())
    assert len(picked) == 1 and not (set(groups[~m].tolist()) & picked)
    assert calibration_mask(groups, 0.99).sum() == 40          # four of five groups, not five
    assert not calibration_mask(groups, 0.0).any()
    with pytest.raises(DatasetError, match="calibration share"):
        calibration_mask(groups, 1.0)


@pytest.mark.parametrize("extra, message", [(["--hard-weight", "1.5"], "--hard-weight between 0 and 1"),
                                            (["--average-from", "30"], "--average-from between 0 (off) and --epochs"),
                                            (["--device", "tpu"], "cannot train on device 'tpu'")])
def test_distil_refuses_bad_training_options_before_the_teachers_pass(tmp_path, capsys, extra, message):
    from marginlive.cli import main
    rc = main(["distil", str(tmp_path), "--sources", str(tmp_path), "--out", str(tmp_path / "m.onnx"), *extra])
    err = capsys.readouterr().err
    assert rc != 0 and message in err and "Traceback" not in err and not (tmp_path / "m.onnx").exists()


def test_two_seeds_draw_two_students_and_the_seed_is_recorded():
    """A student is a draw of its seed (docs/research/2026-12-04-student-sweep.md): the seed must reach
    its training and its metadata."""
    from marginlive.training.distil import meta
    rng = np.random.default_rng(3)
    x = np.concatenate([_crops(12, rng, False), _crops(12, rng, True)])
    taught = Taught(x, np.array([0.2] * 12 + [0.8] * 12, np.float32), np.array([0] * 12 + [1] * 12),
                    np.array([f"g{i % 4}" for i in range(24)], object), np.zeros(24, bool))
    nets = {}
    for seed in (0, 1):
        cfg = DistilConfig(size=32, epochs=2, batch=8, hard_weight=0.7, seed=seed)
        student = distil(taught, cfg, log=lambda m: None)
        nets[seed] = student.result.net.state_dict()
        assert meta(cfg, "t", taught, student, "s")["training"]["config"]["seed"] == seed
    assert any(not np.allclose(nets[0][k].numpy(), nets[1][k].numpy()) for k in nets[0] if nets[0][k].is_floating_point())


def test_distilled_student_gets_its_threshold_from_groups_it_never_saw():
    rng = np.random.default_rng(1)
    x = np.concatenate([_crops(30, rng, False), _crops(30, rng, True)])
    teacher = np.array([0.9] * 30 + [0.1] * 30, np.float32)
    groups = np.array([f"g{i % 5}" for i in range(60)], object)
    taught = Taught(x, teacher, (teacher > 0.5).astype(int), groups, np.zeros(60, bool))
    student = distil(taught, DistilConfig(size=32, epochs=25, batch=16, lr=3e-3, calibration=0.2), log=lambda m: None)
    assert len(student.calibration_groups) == 1 and student.agreement > 0.9
    assert 0.1 <= student.threshold <= 0.9


def test_taught_crops_survive_a_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    t = Taught(rng.integers(0, 255, (3, 256, 256, 3), dtype=np.uint8), np.array([0.1, 0.5, 0.9], np.float32),
               np.array([0, 1, 1]), np.array(["a/b", "c", "c"], object), np.array([False, True, False]))
    back = load_taught(save_taught(t, tmp_path / "t.npz"))
    assert (back.contexts == t.contexts).all() and (back.teacher == t.teacher).all()
    assert back.groups.tolist() == ["a/b", "c", "c"] and back.altered.tolist() == [False, True, False]
    (tmp_path / "bad.npz").write_text("no")
    with pytest.raises(DatasetError, match="not a file of taught crops"):
        load_taught(tmp_path / "bad.npz")


def test_distil_command_teaches_a_student_from_a_collected_dataset(tmp_path, capsys):
    """The whole command: NUAA rows collected by manifest, the fast model teaching, a student written
    as a model file that records its teacher, its seed and its taught crops, and scores like a model."""
    import csv

    from conftest import need_shared
    from marginlive.cli import main
    from marginlive.liveness.runtime import LivenessModel
    nuaa = need_shared("data", "nuaa-print")
    rows = list(csv.DictReader(open(nuaa / "manifest.csv", newline="")))
    picked = []
    for subject in sorted({r["subject"] for r in rows})[:4]:
        for label in ("real", "fake"):
            picked += [r for r in rows if r["subject"] == subject and r["label"] == label][:3]
    src = tmp_path / "sources" / "nuaa-print"
    src.mkdir(parents=True)
    with open(src / "manifest.csv", "w", newline="") as fh:    # the shared files, named by absolute path
        w = csv.DictWriter(fh, ["path", "label", "subject", "attack"])
        w.writeheader()
        w.writerows({"path": str(nuaa / r["path"]), "label": r["label"], "subject": r["subject"],
                     "attack": r["attack"]} for r in picked)
    ds, out = tmp_path / "ds", tmp_path / "student.onnx"
    assert main(["collect", "--manifest", str(src / "manifest.csv"), "--out", str(ds)]) == 0
    rc = main(["distil", str(ds), "--sources", str(tmp_path / "sources"), "--teacher", "fast", "--copies", "0",
               "--epochs", "1", "--size", "64", "--seed", "3", "--calibration", "0.25", "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    n = len(list(csv.DictReader(open(ds / "manifest.csv"))))
    assert f"wrote {out} ({n} crops taught" in captured.out
    m = LivenessModel(out)
    training = m.meta["training"]
    assert m.size == 64 and m.margin == 4.0 and 0.0 < m.threshold < 1.0
    assert "marginlive-fast" in json.dumps(m.meta) and training["config"]["seed"] == 3
    contexts = np.stack([cv2.imread(str(ds / r["path"])) for r in csv.DictReader(open(ds / "manifest.csv"))])
    from marginlive.margin import crop_batch_from_context
    p = m.predict(crop_batch_from_context(contexts, 4.0, 64))
    assert p.shape == (n,) and ((p >= 0) & (p <= 1)).all()
