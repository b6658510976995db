"""onnxruntime's int8 arithmetic, op by op: QDQ ONNX models compiled to C give onnxruntime's bytes.

Graphs from ONNX / PyTorch are built with ``TE_SINGLE_ROUNDING``, which reproduces what
onnxruntime's CPU EP (x86, default optimizations) computes; each case here also checks that
onnxruntime really takes the path the kernel imitates (fused QLinear* op or unfused float op):

* QLinearConv / QGemm (MLAS MlasRequantizeOutput): ``round_half_even((float)acc * s)`` with the
  float32 ``s = (x_scale * w_scale[c]) / y_scale``;
* QLinearGlobalAveragePool: ``round_half_even((float)(sum - x_zp * n) * (x_scale / (y_scale * n)))``;
* QuantizeLinear: ``round_half_even(x / scale)`` (TFLite rounds ties away from zero);
* QLinearAdd (x86, uint8 data after onnxruntime's int8 -> uint8 rewrite): with r = s_in / s_out in
  float32, ``round_half_even(fma(r1, a + 128, fma(r2, b + 128, fixed)))``,
  ``fixed = (zp_out + 128) - fma(r1, zp1 + 128, r2 * (zp2 + 128))``;
* a QDQ group on a tensor with several readers (a residual block's input / output) keeps int8
  activations next to uint8 ones, and x86 does not fuse mixed groups: Add runs as
  DequantizeLinear -> float Add -> QuantizeLinear, a 1x1 Conv as float SGEMM (fused multiply-adds in
  k order, 128-deep blocks, then the float bias) -> QuantizeLinear.

The reference is onnxruntime's output; the outputs compared are the int8 values (recovered from
the final DequantizeLinear), byte for byte.
"""

from __future__ import annotations

import ctypes
import os
import subprocess

import numpy as np
import pytest

from . import needs

import tinyengine_tvm as te

onnx = needs.module("onnx")
ort = needs.module("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from tinyengine_tvm.testing import onnx_models as om  # noqa: E402
from tinyengine_tvm.testing.qdq_graph import QDQGraph, conv_out_scale  # noqa: E402
from tinyengine_tvm.testing.qdq_graph import initializer as _init  # noqa: E402

f32 = np.float32


def _ort(model):
    """onnxruntime session (default optimizations) and the op types it actually runs."""
    sess, opt = om.ort_optimized(model)
    return sess, [n.op_type for n in opt.graph.node]


def _out_q(model):
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    dq = [n for n in model.graph.node if n.output[0] == model.graph.output[0].name][0]
    return f32(inits[dq.input[1]]), int(inits[dq.input[2]])


def _compare(model, xs, floats=True):
    """(ours, onnxruntime) int8 outputs over inputs xs (NCHW float), and the ops ORT ran; the float
    outputs must be identical too (DequantizeLinear in float32)."""
    sess, ops = _ort(model)
    cm = te.compile(model, arithmetic="onnxruntime")
    s, zp = _out_q(model)
    to_q = lambda y: (np.rint(np.asarray(y, np.float32) / s) + zp).astype(np.int8)  # noqa: E731
    ref, ours = [], []
    for x in xs:
        ref.append(to_q(sess.run(None, {"x": x})[0]).reshape(-1))
        yf = cm.run([np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if x.ndim == 4 else x])[0]
        rf = sess.run(None, {"x": x})[0]
        if floats:
            np.testing.assert_array_equal(yf.transpose(0, 3, 1, 2) if yf.ndim == 4 else yf, rf)
        y = to_q(yf)
        ours.append((y.transpose(0, 3, 1, 2) if y.ndim == 4 else y).reshape(-1))
    return np.concatenate(ours), np.concatenate(ref), ops


def _inputs(rng, shape, n=3, lo=-1.0, hi=1.0):
    return [rng.uniform(lo, hi, shape).astype(np.float32) for _ in range(n)]


def test_qlinearconv_per_channel_and_depthwise_bytes():
    b = QDQGraph(1)
    x, _, _ = b.qdq("x", 0.008, 3)
    c1 = b.conv(x, 8, 32, 3, 0.008)
    _s1 = conv_out_scale(0.008, 72)
    d1, _, _ = b.qdq(c1, _s1, -5)
    c2 = b.conv(d1, 32, 32, 3, _s1, groups=32, stride=2)
    _s2 = conv_out_scale(_s1, 9)
    d2, _, _ = b.qdq(c2, _s2, 7)
    m = b.model(d2, [1, 8, 24, 24], [1, 32, 12, 12])
    ours, ref, ops = _compare(m, _inputs(np.random.default_rng(0), (1, 8, 24, 24), lo=-1.0, hi=1.0))
    assert ops.count("QLinearConv") == 2, ops
    assert (np.abs(ref.astype(int)) < 127).mean() > 0.9  # the comparison is about rounding, not saturation
    np.testing.assert_array_equal(ours, ref)


def _residual(seed, c, hw, in_s, in_zp):
    """x -> 1x1 conv -> add(x): x's QuantizeLinear has two readers."""
    b = QDQGraph(seed)
    x, xq, xnames = b.qdq("x", in_s, in_zp)
    conv = b.conv(x, c, c, 1, in_s)
    s = conv_out_scale(in_s, c)
    d, _, _ = b.qdq(conv, s, 2)
    a = b.name("a")
    b.nodes.append(helper.make_node("Add", [d, b.dq(xq, xnames)], [a]))
    y, _, _ = b.qdq(a, s * 1.3, -1)
    return b.model(y, [1, c, hw, hw], [1, c, hw, hw])


def test_residual_block_unfused_float_conv_and_add_bytes():
    """Input shared by a 1x1 conv and the add: onnxruntime runs both in float (DQ -> op -> Q)."""
    m = _residual(2, 48, 20, 0.011, -4)
    ours, ref, ops = _compare(m, _inputs(np.random.default_rng(1), (1, 48, 20, 20), lo=-1.4, hi=1.4))
    assert "Conv" in ops and "Add" in ops and "QLinearConv" not in ops, ops
    np.testing.assert_array_equal(ours, ref)


def test_deep_pointwise_conv_uses_sgemm_depth_blocks():
    """K = 336 > 128: SGEMM's depth blocking shows in the float conv's rounding."""
    m = _residual(3, 336, 12, 0.02, 0)
    ours, ref, ops = _compare(m, _inputs(np.random.default_rng(2), (1, 336, 12, 12), n=6))
    assert "Conv" in ops, ops
    np.testing.assert_array_equal(ours, ref)


def test_qlinear_global_average_pool_and_qgemm_bytes():
    b = QDQGraph(4)
    x, _, _ = b.qdq("x", 0.03, -20)
    g = b.name("g")
    b.nodes.append(helper.make_node("GlobalAveragePool", [x], [g]))
    gd, _, _ = b.qdq(g, 0.006, 3)
    fl = b.name("f")
    b.nodes.append(helper.make_node("Flatten", [gd], [fl]))
    fl, _, _ = b.qdq(fl, 0.006, 3)  # quantize_static's layout: Flatten between its own Q/DQ pairs
    w = b.rng.integers(-127, 128, (40, 64)).astype(np.int8)
    ws = b.rng.uniform(0.002, 0.02, 40).astype(f32)
    bias = b.rng.integers(-3000, 3000, 40).astype(np.int32)
    b.inits += [_init("gw", w.T.copy()), _init("gws", ws), _init("gwz", np.zeros(40, np.int8)), _init("gb", bias),
                _init("gbs", (f32(0.006) * ws).astype(f32)), _init("gbz", np.zeros(40, np.int32))]
    b.nodes += [helper.make_node("DequantizeLinear", ["gw", "gws", "gwz"], ["gwd"], axis=1),
                helper.make_node("DequantizeLinear", ["gb", "gbs", "gbz"], ["gbd"], axis=0),
                helper.make_node("Gemm", [fl, "gwd", "gbd"], ["gy"])]
    y, _, _ = b.qdq("gy", conv_out_scale(0.006, 64), 1)
    m = b.model(y, [1, 64, 9, 9], [1, 40])
    rng = np.random.default_rng(3)
    xs = [np.clip(rng.uniform(-1, 1, (1, 64, 9, 9)) + rng.uniform(-2, 2, (1, 64, 1, 1)), -3.5, 3.5).astype(np.float32)
          for _ in range(12)]
    ours, ref, ops = _compare(m, xs)
    assert "QLinearGlobalAveragePool" in ops and "QGemm" in ops, ops
    np.testing.assert_array_equal(ours, ref)


def test_quantize_linear_rounds_ties_to_even():
    b = QDQGraph(5)
    s = 0.03125  # a power of two: k + 0.5 steps are exact ties
    x, _, _ = b.qdq("x", s, 1)
    m = b.model(x, [1, 4, 8, 8], [1, 4, 8, 8])
    rng = np.random.default_rng(4)
    xs = [((rng.integers(-120, 120, (1, 4, 8, 8)) + 0.5) * s).astype(np.float32) for _ in range(2)]
    cm = te.compile(m, arithmetic="onnxruntime")
    sess, _ = _ort(m)
    for x in xs:
        ref = np.rint(sess.run(None, {"x": x})[0] / s)
        ours = np.rint(cm.run([np.ascontiguousarray(x.transpose(0, 2, 3, 1))])[0].transpose(0, 3, 1, 2) / s)
        np.testing.assert_array_equal(ours, ref)


@pytest.fixture(scope="module")
def rounding_lib(tmp_path_factory):
    """te_requantize.c built in its onnxruntime mode, as a shared library."""
    from tinyengine_tvm.codegen.emitter import kernel_dir

    d = tmp_path_factory.mktemp("rq")
    lib = str(d / "librq.so")
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-DTE_SINGLE_ROUNDING=1",
                    f"-I{kernel_dir()}", "-o", lib, os.path.join(kernel_dir(), "te_requantize.c")], check=True)
    so = ctypes.CDLL(lib)
    so.te_round_half_even_f32.argtypes, so.te_round_half_even_f32.restype = [ctypes.c_float], ctypes.c_int32
    so.te_requantize.argtypes = [ctypes.c_int32, ctypes.c_int32, ctypes.c_int32]
    so.te_requantize.restype = ctypes.c_int32
    return so


def test_round_half_even_matches_numpy_rint(rounding_lib):
    rng = np.random.default_rng(5)
    vals = np.concatenate([rng.uniform(-300, 300, 20000), np.arange(-600, 601) / 2.0, [0.49999997, -0.49999997, 0.5, -0.5,
                           1.5, 2.5, -2.5, 8388607.5, 2.0 ** 23 + 1, -(2.0 ** 29), 2.0 ** 31, -(2.0 ** 40), 1e-30]]).astype(np.float32)
    got = np.array([rounding_lib.te_round_half_even_f32(float(v)) for v in vals])
    big = np.abs(vals) >= 2.0 ** 30  # saturated (far outside any int8 requantization)
    want = np.where(big, np.where(vals > 0, 2 ** 31 - 1, -(2 ** 31)), np.rint(vals.astype(np.float64))).astype(np.int64)
    np.testing.assert_array_equal(got, want)


def test_float_requantize_is_float32_product_then_rint(rounding_lib):
    rng = np.random.default_rng(6)
    for _ in range(200):
        scale = f32(rng.uniform(1e-4, 0.05))
        bits = int(np.array([scale], np.float32).view(np.int32)[0])
        accs = rng.integers(-200000, 200000, 50).astype(np.int32)
        got = [rounding_lib.te_requantize(int(a), bits, 0) for a in accs]
        want = np.rint((accs.astype(np.float32) * scale).astype(np.float32)).astype(np.int64)
        np.testing.assert_array_equal(got, want)


@pytest.mark.slow
@pytest.mark.claims
def test_ort_quantized_mobilenet_v2_byte_identical():
    """Issue 3: an ORT-quantized (quantize_static, QDQ, per-channel) MobileNetV2 0.35/96 compiles
    and gives onnxruntime's bytes."""
    needs.module("torch")
    from tinyengine_tvm.testing import onnx_models as om
    from tinyengine_tvm.testing import torch_models as tm

    model = tm.mobilenet_v2(0.35, 1000, seed=0, resolution=96)
    calib = tm.images(16, 96, seed=10)
    qdq = om.ort_quantize(tm.to_onnx(model, calib[0]), calib, per_channel=True)
    xs = tm.images(20, 96, seed=20)
    ours, ref, ops = _compare(qdq, xs)
    assert "Conv" in ops and "QLinearConv" in ops  # both of onnxruntime's conv paths are exercised
    np.testing.assert_array_equal(ours, ref)
    cm = te.compile(qdq, arithmetic="onnxruntime")  # the float outputs too (DequantizeLinear in float32, as onnxruntime)
    x = xs[0]
    np.testing.assert_array_equal(cm.run([np.ascontiguousarray(x.transpose(0, 2, 3, 1))])[0], om.ort_run(qdq, [x])[0])


def test_int8_requantize_is_float_dequantize_then_quantize():
    """DQ(s1) -> Q(s2) between int8 tensors: onnxruntime's two float ops."""
    b = QDQGraph(7)
    x, _, _ = b.qdq("x", 0.0173, 5)
    y, _, _ = b.qdq(x, 0.0291, -9)
    m = b.model(y, [1, 16, 16, 16], [1, 16, 16, 16])
    rng = np.random.default_rng(8)
    # onnxruntime folds the trailing Q(s2) -> DQ(s2) pair away here (its float output is q1 * s1),
    # so only the int8 values it implies are comparable
    ours, ref, ops = _compare(m, _inputs(rng, (1, 16, 16, 16), n=8, lo=-2.3, hi=2.3), floats=False)
    cm = te.compile(m, arithmetic="onnxruntime")
    assert "requantize" in cm.report()["op_counts"], cm.report()["op_counts"]
    np.testing.assert_array_equal(ours, ref)


def test_two_branch_add_is_qlinearadd_bytes():
    """An add of two single-reader tensors: onnxruntime fuses it into QLinearAdd on uint8 data
    (MLAS: fma(r1, a + 128, fma(r2, b + 128, fixed))), which rounds differently from the float Add."""
    b = QDQGraph(9)
    x, xq, xnames = b.qdq("x", 0.013, 6)
    c1 = b.conv(x, 16, 24, 1, 0.013)
    s1 = conv_out_scale(0.013, 16)
    d1, _, _ = b.qdq(c1, s1, -3)
    c2 = b.conv(b.dq(xq, xnames), 16, 24, 1, 0.013)
    s2 = conv_out_scale(0.013, 16) * 0.7
    d2, _, _ = b.qdq(c2, s2, 4)
    a = b.name("a")
    b.nodes.append(helper.make_node("Add", [d1, d2], [a]))
    y, _, _ = b.qdq(a, s1 * 1.1, 2)
    m = b.model(y, [1, 16, 24, 24], [1, 24, 24, 24])
    ours, ref, ops = _compare(m, _inputs(np.random.default_rng(10), (1, 16, 24, 24), n=6, lo=-1.5, hi=1.5))
    assert "QLinearAdd" in ops and "Conv" in ops, ops
    np.testing.assert_array_equal(ours, ref)


class _AddParams(ctypes.Structure):
    _fields_ = [("n", ctypes.c_int32), ("out_zp", ctypes.c_int32), ("act_min", ctypes.c_int32), ("act_max", ctypes.c_int32),
                ("out_scale", ctypes.c_float), ("fused", ctypes.c_int32), ("ratio1", ctypes.c_float),
                ("ratio2", ctypes.c_float), ("fixed", ctypes.c_float)]


@pytest.fixture(scope="module")
def add_lib(tmp_path_factory):
    """add_s8_f32.c + te_requantize.c in onnxruntime mode, as a shared library."""
    from tinyengine_tvm.codegen.emitter import kernel_dir

    lib = str(tmp_path_factory.mktemp("add") / "libadd.so")
    srcs = [os.path.join(kernel_dir(), f) for f in ("add_s8_f32.c", "te_requantize.c")]
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-DTE_SINGLE_ROUNDING=1",
                    f"-I{kernel_dir()}", "-o", lib, *srcs, "-lm"], check=True)
    return ctypes.CDLL(lib)


def test_qlinearadd_formula_exhaustive_against_onnxruntime(add_lib):
    """Every int8 pair through onnxruntime's QLinearAdd vs quant.ort_qlinearadd_params' formula and
    the C kernel (te_add_s8_f32, fused), and through its float Add vs the kernel's unfused mode."""
    from tinyengine_tvm.codegen import quant

    rng = np.random.default_rng(11)
    qa, qb = (v.reshape(1, -1) for v in np.meshgrid(np.arange(-128, 128), np.arange(-128, 128), indexing="ij"))
    for _ in range(8):
        sa, sb = f32(rng.uniform(0.005, 0.08)), f32(rng.uniform(0.005, 0.08))
        sc = f32((sa + sb) * rng.uniform(0.5, 1.5))
        za, zb, zc = (int(v) for v in rng.integers(-30, 30, 3))
        nodes = [helper.make_node("QuantizeLinear", ["xa", "sa", "za"], ["aq"]),
                 helper.make_node("DequantizeLinear", ["aq", "sa", "za"], ["ad"]),
                 helper.make_node("QuantizeLinear", ["xb", "sb", "zb"], ["bq"]),
                 helper.make_node("DequantizeLinear", ["bq", "sb", "zb"], ["bd"]),
                 helper.make_node("Add", ["ad", "bd"], ["c"]),
                 helper.make_node("QuantizeLinear", ["c", "sc", "zc"], ["yq"]),
                 helper.make_node("DequantizeLinear", ["yq", "sc", "zc"], ["y"])]  # a DQ reader: uint8 rewrite
        inits = [_init("sa", sa), _init("sb", sb), _init("sc", sc), _init("za", np.int8(za)), _init("zb", np.int8(zb)),
                 _init("zc", np.int8(zc))]
        g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(v, TensorProto.FLOAT, [1, qa.size]) for v in ("xa", "xb")],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, qa.size])], inits)
        sess, ops = _ort(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8))
        assert "QLinearAdd" in ops, ops
        y = sess.run(None, {"xa": (f32(qa - za) * sa).astype(f32), "xb": (f32(qb - zb) * sb).astype(f32)})[0]
        r1, r2, fixed = (np.float64(v) for v in quant.ort_qlinearadd_params(sa, za, sb, zb, sc, zc))
        inner = (r2 * (qb + 128) + fixed).astype(np.float32).astype(np.float64)  # products exact in double
        v = (r1 * (qa + 128) + inner).astype(np.float32)
        want = np.clip(np.rint(v), 0, 255) - 128
        got = (np.rint(y / sc) + zc).astype(np.int64).reshape(-1)
        np.testing.assert_array_equal(got, want.astype(np.int64).reshape(-1))
        a8, b8 = np.ascontiguousarray(qa.reshape(-1), np.int8), np.ascontiguousarray(qb.reshape(-1), np.int8)
        out = np.zeros(a8.size, np.int8)
        ptr = lambda arr, t: arr.ctypes.data_as(ctypes.POINTER(t))  # noqa: E731
        p = _AddParams(a8.size, zc, -128, 127, sc, 1, *quant.ort_qlinearadd_params(sa, za, sb, zb, sc, zc))
        add_lib.te_add_s8_f32(ctypes.byref(p), ptr(a8, ctypes.c_int8), ptr(b8, ctypes.c_int8), None, None,
                              ptr(out, ctypes.c_int8))
        np.testing.assert_array_equal(out.astype(np.int64), got)
        # the unfused float Add (DequantizeLinear -> Add -> QuantizeLinear, optimizations off)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        plain = ort.InferenceSession(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
                                     .SerializeToString(), so, providers=["CPUExecutionProvider"])
        yf = plain.run(None, {"xa": (f32(qa - za) * sa).astype(f32), "xb": (f32(qb - zb) * sb).astype(f32)})[0]
        t1, t2 = quant.ort_dequant_table(sa, za), quant.ort_dequant_table(sb, zb)
        p.fused = 0
        add_lib.te_add_s8_f32(ctypes.byref(p), ptr(a8, ctypes.c_int8), ptr(b8, ctypes.c_int8), ptr(t1, ctypes.c_float),
                              ptr(t2, ctypes.c_float), ptr(out, ctypes.c_int8))
        np.testing.assert_array_equal(out.astype(np.int64), (np.rint(yf / sc) + zc).astype(np.int64).reshape(-1))
