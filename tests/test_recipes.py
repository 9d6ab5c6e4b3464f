"""The shipped model's recipe (training/recipes.py) and the scene augmentation it fits on
(training/scene.py): copies, their bookkeeping, and a fused model equal to its parts."""
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import bezel_views, need_shared

from marginlive.errors import DatasetError
from marginlive.training.recipes import DEFAULT, FusionRecipe, TextureFit, assemble, recipe_named
from marginlive.training.scene import SceneAugment, augment_contexts


def _crops(n, rng, bezel):
    return bezel_views(n, rng, bezel, rect=(60, 50, 196, 206))


@pytest.fixture(scope="module")
def small():
    rng = np.random.default_rng(0)
    x = np.concatenate([_crops(10, rng, False), _crops(10, rng, True)])
    return x, np.array([1] * 10 + [0] * 10)


def _units(y):
    """Two collections of unequal size, each holding both labels."""
    return np.array(["a" if i % 4 else "b" for i in range(len(y))], object)


def test_scene_augment_copies_every_crop_and_moves_every_live_one(small):
    x, y = small
    aug = augment_contexts(x, y, SceneAugment(rooms=4, seed=1))
    assert len(aug.labels) == len(x) + int(y.sum())
    assert aug.contexts.shape == (len(aug.labels), 256, 256, 3) and aug.contexts.dtype == np.uint8
    assert (aug.labels == y[aug.source]).all()
    assert set(np.bincount(aug.source, minlength=len(x))[y == 1]) == {2}   # a noisy copy, a moved one
    assert set(np.bincount(aug.source, minlength=len(x))[y == 0]) == {1}   # an attack is never moved
    assert (y[aug.room[aug.room >= 0]] == 1).all()                         # rooms come from live crops
    again = augment_contexts(x, y, SceneAugment(rooms=4, seed=1))
    assert np.array_equal(again.contexts, aug.contexts)                    # seeded


def test_scene_augment_mirrors_copies_at_the_rate_asked(small):
    x, y = small
    kept = augment_contexts(x, y, SceneAugment(rooms=4, seed=1, flip=0.0))
    every = augment_contexts(x, y, SceneAugment(rooms=4, seed=1, flip=1.0))
    half = augment_contexts(x, y, SceneAugment(rooms=4, seed=1))
    assert np.array_equal(every.contexts, kept.contexts[:, :, ::-1])     # the same copies, mirrored
    mirrored = [np.array_equal(h, k[:, ::-1]) and not np.array_equal(h, k)
                for h, k in zip(half.contexts, kept.contexts)]
    assert 0.2 < np.mean(mirrored) < 0.8


def test_leaving_crops_out_leaves_out_every_copy_made_from_them(small):
    x, y = small
    aug = augment_contexts(x, y, SceneAugment(rooms=4, wall_share=0.0, seed=2))
    out = np.zeros(len(x), bool)
    out[[0, 1, 15]] = True
    used = aug.without(out)
    assert not np.isin(aug.source[used], np.flatnonzero(out)).any()
    assert not np.isin(aug.room[used], np.flatnonzero(out)).any()
    assert len(used) == sum(1 for s, r in zip(aug.source, aug.room) if not out[s] and (r < 0 or not out[r]))
    fit = TextureFit(FusionRecipe(**{**DEFAULT.__dict__, "augment": SceneAugment(rooms=4, seed=2)}), x, y, _units(y))
    rows = fit.rows(out)
    assert not np.isin(rows, np.flatnonzero(out)).any() and len(rows) == (~out).sum() + len(fit.augmented.without(out))


def test_recipe_names_are_checked_and_hold_out_is_by_collector():
    from marginlive.training.recipes import FAST, NEWEST_GROUPS
    assert recipe_named("default") is DEFAULT and recipe_named("fast") is FAST
    assert FAST.hold_out == NEWEST_GROUPS and FAST.network is None and FAST.silentface_file is None
    with pytest.raises(DatasetError, match="unknown recipe"):
        recipe_named("bogus")
    groups = np.array(["webcam-replay/SoorajOfficial2023__Anti-spoofing", "webcam-replay/Afzal91004__FaceGuard",
                       "nuaa-print/0001"], object)
    assert not DEFAULT.held_out(groups).any()                    # the shipped recipe fits on everything
    held = FusionRecipe(**{**DEFAULT.__dict__, "hold_out": ("SoorajOfficial2023",)})
    assert held.held_out(groups).tolist() == [True, False, False]


def _tiny_recipe(**changes):
    from marginlive.training.train import TrainConfig
    net = TrainConfig(arch="cdcnet", margin=4.0, size=32, epochs=1, batch=8, aug="none", seed=0, threads=1)
    return FusionRecipe(**{**DEFAULT.__dict__, "augment": None, "network": net, **changes})


def _tiny_dataset(small):
    from marginlive.training.dataset import Dataset
    x, y = small
    groups = np.array([f"webcam-replay/{'Held' if i % 5 == 0 else 'Kept'}{i % 4}__repo" for i in range(len(y))], object)
    sf = np.stack([cv2.resize(c, (80, 80), interpolation=cv2.INTER_AREA) for c in x])   # as if the frame were the crop
    return Dataset(x, y, groups, np.where(y == 1, "", "replay"), np.full(len(y), "webcam-replay", object),
                   [f"{i}.png" for i in range(len(y))], silentface=sf, silentface_crop=DEFAULT.silentface_crop.spec())


def test_build_trains_the_network_on_the_crops_it_fits_and_keeps_it_beside_the_model(small, tmp_path):
    """``build`` trains the recipe's network on the crops the texture branches fit (its hold-out
    groups left out), fuses it, and keeps the very component it fused in ``components``."""
    from marginlive.liveness.runtime import LivenessModel
    from marginlive.training.recipes import build
    sf_dir = need_shared("models", "silentface-minifasnet")
    ds, recipe = _tiny_dataset(small), _tiny_recipe(hold_out=("Held0", "Held1", "Held2", "Held3"))
    held = int(recipe.held_out(ds.groups).sum())
    assert 0 < held < len(ds)
    out = build(recipe, ds, tmp_path / "m.onnx", components=tmp_path / "parts", silentface_dir=sf_dir, log=lambda m: None)
    model, part = LivenessModel(out), LivenessModel(tmp_path / "parts" / recipe.network_file)
    assert model.meta["training"]["images"] == part.meta["training"]["images"] == len(ds) - held
    assert model.meta["training"]["network"]["size"] == 32 and part.meta["branches"][0]["size"] == 32
    assert model.meta["training"]["balance_collections"] is recipe.balance_collections
    archs = [b["arch"] for b in model.meta["branches"]]
    assert archs[-3:] == ["cdcnet", "silentface-minifasnet", "silentface-probe"] and (part.size, part.margin) == (256, 4.0)
    # the kept component is the branch in the fused model: its logits output says what the branch said
    import onnxruntime as ort
    crops = model.crops(ds.contexts[0], [_whole_box()])
    p = part.predict(crops["crops"])
    logits = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(["logits"], crops)[0]
    assert np.allclose(logits[archs.index("cdcnet")], np.log(p / (1 - p)), atol=1e-3)


def test_build_refuses_a_dataset_without_silentface_crops_before_training(small, tmp_path):
    """The default recipe fits a head on the Silent-Face crops ``marginlive collect`` stores: a
    dataset collected without them (or cut another way) is refused at once, nothing written."""
    from dataclasses import replace

    from marginlive.training.recipes import build
    sf_dir = need_shared("models", "silentface-minifasnet")
    for ds in (replace(_tiny_dataset(small), silentface=None, silentface_crop=None),
               replace(_tiny_dataset(small), silentface_crop={**DEFAULT.silentface_crop.spec(), "min_scale": 0.0})):
        with pytest.raises(DatasetError, match="collect it again"):
            build(_tiny_recipe(), ds, tmp_path / "m.onnx", components=tmp_path / "parts", silentface_dir=sf_dir,
                  log=lambda m: None)
        assert not (tmp_path / "m.onnx").exists() and not (tmp_path / "parts").exists()


def _whole_box():
    from marginlive.types import FaceBox
    return FaceBox(96, 96, 160, 160, 1.0)      # 4x that box: the whole 256-px crop


def test_a_failed_build_leaves_no_model_and_no_component(small, tmp_path, monkeypatch):
    """Refused before training without the Silent-Face file; and a fusion that fails after the
    network was trained keeps no component either (it would not match the model it was kept for)."""
    from marginlive.errors import ModelError
    from marginlive.training import recipes
    with pytest.raises(ModelError, match="missing"):
        recipes.build(_tiny_recipe(), _tiny_dataset(small), tmp_path / "m.onnx", components=tmp_path / "parts",
                      silentface_dir=tmp_path / "nowhere", log=lambda m: None)
    assert not (tmp_path / "m.onnx").exists() and not (tmp_path / "parts").exists()
    trained = []

    def failing_fusion(recipe, branches, out, training, components, *rest, **kw):
        trained.append((Path(components) / recipe.network_file).is_file())
        raise ModelError("the fusion failed")
    monkeypatch.setattr(recipes, "assemble", failing_fusion)
    with pytest.raises(ModelError, match="the fusion failed"):
        recipes.build(_tiny_recipe(), _tiny_dataset(small), tmp_path / "m.onnx", components=tmp_path / "parts",
                      silentface_dir=need_shared("models", "silentface-minifasnet"), log=lambda m: None)
    assert trained == [True]
    assert not (tmp_path / "m.onnx").exists() and not (tmp_path / "parts").exists()


def test_shipped_model_cuts_the_silentface_crop_its_recipe_names():
    """The shipped file and the recipe cannot drift apart: its Silent-Face input is cut with
    every option of ``DEFAULT.silentface_crop`` and passes a face at the recipe's level."""
    from marginlive.liveness.runtime import LivenessModel, default_model_path
    model = LivenessModel(default_model_path())
    shifted = [spec for spec in model.inputs if spec["crop"] == "shifted"]
    assert [{k: v for k, v in spec.items() if k != "name"} for spec in shifted] == [DEFAULT.silentface_crop.spec()]
    by_arch = {b["arch"]: b for b in model.meta["branches"]}
    assert by_arch["silentface-minifasnet"]["live_above"] == DEFAULT.silentface_live_above
    assert by_arch["silentface-probe"]["c"] == DEFAULT.silentface_probe.c


def test_train_with_an_unknown_recipe_exits_with_a_clear_error(tmp_path, capsys):
    from marginlive.cli import main
    rc = main(["train", str(tmp_path), "--recipe", "bogus", "--out", str(tmp_path / "m.onnx")])
    err = capsys.readouterr().err
    assert rc != 0 and "unknown recipe 'bogus'" in err and "Traceback" not in err
    assert not (tmp_path / "m.onnx").exists()


def test_components_without_a_recipe_is_refused(tmp_path, capsys):
    from marginlive.cli import main
    rc = main(["train", str(tmp_path), "--components", str(tmp_path / "parts"), "--out", str(tmp_path / "m.onnx")])
    err = capsys.readouterr().err
    assert rc != 0 and "--components keeps a recipe's network" in err and "Traceback" not in err
    assert not (tmp_path / "m.onnx").exists() and not (tmp_path / "parts").exists()


@pytest.fixture(scope="module")
def assembled(small, tmp_path_factory):
    """The recipe's texture fitted on tiny data, assembled with the real components and a random head:
    (recipe, its texture branches, the head (weights (512,), bias), the Silent-Face folder, the model)."""
    from marginlive.liveness.runtime import LivenessModel
    sf_dir = need_shared("models", "silentface-minifasnet")
    x, y = small
    recipe = FusionRecipe(**{**DEFAULT.__dict__, "augment": None})
    branches = TextureFit(recipe, x, y, _units(y)).fit()
    head = (np.random.default_rng(3).normal(size=512).astype(np.float32) * 0.05, 0.1)
    out = assemble(recipe, branches, tmp_path_factory.mktemp("fused") / "m.onnx", {"note": "test"},
                   silentface_dir=sf_dir, check=x[:4], probe=head)
    return recipe, branches, head, sf_dir, LivenessModel(out)


def test_assembling_without_the_fitted_head_is_refused(small, assembled, tmp_path):
    from marginlive.errors import ModelError
    recipe, branches, _, sf_dir, _ = assembled      # the same fitted branches, assembled here without the head
    with pytest.raises(ModelError, match="pass the fitted head"):
        assemble(recipe, branches, tmp_path / "m.onnx", silentface_dir=sf_dir, check=small[0][:4])
    assert not (tmp_path / "m.onnx").exists()


def test_assembled_model_names_its_recipe_and_branches(assembled):
    recipe, _, _, _, model = assembled
    assert model.meta["training"] == {"recipe": "marginlive-default", "note": "test"}
    assert [b["arch"] for b in model.meta["branches"]] == [
        "colour-texture" if v.kind == "lbp" else "phase-texture" for v in recipe.texture] + [
        "cdcnet", "silentface-minifasnet", "silentface-probe"]
    assert sum(b["weight"] for b in model.meta["branches"]) == pytest.approx(1.0, abs=1e-5)   # six decimals each


def test_assembled_model_cuts_the_silentface_crop_as_its_recipe_says(small, assembled):
    """The edge repeated for a face filling the frame, a window over ``max_side`` averaged down:
    neither as the Silent-Face authors' crop cuts it."""
    from marginlive.silentface_crop import ShiftedCrop
    from marginlive.types import FaceBox
    recipe, _, _, _, model = assembled
    x, _ = small
    crop = recipe.silentface_crop
    assert model.inputs[1] == {"name": "silentface_4", **crop.spec()}
    authors = ShiftedCrop(crop.scale, crop.size)
    close = FaceBox(40, 40, 216, 216, 1.0)    # the 256-px frame holds 1.45x of it: edge repeated
    sf_close = model.crops(x[0], [close])[model.inputs[1]["name"]][0]
    assert np.array_equal(sf_close, crop.cut(x[0], close)) and not np.array_equal(sf_close, authors.cut(x[0], close))
    large, box3 = x[0].repeat(3, 0).repeat(3, 1), FaceBox(96, 96, 480, 480, 1.0)   # a window > max_side
    sf_large = model.crops(large, [box3])[model.inputs[1]["name"]][0]
    assert crop.max_side and np.array_equal(sf_large, crop.cut(large, box3))
    assert not np.array_equal(sf_large, authors.cut(large, box3))


def _branch_logits(recipe, branches, head, sf_dir, frames, box, crops):
    """Each branch's logit run on its own (texture in PyTorch, the network and Silent-Face in ONNX
    Runtime, the head on Silent-Face's features): a list of five (N,) arrays in the model's order."""
    import onnx
    import onnxruntime as ort
    import torch

    from marginlive.liveness.runtime import LivenessModel, session_options
    from marginlive.training.probe import features
    from marginlive.training.recipes import COMPONENTS, texture_model
    with torch.no_grad():
        tex = texture_model(recipe, branches)
        logits = list(np.concatenate([tex.logits(torch.from_numpy(c["crops"])).numpy() for c in crops], axis=1))
    p = np.concatenate([LivenessModel(COMPONENTS / recipe.network_file).predict(c["crops"]) for c in crops])
    logits.append(np.log(p / (1 - p)))
    crop = recipe.silentface_crop
    sf = ort.InferenceSession(str(sf_dir / recipe.silentface_file), sess_options=session_options(),
                              providers=["CPUExecutionProvider"])
    soft = np.concatenate([sf.run(None, {sf.get_inputs()[0].name: crop.cut(f, box)[None]})[0] for f in frames])
    p = np.clip(soft[:, 1], 1e-4, 1 - 1e-4)
    logits.append(np.log(p / (1 - p)))
    sf_model = onnx.load(str(sf_dir / recipe.silentface_file))
    logits.append(np.concatenate([features(sf_model, crop.cut(f, box)[None]) for f in frames]) @ head[0] + head[1])
    return logits


def test_assembled_model_is_the_weighted_mean_of_its_branches_logits(small, assembled):
    """The one file against each part run on its own, fused as their weighted mean, or Silent-Face's
    margin over its ``live_above`` where higher."""
    from marginlive.types import FaceBox
    recipe, branches, head, sf_dir, model = assembled
    x, _ = small
    frames, box = x[[0, 12]], FaceBox(96, 96, 160, 160, 1.0)   # 4x that box: the whole 256-px frame
    crops = [model.crops(f, [box]) for f in frames]
    got = np.concatenate([model.predict(c) for c in crops])
    logits = _branch_logits(recipe, branches, head, sf_dir, frames, box, crops)
    w = np.array([b["weight"] for b in model.meta["branches"]])
    above = model.meta["branches"][-2]["live_above"]
    assert above == recipe.silentface_live_above is not None
    want = 1 / (1 + np.exp(-np.maximum((w[:, None] * np.stack(logits)).sum(0), logits[-2] - above)))
    assert got == pytest.approx(want, abs=2e-3)


def _make_model_train_line(*args):
    """The `marginlive train` line `make -n model ARGS` would run (nothing is run)."""
    import shutil
    import subprocess
    if not shutil.which("make"):
        pytest.skip("needs make")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(["make", "-n", "model", *args], cwd=root, capture_output=True, text=True, timeout=60).stdout
    return next(line for line in out.splitlines() if " train " in line and "--recipe default" in line)


def test_make_model_elsewhere_keeps_its_network_beside_it_not_in_the_committed_components(tmp_path):
    shipped = _make_model_train_line()
    assert "--components models/components" in shipped and "marginlive-default.onnx" in shipped
    elsewhere = _make_model_train_line(f"MODEL_OUT={tmp_path}/m.onnx")
    assert f"--components {tmp_path}/" in elsewhere and f"--out {tmp_path}/m.onnx" in elsewhere
    assert "models/components" not in elsewhere


def _with_more_copies(x, y, **extra):
    """The augmented copies with ``extra`` options, and how many the same options without them
    make, checked to come first and unchanged."""
    plain = augment_contexts(x, y, SceneAugment(rooms=4, seed=1))
    more = augment_contexts(x, y, SceneAugment(rooms=4, seed=1, **extra))
    n = len(plain.labels)
    assert np.array_equal(more.contexts[:n], plain.contexts)       # the other copies as they were
    return more, n


def test_close_up_copies_black_out_all_but_a_frame_the_face_fills(small):
    x, y = small
    near, n = _with_more_copies(x, y, close_up=1.0)
    extra = near.contexts[n:]
    assert len(extra) == len(x) and (near.labels[n:] == y).all()   # one per crop, live and attack
    for c in extra:
        lit = np.argwhere(c.max(-1) > 0)
        (y0, x0), (y1, x1) = lit.min(0), lit.max(0) + 1
        short, long_ = sorted((y1 - y0, x1 - x0))
        assert 256 / 4 / 1.0 - 2 <= short <= 256 / 4 / 0.7 + 2      # the face's side is 0.7-1.0 of it
        assert 1.25 < long_ / short < 1.85                          # 4:3 or 9:16
        assert y0 < 128 < y1 and x0 < 128 < x1                      # the face stays in view
    half = augment_contexts(x, y, SceneAugment(rooms=4, seed=3, close_up=0.5))
    assert 0 < len(half.labels) - n < len(x)                        # about half of the crops


def test_a_screen_behind_changes_the_room_only_never_the_person_nor_the_padding():
    from marginlive.training.scene import screen_behind
    rng = np.random.default_rng(0)
    x = np.full((256, 256, 3), 90, np.uint8)
    x[:, :40] = 0                                                  # the frame's edge: black padding
    person = np.zeros((256, 256, 1), np.float32)
    person[64:256, 80:176] = 1.0                                   # the person, in front
    pictures = rng.integers(0, 256, (3, 256, 256, 3), dtype=np.uint8)
    changed = 0
    for _ in range(20):
        out = screen_behind(x, person, pictures, rng)
        assert np.array_equal(out[64:, 80:176], x[64:, 80:176]) and not out[:, :40].any()
        changed += (out != x).any(-1).mean() > 0.02
    assert changed >= 15                                           # a screen in view most of the time


def test_screen_copies_come_last_one_per_live_crop_asked(small):
    x, y = small
    more, n = _with_more_copies(x, y, screen_behind=1.0)
    assert sorted(more.source[n:].tolist()) == np.flatnonzero(y == 1).tolist()
    assert (more.labels[n:] == 1).all() and (more.room[n:] == -1).all()
    half = augment_contexts(x, y, SceneAugment(rooms=4, seed=3, screen_behind=0.5))
    assert 0 < len(half.labels) - len(augment_contexts(x, y, SceneAugment(rooms=4, seed=3)).labels) < 10


def test_fast_recipe_fuses_the_distilled_network_on_its_own_crop_with_the_lbp_branch(small, tmp_path):
    """The fast recipe trains no network: it fits its LBP branch (its held-out groups left out) and
    fuses the committed student, which reads the 4x context at 96 px as an input of its own. The
    one file is the weighted mean of the two logits, and needs no Silent-Face file."""
    import torch

    from marginlive.liveness.runtime import LivenessModel
    from marginlive.training.recipes import COMPONENTS, FAST, build, texture_model
    ds = _tiny_dataset(small)
    recipe = FusionRecipe(**{**FAST.__dict__, "augment": None, "hold_out": ("Held0", "Held1")})
    out = build(recipe, ds, tmp_path / "fast.onnx", silentface_dir=tmp_path / "nowhere", log=lambda m: None)
    model, student = LivenessModel(out), LivenessModel(COMPONENTS / FAST.network_file)
    assert [i["name"] for i in model.inputs] == ["crops", "crops_96"] and model.inputs[1]["size"] == student.size
    assert model.meta["training"]["images"] == len(ds) - int(recipe.held_out(ds.groups).sum())
    assert model.meta["training"]["network"]["distilled_from"] == "marginlive-default"   # the student's own record
    assert not (tmp_path / "nowhere").exists()

    frame, box = ds.contexts[3], _whole_box()
    crops = model.crops(frame, [box])
    from marginlive.margin import crop_from_context
    assert np.array_equal(crops["crops_96"][0], crop_from_context(crops["crops"][0], 4.0, 96))   # as trained
    p = float(student.predict(crops["crops_96"])[0])
    with torch.no_grad():
        lbp = float(texture_model(recipe, TextureFit(recipe, ds.contexts[~recipe.held_out(ds.groups)],
                                                     ds.labels[~recipe.held_out(ds.groups)]).fit())
                    .logits(torch.from_numpy(crops["crops"]))[0, 0])
    w = [b["weight"] for b in model.meta["branches"]]
    want = 1 / (1 + np.exp(-(w[0] * lbp + w[1] * np.log(p / (1 - p)))))
    assert float(model.predict(crops)[0]) == pytest.approx(want, abs=2e-3)


def test_a_recipe_refuses_a_network_it_cannot_fuse(small, tmp_path, monkeypatch):
    """A network the recipe does not train must be there, and decide at 0.5 (its logit is its vote),
    both checked before the fit; and ``train_network`` refuses a recipe that trains none."""
    import json

    import onnx

    from marginlive.errors import ModelError
    from marginlive.liveness.runtime import META_KEY
    from marginlive.training import recipes
    from marginlive.training.recipes import COMPONENTS, FAST, build, train_network
    ds = _tiny_dataset(small)

    def no_fit(*a, **kw):
        raise AssertionError("the texture fit ran before the network was checked")
    monkeypatch.setattr(recipes, "TextureFit", no_fit)
    with pytest.raises(ModelError, match="missing"):
        build(FAST, ds, tmp_path / "m.onnx", components=tmp_path / "empty", log=lambda m: None)
    with pytest.raises(ModelError, match="trains no network"):
        train_network(FAST, ds, tmp_path / "net")
    m = onnx.load(str(COMPONENTS / FAST.network_file))
    entry = next(p for p in m.metadata_props if p.key == META_KEY)
    entry.value = json.dumps({**json.loads(entry.value), "threshold": 0.6})
    (tmp_path / "parts").mkdir()
    onnx.save(m, str(tmp_path / "parts" / FAST.network_file))
    recipe = FusionRecipe(**{**FAST.__dict__, "augment": None})
    with pytest.raises(ModelError, match="must decide at P\\(real\\) 0.5"):
        build(recipe, ds, tmp_path / "m.onnx", components=tmp_path / "parts", log=lambda m: None)
    assert not (tmp_path / "m.onnx").exists()


def test_a_blurred_background_leaves_the_person_and_the_padding():
    from marginlive.training.scene import background_blurred_context
    rng = np.random.default_rng(0)
    x = rng.integers(1, 256, (256, 256, 3), dtype=np.uint8)
    x[:, :40] = 0                                                  # the frame's edge: black padding
    person = np.zeros((256, 256, 1), np.float32)
    person[64:256, 80:176] = 1.0
    out = background_blurred_context(x, person, rng)
    inside = (slice(72, 256), slice(88, 168))                      # the person, away from the feathered edge
    assert np.array_equal(out[inside], x[inside]) and not out[:, :40].any()
    room = out[:, 48:72].astype(float)                             # beside the person: smooth now
    assert np.abs(np.diff(room, axis=0)).mean() < 0.3 * np.abs(np.diff(x[:, 48:72].astype(float), axis=0)).mean()


def test_blurred_copies_come_last_one_per_crop_of_either_label(small):
    x, y = small
    more, n = _with_more_copies(x, y, background_blur=1.0)
    assert sorted(more.source[n:].tolist()) == list(range(len(x)))   # attacks too: a camera effect blurs both
    assert (more.labels[n:] == y[more.source[n:]]).all() and (more.room[n:] == -1).all()
    both, m = _with_more_copies(x, y, screen_behind=1.0, background_blur=1.0)
    screens, _ = _with_more_copies(x, y, screen_behind=1.0)
    assert np.array_equal(both.contexts[:len(screens.labels)], screens.contexts)   # after the screen copies
