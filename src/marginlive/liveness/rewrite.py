"""Rewrites of an ONNX graph that give the same numbers faster on ONNX Runtime's CPU kernels.

``prelu_as_max``: PRelu(x, a) = x where x >= 0, a * x below, is Max(x, a * x) whenever every slope
a <= 1 (for x >= 0, a * x <= x; for x < 0, a * x >= x), the same float either way: Max picks
one of its two inputs, so the result is bit for bit PRelu's. ONNX Runtime's PRelu kernel with a
slope per channel is slow on one thread: on the Silent-Face MiniFASNetV1SE (33 PRelu beside 41
million multiply-adds of convolutions) it took half the network's time; rewritten, the network ran
3.76 -> 1.86 ms a face here (docs/research/2026-12-04-prelu.md).
"""
from __future__ import annotations


def prelu_as_max(model):
    """``model`` (an ``onnx.ModelProto``, changed in place and returned) with each PRelu whose
    slopes are a constant tensor of values <= 1 replaced by Mul and Max; any other PRelu stays."""
    from onnx import helper, numpy_helper
    consts = {i.name: i for i in model.graph.initializer}
    nodes = []
    for n in model.graph.node:
        slope = consts.get(n.input[1]) if n.op_type == "PRelu" else None
        if slope is None or not (numpy_helper.to_array(slope) <= 1).all():
            nodes.append(n)
            continue
        x, a, y = n.input[0], n.input[1], n.output[0]
        scaled = f"{y}/slope_times_x"
        nodes += [helper.make_node("Mul", [x, a], [scaled], name=f"{n.name or y}/slope_times_x"),
                  helper.make_node("Max", [x, scaled], [y], name=n.name or y)]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model
