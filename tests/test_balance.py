"""Every collection alike (training/balance.py): the weights, and the texture fit that uses them."""
from dataclasses import replace

import numpy as np
import pytest
from conftest import bezel_views

from marginlive.training.balance import CellScale, balance_units, cell_weights, scaled_cell_weights
from marginlive.training.recipes import DEFAULT, TextureFit


def test_every_collection_and_label_weighs_alike():
    units = balance_units(np.array(["webcam-replay/A__r"] * 5 + ["webcam-replay/B__r"] * 2 + ["nuaa-print/0001", "nuaa-print/0002"]),
                          np.array(["webcam-replay"] * 7 + ["nuaa-print"] * 2))
    assert units.tolist() == ["webcam-replay/A__r"] * 5 + ["webcam-replay/B__r"] * 2 + ["nuaa-print"] * 2
    labels = np.array([1, 1, 1, 1, 0, 1, 0, 1, 0])
    w = cell_weights(units, labels)
    assert w.mean() == pytest.approx(1.0)
    totals = [w[(units == u) & (labels == y)].sum() for u in set(units) for y in (0, 1)]
    assert totals == pytest.approx([totals[0]] * len(totals))
    assert cell_weights(np.arange(9).astype(str), labels) == pytest.approx(np.ones(9))   # a crop each: all alike


def test_a_scaled_cell_weighs_its_factor_of_the_others():
    units = np.array(["a"] * 4 + ["b"] * 2 + ["c"] * 3)
    labels = np.array([1, 1, 0, 0, 1, 0, 1, 0, 0])
    w = scaled_cell_weights(units, labels, (CellScale("c", 0, 1 / 3),))
    assert w.mean() == pytest.approx(1.0)
    cell = lambda u, y: w[(units == u) & (labels == y)].sum()
    assert cell("c", 0) == pytest.approx(cell("a", 1) / 3)
    assert [cell("a", 0), cell("b", 1), cell("b", 0), cell("c", 1)] == pytest.approx([cell("a", 1)] * 4)
    alike = cell_weights(units, labels)
    assert scaled_cell_weights(units, labels) == pytest.approx(alike)
    assert scaled_cell_weights(units, labels, (CellScale("absent", 0, 5.0),)) == pytest.approx(alike)


def _contexts(n, rng):
    """``n`` crops, live (smooth) and attack (a bezel round the face) in turn, and their labels."""
    live, attacks = bezel_views(n // 2, rng, False), bezel_views(n // 2, rng, True)
    return np.stack([v for pair in zip(live, attacks) for v in pair]), np.array([1, 0] * (n // 2))


def test_the_texture_fit_weighs_collections_alike_where_the_recipe_says():
    x, y = _contexts(16, np.random.default_rng(0))
    recipe = replace(DEFAULT, augment=None)
    assert recipe.balance_collections and DEFAULT.balance_collections
    with pytest.raises(ValueError, match="collections alike"):
        TextureFit(recipe, x, y)

    def weights(units, balanced=True):
        scales = recipe.texture_scales if balanced else ()
        r = replace(recipe, balance_collections=balanced, texture_scales=scales)
        return np.concatenate([b.weight.detach().numpy() for b in TextureFit(r, x, y, units).fit()])

    alone = np.arange(len(y)).astype(str)          # every crop its own collection: crop by crop
    assert np.allclose(weights(alone), weights(None, balanced=False), atol=1e-6)
    uneven = np.array(["big"] * 12 + ["small"] * 4, object)
    assert not np.allclose(weights(uneven), weights(alone), atol=1e-4)   # the small collection counts more


def test_the_texture_fit_weighs_a_scaled_cell_less():
    """``texture_scales``: a cell weighed a third moves the fit; a cell the data lacks leaves it as it was."""
    x, y = _contexts(16, np.random.default_rng(1))
    units = np.array(["big"] * 8 + ["small"] * 8, object)
    base = replace(DEFAULT, augment=None, texture_scales=())

    def fitted(scales):
        r = replace(base, texture_scales=scales)
        return np.concatenate([b.weight.detach().numpy() for b in TextureFit(r, x, y, units).fit()])

    assert np.allclose(fitted((CellScale("absent", 0, 1 / 3),)), fitted(()), atol=1e-6)
    assert not np.allclose(fitted((CellScale("small", 0, 1 / 3),)), fitted(()), atol=1e-4)
    assert DEFAULT.texture_scales == (CellScale("celeba-spoof-sample", 0, 1 / 3),)
    with pytest.raises(ValueError, match="balance_collections"):   # scales on a fit that weighs crops alike
        replace(base, balance_collections=False, texture_scales=(CellScale("small", 0, 2),))


def test_a_dataset_knows_each_crops_collection():
    from marginlive.training.dataset import Dataset
    groups = np.array(["webcam-replay/A__r", "webcam-replay/B__r", "nuaa-print/0001", "nuaa-print/0002"])
    datasets = np.array(["webcam-replay", "webcam-replay", "nuaa-print", "nuaa-print"])
    ds = Dataset(np.zeros((4, 8, 8, 3), np.uint8), np.array([1, 0, 1, 0]), groups, np.array([""] * 4), datasets,
                 ["a", "b", "c", "d"])
    assert ds.units.tolist() == ["webcam-replay/A__r", "webcam-replay/B__r", "nuaa-print", "nuaa-print"]


def test_training_balance_weighs_each_dataset_and_label_alike():
    """``TrainConfig.balance``: the network's loss weights, per (dataset, label) cell, not per group."""
    from marginlive.training.dataset import Dataset
    from marginlive.training.train import _sample_weights
    datasets = np.array(["webcam-replay"] * 6 + ["nuaa-print"] * 2)
    labels = np.array([1, 1, 1, 1, 0, 0, 1, 0])
    groups = np.array(["webcam-replay/A__r", "webcam-replay/B__r"] * 3 + ["nuaa-print/0001"] * 2)
    ds = Dataset(np.zeros((8, 8, 8, 3), np.uint8), labels, groups, np.array([""] * 8), datasets, list("abcdefgh"))
    w = _sample_weights(ds).numpy()
    cells = {(d, y): w[(datasets == d) & (labels == y)].sum() for d, y in set(zip(datasets, labels))}
    assert np.allclose(list(cells.values()), 2.0) and np.isclose(w.mean(), 1.0)
