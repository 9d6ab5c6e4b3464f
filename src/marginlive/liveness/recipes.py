"""The shipped model as a named recipe: which branches, which weights, which threshold, and why.

``DEFAULT`` fuses four branches of a trained marginlive model (``make_default_model.py`` builds
that eight-branch model) with the Silent-Face MiniFASNetV1SE (Apache-2.0, ../shared/models):

- kept from the marginlive model: the colour-texture LBP branches of the 4x context at 128 and
  64 px, the LPQ branch at 128 px and the central-difference network. These read the screen's
  and the print's texture and the bezel around the face;
- left out: the HOG branch, the face-box LPQ branch and the two LivenessNets. Measured on faces
  of collections they never saw and on live faces moved into other rooms, held upright as a
  phone would film them, in a dim room or beside a phone in the hand (``benchmarks/leave_collections_out.py``),
  these were the branches that turned live users away: the HOG branch up to 71% of a shift's live
  frames, and they had learned what the training rooms look like;
- Silent-Face on its own crop (the face box scaled 4x, kept inside the frame): trained on far more
  people, rooms and cameras than ../shared holds, it turned away 0-4% of live frames under
  every shift; it lets more screen replays through than the texture branches, which is what they
  are there for.

Equal weights, decided at P(real) >= 0.5: of the weightings screened, the ones that kept every
live collection and shift's rejections under 3% were equal-weight mixes, and this one let the
fewest attacks through among them (``docs/research/2026-12-01-live-users.md``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError


@dataclass(frozen=True)
class FusionRecipe:
    """A fused model: branches of a marginlive ``base`` model by their metadata ``arch`` and view,
    plus the Silent-Face model at ``silentface_scale``; one weight each (normalised), a threshold."""
    name: str
    base_branches: tuple[tuple[str, float, int], ...]   # (arch, margin, size) in the base's metadata
    base_weights: tuple[float, ...]
    silentface_file: str
    silentface_scale: float
    silentface_size: int
    silentface_weight: float
    threshold: float


DEFAULT = FusionRecipe(
    name="marginlive-default",
    base_branches=(("colour-texture", 4.0, 128), ("colour-texture", 4.0, 64), ("phase-texture", 4.0, 128),
                   ("cdcnet", 4.0, 128)),
    base_weights=(0.2, 0.2, 0.2, 0.2),
    silentface_file="4_0_0_80x80_MiniFASNetV1SE.onnx", silentface_scale=4.0, silentface_size=80,
    silentface_weight=0.2, threshold=0.5)

SILENTFACE_CREDIT = ("Silent-Face MiniFASNetV1SE, minivision-ai/Silent-Face-Anti-Spoofing, Apache-2.0 "
                     "(models/LICENSE-silentface)")


def _branch_tensors(base) -> list[str]:
    """The tensors holding each branch's logit in a ``MultiScale`` export: the inputs of the
    Concat that feeds the weighted sum, in the order of the metadata's branches."""
    by_out = {o: n for n in base.graph.node for o in n.output}
    fusion = next(n for n in base.graph.node if n.op_type == "Sigmoid" and n.output[0] == "p_real")
    node = by_out[fusion.input[0]]
    while node.op_type != "Concat":
        node = by_out[node.input[0]]
    return list(node.input)


def build(recipe: FusionRecipe, base_path: str | os.PathLike, silentface_path: str | os.PathLike,
          out: str | os.PathLike) -> Path:
    """Write the fused model of ``recipe`` to ``out`` (atomically) and return its path."""
    import onnx

    from .._util import atomic_path
    from .compose import Branch, compose
    from .runtime import META_KEY, LivenessModel
    base = onnx.load(str(base_path))
    meta = json.loads({p.key: p.value for p in base.metadata_props}.get(META_KEY, "{}"))
    views = [(b.get("arch"), float(b.get("margin", 0)), int(b.get("size", 0))) for b in meta.get("branches", [])]
    tensors = _branch_tensors(base)
    if len(views) != len(tensors):
        raise ModelError(f"{base_path}: not a multi-branch marginlive model")
    branches, described = [], []
    for view, w in zip(recipe.base_branches, recipe.base_weights):
        if view not in views:
            raise ModelError(f"{base_path}: has no branch {view}")
        k = views.index(view)
        branches.append(Branch(base, tensors[k], {"crops": "crops"}, w, f"{view[0]} {view[1]:g}x {view[2]} px"))
        described.append({**meta["branches"][k], "weight": w})
    sf = onnx.load(str(silentface_path))
    sf_input = f"silentface_{recipe.silentface_scale:g}".replace(".", "_")
    branches.append(Branch(sf, sf.graph.output[0].name, {sf.graph.input[0].name: sf_input}, recipe.silentface_weight,
                           "silentface", kind="softmax", real_index=1))
    described.append({"arch": "silentface-minifasnet", "file": Path(silentface_path).name,
                      "crop": "shifted", "scale": recipe.silentface_scale, "size": recipe.silentface_size,
                      "weight": recipe.silentface_weight, "credit": SILENTFACE_CREDIT})
    fused = compose(branches, ["crops", sf_input])
    total = sum(recipe.base_weights) + recipe.silentface_weight
    new_meta = {k: v for k, v in meta.items() if k not in ("branches", "metrics", "arch", "threshold")}
    new_meta.update({
        "name": recipe.name, "arch": "fusion: " + " + ".join(b.name for b in branches),
        "branches": [{**d, "weight": round(d["weight"] / total, 6)} for d in described],
        "threshold": recipe.threshold, "output": "p_real",
        "inputs": [{"name": "crops", "crop": "margin", "margin": meta["margin"], "size": meta["input_size"]},
                   {"name": sf_input, "crop": "shifted", "scale": recipe.silentface_scale,
                    "size": recipe.silentface_size}],
        "base_model": {"name": meta.get("name"), "training": meta.get("training"),
                       "branches": meta.get("branches"), "threshold": meta.get("threshold")},
    })
    entry = fused.metadata_props.add()
    entry.key, entry.value = META_KEY, json.dumps(new_meta, sort_keys=True)
    fused.doc_string = f"marginlive liveness model {recipe.name}"
    with atomic_path(out) as tmp:
        onnx.save(fused, str(tmp))
        LivenessModel(tmp)  # loads and matches its metadata, or the file never appears
    return Path(out)
