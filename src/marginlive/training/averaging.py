"""Weight averaging over the last epochs of one run (stochastic weight averaging, SWA).

A small network's last-epoch weights are one point of a walk that keeps moving at a constant
learning rate, and which new cameras it turns away moves with that point. The mean of the
weights after several epochs sits in the middle of the walk. Measured on the fast model's student
(docs/research/2026-12-04-student-sweep.md): paired with the last epoch of the same run, it ranked
the never-seen rows better in eight runs of ten, but it neither narrowed the spread over sixteen
seeds nor fixed the operating point, so it is an option (``TrainConfig.average_from``), not a
default. One network, so inference costs nothing more.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable

import torch
from torch import nn


class WeightAverage:
    """Running mean of a network's floating-point weights and buffers, one ``update`` per epoch.

    Integer buffers (batch norm's step counter) are not averaged: ``load_into`` keeps the net's own.
    """

    def __init__(self):
        self.mean: dict[str, torch.Tensor] | None = None
        self.count = 0

    def update(self, net: nn.Module) -> None:
        """Fold ``net``'s current state into the mean (kept in float32 on the net's device)."""
        state = {k: v.detach().float().clone() for k, v in net.state_dict().items() if v.is_floating_point()}
        self.count += 1
        if self.mean is None:
            self.mean = state
            return
        for k, v in state.items():
            self.mean[k] += (v - self.mean[k]) / self.count

    def load_into(self, net: nn.Module) -> None:
        """Give ``net`` the averaged weights (its batch-norm statistics then need ``reestimate_batch_norm``)."""
        if self.mean is None:
            raise ValueError("no weights averaged yet: call update after an epoch first")
        own = net.state_dict()
        net.load_state_dict({k: self.mean[k].to(v.dtype) if k in self.mean else v for k, v in own.items()})


@torch.no_grad()
def reestimate_batch_norm(net: nn.Module, batches: Iterable[torch.Tensor]) -> None:
    """Recompute every batch-norm layer's running mean and variance over ``batches``.

    batches: (B, C, H, W) float tensors, as the net reads them (training's plain crops, unaugmented),
    moved to the net's device here. The statistics become the plain mean over the batches (momentum
    None while they are gathered), since averaged weights are a network that no batch norm layer saw
    during training. Only the batch-norm layers run in training mode (dropout stays off, as at
    inference); the net's mode and each layer's momentum are restored. No batches: nothing changes.
    """
    layers = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    batches = iter(batches)
    first = next(batches, None)
    if not layers or first is None:
        return
    momenta, was_training = [m.momentum for m in layers], net.training
    net.eval()
    for m in layers:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    device = next(net.parameters()).device
    for x in itertools.chain([first], batches):
        net(x.to(device).contiguous(memory_format=torch.channels_last))
    for m, momentum in zip(layers, momenta):
        m.momentum = momentum
    net.train(was_training)
