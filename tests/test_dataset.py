import numpy as np
import pytest

from marginlive.errors import DatasetError
from marginlive.training.dataset import Dataset, group_kfold, group_split


def fake_ds(n_groups=8, per=10, seed=0):
    rng = np.random.default_rng(seed)
    groups = np.array([f"g{i}" for i in range(n_groups) for _ in range(per)], dtype=object)
    labels = np.array([(i // per + j) % 2 for i in range(n_groups * per) for j in [0]])
    labels = np.array([(k % 2) for k in range(n_groups * per)])
    ctx = rng.integers(0, 256, (len(groups), 256, 256, 3), dtype=np.uint8)
    return Dataset(ctx, labels, groups, np.where(labels == 0, "screen", ""), np.array(["d"] * len(groups), dtype=object),
                   [f"p{i}" for i in range(len(groups))])


def test_group_kfold_is_disjoint_and_covers_everything():
    ds = fake_ds(10)
    folds = group_kfold(ds.groups, 4, seed=1)
    assert sorted(np.concatenate(folds).tolist()) == list(range(len(ds)))
    sets = [set(ds.groups[f]) for f in folds]
    for i in range(4):
        for j in range(i + 1, 4):
            assert not sets[i] & sets[j]
    with pytest.raises(DatasetError):
        group_kfold(ds.groups, 11)


def test_group_split_75_25_disjoint_with_both_classes():
    ds = fake_ds(8)
    tr, te = group_split(ds.groups, ds.labels, 0.25, seed=0)
    assert not set(ds.groups[tr]) & set(ds.groups[te])
    assert 0.2 <= len(te) / len(ds) <= 0.4
    assert set(ds.labels[te]) == {0, 1} and set(ds.labels[tr]) == {0, 1}
    with pytest.raises(DatasetError):
        group_split(np.array(["a"] * 5, dtype=object), np.array([0, 1, 0, 1, 0]))


def test_fold_excludes_synthetic_copies_of_held_out_groups():
    from marginlive.training.cv import fold_train_indices
    from marginlive.training.synth import add_synthetic_screens
    ds = add_synthetic_screens(fake_ds(4), 1.0, seed=0)
    assert (ds.datasets == "synthetic").sum() == 20 and set(ds.attacks[ds.datasets == "synthetic"]) == {"synthetic-screen"}
    test = np.flatnonzero((ds.groups == "g1") & (ds.datasets == "d"))
    tr = fold_train_indices(ds, test)
    assert "g1" not in set(ds.groups[tr])
    assert len(tr) == len(ds) - (ds.groups == "g1").sum()


def test_synthetic_attack_is_a_context_crop_with_the_face_centred():
    from marginlive.training.synth import render_screen_attack
    rng = np.random.default_rng(0)
    face = np.full((256, 256, 3), 200, np.uint8)
    scene = np.full((256, 256, 3), 30, np.uint8)
    out = render_screen_attack(face, scene, rng)
    assert out.shape == (256, 256, 3) and out.dtype == np.uint8
    assert out[120:136, 120:136].mean() > 120   # the centre shows the screen (the face)
    assert out[:8, :8].mean() < 120 or out[-8:, -8:].mean() < 120  # the corners show the scene or bezel


def test_augment_shapes_and_identity():
    torch = pytest.importorskip("torch")
    from marginlive.training.augment import AugmentConfig, affine_batch, photometric
    x = torch.rand(4, 3, 128, 128)
    g = torch.Generator().manual_seed(0)
    y = affine_batch(x, 64, 0.5, AugmentConfig.paper(), g)
    assert y.shape == (4, 3, 64, 64)
    # no augmentation: exactly the centre half of the wide crop (1:1 here)
    c = affine_batch(x, 64, 0.5, AugmentConfig.none(), g, train=False)
    assert torch.allclose(c, x[:, :, 32:96, 32:96], atol=1e-5)
    # and at half resolution: a 2x area-like downsample of the centre
    c2 = affine_batch(x, 32, 0.5, AugmentConfig.none(), g, train=False)
    assert torch.allclose(c2, torch.nn.functional.avg_pool2d(x[:, :, 32:96, 32:96], 2), atol=1e-5)
    p = photometric(y, AugmentConfig.strong(), g)
    assert p.shape == y.shape and p.min() >= 0 and p.max() <= 1
