"""Rewrites of an ONNX graph that give the same numbers faster on ONNX Runtime's CPU kernels.

``prelu_as_max``: PRelu(x, a) = x where x >= 0, a * x below, is Max(x, a * x) whenever every slope
a <= 1 (for x >= 0, a * x <= x; for x < 0, a * x >= x), the same float either way: Max picks
one of its two inputs, so the result is bit for bit PRelu's. ONNX Runtime's PRelu kernel with a
slope per channel is slow on one thread: on the Silent-Face MiniFASNetV1SE (33 PRelu beside 41
million multiply-adds of convolutions) it took half the network's time; rewritten, the network ran
3.76 -> 1.86 ms a face here (docs/research/2026-12-04-prelu.md).

``flush_subnormals``: weights below float32's smallest normal number (|w| < 1.18e-38, left by
weight decay on channels training stopped using) set to zero. On x86 every multiply with a
subnormal operand takes a slow microcode path unless the thread flushes them (DAZ), and ONNX
Runtime sets that only on its pool's threads, not on the caller's thread that runs a one-thread
session: 86 such weights in the fast model's student cost 13% of its time
(docs/research/2026-12-05-subnormal-weights.md). Their products are below 1e-35 for any input
the graphs see, under the rounding of every sum they enter.
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


def flush_subnormals(model) -> int:
    """Set every subnormal float32 value of ``model``'s initializers and Constant nodes to zero
    (in place); returns how many were."""
    import numpy as np
    from onnx import TensorProto, numpy_helper
    tiny = np.finfo(np.float32).tiny
    tensors = list(model.graph.initializer) + [a.t for n in model.graph.node if n.op_type == "Constant"
                                               for a in n.attribute if a.name == "value"]
    flushed = 0
    for t in tensors:
        if t.data_type != TensorProto.FLOAT:
            continue
        w = numpy_helper.to_array(t).copy()
        sub = (w != 0) & (np.abs(w) < tiny)
        if sub.any():
            flushed += int(sub.sum())
            w[sub] = 0
            t.CopyFrom(numpy_helper.from_array(w, t.name))
    return flushed
