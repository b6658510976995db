"""onnxruntime's arithmetic for the SE-block activations of ONNX / PyTorch graphs (TE_SINGLE_ROUNDING):
QDQ Sigmoid (onnxruntime fuses it to QLinearSigmoid: MLAS's logistic of every dequantized int8 value, then
QuantizeLinear), HardSigmoid and HardSwish (left unfused: float32 DequantizeLinear -> HardSigmoid [-> Mul] ->
QuantizeLinear), each compiled to a 256-entry table (codegen/lut.py ort_unary_table) and compared byte for
byte with onnxruntime on every int8 input value. QDQ Mul / Sub are refused with a one-line error until their
onnxruntime kernels exist.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinyengine_tvm as te
from tinyengine_tvm.errors import TinyEngineError

from . import needs

onnx = needs.module("onnx")
ort = needs.module("onnxruntime")

from tinyengine_tvm.testing import onnx_models as om  # noqa: E402
from tinyengine_tvm.testing.qdq_graph import QDQGraph, conv_out_scale  # noqa: E402


f32 = np.float32


def _model(kind, si, zi, so, zo, **attrs):
    g = QDQGraph(0)
    d, _, _ = g.qdq("x", si, zi)
    y = g.op(kind, [d], **attrs)
    yq, _, _ = g.qdq(y, so, zo)
    m = g.model(yq, (1, 256, 1, 1))
    m.opset_import[0].version = 14
    return m


def _every_level(si, zi):
    """A [1, 256, 1, 1] input whose QuantizeLinear gives every int8 value once."""
    k = np.arange(-128, 128)
    return ((k - zi).astype(f32) * f32(si)).astype(f32).reshape(1, 256, 1, 1)


def _check(kind, si, zi, so, zo, expect_ops, **attrs):
    m = _model(kind, si, zi, so, zo, **attrs)
    sess, opt = om.ort_optimized(m)
    assert [n.op_type for n in opt.graph.node if n.op_type not in ("QuantizeLinear", "DequantizeLinear")] == expect_ops
    cm = te.compile(m, arithmetic="onnxruntime")
    assert cm.report()["op_counts"] == {"quantize": 1, "lut": 1, "dequantize": 1}
    x = _every_level(si, zi)
    ref = sess.run(None, {"x": x})[0]
    ours = cm.run([np.ascontiguousarray(x.transpose(0, 2, 3, 1))])[0].transpose(0, 3, 1, 2)
    to_q = lambda y: np.rint(y / f32(so)).astype(np.int64) + zo  # noqa: E731
    np.testing.assert_array_equal(to_q(ours), to_q(ref))


def _q(rng):
    si = float(f32(np.exp(rng.uniform(np.log(0.005), np.log(0.2)))))
    so = float(f32(np.exp(rng.uniform(np.log(0.002), np.log(0.05)))))
    return si, int(rng.integers(-60, 61)), so, int(rng.integers(-128, 0))


@pytest.mark.parametrize("seed", range(3))
def test_qlinear_sigmoid(seed):
    si, zi, so, zo = _q(np.random.default_rng(seed))
    out = [(1 / 256, -128), (so, zo), (0.002, -128)][seed]  # QLinearSigmoid takes any output quantization
    _check("Sigmoid", si, zi, *out, ["QLinearSigmoid"])


@pytest.mark.parametrize("seed", range(3))
def test_hard_sigmoid(seed):
    rng = np.random.default_rng(10 + seed)
    si, zi, so, zo = _q(rng)
    alpha, beta = [(0.2, 0.5), (1 / 6, 0.5), (float(rng.uniform(0.05, 0.6)), float(rng.uniform(0.1, 0.9)))][seed]
    _check("HardSigmoid", si, zi, so, zo, ["HardSigmoid"], alpha=alpha, beta=beta)


@pytest.mark.parametrize("seed", range(3))
def test_hard_swish(seed):
    si, zi, so, zo = _q(np.random.default_rng(20 + seed))
    _check("HardSwish", si, zi, so, zo, ["HardSigmoid", "Mul"])


def _binary_model(kind, seed, shared):
    """x -> Q -> DQ (the map) times / minus a gate GlobalAveragePool(x) -> Q -> DQ ([1, C, 1, 1], broadcast), -> Q
    -> DQ. ``shared``: the map's QuantizeLinear also feeds a second DequantizeLinear (a tensor with two readers,
    which onnxruntime keeps int8 and so does not fuse)."""
    rng = np.random.default_rng(seed)
    si, zi, so, zo = _q(rng)
    g = QDQGraph(seed)
    q, names = g.q("x", si, zi)
    d = g.dq(q, names)
    gate, _, _ = g.qdq(g.op("GlobalAveragePool", [g.qdq("x", si * 1.3, zi // 2)[0]]), float(f32(si * 0.7)), int(rng.integers(-20, 20)))
    y = g.op(kind, [d, gate])
    if shared:
        y = g.op("Add", [g.qdq(y, so, zo)[0], g.dq(q, names)])
    yq, _, _ = g.qdq(y, so * 2, zo)
    return g.model(yq, (1, 8, 5, 6)), (so * 2, zo)


@pytest.mark.parametrize("kind,shared,ort_op", [("Mul", False, "QLinearMul"), ("Mul", True, "Mul"), ("Sub", False, "Sub"),
                                                ("Sub", True, "Sub")])
@pytest.mark.parametrize("seed", range(2))
def test_mul_sub_broadcast(kind, shared, ort_op, seed):
    m, (so, zo) = _binary_model(kind, seed, shared)
    sess, opt = om.ort_optimized(m)
    assert ort_op in [n.op_type for n in opt.graph.node]
    cm = te.compile(m, arithmetic="onnxruntime")
    assert kind.lower() in cm.report()["op_counts"]
    rng = np.random.default_rng(seed)
    to_q = lambda y: np.rint(y / f32(so)).astype(np.int64) + zo  # noqa: E731
    for _ in range(3):
        x = rng.uniform(-2, 2, (1, 8, 5, 6)).astype(f32)
        ref = sess.run(None, {"x": x})[0]
        ours = cm.run([np.ascontiguousarray(x.transpose(0, 2, 3, 1))])[0].transpose(0, 3, 1, 2)
        np.testing.assert_array_equal(to_q(ours), to_q(ref))


def test_mul_by_a_constant_refused_in_onnxruntime_arithmetic():
    from onnx import numpy_helper

    g = QDQGraph(0)
    d, _, _ = g.qdq("x", 0.05, -3)
    g.inits += [numpy_helper.from_array(np.array(100, np.int8), "c"), numpy_helper.from_array(f32(0.01), "cs"),
                numpy_helper.from_array(np.int8(0), "cz")]
    yq, _, _ = g.qdq(g.op("Mul", [d, g.dq("c", ("cs", "cz"))]), 0.05, 0)
    with pytest.raises(TinyEngineError, match="has no kernel in onnxruntime's arithmetic yet"):
        te.compile(g.model(yq, (1, 4, 3, 3)))




def test_hard_swish_after_conv_keeps_the_conv_fused():
    """TVM's importer reads HardSwish's input twice (x * (clip(x + 3, 0, 6) / 6)) but onnxruntime sees one
    DequantizeLinear reading the conv's output: the conv is a fused QLinearConv there, so it must not become
    the unfused float conv here (annotate._param_reads counts a table kernel as one reader). The bytes of
    this conv are tests/test_ort_arith.py's business (here they differ from onnxruntime in some saturated
    outputs, with or without the HardSwish: see the closing note of the SE work)."""
    g = QDQGraph(5)
    d, _, _ = g.qdq("x", 0.03, 2)
    c, _, _ = g.qdq(g.conv(d, 4, 8, 3, 0.03), conv_out_scale(0.03, 4 * 9), -10)
    yq, _, _ = g.qdq(g.op("HardSwish", [c]), 0.03, -100)
    m = g.model(yq, (1, 4, 6, 6))
    m.opset_import[0].version = 14
    _, opt = om.ort_optimized(m)
    assert "QLinearConv" in [n.op_type for n in opt.graph.node]
    cm = te.compile(m, arithmetic="onnxruntime")
    assert [(op.kernel, bool(op.params.get("ort_float"))) for op in cm.graph.ops] == [
        ("quantize", False), ("conv2d", False), ("lut", False), ("dequantize", False)]
