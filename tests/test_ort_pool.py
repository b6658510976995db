"""onnxruntime's QDQ AveragePool, byte for byte: single-pool ONNX graphs compiled to C vs onnxruntime.

onnxruntime (x86 CPU EP, default optimizations) computes DequantizeLinear -> AveragePool ->
QuantizeLinear in one of five ways (pool_s8_f32.c; quant.ort_avg_pool_path picks one at compile time):

* both ends uint8 (each QuantizeLinear read by exactly one DequantizeLinear, which onnxruntime then
  rewrites to uint8) or both int8: fused QLinearAveragePool, a float32 row-by-row sum of the
  dequantized window, divided by the count, then ``nearbyint(avg / y_scale + zp)`` with the zero point
  added in float (``y_zp + 128`` on uint8 data); with a kernel covering the whole unpadded input, its
  QLinearGlobalAveragePool fallback (integer sum, one float32 rescale);
* one end of each type (a tensor with several readers, an int8 graph output): not fused. A float
  AveragePool (MLAS: NCHWc kernel for channels a multiple of the NCHWc block, else its global,
  vector (column sums first) or generic kernel) and QuantizeLinear, ``nearbyint(avg / y_scale) + y_zp``.

Each case checks that onnxruntime really takes the route named (op type, domain, zero-point type), and
that the compiler picked the same one. The reference is onnxruntime's output.
"""

from __future__ import annotations


import numpy as np
import pytest

from . import needs

import tinyengine_tvm as te
from tinyengine_tvm.codegen import quant

onnx = needs.module("onnx")
ort = needs.module("onnxruntime")

from onnx import TensorProto  # noqa: E402

from tinyengine_tvm.testing import onnx_models as om  # noqa: E402
from tinyengine_tvm.testing.qdq_graph import QDQGraph  # noqa: E402

f32 = np.float32


def _ort_pools(model):
    """onnxruntime session and the pools it runs: (domain, op type, data type of the output zero point)."""
    sess, opt = om.ort_optimized(model)
    types = {t.name: t.data_type for t in opt.graph.initializer}
    pools = [(n.domain, n.op_type, types.get(n.input[4]) if n.op_type == "QLinearAveragePool" else None)
             for n in opt.graph.node if n.op_type in ("AveragePool", "QLinearAveragePool")]
    return sess, pools


def _compare(model, in_shape, out_q, n=3, seed=0):
    """(mismatching int8 values, total, onnxruntime's pools, the routes our compiler chose)."""
    sess, pools = _ort_pools(model)
    cm = te.compile(model, arithmetic="onnxruntime")
    s, zp = out_q
    to_q = lambda y: y if y.dtype == np.int8 else np.clip(np.rint(y / f32(s)) + zp, -128, 127).astype(np.int8)  # noqa: E731
    rng = np.random.default_rng(seed)
    bad = total = 0
    for _ in range(n):
        x = rng.uniform(-1.5, 1.5, in_shape).astype(f32)
        ref = to_q(sess.run(None, {"x": x})[0])
        ours = to_q(cm.run([np.ascontiguousarray(x.transpose(0, 2, 3, 1))])[0].transpose(0, 3, 1, 2))
        bad += int((ours != ref).sum())
        total += ref.size
    routes = [op.params["ort_pool"] for op in cm.graph.ops if op.kernel == "avg_pool2d"]
    return bad, total, pools, routes


U8, I8 = TensorProto.UINT8, TensorProto.INT8


def test_fused_uint8_qlinear_average_pools_bytes():
    """A chain of pools whose tensors each have one reader: every pool is QLinearAveragePool on uint8.
    Input and output share scale and zero point (the PyTorch LeNet case): ties everywhere."""
    g = QDQGraph()
    x, _, _ = g.qdq("x", 0.02, 3)
    x, _, _ = g.qdq(g.pool(x, (2, 2)), 0.02, 3)                                 # overlapping windows
    x, _, _ = g.qdq(g.pool(x, (3, 3), (2, 2), (1, 1, 1, 1)), 0.02, 3)           # padded borders
    x, _, _ = g.qdq(g.pool(x, (3, 3), (1, 1), (1, 1, 1, 1), cip=1), 0.02, 3)    # count_include_pad
    x, _, _ = g.qdq(g.pool(x, (2, 2), (1, 1), (1, 0, 0, 1)), 0.031, -7)         # rescaling, odd padding
    bad, total, pools, routes = _compare(g.model(x, [1, 8, 13, 13]), (1, 8, 13, 13), (0.031, -7))
    assert pools == [("com.microsoft", "QLinearAveragePool", U8)] * 4, pools
    assert bad == 0, f"{bad} of {total} values differ"
    assert routes == [quant.ORT_POOL_QLINEAR] * 4


def test_fused_int8_qlinear_average_pool_bytes():
    """Input and output both read twice: both keep int8 data, and QLinearAveragePool runs on int8 (the
    zero point added before rounding is y_zp itself)."""
    g = QDQGraph()
    x, q, names = g.qdq("x", 0.02, 3)
    p, pq, pn = g.qdq(g.pool(x, (2, 2)), 0.02, 3)
    twice, _, _ = g.qdq(g.op("Add", [p, g.dq(pq, pn)]), 0.04, 0)
    m = g.op("MaxPool", [g.dq(q, names)], kernel_shape=[2, 2], strides=[1, 1])
    m, _, _ = g.qdq(m, 0.02, 3)
    y, _, _ = g.qdq(g.op("Add", [twice, m]), 0.08, 0)
    bad, total, pools, routes = _compare(g.model(y, [1, 8, 12, 12]), (1, 8, 12, 12), (0.08, 0), n=4)
    assert pools == [("com.microsoft", "QLinearAveragePool", I8)], pools
    assert bad == 0, f"{bad} of {total} values differ"
    assert routes == [quant.ORT_POOL_QLINEAR]


def test_fused_whole_input_pool_is_qlinear_global_average_pool_bytes():
    g = QDQGraph()
    x, _, _ = g.qdq("x", 0.02, 3)
    y, _, _ = g.qdq(g.pool(x, (4, 4), (2, 2)), 0.02, 3)
    bad, total, pools, routes = _compare(g.model(y, [1, 16, 4, 4]), (1, 16, 4, 4), (0.02, 3), n=20)
    assert pools == [("com.microsoft", "QLinearAveragePool", U8)], pools
    assert bad == 0, f"{bad} of {total} values differ"
    assert routes == [quant.ORT_POOL_QLINEAR_GLOBAL]


@pytest.mark.parametrize("c, k, s, pads, cip, route", [
    (8, (2, 2), (1, 1), (0, 0, 0, 0), 0, quant.ORT_POOL_FLOAT_COLS),     # MLAS vector kernel
    (8, (3, 3), (2, 2), (1, 1, 1, 1), 0, quant.ORT_POOL_FLOAT_COLS),
    (8, (2, 2), (1, 3), (0, 1, 0, 0), 0, quant.ORT_POOL_FLOAT_ROWS),     # stride 3 across: generic kernel
    (24, (4, 4), (1, 1), (0, 0, 0, 0), 0, quant.ORT_POOL_FLOAT_GLOBAL),  # kernel == input: global kernel
    (16, (3, 3), (1, 1), (1, 1, 1, 1), 1, quant.ORT_POOL_FLOAT_ROWS),    # NCHWc pool
    (16, (2, 2), (1, 1), (0, 0, 0, 0), 0, quant.ORT_POOL_FLOAT_ROWS),
])
def test_unfused_float_average_pool_bytes(c, k, s, pads, cip, route):
    """Float input, int8 graph output: the input's QuantizeLinear becomes uint8, the output's stays int8,
    so onnxruntime leaves the group unfused and pools in float."""
    g = QDQGraph()
    x, _, _ = g.qdq("x", 0.02, 3)
    y, _ = g.q(g.pool(x, k, s, pads, cip), 0.02, 3)
    shape = (1, c, 4, 4) if k == (4, 4) else (1, c, 11, 11)
    bad, total, pools, routes = _compare(g.model(y, list(shape), int8_out=True), shape, (0.02, 3),
                                         n=20 if k == (4, 4) else 3)
    block = quant.ort_nchwc_block()  # the routes above are an AVX-512 host's (block 16)
    nchwc = block > 1 and c % block == 0
    assert [d for d, _, _ in pools] == ["com.microsoft.nchwc" if nchwc else ""], (block, pools)
    assert [t for _, t, _ in pools] == ["AveragePool"], pools
    assert bad == 0, f"{bad} of {total} values differ"
    assert routes == [quant.ORT_POOL_FLOAT_ROWS if nchwc else route]


def test_byoc_one_kernel_view_takes_the_whole_graphs_route():
    """The BYOC codegen compiles each pool alone: the route (a whole-graph fact) travels with it."""
    from tvm import relax

    from tinyengine_tvm import byoc
    from tinyengine_tvm.frontend.onnx import from_onnx
    from tinyengine_tvm.relay_passes.annotate import PARAMS_ATTR

    g = QDQGraph()
    x, _, _ = g.qdq("x", 0.02, 3)
    p1, _, _ = g.qdq(g.pool(x, (2, 2)), 0.02, 3)                  # one reader: fused, uint8
    p2, q2, n2 = g.qdq(g.pool(p1, (2, 2)), 0.02, 3)               # read twice below: unfused
    y, _, _ = g.qdq(g.op("Add", [p2, g.dq(q2, n2)]), 0.04, 0)
    mod = from_onnx(g.model(y, [1, 8, 9, 9])).mod
    standalone = [op.params["ort_pool"] for op in te.build(mod, arithmetic="onnxruntime").graph.ops if op.kernel == "avg_pool2d"]
    # the unfused pool's float route follows this host's NCHWc block (8 channels: NCHWc rows with a block of 8
    # (AVX2), column sums with 16 (AVX-512)), as onnxruntime on this host runs it
    block = quant.ort_nchwc_block()
    unfused = quant.ORT_POOL_FLOAT_ROWS if block > 1 and 8 % block == 0 else quant.ORT_POOL_FLOAT_COLS
    assert standalone == [quant.ORT_POOL_QLINEAR, unfused]
    pm = byoc.partition_for_tinyengine(mod, arithmetic="onnxruntime")
    routes = []
    for _, f in pm.functions.items():
        if isinstance(f, relax.Function) and f.attrs is not None and str(f.attrs.get("Codegen", "")) == "tinyengine":
            for gv, kf in byoc._one_kernel_module(f).functions.items():
                params = kf.attrs[PARAMS_ATTR] if gv.name_hint != "main" else {}
                if "ort_pool" in params:
                    routes.append(int(params["ort_pool"]))
    assert sorted(routes) == sorted(standalone)


@pytest.mark.slow
@pytest.mark.parametrize("structure", ["single", "in", "out", "both"])
def test_random_average_pools_bytes(structure):
    """Random geometry (kernels 1..4 or the whole input, strides 1..3, padding, count_include_pad),
    channels 3..32 and quantization (same or other output parameters), with the pool's input and / or
    output read by a second node (routes: fused uint8 / unfused / unfused / fused int8)."""
    rng = np.random.default_rng({"single": 1, "in": 2, "out": 3, "both": 4}[structure])
    bad = total = 0
    for _ in range(25):
        c = int(rng.choice([3, 8, 16, 24, 32]))
        h, w = (int(v) for v in rng.integers(2, 13, 2))
        if rng.random() < 0.15:
            k, st, pads = (h, w), (int(rng.integers(1, 3)),) * 2, (0, 0, 0, 0)
        else:
            k = tuple(int(v) for v in rng.integers(1, 5, 2))
            st = tuple(int(v) for v in rng.integers(1, 4, 2))
            pads = tuple(int(rng.integers(0, k[i % 2])) if rng.random() < 0.5 else 0 for i in range(4))
            pads = pads[:2] + (min(pads[2], pads[0]), min(pads[3], pads[1]))  # the MaxPool beside pads alike
            k = (min(k[0], h + pads[0] + pads[2]), min(k[1], w + pads[1] + pads[3]))
        cip = int(rng.random() < 0.3)
        s1 = float(rng.choice([0.02, 0.1, 0.0173, 0.25]))
        z1 = int(rng.integers(-128, 128))
        s2, z2 = (s1, z1) if rng.random() < 0.5 else (s1 * float(rng.choice([0.8, 1.25, 1.37])), int(rng.integers(-20, 20)))
        g = QDQGraph()
        x, q, names = g.qdq("x", s1, z1)
        p, pq, pn = g.qdq(g.pool(x, k, st, pads, cip), s2, z2)
        out, out_q = p, (s2, z2)
        if structure in ("out", "both"):
            out, _, _ = g.qdq(g.op("Add", [p, g.dq(pq, pn)]), s2 * 2, 0)
            out_q = (s2 * 2, 0)
        if structure in ("in", "both"):
            m = g.op("MaxPool", [g.dq(q, names)], kernel_shape=list(k), strides=list(st), pads=list(pads))
            m, _, _ = g.qdq(m, s1, z1)
            out_q = (max(s1, out_q[0]) * 2, 0)
            out, _, _ = g.qdq(g.op("Add", [out, m]), *out_q)
        b, t, _, _ = _compare(g.model(out, [1, c, h, w]), (1, c, h, w), out_q, n=2, seed=int(rng.integers(1 << 30)))
        bad, total = bad + b, total + t
    assert bad == 0, f"{bad} of {total} values differ"


def test_nchwc_block_override_moves_the_float_route(monkeypatch):
    """TINYENGINE_ORT_NCHWC_BLOCK reproduces another host's onnxruntime: 8 channels are an NCHWc pool on
    an AVX2 host (block 8), not on an AVX-512 one (block 16)."""
    p = dict(c=8, k_h=2, k_w=2, in_h=11, in_w=11, stride_h=1, stride_w=1, pad_top=0, pad_left=0)
    monkeypatch.setenv("TINYENGINE_ORT_NCHWC_BLOCK", "16")
    assert quant.ort_avg_pool_path(p, False, True) == quant.ORT_POOL_FLOAT_COLS
    monkeypatch.setenv("TINYENGINE_ORT_NCHWC_BLOCK", "8")
    assert quant.ort_avg_pool_path(p, False, True) == quant.ORT_POOL_FLOAT_ROWS
    assert quant.ort_avg_pool_path(p, True, True) == quant.ORT_POOL_QLINEAR  # fused: no float pool
