"""Weight averaging (training/averaging.py) and train's ``average_from``."""
import numpy as np
import pytest
import torch
from torch import nn

from marginlive.errors import DatasetError
from marginlive.training.averaging import WeightAverage, reestimate_batch_norm


def _net():
    return nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5),
                         nn.Conv2d(4, 2, 1), nn.BatchNorm2d(2))


def test_average_is_the_mean_of_the_weights_and_keeps_the_step_counter():
    torch.manual_seed(0)
    nets = [_net() for _ in range(3)]
    for i, n in enumerate(nets):
        n[1].num_batches_tracked.fill_(10 * (i + 1))
    avg = WeightAverage()
    for n in nets:
        avg.update(n)
    target = _net()
    avg.load_into(target)
    expected = torch.stack([n[0].weight for n in nets]).mean(0)
    assert torch.allclose(target[0].weight, expected, atol=1e-6)
    assert torch.allclose(target[1].running_var, torch.stack([n[1].running_var for n in nets]).mean(0))
    assert int(target[1].num_batches_tracked) == 0        # the target's own counter, not an average
    with pytest.raises(ValueError, match="no weights averaged"):
        WeightAverage().load_into(target)


def test_batch_norm_statistics_become_the_mean_over_the_crops():
    torch.manual_seed(1)
    net = _net().eval()
    crops = np.random.default_rng(0).integers(0, 256, (64, 12, 12, 3), dtype=np.uint8)
    momentum = net[1].momentum
    x = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255
    reestimate_batch_norm(net, x.split(16))
    with torch.no_grad():
        feats = net[0](x)
    assert torch.allclose(net[1].running_mean, feats.mean((0, 2, 3)), atol=1e-5)
    assert torch.allclose(net[1].running_var, feats.var((0, 2, 3)), rtol=0.05)
    behind_dropout = net[5].running_mean.clone()
    reestimate_batch_norm(net, x.split(16))   # dropout off, as at inference: the same statistics again
    assert torch.equal(net[5].running_mean, behind_dropout)
    reestimate_batch_norm(net, [])                # no batches: the statistics stay
    assert torch.equal(net[5].running_mean, behind_dropout)
    assert not net.training and net[1].momentum == momentum      # mode and momentum restored


def _tiny_dataset():
    from conftest import bezel_views

    from marginlive.training.dataset import Dataset
    rng = np.random.default_rng(2)
    x = np.concatenate([bezel_views(8, rng, False, rect=(40, 30, 216, 226), shade=15, thickness=14),
                        bezel_views(8, rng, True, rect=(40, 30, 216, 226), shade=15, thickness=14)])
    n = len(x)
    return Dataset(x, np.array([0] * 8 + [1] * 8), np.array([f"g{i % 4}" for i in range(n)], object),
                   np.array([""] * n, object), np.array(["t"] * n, object), [""] * n)


def test_averaging_the_last_epoch_alone_gives_its_weights_and_more_epochs_others():
    from marginlive.training.train import TrainConfig, train
    ds = _tiny_dataset()
    cfg = dict(arch="minires", margin=4.0, size=32, epochs=3, batch=8, lr=3e-3, aug="strong", threads=1)
    last = train(ds, TrainConfig(**cfg), show_progress=False).net.state_dict()
    one = train(ds, TrainConfig(**cfg, average_from=3), show_progress=False).net.state_dict()
    three = train(ds, TrainConfig(**cfg, average_from=1), show_progress=False).net.state_dict()
    conv = "features.0.weight"
    assert torch.equal(last[conv], one[conv])           # the same run: the mean of one epoch is that epoch
    assert not torch.allclose(last[conv], three[conv])
    with pytest.raises(DatasetError, match="average_from"):
        train(ds, TrainConfig(**cfg, average_from=4), show_progress=False)
