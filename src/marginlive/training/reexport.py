"""A built model's fitted weights written again by today's graph code: no data, no fitting.

A fused model file holds what was fitted (each texture branch's linear model, the Silent-Face head)
beside components kept elsewhere (the network in ``models/components``, the Silent-Face network in
../shared/models). ``reexport`` reads the fitted numbers back out of the file and assembles the
model of its recipe around them again, so that a faster formulation of the same arithmetic
(``liveness/texture.py``, ``liveness/views.py``) reaches a shipped model without refitting it: a
refit draws its random augmented copies again and is not the same model to the bit
(``make model-fast`` changes a few decisions), a re-export scores every face as before, to float
rounding. Run: ``make reexport`` (both shipped models).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ModelError
from .recipes import COMPONENTS, RECIPES, SILENTFACE_DIR, FusionRecipe, assemble
from .texture import TEXTURE_MARGIN, TextureSetting, texture_meta


def recipe_of(meta: dict) -> FusionRecipe:
    """The recipe a model file says it was built by (its metadata's ``training.recipe``)."""
    name = (meta.get("training") or {}).get("recipe")
    for key, recipe in RECIPES.items():
        if name in (recipe.name, key):
            return recipe
    raise ModelError(f"the model names no known recipe ({name!r}): it cannot be exported again")


def fitted_texture(model, meta: dict, recipe: FusionRecipe) -> list:
    """The recipe's texture branches with the linear models stored in ``model`` (an ``onnx.ModelProto``
    assembled by ``recipes.assemble``: branch i's weights are ``m0/nets.{i}.weight`` and ``.bias``);
    ModelError where the file's description of a branch is not the recipe's."""
    import torch
    from onnx import numpy_helper
    inits = {i.name: i for i in model.graph.initializer}
    described = [b for b in meta.get("branches", []) if b["arch"] in ("colour-texture", "phase-texture")]
    if len(described) != len(recipe.texture):
        raise ModelError(f"the model has {len(described)} texture branches, its recipe {len(recipe.texture)}")
    out = []
    for i, (view, entry) in enumerate(zip(recipe.texture, described)):
        branch = TextureSetting(kind=view.kind, size=view.size, c=recipe.c).branch()
        try:
            w, b = (numpy_helper.to_array(inits[f"m0/nets.{i}.{p}"]) for p in ("weight", "bias"))
        except KeyError:
            raise ModelError(f"texture branch {i}'s linear model is not in the file") from None
        branch.weight.data = torch.from_numpy(np.array(w, np.float32)).reshape(-1, 1)   # a vector in older files
        branch.bias.data = torch.tensor(float(b))
        branch.logit_limit = float(entry.get("logit_limit", 0.0))
        again = texture_meta(branch, view.weight, view.size, TEXTURE_MARGIN)
        if any(again[k] != v for k, v in entry.items() if k != "weight"):
            raise ModelError(f"texture branch {i} of the file is not the recipe's: {entry} against {again}")
        out.append(branch.eval())
    return out


def fitted_probe(model) -> tuple[np.ndarray, float] | None:
    """The Silent-Face head (w, b) stored in ``model`` (``probe.with_probe``'s ``probe_w`` and
    ``probe_b``, prefixed by the composition), or None where it has none."""
    from onnx import numpy_helper
    found = {i.name.rsplit("/", 1)[-1]: numpy_helper.to_array(i) for i in model.graph.initializer
             if i.name.rsplit("/", 1)[-1] in ("probe_w", "probe_b")}
    if not found:
        return None
    return np.asarray(found["probe_w"], np.float32).ravel(), float(np.ravel(found["probe_b"])[0])


def reexport(path: str | os.PathLike, out: str | os.PathLike, components: Path = COMPONENTS,
             silentface_dir: Path = SILENTFACE_DIR, check=None) -> Path:
    """Write the model at ``path`` again to ``out`` (which may be ``path``; atomically) with today's
    graph code, its fitted weights, components and training record unchanged. ``check``: (N, 256,
    256, 3) context crops for the texture export's PyTorch-versus-ONNX check."""
    import onnx

    from ..liveness.runtime import LivenessModel
    meta = LivenessModel(path).meta
    recipe = recipe_of(meta)
    model = onnx.load(str(path))
    return assemble(recipe, fitted_texture(model, meta, recipe), out, training=meta.get("training"),
                    components=components, silentface_dir=silentface_dir, check=check,
                    probe=fitted_probe(model) if recipe.silentface_probe else None)
