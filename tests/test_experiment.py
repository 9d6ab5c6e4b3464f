"""`marginlive experiment margin`: the paper's margin claim, scored leave-groups-out."""
import json
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import need_shared
from marginlive.cli import main

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def four_groups(tmp_path_factory):
    """Both shared video pairs collected as four groups: two people, two replay devices."""
    d = tmp_path_factory.mktemp("exp") / "videos"
    videos = (("live-1.webm", "real", "person-1", "20"), ("replay-1.webm", "fake", "phone-1", "20"),
              ("live-2.mp4", "real", "person-2", "10"), ("replay-2.mp4", "fake", "phone-2", "10"))
    for name, label, group, every in videos:
        extra = ["--attack", "screen"] if label == "fake" else []
        assert main(["collect", str(need_shared("data", "videos", name)), "--label", label, "--subject", group,
                     "--every", every, "--out", str(d), *extra]) == 0
    return d


def test_each_setting_scores_every_crop_once_out_of_fold(four_groups, tmp_path, capsys):
    out = tmp_path / "margins.json"
    assert main(["experiment", "margin", str(four_groups), "--margins", "1", "2", "--epochs", "1", "--folds", "2",
                 "--eval-datasets", "local", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| margin 1 |" in table and "| margin 2 |" in table
    saved = json.loads(out.read_text())
    assert saved["meta"]["folds"] == 2 and set(saved["results"]) == {"margin 1", "margin 2"}
    from marginlive.training.dataset import load_dataset
    n = len(load_dataset(four_groups))
    for name, margin in (("margin 1", 1.0), ("margin 2", 2.0)):
        r = saved["results"][name]
        assert r["config"]["margin"] == margin
        run = r["runs"][0]
        assert sorted(run["index"]) == list(range(n))           # every crop held out once
        scores = np.array(run["scores"])
        assert np.isfinite(scores).all() and ((scores >= 0) & (scores <= 1)).all()
        assert 0.0 <= r["summary"]["overall"]["auc"]["mean"] <= 1.0


def test_a_fold_trains_on_no_image_of_its_held_out_groups():
    from marginlive.training.cv import fold_train_indices
    # a synthetic attack made from group b's photo carries group b: it leaves with b
    ds = SimpleNamespace(groups=np.array(["a", "a", "b", "b", "c", "b"]))
    assert fold_train_indices(ds, np.array([2])).tolist() == [0, 1, 4]


def test_a_fold_that_would_train_on_one_class_is_refused(four_groups, capsys):
    # two people and one replay device, a fold each: the fold holding the device out would learn
    # from live faces alone and score the device's replays by nothing it learnt
    from marginlive.training.cv import cross_validate
    from marginlive.training.dataset import load_dataset
    from marginlive.training.train import TrainConfig
    from marginlive.errors import DatasetError
    ds = load_dataset(four_groups)
    people = np.flatnonzero(ds.labels == 1)
    only_people = ds.subset(np.concatenate([people, np.flatnonzero(ds.groups == "phone-1")]))
    with pytest.raises(DatasetError, match="only real images to train on"):
        cross_validate(only_people, TrainConfig(epochs=1), k=3, log=lambda m: None)


@pytest.mark.parametrize("args, message", [
    (["--eval-datasets", "webcam-replay"], "no images of webcam-replay in the dataset (it holds: local)"),
    (["--margins", "0", "2"], "margins must be in (0, 4]"),
    (["--folds", "9", "--eval-datasets", "local"], "4 groups cannot make 9 group-disjoint folds"),
])
def test_bad_settings_are_one_line_and_leave_no_file(four_groups, tmp_path, capsys, args, message):
    out = tmp_path / "r.json"
    code = main(["experiment", "margin", str(four_groups), "--epochs", "1", "--out", str(out), *args])
    err = capsys.readouterr().err
    assert code != 0 and message in err and "Traceback" not in err
    assert not out.exists()
