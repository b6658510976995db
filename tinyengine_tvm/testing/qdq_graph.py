"""Hand-written QDQ ONNX graphs with chosen scales: inputs for the onnxruntime-arithmetic tests.

``QDQGraph`` builds a graph node by node (QuantizeLinear / DequantizeLinear pairs with the scales
and zero points a test picks, int8 conv weights and int32 biases drawn at random, Add, pools) so
that what onnxruntime computes on it is free of calibration noise. The tests run the model in
onnxruntime and compare with our compiled C.
"""

from __future__ import annotations

import numpy as np

f32 = np.float32


def initializer(name, a):
    """An ONNX initializer named ``name`` holding array ``a`` (its dtype kept)."""
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(a), name)


def conv_out_scale(in_s, fan_in) -> float:
    """An output scale for QDQGraph.conv's random weights that keeps most values inside int8 (few
    saturate: rounding is what the tests look at)."""
    return float(f32(in_s * 0.011 * 74 * 74 * np.sqrt(fan_in) * 2.5 / 127))


class QDQGraph:
    """A QDQ graph written by hand; the input is ``x`` (float, NCHW)."""

    def __init__(self, seed=0):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, p):
        self.n += 1
        return f"{p}{self.n}"

    def q(self, x, s, zp):
        """QuantizeLinear of x; returns (int8 output, (scale name, zero point name))."""
        from onnx import helper

        sn, zn, q = self.name("s"), self.name("z"), self.name("q")
        self.inits += [initializer(sn, f32(s)), initializer(zn, np.int8(zp))]
        self.nodes.append(helper.make_node("QuantizeLinear", [x, sn, zn], [q]))
        return q, (sn, zn)

    def dq(self, q, names):
        """A (further) DequantizeLinear of the int8 tensor q with parameters ``names``."""
        from onnx import helper

        d = self.name("d")
        self.nodes.append(helper.make_node("DequantizeLinear", [q, *names], [d]))
        return d

    def qdq(self, x, s, zp):
        """Q then DQ of float tensor x; returns (dq output, q output, parameter names)."""
        q, names = self.q(x, s, zp)
        return self.dq(q, names), q, names

    def op(self, kind, inputs, **attrs):
        from onnx import helper

        y = self.name(kind)
        self.nodes.append(helper.make_node(kind, inputs, [y], **attrs))
        return y

    def add(self, a, b):
        return self.op("Add", [a, b])

    def pool(self, x, k, s=(1, 1), pads=(0, 0, 0, 0), cip=0):
        return self.op("AveragePool", [x], kernel_shape=list(k), strides=list(s), pads=list(pads), count_include_pad=cip)

    def conv(self, x, cin, cout, k, in_s, groups=1, stride=1, per_channel=True):
        """Conv of x (scale in_s) with random int8 weights (per-channel or per-tensor scales) and int32 bias."""
        from onnx import helper

        w = self.rng.integers(-127, 128, (cout, cin // groups, k, k)).astype(np.int8)
        ws = self.rng.uniform(0.002, 0.02, cout if per_channel else 1).astype(f32)
        b = self.rng.integers(-3000, 3000, cout).astype(np.int32)
        wn, wsn, wzn, bn, bsn, bzn, y, wd, bd = (self.name(p) for p in ("w", "ws", "wz", "b", "bs", "bz", "c", "wd", "bd"))
        ax = {"axis": 0} if per_channel else {}
        bs = (f32(in_s) * ws).astype(f32)
        self.inits += [initializer(wn, w), initializer(wsn, ws if per_channel else ws[0]),
                       initializer(wzn, np.zeros(cout, np.int8) if per_channel else np.int8(0)), initializer(bn, b),
                       initializer(bsn, bs if per_channel else bs[0]),
                       initializer(bzn, np.zeros(cout, np.int32) if per_channel else np.int32(0))]
        self.nodes += [helper.make_node("DequantizeLinear", [wn, wsn, wzn], [wd], **ax),
                       helper.make_node("DequantizeLinear", [bn, bsn, bzn], [bd], **ax),
                       helper.make_node("Conv", [x, wd, bd], [y], kernel_shape=[k, k], pads=[k // 2] * 4, group=groups,
                                        strides=[stride, stride])]
        return y

    def model(self, out, in_shape, out_shape=None, int8_out=False):
        """The ModelProto (opset 13) computing ``out`` (an int8 graph output with ``int8_out``)."""
        from onnx import TensorProto, helper

        y = helper.make_tensor_value_info(out, TensorProto.INT8 if int8_out else TensorProto.FLOAT,
                                          None if out_shape is None else list(out_shape))
        g = helper.make_graph(self.nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
                              [y], self.inits)
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
