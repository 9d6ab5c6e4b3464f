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
from .averaging import WeightAverage, reestimate_batch_norm
from .balance import cell_weights
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
    average_from: int = 0        # k >= 1: the result is the mean of the weights after epochs k..epochs (averaging.py)

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
    if not 0 <= cfg.average_from <= cfg.epochs:
        raise DatasetError(f"average_from must lie between 0 (off) and the epochs ({cfg.epochs}), got {cfg.average_from}")
    train_idx = np.arange(len(ds)) if train_idx is None else np.asarray(train_idx)
    soft = None if targets is None else np.asarray(targets, np.float32)[train_idx]
    if soft is not None and not (np.all(soft >= 0) and np.all(soft <= 1)):
        raise DatasetError("distillation targets must lie in [0, 1]")
    fit = _Fit(ds.subset(train_idx), cfg, soft)
    val = _Validation(ds.subset(val_idx), cfg, fit.dev) if val_idx is not None and len(val_idx) else None

    res = TrainResult(fit.net)
    best_loss, best_state = float("inf"), None
    average = WeightAverage() if cfg.average_from else None
    t0 = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        h = {"epoch": epoch, **fit.epoch(f"epoch {epoch}/{cfg.epochs}", show_progress)}
        if average is not None and epoch >= cfg.average_from:
            average.update(fit.net)
        if val is not None:
            h.update(val.score(fit.net))
            if average is None and h["val_loss"] < best_loss:
                best_loss, best_state, res.best_epoch = h["val_loss"], copy.deepcopy(fit.net.state_dict()), epoch
        res.history.append(h)
        if show_progress:
            log(" ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in h.items()))
    res.seconds = time.perf_counter() - t0
    res.images_per_s = fit.seen / res.seconds if res.seconds > 0 else 0.0
    if average is not None:   # the average is the result; validation only watched the run
        average.load_into(fit.net)
        plain = ds.subset(train_idx).crops(cfg.margin, cfg.size)
        reestimate_batch_norm(fit.net, (_to_float(plain[i:i + 256]) for i in range(0, len(plain), 256)))
    if best_state is not None:
        fit.net.load_state_dict(best_state)
    else:
        res.best_epoch = cfg.epochs
    fit.net.cpu().eval()
    if val is not None:
        res.val_scores = predict_crops(fit.net, val.crops)
    return res


class _Fit:
    """One training run's state: the net on its device, its optimiser, the training crops decoded
    once (uint8, wide enough for the affine augmentation) and their targets and loss weights."""

    def __init__(self, tr: Dataset, cfg: TrainConfig, soft: np.ndarray | None):
        tr.check_trainable()
        self.cfg, self.aug = cfg, cfg.augment()
        dev = resolve_device(cfg.device)
        self.group = process_group(dev.type)
        self.dev = dev = self.group.device(dev)
        torch.set_num_threads(max(1, cfg.threads // self.group.world))   # the processes share the cores
        seed_all(cfg.seed)
        self.gen = torch.Generator().manual_seed(cfg.seed)  # the batch order (and, on the CPU, augmentation)
        self.aug_gen = self.gen if dev.type == "cpu" else torch.Generator(device=dev).manual_seed(cfg.seed)
        self.net = build(cfg.arch, cfg.size).to(dev, memory_format=torch.channels_last)  # ~20% faster on CPU
        self.cells = self.group.wrap(_Cells(self.net))  # every process trains the same weights (DDP under torchrun)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        wide_np, self.frac = tr.wide(cfg.margin, size=2 * cfg.size)
        self.wide = torch.from_numpy(wide_np).permute(0, 3, 1, 2).contiguous().to(dev)
        self.y = torch.from_numpy(tr.labels if soft is None else soft).float().to(dev)
        self.w = (_sample_weights(tr) if cfg.balance else torch.ones(len(tr))).to(dev)
        self.n, self.seen = len(tr), 0

    def epoch(self, desc: str, show_progress: bool) -> dict:
        """One pass over the training crops in a new order: {"loss", "acc"} over them."""
        cfg, group = self.cfg, self.group
        self.net.train()
        perm = torch.randperm(self.n, generator=self.gen)
        tot, correct = 0.0, 0
        batches = range(0, self.n, cfg.batch)
        for i in progress(batches, total=len(batches), desc=desc, unit="batch", disable=not show_progress):
            batch = perm[i:i + cfg.batch]
            # batch norm needs two samples in each process; every process decides on the whole
            # batch, so none waits forever for the gradients of one that skipped it
            if len(batch) < 2 * group.world:
                continue
            idx = batch[group.rank::group.world].to(self.dev)   # this process's share of the batch
            xb = affine_batch(self.wide[idx].float().div_(255.0), cfg.size, self.frac, self.aug, self.aug_gen)
            xb = photometric(xb, self.aug, self.aug_gen)
            logit, loss_each = _logits_and_loss(self.cells, xb.contiguous(memory_format=torch.channels_last),
                                                self.y[idx])
            loss = (loss_each * self.w[idx]).sum() / self.w[idx].sum()
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            tot += float(loss_each.detach().sum())
            correct += int(((logit > 0) == (self.y[idx] > 0.5)).sum())
            self.seen += len(idx)
        return {"loss": tot / self.n, "acc": correct / self.n}


class _Validation:
    """The validation crops (``crops``: uint8, no augmentation; ``x``: as the net reads them, on the
    training device) and their labels."""

    def __init__(self, va: Dataset, cfg: TrainConfig, dev: torch.device):
        self.crops = va.crops(cfg.margin, cfg.size)
        self.x = _to_float(self.crops).to(dev)
        self.y = torch.from_numpy(va.labels).float().to(dev)

    @torch.no_grad()
    def score(self, net: torch.nn.Module) -> dict:
        """{"val_loss", "val_acc"} of ``net`` on these crops."""
        net.eval()
        lv = torch.cat([net(self.x[j:j + 512]) for j in range(0, len(self.x), 512)])
        return {"val_loss": float(F.binary_cross_entropy_with_logits(lv, self.y)),
                "val_acc": float(((lv > 0).float() == self.y).float().mean())}


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
    return torch.from_numpy(cell_weights(ds.datasets, ds.labels).astype(np.float32))


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

