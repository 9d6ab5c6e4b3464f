"""`marginlive train`: the paper's recipe (and stronger ones), reproducible and fast on a CPU."""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .._util import progress
from ..errors import DatasetError
from ..liveness.networks import build
from .augment import AugmentConfig, affine_batch, photometric
from .dataset import Dataset
from .distributed import process_group


@dataclass
class TrainConfig:
    """Defaults are the paper's recipe."""

    arch: str = "livenessnet"
    margin: float = 2.0
    size: int = 64
    epochs: int = 50
    batch: int = 8
    lr: float = 4e-4
    weight_decay: float = 0.0
    aug: str = "paper"           # paper | strong | none
    seed: int = 0
    threads: int = 2
    balance: bool = False        # weight classes (and datasets) equally in the loss
    device: str = "cpu"          # where to train ("cuda" where PyTorch has a GPU); the net comes back on the CPU

    def augment(self) -> AugmentConfig:
        try:
            return {"paper": AugmentConfig.paper, "strong": AugmentConfig.strong, "none": AugmentConfig.none}[self.aug]()
        except KeyError:
            raise DatasetError(f"unknown augmentation {self.aug!r} (paper, strong or none)") from None


@dataclass
class TrainResult:
    net: torch.nn.Module
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    val_scores: np.ndarray | None = None
    images_per_s: float = 0.0
    seconds: float = 0.0


def resolve_device(name: str) -> torch.device:
    """The torch device called ``name``, checked to take a tensor (DatasetError if not)."""
    try:
        dev = torch.device(name)
        if dev.type not in ("cpu", "cuda"):  # the two this code is run on
            raise RuntimeError("train on cpu or cuda")
        torch.empty(1, device=dev)
    except (RuntimeError, AssertionError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DatasetError(f"cannot train on device {name!r}: {first}") from None
    return dev


def seed_all(seed: int):
    torch.manual_seed(seed)
    np.random.seed(seed)


def _to_float(x_uint8_nhwc: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x_uint8_nhwc).permute(0, 3, 1, 2).float().div_(255.0)


@torch.no_grad()
def predict_crops(net: torch.nn.Module, crops: np.ndarray, batch: int = 512) -> np.ndarray:
    net.eval()
    out = [torch.sigmoid(net(_to_float(crops[i:i + batch]))).numpy() for i in range(0, len(crops), batch)]
    return np.concatenate(out) if out else np.zeros((0,), np.float32)


def train(ds: Dataset, cfg: TrainConfig, train_idx=None, val_idx=None, show_progress: bool = True,
          log=print, targets: np.ndarray | None = None) -> TrainResult:
    """Train on ``train_idx`` (default: all), validate on ``val_idx`` (may be None/empty).
    Keeps the checkpoint with the lowest validation loss (the last epoch without validation).
    ``targets``: (N,) floats in [0, 1] over the whole ``ds`` to fit instead of its labels (a
    teacher's P(real), for distillation; binary cross-entropy takes soft targets as they are)."""
    if cfg.margin <= 0:
        raise DatasetError(f"margin must be > 0, got {cfg.margin}")
    if cfg.epochs < 1 or cfg.batch < 1:
        raise DatasetError("epochs and batch must be >= 1")
    train_idx = np.arange(len(ds)) if train_idx is None else np.asarray(train_idx)
    tr = ds.subset(train_idx)
    tr.check_trainable()
    aug = cfg.augment()
    dev = resolve_device(cfg.device)
    group = process_group(dev.type)
    dev = group.device(dev)
    torch.set_num_threads(max(1, cfg.threads // group.world))   # the processes share the cores
    seed_all(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)  # the batch order (and, on the CPU, augmentation)
    aug_gen = gen if dev.type == "cpu" else torch.Generator(device=dev).manual_seed(cfg.seed)
    net = build(cfg.arch, cfg.size).to(dev, memory_format=torch.channels_last)  # ~20% faster on CPU
    cells = group.wrap(_Cells(net))      # every process trains the same weights (DDP under torchrun)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    wide_np, frac = tr.wide(cfg.margin, size=2 * cfg.size)
    wide = torch.from_numpy(wide_np).permute(0, 3, 1, 2).contiguous().to(dev)  # uint8, decoded once
    soft = None if targets is None else np.asarray(targets, np.float32)[train_idx]
    if soft is not None and not (np.all(soft >= 0) and np.all(soft <= 1)):
        raise DatasetError("distillation targets must lie in [0, 1]")
    y = torch.from_numpy(tr.labels if soft is None else soft).float().to(dev)
    w = (_sample_weights(tr) if cfg.balance else torch.ones(len(tr))).to(dev)
    has_val = val_idx is not None and len(val_idx) > 0
    if has_val:
        va = ds.subset(val_idx)
        xv = _to_float(va.crops(cfg.margin, cfg.size)).to(dev)
        yv = torch.from_numpy(va.labels).float().to(dev)

    res = TrainResult(net)
    best_loss, best_state = float("inf"), None
    t0, seen = time.perf_counter(), 0
    n = len(tr)
    for epoch in range(1, cfg.epochs + 1):
        net.train()
        perm = torch.randperm(n, generator=gen)
        tot, correct = 0.0, 0
        batches = range(0, n, cfg.batch)
        bar = progress(batches, total=len(batches), desc=f"epoch {epoch}/{cfg.epochs}", unit="batch",
                       disable=not show_progress)
        for i in bar:
            batch = perm[i:i + cfg.batch]
            # batch norm needs two samples in each process; every process decides on the whole
            # batch, so none waits forever for the gradients of one that skipped it
            if len(batch) < 2 * group.world:
                continue
            idx = batch[group.rank::group.world]   # this process's share of the batch
            idx = idx.to(dev)
            xb = affine_batch(wide[idx].float().div_(255.0), cfg.size, frac, aug, aug_gen)
            xb = photometric(xb, aug, aug_gen)
            logit, loss_each = _logits_and_loss(cells, xb.contiguous(memory_format=torch.channels_last), y[idx])
            loss = (loss_each * w[idx]).sum() / w[idx].sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot += float(loss_each.detach().sum())
            correct += int(((logit > 0) == (y[idx] > 0.5)).sum())
            seen += len(idx)
        h = {"epoch": epoch, "loss": tot / n, "acc": correct / n}
        if has_val:
            net.eval()
            with torch.no_grad():
                lv = torch.cat([net(xv[j:j + 512]) for j in range(0, len(xv), 512)])
            h["val_loss"] = float(F.binary_cross_entropy_with_logits(lv, yv))
            h["val_acc"] = float(((lv > 0).float() == yv).float().mean())
            if h["val_loss"] < best_loss:
                best_loss, best_state, res.best_epoch = h["val_loss"], copy.deepcopy(net.state_dict()), epoch
        res.history.append(h)
        if show_progress:
            log(" ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in h.items()))
    res.seconds = time.perf_counter() - t0
    res.images_per_s = seen / res.seconds if res.seconds > 0 else 0.0
    if best_state is not None:
        net.load_state_dict(best_state)
    else:
        res.best_epoch = cfg.epochs
    net.cpu().eval()
    if has_val:
        res.val_scores = predict_crops(net, va.crops(cfg.margin, cfg.size))
    return res


class _Cells(torch.nn.Module):
    """The net's training output, (N, cells) logits: one per image, or every cell of the map of a
    net with ``maps`` (pixel-wise supervision). One module, so that DDP syncs whichever it is."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.maps(x).flatten(1) if hasattr(self.net, "maps") else self.net(x)[:, None]


def _logits_and_loss(cells: torch.nn.Module, x: torch.Tensor, y: torch.Tensor):
    """(image logits, per-image loss): every cell is trained with the image's label (or soft
    target); the image logit is the cells' mean."""
    m = cells(x)
    loss = F.binary_cross_entropy_with_logits(m, y[:, None].expand_as(m), reduction="none").mean(1)
    return m.mean(1), loss


def _sample_weights(ds: Dataset) -> torch.Tensor:
    """Each (dataset, label) cell weighs the same in total: no source or class dominates."""
    keys = [f"{d}|{l}" for d, l in zip(ds.datasets, ds.labels)]
    uniq, counts = np.unique(keys, return_counts=True)
    c = dict(zip(uniq, counts))
    w = np.array([len(keys) / (len(uniq) * c[k]) for k in keys], np.float32)
    return torch.from_numpy(w)


def save_curves(history: list[dict], path, title: str = "") -> None:
    """Loss and accuracy per epoch, train and test (the paper's Figure 7)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .._util import atomic_path
    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, style in (("loss", "-"), ("val_loss", "-"), ("acc", "--"), ("val_acc", "--")):
        if key in history[0]:
            ax.plot(ep, [h[key] for h in history], style, label={"loss": "train_loss", "acc": "train_acc"}.get(key, key))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss / accuracy")
    ax.set_title(title or "Training loss and accuracy")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)

