"""Fuse branches of existing ONNX models into one marginlive model file, without retraining.

A ``Branch`` names a tensor of a source ONNX graph that holds one logit per face, or a softmax
column to turn into one. ``compose`` cuts each source graph down to what those tensors need,
renames its inputs to the fused model's input names, and adds the fusion: P(real) = sigmoid of
the weighted sum of the branches' logits (or of a ``live_above`` branch's own margin, where that is
higher). The fused graph has one input per distinct crop recipe
(``runtime`` builds them from the frame) and two outputs: ``p_real`` (N,) and ``logits``
(branches, N), the latter for measuring each branch on the same faces.

Used by the default recipe (``training/recipes.py``) to put the Silent-Face MiniFASNet (trained on
its own crop, which a padded margin crop cannot reproduce) beside marginlive's own branches.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .rewrite import flush_subnormals, prelu_as_max


@dataclass
class Branch:
    """One logit per face from a tensor of ``model`` (an ``onnx.ModelProto``).

    ``tensor``: its name. ``kind``: ``"logit"`` (shape (1, N) or (N,)) or ``"softmax"`` (shape
    (N, C); the logit is log(p / (1 - p)) of column ``real_index``, p clipped to [``eps``, 1 - eps]
    so a saturated softmax stays finite: at the default 1e-4 the logit lies within +-9.2).
    ``inputs`` maps the source graph's input names to the fused model's (two branches reading the
    same crop share a name). ``weight``: its share of the fused logit (weights are normalised).
    ``live_above``: a logit at which this branch alone may call a face live. The fused logit is
    then at least ``logit - live_above`` (so at P(real) 0.5 the face passes once the branch's logit
    reaches ``live_above``), whatever the other branches say; None (the default): it only votes.
    """
    model: object
    tensor: str
    inputs: dict[str, str]
    weight: float
    name: str
    kind: str = "logit"
    real_index: int = 1
    eps: float = 1e-4
    live_above: float | None = None
    meta: dict = field(default_factory=dict)


def _cut(model, inputs: dict[str, str], tensors: list[str], prefix: str):
    """The nodes and initialisers of ``model`` that ``tensors`` need (cut once per model, so
    branches of one model share its common work), every name prefixed and the inputs renamed
    to the fused names. Returns (nodes, initialisers, the tensors' new names, fused inputs)."""
    import onnx
    from onnx import utils
    known = {v.name for v in list(model.graph.value_info) + list(model.graph.output)}
    if not set(tensors) <= known:   # the extractor needs the tensors' types
        model = onnx.shape_inference.infer_shapes(model)
    sub = utils.Extractor(model).extract_model(list(inputs), list(tensors))
    rename = {}
    for n in sub.graph.node:
        for t in list(n.input) + list(n.output):
            rename.setdefault(t, t if t == "" else prefix + t)
    for i in sub.graph.initializer:
        rename[i.name] = prefix + i.name
    rename.update(inputs)
    nodes = []
    for k, n in enumerate(sub.graph.node):
        m = onnx.NodeProto()
        m.CopyFrom(n)
        m.name = prefix + (n.name or f"node{k}")
        m.input[:] = [rename.get(t, t) for t in n.input]
        m.output[:] = [rename.get(t, t) for t in n.output]
        nodes.append(m)
    inits = []
    for i in sub.graph.initializer:
        j = onnx.TensorProto()
        j.CopyFrom(i)
        j.name = rename[i.name]
        inits.append(j)
    return nodes, inits, [rename[t] for t in tensors], {inputs[i.name]: i for i in sub.graph.input}


def compose(branches: list[Branch], input_order: list[str]):
    """The fused ``onnx.ModelProto`` (opset 17): inputs ``input_order``, outputs ``p_real`` and
    ``logits``. Metadata is the caller's to add (as ``training.recipes.assemble`` does)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    if not branches:
        raise ValueError("compose needs at least one branch")
    w = np.array([b.weight for b in branches], np.float32)
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"need non-negative weights with a positive sum, got {w.tolist()}")
    nodes, inits, graph_inputs, outs = _cut_all(branches)
    rows = []
    for k, b in enumerate(branches):
        rows.append(_logit_row(b, outs[id(b)], f"b{k}/", nodes, inits))
    inits += [numpy_helper.from_array(np.array(1.0, np.float32), "one"),
              numpy_helper.from_array(np.array([1, -1], np.int64), "row_shape"),
              numpy_helper.from_array(np.array([0], np.int64), "axis0"),
              numpy_helper.from_array((w / w.sum()).reshape(-1, 1), "weights")]
    nodes += [helper.make_node("Concat", rows, ["logits"], axis=0),
              helper.make_node("Mul", ["logits", "weights"], ["weighted"]),
              helper.make_node("ReduceSum", ["weighted", "axis0"], ["mean"], keepdims=0)]
    nodes += _live_above(branches, rows, inits, "mean", "fused")
    nodes.append(helper.make_node("Sigmoid", ["fused"], ["p_real"]))
    results = [helper.make_tensor_value_info("p_real", TensorProto.FLOAT, ["n"]),
               helper.make_tensor_value_info("logits", TensorProto.FLOAT, [len(branches), "n"])]
    g = helper.make_graph(nodes, "marginlive-fused", _ordered_inputs(graph_inputs, input_order), results, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    prelu_as_max(m)   # the same numbers, faster on ONNX Runtime (rewrite.py)
    flush_subnormals(m)   # the same numbers to float rounding, no slow path on one thread (rewrite.py)
    onnx.checker.check_model(m)
    return m


def _cut_all(branches: list[Branch]):
    """Every source model cut once: (nodes, initialisers, fused inputs by name, each branch's
    tensor by ``id(branch)``)."""
    nodes, inits, graph_inputs, outs = [], [], {}, {}
    models = {id(b.model): b.model for b in branches}
    for j, (key, model) in enumerate(models.items()):
        mine = [b for b in branches if id(b.model) == key]
        n, i, names, gin = _cut(model, mine[0].inputs, [b.tensor for b in mine], f"m{j}/")
        nodes += n
        inits += i
        graph_inputs.update(gin)
        outs.update({id(b): t for b, t in zip(mine, names)})
    return nodes, inits, graph_inputs, outs


def _logit_row(b: Branch, out: str, prefix: str, nodes: list, inits: list) -> str:
    """Appends the nodes that turn ``b``'s tensor ``out`` into a (1, N) row of logits; its name."""
    from onnx import helper, numpy_helper
    row = prefix + "row"
    if b.kind == "softmax":
        inits += [numpy_helper.from_array(np.array([b.real_index], np.int64), prefix + "col"),
                  numpy_helper.from_array(np.array(b.eps, np.float32), prefix + "lo"),
                  numpy_helper.from_array(np.array(1 - b.eps, np.float32), prefix + "hi")]
        nodes += [helper.make_node("Gather", [out, prefix + "col"], [prefix + "p"], axis=1),      # (N, 1)
                  helper.make_node("Clip", [prefix + "p", prefix + "lo", prefix + "hi"], [prefix + "pc"]),
                  helper.make_node("Sub", ["one", prefix + "pc"], [prefix + "q"]),
                  helper.make_node("Div", [prefix + "pc", prefix + "q"], [prefix + "odds"]),
                  helper.make_node("Log", [prefix + "odds"], [prefix + "lg"]),
                  helper.make_node("Reshape", [prefix + "lg", "row_shape"], [row])]
    elif b.kind == "logit":
        nodes.append(helper.make_node("Reshape", [out, "row_shape"], [row]))
    else:
        raise ValueError(f"unknown branch kind {b.kind!r}")
    return row


def _ordered_inputs(graph_inputs: dict, input_order: list[str]) -> list:
    """The fused graph's inputs in ``input_order``, which must name exactly the branches' inputs."""
    import onnx
    if set(graph_inputs) != set(input_order):
        raise ValueError(f"input_order {input_order} does not name the branches' inputs {sorted(graph_inputs)}")
    ins = []
    for name in input_order:
        vi = onnx.ValueInfoProto()
        vi.CopyFrom(graph_inputs[name])
        vi.name = name
        ins.append(vi)
    return ins


def _live_above(branches: list[Branch], rows: list[str], inits: list, mean: str, out: str) -> list:
    """Nodes computing ``out`` (N,) = max(``mean``, each ``live_above`` branch's logit minus its
    level); the weighted mean stays the Max's first input, where ``branch_logit_tensors`` looks."""
    from onnx import helper, numpy_helper
    terms, nodes = [mean], []
    for k, (b, row) in enumerate(zip(branches, rows)):
        if b.live_above is None:
            continue
        inits += [numpy_helper.from_array(np.array(b.live_above, np.float32), f"b{k}/live_above"),
                  numpy_helper.from_array(np.array([-1], np.int64), f"b{k}/flat")]
        nodes += [helper.make_node("Sub", [row, f"b{k}/live_above"], [f"b{k}/vouch_row"]),
                  helper.make_node("Reshape", [f"b{k}/vouch_row", f"b{k}/flat"], [f"b{k}/vouch"])]
        terms.append(f"b{k}/vouch")
    nodes.append(helper.make_node("Max", terms, [out]) if len(terms) > 1
                 else helper.make_node("Identity", terms, [out]))
    return nodes


def fused_logit_tensor(model) -> str:
    """The tensor of a marginlive model (an ``onnx.ModelProto``) whose sigmoid is ``p_real``."""
    fusion = next((n for n in model.graph.node if n.op_type == "Sigmoid" and n.output[0] == "p_real"), None)
    if fusion is None:
        raise ValueError("not a marginlive model whose P(real) is a sigmoid of one logit")
    return fusion.input[0]


def branch_logit_tensors(model) -> list[str]:
    """The tensors of a ``MultiScale`` export (an ``onnx.ModelProto``) that hold each branch's
    logit: the inputs of the Concat feeding the weighted sum, in the order of its branches."""
    by_out = {o: n for n in model.graph.node for o in n.output}
    node = by_out.get(fused_logit_tensor(model))
    while node is not None and node.op_type != "Concat":
        node = by_out.get(node.input[0])
    if node is None:
        raise ValueError("not a multi-branch marginlive model (no per-branch logits before p_real)")
    return list(node.input)
