"""A cheaper first stage for the fast model, fitted to do what the old one did (blockwise distillation).

The fast model (a ``MiniResNet``) starts with a 3x3 convolution at the full 96 px and a stride-2
block (the "stage": its output is 48x48x32). ``restem`` replaces that stage and trains the new one,
the rest of the network frozen (``GraphTail``), to reproduce the old stage's output and the model's
logit on 96 px crops of the shared frames and on camera-altered copies of them; then tunes the whole
network to the logit. It copies a function, no labels: where the stage is reproduced the new model
decides as the old one, instead of being a new student whose behaviour on new scenes depends on its
seed. Two kinds of new stage (``RestemConfig.stem``):

- ``pruned``: the old stage itself with only ``keep`` of its stem's channels (16 of 24), chosen
  greedily as those whose loss moves the logit least (``prune_order``), starting from their own
  weights. ONNX Runtime computes convolutions in blocks of 16 channels on AVX-512, so 24 channels
  cost as 32 and 16 half as much: the shipped fast model 14% cheaper a face. The stage is copied to
  1.3% of its variance, 98.8% of decisions kept on crops it never saw
  (``docs/research/2026-12-05-pruned-stem.md``).
- ``strided``: a ``StridedStem`` (a 5x5 convolution of stride 2, then a 1x1: no full-resolution
  map). Cheaper still, but it copies the stage only to 16-28% of its variance, 92.6% of decisions
  kept (``docs/research/2026-12-03-strided-stem.md``).

Neither is what ``make model-fast`` fuses: each moves some never-seen rows by several points.

``marginlive restem MODEL DATASET --sources ../shared/data --stem pruned --out FILE``.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelError
from ..evaluation.shifts import jpeg

# the tensor the exported MiniResNet writes after its first stride-2 block (torch.onnx's naming)
STAGE_SUFFIX = "features.3/act/Relu_output_0"


@dataclass(frozen=True)
class RestemConfig:
    """Options of ``restem_inputs`` and ``fit``.

    stem: the new stage's kind, ``"strided"`` (default) or ``"pruned"`` (module docstring).
    keep: pruned: the stem channels kept (16).
    hidden / kernel: strided: a ``kernel`` x ``kernel`` convolution of stride 2 to ``hidden``
    channels then a 1x1 to the replaced stage's (48, 5: 5x5 is the replaced stage's receptive field;
    64 channels or a second 1x1 cost a batch of 8 its margin under 0.4 ms a face).
    jitter / shifted: crops per source frame besides the plain one, the face box moved and resized
    by about a tenth (2), and from the frame as another camera or scene shows it (2; a portrait
    phone, a close-up, the frame's edge, motion blur, a tilt, a dim room, 3x or a third to half the
    resolution, a phone in the hand, a lamp on one side, a plain wall behind the person, or a
    camera's processing: sharpening, tone mapping, a wide lens, dark corners, grain, flicker bands,
    the background blurred). A copy needs no labels, so the more kinds of picture it is fitted on,
    the more of the old stage's behaviour it keeps.
    steps, lr: the stem alone, the rest frozen, AdamW with a one-cycle schedule (1200, 3e-3): its
    loss the stage's squared error divided by the stage's variance, plus ``logit_weight`` (0.05)
    times the logit's. tune_steps, tune_lr, tail_lr: then the whole network (2000, 1e-3 for the stem,
    3e-4 for the rest), so that the rest absorbs what the stem cannot reproduce: the logit's squared
    error, weighted up to 4x near the model's threshold where a difference changes a decision, plus
    ``stage_weight`` (0.2) times the stage's. batch (128). camera: share of batches altered as
    another sensor would (gain, white balance, gamma, noise, blur or JPEG; 0.85). seed (0).
    """
    stem: str = "strided"
    keep: int = 16
    hidden: int = 48
    kernel: int = 5
    jitter: int = 2
    shifted: int = 2
    steps: int = 1200
    lr: float = 3e-3
    logit_weight: float = 0.05
    tune_steps: int = 2000
    tune_lr: float = 1e-3
    tail_lr: float = 3e-4
    stage_weight: float = 0.2
    batch: int = 128
    camera: float = 0.85
    seed: int = 0


class StridedStem(nn.Module):
    """Float (N, 3, S, S) in [0, 1] -> (N, ``out``, S/2, S/2) after ReLU, as the replaced stage's output."""

    def __init__(self, out: int = 32, hidden: int = 48, kernel: int = 5):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, hidden, kernel, 2, kernel // 2), nn.ReLU(inplace=True),
                                 nn.Conv2d(hidden, out, 1), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.net(x)


# the convolutions of the stage a pruned stem keeps (torch.onnx's naming of an exported MiniResNet):
# the stem, the block's depthwise and pointwise layers, its strided skip
STAGE_CONVS = ("features.0/Conv", "features.3/body/body.0/Conv", "features.3/body/body.3/Conv",
               "features.3/skip/skip.0/Conv")


def stage_weights(model) -> list[tuple[np.ndarray, np.ndarray]]:
    """(weight, bias) of each of ``STAGE_CONVS`` in ``model`` (batch norms folded in by the export)."""
    from onnx import numpy_helper
    init = {t.name: t for t in model.graph.initializer}
    out = []
    for suffix in STAGE_CONVS:
        node = next((n for n in model.graph.node if n.op_type == "Conv" and n.name.endswith(suffix)), None)
        if node is None or len(node.input) < 3:
            raise ModelError(f"no convolution {suffix} with a bias in this graph: not an exported MiniResNet")
        out.append(tuple(numpy_helper.to_array(init[v]).copy() for v in node.input[1:3]))
    return out


class PrunedStage(nn.Module):
    """The replaced stage itself with only the stem channels ``keep`` (indices into its stem's
    outputs), initialised with their weights: float (N, 3, S, S) in [0, 1] -> (N, C, S/2, S/2)."""

    def __init__(self, weights: list[tuple[np.ndarray, np.ndarray]], keep):
        super().__init__()
        k = torch.as_tensor(np.asarray(keep, np.int64))
        (ws, bs), (wd, bd), (wp, bp), (wk, bk) = (tuple(map(torch.from_numpy, w)) for w in weights)
        n, out = len(k), wp.shape[0]
        self.stem, self.depthwise = nn.Conv2d(3, n, 3, 1, 1), nn.Conv2d(n, n, 3, 2, 1, groups=n)
        self.pointwise, self.skip = nn.Conv2d(n, out, 1), nn.Conv2d(n, out, 1, 2)
        for layer, w, b in ((self.stem, ws[k], bs[k]), (self.depthwise, wd[k], bd[k]),
                            (self.pointwise, wp[:, k], bp), (self.skip, wk[:, k], bk)):
            layer.weight.data.copy_(w)
            layer.bias.data.copy_(b)

    def forward(self, x):
        s = F.relu(self.stem(x))
        return F.relu(self.pointwise(F.relu(self.depthwise(s))) + self.skip(s))


def prune_order(model, crops: np.ndarray, keep: int, log=print) -> list[int]:
    """The ``keep`` stem channels of ``model`` (an exported MiniResNet) to keep: greedily, the channel
    whose loss (with every channel already dropped) moves the logit least on uint8 ``crops`` (a few
    hundred) is dropped, until ``keep`` remain; ascending indices."""
    weights = stage_weights(model)
    kept = list(range(weights[0][0].shape[0]))
    if not 0 < keep <= len(kept):      # before the model is run on the crops
        raise ModelError(f"keep must be 1 to {len(kept)} stem channels, not {keep}")
    stage = stage_of(model)
    tail = GraphTail(model, stage)
    _, want = _Targets(model, stage, tail.logit)(crops)
    x = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        while len(kept) > keep:
            errs = [(float(((tail(PrunedStage(weights, [c for c in kept if c != ch])(x)) - want) ** 2).mean()), ch)
                    for ch in kept]
            err, ch = min(errs)
            kept.remove(ch)
            log(f"stem channel {ch} dropped: logit squared error {err:.3f}, {len(kept)} left")
    return kept


class GraphTail(nn.Module):
    """The part of an ONNX liveness graph after tensor ``start`` up to its logit (the input of the
    final Sigmoid), run as PyTorch operations on the graph's weights (parameters, frozen). Takes the
    stage's output (N, C, H, W), returns (N,) logits. Reads the operations an exported
    MiniResNet holds (Conv, Relu, Add, GlobalAveragePool, Flatten, Gemm, Squeeze)."""

    OPS = {"Conv", "Relu", "Add", "GlobalAveragePool", "Flatten", "Gemm", "Constant", "Squeeze", "Sigmoid"}

    def __init__(self, model, start: str):
        super().__init__()
        from onnx import helper, numpy_helper
        g = model.graph
        k = next(i for i, n in enumerate(g.node) if start in n.output)
        self.nodes = [(n.op_type, list(n.input), n.output[0], {a.name: helper.get_attribute_value(a)
                                                               for a in n.attribute}) for n in g.node[k + 1:]]
        unknown = {op for op, *_ in self.nodes} - self.OPS
        if unknown or self.nodes[-1][0] != "Sigmoid":
            raise ModelError(f"graph after {start} holds {', '.join(sorted(unknown)) or 'no final Sigmoid'}")
        self.start, self.logit = start, self.nodes[-1][1][0]
        self.keys = {}
        for t in g.initializer:  # frozen until ``fit`` tunes the whole network
            self.keys[t.name] = f"w{len(self.keys)}"
            w = torch.from_numpy(numpy_helper.to_array(t).copy())
            self.register_parameter(self.keys[t.name], nn.Parameter(w, requires_grad=False))

    def _run(self, op, x, a):
        if op == "Conv":
            bias = x[2] if len(x) > 2 else None
            return F.conv2d(x[0], x[1], bias, a.get("strides", 1), a.get("pads", [0, 0])[:2], 1, a.get("group", 1))
        if op == "Gemm":
            return x[0] @ (x[1].T if a.get("transB") else x[1]) + x[2]
        return {"Relu": lambda: F.relu(x[0]), "Add": lambda: x[0] + x[1], "Flatten": lambda: x[0].flatten(1),
                "GlobalAveragePool": lambda: x[0].mean((2, 3), keepdim=True),
                "Squeeze": lambda: x[0].squeeze(1), "Constant": lambda: None}[op]()

    def forward(self, x):
        env = {self.start: x}
        for op, inputs, out, a in self.nodes:
            if op == "Sigmoid":
                break
            env[out] = self._run(op, [env[v] if v in env else getattr(self, self.keys[v], None)
                                      for v in inputs], a)
        return env[self.logit]


class Restemmed(nn.Module):
    """``stem`` then ``tail``: float (N, 3, S, S) in [0, 1] -> (N,) logits (positive = real)."""

    def __init__(self, stem: nn.Module, tail: GraphTail):
        super().__init__()
        self.stem, self.tail = stem, tail

    def forward(self, x):
        return self.tail(self.stem(x))


def stage_of(model) -> str:
    """The name of the first stride-2 block's output in an exported MiniResNet; ModelError if none."""
    for n in model.graph.node:
        if n.output and n.output[0].endswith(STAGE_SUFFIX):
            return n.output[0]
    raise ModelError("restem takes a one-network MiniResNet model with a convolution stem (the fast "
                     "model's kind); this graph has no such first stage")


class _Targets:
    """The model's own outputs on uint8 crops: (the stage's output, the logit), by ONNX Runtime."""

    def __init__(self, model, stage: str, logit: str):
        import onnx
        import onnxruntime as ort
        m = onnx.ModelProto()
        m.CopyFrom(model)
        for name in (stage, logit):
            m.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 2
        self.session = ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def __call__(self, crops: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        _, stage, logit = self.session.run(None, {self.input: crops})
        return torch.from_numpy(stage), torch.from_numpy(logit)


def _jittered(box, rng, scale: float):
    from ..types import FaceBox
    w, h = box.x2 - box.x1, box.y2 - box.y1
    cx, cy = (box.x1 + box.x2) / 2 + rng.normal(0, 0.05) * w, (box.y1 + box.y2) / 2 + rng.normal(0, 0.05) * h
    k = float(np.exp(rng.uniform(-scale, scale)))
    return FaceBox(cx - w * k / 2, cy - h * k / 2, cx + w * k / 2, cy + h * k / 2)


def restem_inputs(rows: list[dict], margin: float, size: int, cfg: RestemConfig = RestemConfig(),
                  log=print) -> np.ndarray:
    """uint8 (N, size, size, 3) BGR crops at ``margin`` (as the runtime cuts them) of each row's
    frame (``distil.source_rows``): the plain crop, ``cfg.jitter`` with the box moved, and
    ``cfg.shifted`` of the frame shifted (``evaluation.shifts``), the face found again by BlazeFace."""
    from ..detect import create_detector
    from ..evaluation import processing, shifts
    cutout = shifts.PersonCutout()
    kinds = [shifts.portrait_phone, shifts.close_up, shifts.off_centre, shifts.motion_blur, shifts.tilted,
             shifts.dim_room, shifts.high_resolution, shifts.low_resolution, shifts.phone_in_hand, shifts.side_lit,
             lambda f, b, rng: shifts.new_room(f, b, rng, None, cutout),
             processing.sharpened, processing.tone_mapped, processing.wide_angle, processing.vignetted,
             processing.grain, processing.banded,
             lambda f, b, rng: processing.background_blurred(f, b, rng, None, cutout)]
    try:
        return _cut(rows, margin, size, cfg, kinds, create_detector(), log)
    finally:
        cutout.close()


def _cut(rows, margin, size, cfg, kinds, det, log) -> np.ndarray:
    from ..margin import crop_margin
    rng, out = np.random.default_rng(cfg.seed), []
    for i, r in enumerate(rows):
        frame = cv2.imread(str(r["frame"]), cv2.IMREAD_COLOR)
        if frame is None:
            continue
        out.append(crop_margin(frame, r["box"], margin, size))
        out += [crop_margin(frame, _jittered(r["box"], rng, 0.12), margin, size) for _ in range(cfg.jitter)]
        for _ in range(cfg.shifted):
            moved = kinds[rng.integers(len(kinds))](frame, r["box"], rng)
            faces = det.detect(moved)
            if faces:
                face = max(faces, key=lambda b: b.score)
                out.append(crop_margin(moved, _jittered(face, rng, 0.06), margin, size))
        if (i + 1) % 500 == 0:
            log(f"cut {i + 1}/{len(rows)} frames ({len(out)} crops)")
    return np.stack(out) if out else np.zeros((0, size, size, 3), np.uint8)


def _camera(x: np.ndarray, rng) -> np.ndarray:
    """uint8 (N, S, S, 3) crops as another sensor might give them: mirrored half the time, gain
    0.6-1.4 with white balance within 10%, an offset of up to 30 levels, gamma 0.7-1.4, half of
    them with noise of up to 8 levels; a fifth blurred, a quarter JPEG-compressed at 40-95."""
    n = len(x)
    x = np.where(rng.random((n, 1, 1, 1)) < 0.5, x[:, :, ::-1], x).astype(np.float32)
    x = x * rng.uniform(0.6, 1.4, (n, 1, 1, 1)) * rng.uniform(0.9, 1.1, (n, 1, 1, 3)) + rng.uniform(-30, 30, (n, 1, 1, 1))
    x = 255.0 * (np.clip(x, 0, 255) / 255.0) ** rng.uniform(0.7, 1.4, (n, 1, 1, 1))
    x += rng.normal(0, 1, x.shape) * rng.uniform(0, 8, (n, 1, 1, 1)) * (rng.random((n, 1, 1, 1)) < 0.5)
    x = np.clip(x + 0.5, 0, 255).astype(np.uint8)
    for j, u in enumerate(rng.random(n)):
        if u < 0.2:
            x[j] = cv2.GaussianBlur(x[j], (0, 0), rng.uniform(0.3, 1.2))
        elif u < 0.45:
            q = int(rng.integers(40, 96))
            x[j] = jpeg(x[j], q)
    return x


@dataclass
class Fitted:
    """The restemmed network, its mean losses (the stage's squared error relative to its variance,
    the logit's squared error) over the first tenth of the stem's steps and over as many last
    steps of the tuning, and the training time in seconds."""
    net: Restemmed
    first: tuple[float, float]
    last: tuple[float, float]
    seconds: float


def _phase(net, crops, targets, cfg: RestemConfig, rng, boundary: float | None, log) -> list[tuple[float, float]]:
    """One phase of ``fit``: the stem alone (``boundary`` None) or the whole network, its logit's
    error weighted near ``boundary`` (the model's threshold as a logit); per-step losses (the
    stage's relative squared error, the logit's squared error)."""
    tune = boundary is not None
    steps = cfg.tune_steps if tune else cfg.steps
    groups = [{"params": list(net.stem.parameters()), "lr": cfg.tune_lr if tune else cfg.lr}]
    if tune:
        groups.append({"params": [w.requires_grad_(True) for w in net.tail.parameters()], "lr": cfg.tail_lr})
    opt = torch.optim.AdamW(groups, weight_decay=1e-5 if not tune else 0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, [g["lr"] for g in groups], total_steps=steps,
                                                pct_start=max(0.05, 2.0 / steps))   # a warm-up of 2 steps at least
    losses = []
    for step in range(steps):
        x = crops[rng.integers(len(crops), size=cfg.batch)]
        x = _camera(x, rng) if rng.random() < cfg.camera else x
        want_stage, want_logit = targets(x)
        got_stage = net.stem(torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255.0)
        ls = F.mse_loss(got_stage, want_stage) / want_stage.var().clamp_min(1e-6)
        err = (net.tail(got_stage) - want_logit) ** 2
        if tune:   # a logit near the threshold decides; far from it, a difference changes nothing
            w = 1.0 + 3.0 * torch.exp(-0.5 * (want_logit - boundary) ** 2)
            ll = (w * err).sum() / w.sum()
            loss = ll + cfg.stage_weight * ls
        else:
            ll = err.mean()
            loss = ls + cfg.logit_weight * ll
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append((ls.item(), ll.item()))
        if (step + 1) % 250 == 0:
            log(f"{'whole network' if tune else 'stem'} step {step + 1}/{steps}: stage error {ls.item():.3f}, "
                f"logit error {ll.item():.3f}")
    for w in net.tail.parameters():
        w.requires_grad_(False)
    return losses


def _new_stage(model, crops, targets, cfg: RestemConfig, log) -> nn.Module:
    """The stage ``fit`` trains in place of the old one: ``cfg.stem``'s kind, before training."""
    if cfg.stem == "pruned":
        rng = np.random.default_rng(cfg.seed)
        sample = crops[np.sort(rng.choice(len(crops), min(len(crops), 400), replace=False))]
        return PrunedStage(stage_weights(model), prune_order(model, sample, cfg.keep, log))
    if cfg.stem == "strided":
        return StridedStem(targets(crops[:1])[0].shape[1], cfg.hidden, cfg.kernel)
    raise ModelError(f"unknown stem {cfg.stem!r}; choose strided or pruned")


def fit(model, crops: np.ndarray, cfg: RestemConfig = RestemConfig(), log=print, threshold: float = 0.5) -> Fitted:
    """Train a new first stage (``cfg.stem``'s kind) in place of that of ``model`` (an ``onnx.ModelProto``
    of a MiniResNet; ``threshold`` its P(real) threshold), then tune the whole network, on uint8
    ``crops`` (N, S, S, 3): each step a batch of them, altered as another camera would (``cfg.camera``
    of the batches), scored by the model itself (ONNX Runtime)."""
    if len(crops) == 0:
        raise ModelError("restem needs crops to fit on")
    stage = stage_of(model)
    tail = GraphTail(model, stage)
    targets = _Targets(model, stage, tail.logit)
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    net = Restemmed(_new_stage(model, crops, targets, cfg, log), tail)
    t0 = time.perf_counter()
    losses = _phase(net, crops, targets, cfg, rng, None, log)
    if cfg.tune_steps:
        losses += _phase(net, crops, targets, cfg, rng, float(np.log(threshold / (1 - threshold))), log)
    k = max(1, cfg.steps // 10)
    first, last = (tuple(float(v) for v in np.mean(part, 0)) for part in (losses[:k], losses[-k:]))
    return Fitted(net.eval(), first, last, time.perf_counter() - t0)


def meta(source: dict, cfg: RestemConfig, fitted: Fitted, crops: int, name: str) -> dict:
    """The model file's metadata: the source model's, renamed, with how the stem was replaced."""
    out = {k: v for k, v in source.items() if k not in ("format", "input", "output", "labels")}
    out["name"] = name
    out["restem"] = {"from": source.get("name"), "config": asdict(cfg), "crops": int(crops),
                     "stage_error": round(fitted.last[0], 4), "logit_error": round(fitted.last[1], 4),
                     "seconds": round(fitted.seconds)}
    return out
