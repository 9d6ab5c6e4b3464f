"""The shipped models as named recipes: which branches, fitted on what, fused how, decided where.

``DEFAULT`` fuses five branches, P(real) >= 0.5:

- two hand-crafted texture branches of the 4x context (LBP codes pooled to 64 px, LPQ codes at
  128 px), fitted here on the dataset and on its scene augmentation
  (``training/scene.py``: every crop with sensor noise, every live person moved into another room,
  every crop as a face filling the frame would show it):
  they read the screen's and the print's texture and the bezel around the face;
- the central-difference network (``network``: trained here on the same crops by ``train_network``,
  written to ``models/components/cdcnet-4x-128.onnx`` by ``make model``);
- the Silent-Face MiniFASNetV1SE (Apache-2.0, ``../shared/models/silentface-minifasnet``) on its
  own crop (the box scaled 4x, kept inside the frame): trained by its authors on far more people,
  rooms and cameras than ../shared holds, it turned away 0-4% of live frames under every shift
  measured here but one: a face that fills the frame (its crop can no longer be 4x the face).
  It votes with the others, and where it is near certain a face is live it passes the face on its
  own (``silentface_live_above``): a new camera moves the fitted branches more than it moves it.
- a linear head on that network's features, fitted here on the dataset's Silent-Face crops
  (``training/probe.py``): it learns the screens and prints of ../shared from what a network of
  many cameras sees, and reads their cameras less than the branches fitted on pixels.

Left out of an earlier five-branch model: LBP codes at 128 px, which read sensor noise on a
screen replay as live (its logit at its clip, +2, for any noisy face; docs/research/2026-12-02-edges.md).
Left out of the earlier eight-branch model: the HOG branch, the face-box LPQ branch and the
LivenessNets, which turned live users away once the room or camera changed
(``docs/research/2026-12-01-live-users.md``). ``marginlive train --recipe default DATASET`` runs
``build``. It fits on every collected crop (``hold_out`` none): ``benchmarks/leave_collections_out.py``
rebuilds it without the collections it reports as never seen.

``FAST`` fuses two, P(real) >= 0.5: the network distilled from the default (``marginlive distil``,
kept in ``models/components``; this module does not train it) on its own 96 px crop, and the
default's LBP branch fitted here. Both leave out ``NEWEST_GROUPS``, its own never-seen validation.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import DatasetError, ModelError
from ..liveness.runtime import REPO_ROOT
from ..silentface_crop import DEFAULT_CROP, ShiftedCrop
from .balance import CellScale, scaled_cell_weights
from .probe import PROBE_TENSOR, ProbeFit, ProbeSetting, with_probe
from .scene import SceneAugment, augment_contexts
from .texture import (LOGIT_LIMIT, TEXTURE_C, TEXTURE_MARGIN, TextureSetting, fit_texture, texture_histograms,
                      texture_meta)
from .train import TrainConfig

COMPONENTS = REPO_ROOT / "models" / "components"
SILENTFACE_DIR = REPO_ROOT.parent / "shared" / "models" / "silentface-minifasnet"
SILENTFACE_CREDIT = ("Silent-Face MiniFASNetV1SE, minivision-ai/Silent-Face-Anti-Spoofing, Apache-2.0 "
                     "(src/marginlive/weights/LICENSE-silentface)")


@dataclass(frozen=True)
class TextureView:
    """A texture branch: ``kind`` "lbp" or "lpq" codes of the 4x context pooled to ``size`` px."""
    kind: str
    size: int
    weight: float


@dataclass(frozen=True)
class FusionRecipe:
    """A fused model: texture branches fitted on the data, one network and (optionally) the
    Silent-Face model on its own crop; one weight each (the fusion normalises them), a threshold on
    P(real), and the augmentation the texture fit sees (None: none).
    ``network``: how ``build`` trains the network on the texture fit's crops (its file name
    ``network_file``); None: the file is made elsewhere (``marginlive distil``) and read from the
    components folder. A network that reads the 4x context at 256 px shares the texture branches'
    input; any other margin crop is an input of its own.
    ``silentface_file``: None for no Silent-Face branch. ``silentface_live_above``: the Silent-Face
    logit at which it alone calls a face live (``compose.Branch.live_above``; None: it only votes).
    ``silentface_crop``: how its crop is cut (``silentface_crop.ShiftedCrop``).
    ``silentface_probe``: a linear head on that network's features fitted on the dataset's
    Silent-Face crops (``training/probe.py``), a branch of its own; None: none.
    ``c`` is the texture regressions' inverse regularisation strength; ``balance_collections``:
    they weigh every (collection, label) pair alike (``balance.cell_weights``), not every crop;
    ``texture_scales``: (collection, label) pairs the balanced texture fit weighs more or less than
    the others (``balance.CellScale``; the Silent-Face head weighs them alike; only with
    ``balance_collections``, a ValueError otherwise);
    ``hold_out``: webcam-replay collectors (a group ``webcam-replay/COLLECTOR__REPO``) never fitted
    on, kept for validation."""
    name: str
    texture: tuple[TextureView, ...]
    network_file: str
    network: TrainConfig | None
    network_weight: float
    threshold: float
    silentface_file: str | None = None
    silentface_crop: ShiftedCrop | None = None
    silentface_weight: float = 0.0
    silentface_live_above: float | None = None
    silentface_probe: ProbeSetting | None = None
    augment: SceneAugment | None = SceneAugment()
    c: float = TEXTURE_C
    balance_collections: bool = False
    texture_scales: tuple[CellScale, ...] = ()
    hold_out: tuple[str, ...] = ()

    def __post_init__(self):
        # the scales multiply the balanced fit's cell weights: without them there is nothing to scale,
        # and a recipe that names scales must not be fitted as if it named none
        if self.texture_scales and not self.balance_collections:
            raise ValueError(f"recipe {self.name!r}: texture_scales weigh cells of the balanced texture fit; "
                             "set balance_collections=True or leave texture_scales empty")

    def held_out(self, groups: np.ndarray) -> np.ndarray:
        """Boolean (N,): which of the dataset's ``groups`` belong to a held-out collector."""
        return np.array([str(g).rsplit("/", 1)[-1].split("__")[0] in self.hold_out for g in groups], bool)


DEFAULT = FusionRecipe(
    name="marginlive-default",
    # without the LBP branch at 128 px, its share spread over the other three, the Silent-Face
    # branch keeping its fifth of the vote: TV replays let through 27.8 -> 23.3%, tilted ones
    # 20.8 -> 18.3% (leave-collections-out), the webcam replay under noise of 10 levels 40 -> 8%;
    # live frames under that noise turned away 5 -> 7% (docs/research/2026-12-02-edges.md)
    texture=(TextureView("lbp", 64, 0.2), TextureView("lpq", 128, 0.2)),
    network_file="cdcnet-4x-128.onnx", network_weight=0.2,
    # the network the fusion screen chose (docs/research/2026-12-01-live-users.md), trained as the
    # component it replaces was (benchmarks/generalise.py's "cdcnet, m4.0 at 128 px, strong aug" row)
    network=TrainConfig(arch="cdcnet", margin=4.0, size=128, epochs=30, batch=16, aug="strong", seed=0),
    silentface_file="4_0_0_80x80_MiniFASNetV1SE.onnx", silentface_weight=0.15, threshold=0.5,
    # live users first: where the Silent-Face model is near certain a face is live (logit 4,
    # P 0.98), the branches fitted on ../shared cannot turn it away, for they read what the
    # training webcams do to skin. Rebuilt without the CelebA-Spoof photographs, 32.0 -> 20.0% of
    # them turned away; TV replays let through 23.3 -> 24.4% (docs/research/2026-12-02-live-above.md)
    silentface_live_above=4.0,
    silentface_crop=DEFAULT_CROP,
    # a head on the Silent-Face network's features, weighted as the other fitted branches: each
    # never-seen collection scored by the recipe rebuilt without it, NUAA's live frames turned away
    # 12.4 -> 5.6%, CelebA's 19.3 -> 18.7%, TV replays let through 30.0 -> 27.8%, tilted ones 20.3 ->
    # 14.9%; live close-ups 3.3 -> 5.1% (docs/research/2026-12-03-silent-face-probe.md). Fitted on half
    # its crops again with their corners darkened, as a lens without shading correction darkens them
    # (the network reads that as a screen's surround): never-seen live frames turned away, NUAA 4.6 ->
    # 0.8%, CelebA 19.3 -> 17.3%, the upright phone's with dark corners 4.6 -> 0.9%; attacks let
    # through 12.0 -> 13.6% on average over the rows (the TV 26.7 -> 30.0%, background-blurred
    # replays 27.0 -> 36.5%). At the threshold where the head fitted without them lets as many
    # through (0.48), it turned away more never-seen live frames (docs/research/2026-12-05-vignetted-head.md).
    # And on half again with the background blurred, as a video call's camera effect blurs it (the
    # network reads a replay whose bezel and hand are blurred away as live): beside the dark-corner
    # copies, which keep NUAA's live frames (blurred copies alone had turned 6.7% away), never-seen
    # attacks let through 13.6 -> 11.3-11.4% on average over the rows in two draws (background-blurred
    # replays 36.5 -> 19%, the TV 30.0 -> 25%), live rows a frame or two each way (NUAA left out 0.8 ->
    # 1.9%), better at every threshold from 0.48 to 0.52 (docs/research/2026-12-05-blurred-head.md)
    silentface_probe=ProbeSetting(weight=0.2, vignette=0.5, background_blur=0.5),
    # a close-up copy of every crop: live users first. Of half the crops, 7 points more of the
    # close-up live frames were turned away and 1-3 points fewer TV, dim and portrait replays
    # passed (docs/research/2026-12-02-close-ups.md). And a quarter of the live crops copied with a
    # screen behind the person (a lit monitor in an office): rebuilt without NUAA, its live frames
    # turned away 5.6 -> 4.6%, CelebA's 20.0 -> 19.3%; a frame more let through in seven attack rows,
    # two of the TV's (24.4 -> 26.7%) (docs/research/2026-12-04-screen-behind-the-user.md). And half
    # of all crops copied with the background blurred as a video call's camera effect blurs it: that
    # effect's replays let through 37.4 -> 27.0% (rebuilt without the five newest groups), the other
    # rows within four frames either way, CelebA and NUAA left out as before
    # (docs/research/2026-12-05-background-blur.md)
    augment=SceneAugment(close_up=1.0, screen_behind=0.25, background_blur=0.5),
    # the texture branches weigh every collection alike, as the head does: offline, on the
    # benchmark's rebuilds, tilted replays let through 14.9 -> 10.1%, TV replays 27.8 -> 25.6%,
    # live close-ups turned away 5.1 -> 4.1%; CelebA's live photos 18.7 -> 19.3% (one photo)
    # (docs/research/2026-12-03-every-collection-alike.md)
    balance_collections=True,
    # but the CelebA-Spoof sample's attack photos (phone captures of printed posters) a third of a
    # collection: the texture fit learns less of "a phone's noisy, blurred capture is an attack",
    # which turned webcam users away. Leave-collections-out, never-seen live rows 1.85 -> 1.70% on
    # average, every one but CelebA's own at 5% or under (screen-lit 6.9 -> 4.6%, NUAA left out
    # 2.2 -> 0.5%); attack rows 11.1 -> 11.6% on average, noisy replays the most (the dim room 17.1 ->
    # 24.4%, grain 29.3 -> 33.2%): about three attack points a live point on the rebuilds' never-seen
    # frames, where lowering the threshold costs eight (docs/research/2026-12-06-celeba-k-fold.md)
    texture_scales=(CellScale("celeba-spoof-sample", 0, 1 / 3),))
# Fitted on every collected crop, the five webcam-replay groups added last (7+ live people, TV
# replays filling the frame) among them: rebuilt with them but without the CelebA-Spoof sample or
# NUAA, it turned away as many of those live frames or fewer (19.3% and 12.1%, against 19.3% and
# 14.5% without the five) (docs/research/2026-12-03-every-group.md)

# the webcam-replay groups added last (7+ live people, frame-filling TV replays): the fast model
# never saw them, so they stay a validation of it (benchmarks/leave_collections_out.py)
NEWEST_GROUPS = ("Chamindu77", "Sankalita-Giri", "arnavco9573", "ahforoughi", "SoorajOfficial2023")

FAST = FusionRecipe(
    name="marginlive-fast",
    # the network distilled from the default (``marginlive distil``: about 0.44 ms a face) beside
    # the default's LBP branch (0.3 ms), equal weights: on the rows it never saw, live close-ups
    # turned away 40.0 -> 17.4%, faces at the frame's edge 13.1 -> 5.4%, one held-out group's live
    # frames 28.6 -> 14.3%; held-out webcam groups' replays let through 27-43% -> 12-27%, but the
    # upright phone replay 6.1 -> 31.7% of its frames (docs/research/2026-12-03-fast-with-texture.md)
    texture=(TextureView("lbp", 64, 0.5),),
    network_file="student-4x-96.onnx", network=None, network_weight=0.5, threshold=0.5,
    augment=SceneAugment(close_up=1.0),
    hold_out=NEWEST_GROUPS)

RECIPES = {"default": DEFAULT, "fast": FAST}


def recipe_named(name: str) -> FusionRecipe:
    if name not in RECIPES:
        raise DatasetError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}")
    return RECIPES[name]


class TextureFit:
    """The texture branches of ``recipe`` fitted on any subset of one dataset.

    Histograms of the (N, 256, 256, 3) uint8 ``contexts`` and of their augmented copies are
    computed once per view (the slow part: about a minute for 5,000 crops on two cores); ``fit``
    then fits a logistic regression per view in seconds, leaving out the crops in ``exclude``
    and every copy made from them. ``units``: (N,) each crop's collection (``Dataset.units``),
    needed where the recipe weighs collections alike (a copy counts in its source crop's)."""

    def __init__(self, recipe: FusionRecipe, contexts: np.ndarray, labels: np.ndarray, units: np.ndarray | None = None):
        if recipe.balance_collections and units is None:
            raise ValueError(f"the recipe {recipe.name!r} weighs collections alike: give each crop's collection")
        self.recipe, self.labels = recipe, np.asarray(labels)
        aug = augment_contexts(contexts, self.labels, recipe.augment) if recipe.augment else None
        self.augmented = aug
        # a copy belongs to the collection of the crop it was made from
        self.units = None if units is None else np.asarray(units, object)
        if self.units is not None and aug is not None:
            self.units = np.concatenate([self.units, self.units[aug.source]])
        self.settings = [TextureSetting(kind=v.kind, size=v.size, c=recipe.c) for v in recipe.texture]
        self.hists = []
        for setting in self.settings:
            h = texture_histograms(contexts, setting)
            if aug is not None:
                h = np.concatenate([h, texture_histograms(aug.contexts, setting)])
            self.hists.append(h)

    def rows(self, exclude: np.ndarray | None = None) -> np.ndarray:
        """Histogram rows of the crops not in the boolean (N,) ``exclude`` and of their copies."""
        n = len(self.labels)
        exclude = np.zeros(n, bool) if exclude is None else np.asarray(exclude, bool)
        own = np.flatnonzero(~exclude)
        if self.augmented is None:
            return own
        return np.concatenate([own, n + self.augmented.without(exclude)])

    def fit(self, exclude: np.ndarray | None = None) -> list:
        rows = self.rows(exclude)
        y = self.labels if self.augmented is None else np.concatenate([self.labels, self.augmented.labels])
        if set(y[rows].tolist()) != {0, 1}:
            raise DatasetError("the texture fit needs live and attack crops")
        w = (scaled_cell_weights(self.units[rows], y[rows], self.recipe.texture_scales)
             if self.recipe.balance_collections else None)
        return [fit_texture(h[rows], y[rows], setting, logit_limit=LOGIT_LIMIT, sample_weight=w)
                for h, setting in zip(self.hists, self.settings)]


def texture_model(recipe: FusionRecipe, branches: list):
    """The fitted texture branches as one ``MultiScale`` over the 4x context (N, 256, 256, 3)."""
    from ..liveness.fusion import MultiScale
    return MultiScale([(TEXTURE_MARGIN, b, v.size) for b, v in zip(branches, recipe.texture)],
                      weights=[v.weight for v in recipe.texture]).eval()


def _require(path: Path, recipe: FusionRecipe):
    if not path.is_file():
        raise ModelError(f"{path}: missing (the recipe {recipe.name!r} fuses it)")


def _meta(path) -> dict:
    from ..liveness.runtime import LivenessModel
    return LivenessModel(path).meta


# the texture branches' input (and a network's that reads the same): the 4x context at 256 px
CONTEXT_INPUT = {"name": "crops", "crop": "margin", "margin": TEXTURE_MARGIN, "size": 256}


def assemble(recipe: FusionRecipe, branches: list, out: str | os.PathLike, training: dict | None = None,
             components: Path = COMPONENTS, silentface_dir: Path = SILENTFACE_DIR, check=None,
             probe: tuple | None = None) -> Path:
    """Write the fused model of ``recipe`` with the fitted texture ``branches`` to ``out``
    (atomically: it appears complete and loadable, or not at all), its network read from
    ``components``. ``check``: context crops (N, 256, 256, 3) for the texture export's
    PyTorch-versus-ONNX check. ``probe``: the fitted Silent-Face head (w, b) where the recipe has one
    (``ProbeFit.fit``)."""
    import onnx

    from .._util import atomic_path
    from ..liveness.compose import Branch, branch_logit_tensors, compose, fused_logit_tensor
    from ..liveness.runtime import META_KEY, LivenessModel
    net_path = Path(components) / recipe.network_file
    _require(net_path, recipe)
    if recipe.silentface_file:
        _require(Path(silentface_dir) / recipe.silentface_file, recipe)
    net_meta = _meta(net_path)
    net_input = _network_input(net_path, net_meta)
    texture_meta_list = [texture_meta(b, v.weight, v.size, TEXTURE_MARGIN) for b, v in zip(branches, recipe.texture)]
    tex = _texture_graph(recipe, branches, texture_meta_list, check)
    net = onnx.load(str(net_path))
    parts = [Branch(tex, t, {"crops": "crops"}, v.weight, f"{v.kind} 4x {v.size} px")
             for t, v in zip(branch_logit_tensors(tex), recipe.texture)]
    parts.append(Branch(net, fused_logit_tensor(net), {net.graph.input[0].name: net_input["name"]},
                        recipe.network_weight, net_meta["arch"]))
    inputs = [CONTEXT_INPUT] + ([net_input] if net_input != CONTEXT_INPUT else [])
    described = texture_meta_list + [
        {**(net_meta.get("branches") or [{"arch": net_meta["arch"], "margin": net_input["margin"],
                                           "size": net_input["size"]}])[0],
         "weight": recipe.network_weight, "file": recipe.network_file}]
    if recipe.silentface_file:
        sf_parts, spec, entries = _silentface_branches(recipe, silentface_dir, probe)
        parts += sf_parts
        inputs.append(spec)
        described += entries
    fused = compose(parts, [i["name"] for i in inputs])
    entry = fused.metadata_props.add()
    entry.key = META_KEY
    entry.value = json.dumps(_fused_meta(recipe, parts, described, inputs, training), sort_keys=True)
    fused.doc_string = f"marginlive liveness model {recipe.name}"
    with atomic_path(out) as tmp:
        onnx.save(fused, str(tmp))
        LivenessModel(tmp)  # loads and matches its metadata, or the file never appears
    return Path(out)


def _network_input(path: Path, meta: dict) -> dict:
    """The fused model's input that the network at ``path`` reads: ``CONTEXT_INPUT`` where it reads
    the 4x context at 256 px, else a margin crop of its own (``crops_SIZE``). Its logit is its
    vote, so it must decide at P(real) 0.5."""
    if float(meta["threshold"]) != 0.5:
        raise ModelError(f"{path}: a fused network votes with its logit, so it must decide at P(real) 0.5, "
                         f"not {float(meta['threshold']):g}")
    size, margin = int(meta["input_size"]), float(meta["margin"])
    if (size, margin) == (CONTEXT_INPUT["size"], CONTEXT_INPUT["margin"]):
        return CONTEXT_INPUT
    return {"name": f"crops_{size}", "crop": "margin", "margin": margin, "size": size}


def _silentface_branches(recipe: FusionRecipe, silentface_dir: Path, probe: tuple | None) -> tuple:
    """The Silent-Face model's live-class logit on its own crop, and its head's where the recipe
    has one (one graph: the network runs once for both): ([its ``Branch``es], the fused model's
    input they read, ``silentface_SCALE``, [their entries in the model's metadata])."""
    import onnx

    from ..liveness.compose import Branch
    if (recipe.silentface_probe is None) != (probe is None):
        raise ModelError(f"the recipe {recipe.name!r} " + ("fits a Silent-Face probe: pass the fitted head"
                                                         if probe is None else "has no Silent-Face probe"))
    crop = recipe.silentface_crop
    sf = onnx.load(str(Path(silentface_dir) / recipe.silentface_file))
    if probe is not None:
        sf = with_probe(sf, *probe)
    spec = {"name": f"silentface_{crop.scale:g}".replace(".", "_"), **crop.spec()}
    feeds = {sf.graph.input[0].name: spec["name"]}
    parts = [Branch(sf, sf.graph.output[0].name, feeds, recipe.silentface_weight, "silentface", kind="softmax",
                    real_index=1, live_above=recipe.silentface_live_above)]
    entries = [{"arch": "silentface-minifasnet", "file": recipe.silentface_file, **crop.spec(),
                "weight": recipe.silentface_weight, "live_above": recipe.silentface_live_above,
                "credit": SILENTFACE_CREDIT}]
    if probe is not None:
        parts.append(Branch(sf, PROBE_TENSOR, feeds, recipe.silentface_probe.weight, "silentface probe"))
        entries.append({"arch": "silentface-probe", "file": recipe.silentface_file, **crop.spec(),
                        "weight": recipe.silentface_probe.weight, "c": recipe.silentface_probe.c,
                        "vignette": recipe.silentface_probe.vignette,
                        "background_blur": recipe.silentface_probe.background_blur,
                        "credit": SILENTFACE_CREDIT})
    return parts, spec, entries


def probe_fit(recipe: FusionRecipe, ds, silentface_dir: Path = SILENTFACE_DIR) -> ProbeFit | None:
    """The recipe's Silent-Face head, ready to fit on any subset of the collected dataset ``ds``
    (its Silent-Face crops' features computed); None where the recipe has none. DatasetError where
    ``ds`` holds no Silent-Face crops cut as the recipe cuts them."""
    if recipe.silentface_probe is None:
        return None
    if ds.silentface is None or ds.silentface_crop != recipe.silentface_crop.spec():
        raise DatasetError(f"the dataset holds no Silent-Face crops cut as the recipe {recipe.name!r} cuts them: "
                           "collect it again with this version of marginlive (`make model` does)")
    import onnx
    path = Path(silentface_dir) / recipe.silentface_file
    _require(path, recipe)
    return ProbeFit(onnx.load(str(path)), ds.silentface, ds.labels, ds.units,
                    recipe.silentface_probe)


def _texture_graph(recipe: FusionRecipe, branches: list, described: list[dict], check):
    """The fitted texture branches as one ONNX graph (exported and checked against PyTorch)."""
    import onnx

    from .export import export_onnx
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "texture.onnx"
        export_onnx(texture_model(recipe, branches), path,
                    {"name": "texture", "arch": "texture", "input_size": 256, "margin": TEXTURE_MARGIN,
                     "threshold": 0.5, "branches": described}, check_crops=check, deployable=True)
        return onnx.load(str(path))


def _fused_meta(recipe: FusionRecipe, parts: list, described: list[dict], inputs: list[dict],
                training: dict | None) -> dict:
    """The fused model's ``marginlive`` metadata: its inputs, its branches (weights normalised)."""
    total = sum(d["weight"] for d in described)
    return {"format": 1, "name": recipe.name, "input": "uint8 BGR NHWC", "labels": ["fake", "real"],
            "output": "p_real", "input_size": 256, "margin": TEXTURE_MARGIN, "threshold": recipe.threshold,
            "arch": "fusion: " + " + ".join(p.name for p in parts),
            "branches": [{**d, "weight": round(d["weight"] / total, 6)} for d in described],
            "inputs": inputs, "training": {"recipe": recipe.name, **(training or {})}}


def train_network(recipe: FusionRecipe, ds, folder: str | os.PathLike, note: dict | None = None) -> Path:
    """Train ``recipe.network`` on every crop of the collected dataset ``ds`` and write it to
    ``folder / recipe.network_file``: a model of its own that reads the 4x context at 256 px
    (what ``assemble`` fuses). About seven minutes for 3,700 crops on two cores (30 epochs at 128 px).
    ``note``: more of what it was trained on, kept in its metadata."""
    from ..liveness.fusion import MultiScale
    from .export import export_onnx
    from .train import train
    cfg = recipe.network
    if cfg is None:
        raise ModelError(f"the recipe {recipe.name!r} trains no network: {recipe.network_file} is made by "
                         "`marginlive distil`")
    if cfg.margin > TEXTURE_MARGIN:
        raise ModelError(f"the network reads at most the {TEXTURE_MARGIN:g}x context, not {cfg.margin:g}x")
    net = train(ds, cfg, show_progress=False).net.eval()
    described = (f"{cfg.arch}, m{cfg.margin:g} at {cfg.size} px, {cfg.aug} aug, {cfg.epochs} epochs, "
                 f"seed {cfg.seed}")
    meta = {"name": Path(recipe.network_file).stem, "arch": cfg.arch, "input_size": 256, "margin": TEXTURE_MARGIN,
            "threshold": 0.5,
            "branches": [{"arch": cfg.arch, "margin": cfg.margin, "size": cfg.size, "weight": 1.0,
                          "recipe": described}],
            "training": {"recipe": recipe.name, "config": asdict(cfg), **ds.fitted_on(), **(note or {})}}
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return export_onnx(MultiScale([(cfg.margin, net, cfg.size)]).eval(), folder / recipe.network_file, meta,
                       check_crops=ds.contexts[:8], deployable=True)


def build(recipe: FusionRecipe, ds, out: str | os.PathLike, components: Path | None = None,
          silentface_dir: Path = SILENTFACE_DIR, log=print) -> Path:
    """Fit ``recipe``'s texture branches (and train its network, where it has a ``network``) on the
    collected dataset ``ds`` (``training.dataset``; less its ``hold_out`` groups) and write the
    fused model to ``out``. ``components``: where a trained network is kept (None: not kept), or
    where a network made elsewhere is read (None: ``COMPONENTS``). The default recipe takes about
    nine minutes for 3,700 crops on two cores, the fast one (no network to train) about one."""
    ds.check_trainable()
    # every file the fusion needs is checked before minutes of training and fitting
    if recipe.silentface_file:
        _require(Path(silentface_dir) / recipe.silentface_file, recipe)
    made = None if recipe.network else Path(components or COMPONENTS) / recipe.network_file
    if made is not None:
        _require(made, recipe)
        _network_input(made, _meta(made))
    t0 = time.perf_counter()
    held = recipe.held_out(ds.groups)
    fitted = ds.subset(np.flatnonzero(~held))
    probes = probe_fit(recipe, fitted, silentface_dir)
    with tempfile.TemporaryDirectory() as tmp:
        net = made
        if net is None:
            log(f"{recipe.name}: training the {recipe.network.arch} branch on {len(fitted.labels)} crops "
                f"({int(held.sum())} held out)")
            net = train_network(recipe, fitted, tmp)
        log(f"{recipe.name}: augmenting and coding {len(fitted.labels)} crops ({int(held.sum())} held out) "
            f"for {len(recipe.texture)} texture branches")
        fit = TextureFit(recipe, fitted.contexts, fitted.labels, fitted.units)
        branches = fit.fit()
        training = {**fitted.fitted_on(), "groups": len(set(fitted.groups.tolist())), "held_out": list(recipe.hold_out),
                    "augmented_copies": 0 if fit.augmented is None else len(fit.augmented.labels),
                    "augment": asdict(recipe.augment) if recipe.augment else None, "C": recipe.c,
                    "balance_collections": recipe.balance_collections,
                    "texture_scales": [asdict(c) for c in recipe.texture_scales],
                    "network": asdict(recipe.network) if recipe.network else _meta(net).get("training"),
                    "silentface_probe": asdict(recipe.silentface_probe) if recipe.silentface_probe else None,
                    "seconds": round(time.perf_counter() - t0, 1)}
        assemble(recipe, branches, out, training, net.parent, silentface_dir, check=ds.contexts[:8],
                 probe=probes.fit() if probes else None)
        if components is not None and recipe.network is not None:
            from .._util import atomic_path    # only once the fused model is written: the pair stays matched
            with atomic_path(Path(components) / recipe.network_file) as keep:
                shutil.copyfile(net, keep)
    return Path(out)
