"""Broadcast ADD of ONNX QDQ graphs ([1, C, H, W] + a [1, C, 1, 1] gate, either operand order) in onnxruntime's
arithmetic (binary_s8_f32.c modes TE_BINARY_F32_QLINEAR_ADD / TE_BINARY_F32_ADD): fused into QLinearAdd (MLAS's FMA
formula, as add_s8_f32.c) or left as a float Add when a tensor has several readers. Byte for byte against
onnxruntime (testing.onnx_models.session_options)."""

from __future__ import annotations

import numpy as np
import pytest

import tinyengine_tvm as te

from . import needs

onnx = needs.module("onnx")
ort = needs.module("onnxruntime")

from tinyengine_tvm.testing import onnx_models as om  # noqa: E402
from tinyengine_tvm.testing.qdq_graph import QDQGraph  # noqa: E402

f32 = np.float32
SHAPE = (1, 8, 5, 6)


def _model(seed, swap, shared):
    rng = np.random.default_rng(seed)
    si = float(f32(np.exp(rng.uniform(np.log(0.005), np.log(0.2)))))
    so = float(f32(np.exp(rng.uniform(np.log(0.005), np.log(0.2)))))
    zi, zo = int(rng.integers(-60, 61)), int(rng.integers(-100, 100))
    g = QDQGraph(seed)
    q, names = g.q("x", si, zi)
    gate, _, _ = g.qdq(g.op("GlobalAveragePool", [g.qdq("x", si * 1.3, zi // 2)[0]]), float(f32(si * 0.7)),
                       int(rng.integers(-20, 20)))
    d = g.dq(q, names)
    y = g.op("Add", [gate, d] if swap else [d, gate])
    if shared:  # the map's QuantizeLinear read again: onnxruntime leaves the Add in float
        y = g.op("Add", [g.qdq(y, so, zo)[0], g.dq(q, names)])
        so = so * 2
    yq, _, _ = g.qdq(y, so, zo)
    return g.model(yq, SHAPE), so, zo


@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("shared,ort_op", [(False, "QLinearAdd"), (True, "Add")])
@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow)])
def test_broadcast_add_matches_onnxruntime(seed, shared, ort_op, swap):
    m, so, zo = _model(seed, swap, shared)
    sess, opt = om.ort_optimized(m)
    assert ort_op in [n.op_type for n in opt.graph.node]
    # "int8" (the default) computes every group fused: onnxruntime's bytes where it fuses the Add too
    for arithmetic in ["onnxruntime"] + ([] if shared else ["int8"]):
        cm = te.compile(m, arithmetic=arithmetic)
        assert cm.report()["op_counts"]["add_bcast"] == 1
        rng = np.random.default_rng(seed)
        to_q = lambda y: np.rint(y / f32(so)).astype(np.int64) + zo  # noqa: E731
        for _ in range(3):
            x = rng.uniform(-3, 3, SHAPE).astype(f32)
            ref = sess.run(None, {"x": x})[0]
            ours = cm.run([np.ascontiguousarray(x.transpose(0, 2, 3, 1))])[0].transpose(0, 3, 1, 2)
            np.testing.assert_array_equal(to_q(ours), to_q(ref))
