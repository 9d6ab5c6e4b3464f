import csv
import json

import numpy as np
import pytest

from conftest import need_shared
from marginlive.cli import main


@pytest.fixture(scope="module")
def small_nuaa(tmp_path_factory):
    """A 40-image manifest of two NUAA subjects, paths pointing into ../shared in place."""
    d = need_shared("data", "nuaa-print")
    with open(d / "manifest.csv") as fh:
        rows = list(csv.DictReader(fh))
    pick = [r for r in rows if r["subject"] in ("0001", "0002")]
    pick = [r for lab in ("real", "fake") for r in [x for x in pick if x["label"] == lab][::4][:20]]
    out = tmp_path_factory.mktemp("nuaa") / "manifest.csv"
    with open(out, "w", newline="") as fh:
        w = csv.DictWriter(fh, ["path", "label", "subject", "attack"])
        w.writeheader()
        for r in pick:
            w.writerow({"path": str(d / r["path"]), "label": r["label"], "subject": r["subject"],
                        "attack": r["attack"]})
    return out


def test_evaluate_ours_and_peer_with_report(capsys, tmp_path, tiny_model, small_nuaa):
    peer = need_shared("models", "peer-minifasnet-celebaspoof", "AntiSpoofing_bin_1.5_128.onnx")
    rep = tmp_path / "rep"
    code = main(["evaluate", str(tiny_model), str(peer), str(small_nuaa), "--report", str(rep)])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads((rep / "report.json").read_text())
    (name, results), = data["datasets"].items()
    assert name == small_nuaa.parent.name  # a manifest is named after its folder
    assert [r["model"] for r in results] == ["tiny-test", "peer:AntiSpoofing_bin_1.5_128"]
    for r in results:
        m = r["metrics"]
        n_rows = len(small_nuaa.read_text().splitlines()) - 1
        assert m["n"] + r["no_face"]["real"] + r["no_face"]["fake"] == n_rows
        assert 0 <= m["auc"] <= 1 and set(m["apcer_per_attack"]) == {"print"}
        assert set(r["per_group"]) == {"0001", "0002"}
        lo, hi = m["bpcer_interval"]    # the rate inside its interval, the report giving both
        assert lo <= m["bpcer"] <= hi and hi > lo
    md = (rep / "report.md").read_text()
    assert "APCER" in md and f"{name}_roc.png" in md
    assert md.count("95% intervals (Wilson") == 2
    for png in (f"{name}_roc.png", f"{name}_det.png", f"{name}_tiny-test_hist.png", f"{name}_tiny-test_confusion.png"):
        assert (rep / png).stat().st_size > 1000
    # the peer separates print attacks on these subjects far better than chance
    assert results[1]["metrics"]["auc"] > 0.8


def test_one_class_dataset(capsys, tmp_path, tiny_model, small_nuaa):
    lines = small_nuaa.read_text().splitlines()
    one = tmp_path / "manifest.csv"
    one.write_text("\n".join([lines[0]] + [l for l in lines[1:] if ",real," in l]) + "\n")
    code = main(["evaluate", str(tiny_model), str(one)])
    out, err = capsys.readouterr()
    assert code == 0 and "only real samples" in out


def test_unknown_label_and_missing_files(capsys, tmp_path, tiny_model):
    m = tmp_path / "manifest.csv"
    m.write_text("path,label\na.jpg,maybe\n")
    assert main(["evaluate", str(tiny_model), str(m)]) == 6
    assert "unknown label 'maybe'" in capsys.readouterr().err
    m.write_text("path,label\nmissing.jpg,real\n")
    assert main(["evaluate", str(tiny_model), str(m)]) == 6
    assert "do not exist" in capsys.readouterr().err


def test_a_manifest_saved_by_a_spreadsheet_is_read_and_one_in_another_encoding_refused(capsys, tmp_path, tiny_model):
    m = tmp_path / "manifest.csv"
    m.write_bytes("path,label\nmissing.jpg,real\n".encode("utf-8-sig"))   # Excel's "CSV UTF-8": a BOM first
    assert main(["evaluate", str(tiny_model), str(m)]) == 6
    assert "do not exist" in capsys.readouterr().err                      # its columns found: read as meant
    m.write_bytes("path,label\nJosé.jpg,real\n".encode("utf-16"))
    assert main(["evaluate", str(tiny_model), str(m)]) == 6
    err = capsys.readouterr().err
    assert "not a UTF-8 CSV file" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_manifest_in_the_working_folder_is_named_by_it(capsys, tmp_path, tiny_model, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "manifest.csv").write_text("path,label\nmissing.jpg,real\n")
    assert main(["evaluate", str(tiny_model), "manifest.csv"]) == 6
    assert capsys.readouterr().err.startswith(f"marginlive evaluate: error: {tmp_path.name}: 1 listed file(s)")


def test_a_report_folder_that_cannot_be_made_is_refused_before_scoring(capsys, tmp_path, tiny_model):
    (tmp_path / "manifest.csv").write_text("path,label\nmissing.jpg,real\n")   # scoring would say so
    (tmp_path / "file").write_text("a file where the report folder would go")
    rc = main(["evaluate", str(tiny_model), str(tmp_path / "manifest.csv"), "--report", str(tmp_path / "file" / "r")])
    assert rc == 2 and "cannot write there" in capsys.readouterr().err


def test_no_model_given(capsys, tmp_path):
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "give a model (an .onnx file, or default or fast) first" in capsys.readouterr().err


def test_shipped_models_by_name(capsys):
    """``evaluate fast default DATA``: the shipped models' names stand for their files."""
    live = need_shared("data", "videos", "live-1.webm")
    assert main(["evaluate", "fast", "--clip", f"real={live}"]) == 0
    assert "clip\t" in capsys.readouterr().out


def test_clip_level_decisions(capsys, tmp_path, tiny_model):
    """A clip is decided by the first marginlive model given, and the report names it."""
    live = need_shared("data", "videos", "live-1.webm")
    peer = need_shared("models", "peer-minifasnet-celebaspoof", "AntiSpoofing_bin_1.5_128.onnx")
    code = main(["evaluate", str(peer), str(tiny_model), "--clip", f"real={live}", "--report", str(tmp_path)])
    out, _ = capsys.readouterr()
    assert code == 0 and "clip\t" in out and "live-1.webm" in out
    clips = json.loads((tmp_path / "report.json").read_text())["clips"]
    from marginlive.liveness.runtime import LivenessModel
    assert clips["model"] == LivenessModel(tiny_model).name
    assert f"judged over all its frames, {clips['model']})" in (tmp_path / "report.md").read_text()


def test_evaluate_a_collected_dataset_and_margin_mismatch(capsys, tmp_path, tiny_model):
    """A `marginlive collect` dataset is scored from its context crops; a model wider than the
    stored context gets a clear message."""
    pytest.importorskip("torch")
    live = need_shared("data", "videos", "live-1.webm")
    replay = need_shared("data", "videos", "replay-1.webm")
    d = tmp_path / "ds"
    assert main(["collect", str(live), "--label", "real", "--subject", "a", "--every", "50", "--out", str(d)]) == 0
    assert main(["collect", str(replay), "--label", "fake", "--subject", "b", "--every", "50", "--out", str(d)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(tiny_model), str(d / "manifest.csv")]) == 0
    out = capsys.readouterr().out
    assert "n=" in out and "no-face 0/0" in out
    from marginlive.liveness.networks import build
    from marginlive.training.export import export_onnx
    wide = export_onnx(build("livenessnet").eval(), tmp_path / "wide.onnx",
                       {"name": "wide", "input_size": 64, "margin": 5.0, "threshold": 0.5})
    assert main(["evaluate", str(wide), str(d / "manifest.csv")]) == 6
    assert "wider than the 4x context" in capsys.readouterr().err
    # the dataset's folder names it as its manifest does; a fused model whose every input is a margin
    # crop within the context (the fast model's two) is scored from it, one with a crop of another
    # kind (the default's Silent-Face crop, shifted off the face) is not
    assert main(["evaluate", "fast", str(d)]) == 0
    assert "\tmarginlive-fast\tn=" in capsys.readouterr().out
    assert main(["evaluate", "default", str(d)]) == 6
    assert "crops the frame beyond the stored 4x context" in capsys.readouterr().err


def test_a_models_inputs_cut_from_a_stored_context_are_those_cut_from_the_frame(live_frames):
    """The fast model's two inputs (the 4x context at 256 and at 96 px) for a face of a frame, cut by
    the evaluation from the 4x context `marginlive collect` stores, equal those the model cuts from
    the frame: a collected dataset scores its faces as the frames would."""
    from marginlive.detect import create_detector
    from marginlive.evaluation.scorers import MarginScorer
    from marginlive.liveness.runtime import take
    from marginlive.margin import crop_margin
    s = MarginScorer("fast")
    assert not s.from_frames_only and MarginScorer("default").from_frames_only
    frame = live_frames[0].image
    box = create_detector().detect(frame)[0]
    from_frame = take(s.crops(frame, [box]), 0)
    from_context = s.context_crops(crop_margin(frame, box, 4.0, 256))
    assert set(from_frame) == set(from_context) == {"crops", "crops_96"}
    for k in from_frame:
        assert np.array_equal(from_frame[k], from_context[k]), k


def test_report_without_face_crops(capsys, tmp_path, tiny_model, small_nuaa):
    rep = tmp_path / "rep"
    assert main(["evaluate", str(tiny_model), str(small_nuaa), "--report", str(rep), "--no-worst"]) == 0
    assert (rep / "report.md").exists() and not list(rep.glob("*_worst.png"))
    assert "_worst.png" not in (rep / "report.md").read_text()
    rep2 = tmp_path / "rep2"
    assert main(["evaluate", str(tiny_model), str(small_nuaa), "--report", str(rep2)]) == 0
    assert list(rep2.glob("*_worst.png"))  # an untrained model makes errors: the grid is there by default
