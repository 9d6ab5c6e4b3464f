"""Rebuild MediaPipe's BlazeFace (short range) as an ONNX graph, weights unchanged.

The MediaPipe wheel runs BlazeFace inside a calculator graph on its own threads: about 2.5 ms a
640x480 frame here, most of it outside the network. The same network on ONNX Runtime, on the
caller's thread, is what ``detect/blazeface.py`` runs. This module is the recipe that made the
shipped file (``weights/blazeface-short-range.onnx``; ``make detector``); it needs the ``tflite``
flatbuffer reader and ``onnx`` (the ``train`` extra), the runtime does not.

Only the nine operators BlazeFace uses are translated. TFLite tensors are NHWC; the graph here is
NCHW (ONNX's convolution layout) and turns back to NHWC before each reshape, so that the flattened
outputs keep TFLite's order. Float16 weights stay float16, each behind a Cast (TFLite's DEQUANTIZE).

Graph: input ``image`` uint8 BGR NHWC (1, 128, 128, 3), the letterboxed frame (OpenCV's channel
order: the first convolution's input channels are reversed instead of the image's); scaled to
[-1, 1] inside. Outputs ``regressors`` (1, 896, 16) and ``classificators`` (1, 896, 1), as in the wheel.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:   # the train extra; the runtime never imports this module
    import onnx

SIZE = 128
_ACT = {0: None, 1: "Relu"}   # TFLite fused activations BlazeFace uses: none, RELU


def wheel_model() -> Path:
    """The short-range BlazeFace .tflite inside the installed mediapipe wheel."""
    import mediapipe
    return Path(mediapipe.__file__).parent / "modules" / "face_detection" / "face_detection_short_range.tflite"


class _Builder:
    """Walks one TFLite subgraph and emits ONNX nodes; tensor names are ``t<index>``."""

    def __init__(self, model, graph):
        import tflite
        self.tfl, self.model, self.g = tflite, model, graph
        self.nodes, self.inits = [], []
        self.const: dict[int, np.ndarray] = {}       # TFLite tensors whose values are known (NHWC)
        self.image = int(graph.InputsAsNumpy()[0])   # the RGB input: its convolution reads BGR instead
        self.codes = []
        for i in range(model.OperatorCodesLength()):
            oc = model.OperatorCodes(i)
            self.codes.append(tflite.opcode2name(max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())))

    def name(self, i: int) -> str:
        return f"t{i}"

    def shape(self, i: int) -> list[int]:
        return [int(s) for s in self.g.Tensors(i).ShapeAsNumpy()]

    def data(self, i: int) -> np.ndarray | None:
        t = self.g.Tensors(i)
        raw = self.model.Buffers(t.Buffer()).DataAsNumpy()
        if isinstance(raw, int) or raw.size == 0:
            return None
        dtype = {0: np.float32, 1: np.float16, 2: np.int32}[t.Type()]
        return np.frombuffer(raw.tobytes(), dtype).reshape(self.shape(i))

    def node(self, op: str, inputs: list[str], output: str, **attrs):
        from onnx import helper
        self.nodes.append(helper.make_node(op, inputs, [output], name=f"{op}_{len(self.nodes)}", **attrs))

    def init(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def weight(self, i: int, w: np.ndarray) -> str:
        """A convolution's weights ``w`` (already in ONNX layout) as tensor ``w<i>``, float16 kept
        behind a Cast."""
        src = self.init(f"w{i}", np.ascontiguousarray(w))
        if w.dtype == np.float32:
            return src
        self.node("Cast", [src], f"w{i}_f32", to=1)
        return f"w{i}_f32"

    def activation(self, out: str, code: int) -> tuple[str, str | None]:
        """Where an op with a fused activation writes first, and the activation to append."""
        act = _ACT[code]
        return (out + "_pre", act) if act else (out, None)

    def same_pads(self, i_in: int, kh: int, kw: int, sh: int, sw: int) -> list[int]:
        """TensorFlow's SAME padding as ONNX pads [top, left, bottom, right]: the odd pixel after."""
        _, h, w, _ = self.shape(i_in)
        pads = []
        for n, k, s in ((h, kh, sh), (w, kw, sw)):
            total = max((-(-n // s) - 1) * s + k - n, 0)
            pads.append((total // 2, total - total // 2))
        return [pads[0][0], pads[1][0], pads[0][1], pads[1][1]]

    def conv(self, op, opts_cls, depthwise: bool):
        """CONV_2D or DEPTHWISE_CONV_2D: an ONNX Conv (grouped for depthwise), then its activation."""
        opts = opts_cls()
        opts.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
        x, w, b = (int(v) for v in op.InputsAsNumpy())
        out = self.name(int(op.OutputsAsNumpy()[0]))
        wv = self.const[w]
        if x == self.image:                # the graph takes BGR: the first convolution's channels reversed
            wv = wv[..., ::-1]
        kh, kw = wv.shape[1:3]
        # TFLite: conv OHWI, depthwise 1HW(C*mult); ONNX: OIHW, depthwise (C*mult)1HW with group C
        weight = self.weight(w, wv.transpose(3, 0, 1, 2) if depthwise else wv.transpose(0, 3, 1, 2))
        sh, sw = opts.StrideH(), opts.StrideW()
        pads = self.same_pads(x, kh, kw, sh, sw) if opts.Padding() == 0 else [0, 0, 0, 0]
        first, act = self.activation(out, opts.FusedActivationFunction())
        attrs = dict(kernel_shape=[kh, kw], strides=[sh, sw], pads=pads)
        if depthwise:
            attrs["group"] = self.shape(x)[3]
        bias = self.init(f"b{b}", self.const[b].astype(np.float32))
        self.node("Conv", [self.name(x), weight, bias], first, **attrs)
        if act:
            self.node(act, [first], out)

    def op(self, op):
        tfl = self.tfl
        kind = self.codes[op.OpcodeIndex()]
        ins, outs = [int(v) for v in op.InputsAsNumpy()], [int(v) for v in op.OutputsAsNumpy()]
        out = self.name(outs[0])
        if kind == "DEQUANTIZE":          # float16 weights: resolved where a convolution reads them
            self.const[outs[0]] = self.const[ins[0]]
        elif kind == "CONV_2D":
            self.conv(op, tfl.Conv2DOptions, depthwise=False)
        elif kind == "DEPTHWISE_CONV_2D":
            self.conv(op, tfl.DepthwiseConv2DOptions, depthwise=True)
        elif kind == "RELU":
            self.node("Relu", [self.name(ins[0])], out)
        elif kind == "ADD":
            opts = tfl.AddOptions()
            opts.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
            first, act = self.activation(out, opts.FusedActivationFunction())
            self.node("Add", [self.name(ins[0]), self.name(ins[1])], first)
            if act:
                self.node(act, [first], out)
        elif kind == "PAD":               # paddings NHWC (4, 2) -> ONNX NCHW [begins..., ends...]
            p = self.const[ins[1]][[0, 3, 1, 2]]
            pads = self.init(f"pads{ins[1]}", np.concatenate([p[:, 0], p[:, 1]]).astype(np.int64))
            self.node("Pad", [self.name(ins[0]), pads], out)
        elif kind == "MAX_POOL_2D":
            opts = tfl.Pool2DOptions()
            opts.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
            kh, kw, sh, sw = opts.FilterHeight(), opts.FilterWidth(), opts.StrideH(), opts.StrideW()
            pads = self.same_pads(ins[0], kh, kw, sh, sw) if opts.Padding() == 0 else [0, 0, 0, 0]
            self.node("MaxPool", [self.name(ins[0])], out, kernel_shape=[kh, kw], strides=[sh, sw], pads=pads)
        elif kind == "RESHAPE":           # flatten in TFLite's NHWC order
            self.node("Transpose", [self.name(ins[0])], out + "_nhwc", perm=[0, 2, 3, 1])
            shape = self.init(f"shape{outs[0]}", np.array(self.shape(outs[0]), np.int64))
            self.node("Reshape", [out + "_nhwc", shape], out)
        elif kind == "CONCATENATION":     # only on the reshaped (1, boxes, values) outputs
            opts = tfl.ConcatenationOptions()
            opts.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
            self.node("Concat", [self.name(i) for i in ins], out, axis=opts.Axis())
        else:
            raise ValueError(f"BlazeFace conversion: operator {kind} not supported")


def convert(tflite_path: str | Path) -> "onnx.ModelProto":
    """The ONNX model of a BlazeFace .tflite file (see the module docstring for its inputs)."""
    import onnx
    import tflite
    from onnx import TensorProto, helper
    buf = Path(tflite_path).read_bytes()
    model = tflite.Model.GetRootAsModel(buf, 0)
    g = model.Subgraphs(0)
    b = _Builder(model, g)
    for i in range(g.TensorsLength()):
        v = b.data(i)
        if v is not None:
            b.const[i] = v
    (x,), outs = [int(v) for v in g.InputsAsNumpy()], [int(v) for v in g.OutputsAsNumpy()]
    # uint8 NHWC -> float [-1, 1] NCHW, as MediaPipe's ImageToTensor hands it to the network
    b.node("Cast", ["image"], "image_f", to=1)
    b.node("Mul", ["image_f", b.init("scale", np.array(2 / 255, np.float32))], "image_s")
    b.node("Sub", ["image_s", b.init("one", np.array(1, np.float32))], "image_n")
    b.node("Transpose", ["image_n"], b.name(x), perm=[0, 3, 1, 2])
    for k in range(g.OperatorsLength()):
        b.op(g.Operators(k))
    names = [g.Tensors(i).Name().decode() for i in outs]
    for i, n in zip(outs, names):
        b.node("Identity", [b.name(i)], n)
    graph = helper.make_graph(
        b.nodes, "blazeface_short_range",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, [1, SIZE, SIZE, 3])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, b.shape(i)) for i, n in zip(outs, names)],
        initializer=b.inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="marginlive")
    m.ir_version = 8
    helper.set_model_props(m, {"source": "mediapipe 0.10.21 modules/face_detection/face_detection_short_range.tflite",
                               "licence": "Apache-2.0, Google LLC (MediaPipe)"})
    onnx.checker.check_model(m)
    return m


def main(argv=None) -> int:
    """``python -m marginlive.detect.tflite_to_onnx OUT.onnx``: convert the wheel's model."""
    import onnx
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m marginlive.detect.tflite_to_onnx OUT.onnx", file=sys.stderr)
        return 2
    out = Path(argv[0])
    tmp = out.with_suffix(".tmp")
    onnx.save(convert(wheel_model()), tmp)
    tmp.replace(out)
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
