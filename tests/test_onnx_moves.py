"""ONNX Split, Slice and Transpose of QDQ int8 maps (NCHW in the model, NHWC in the kernels): ConvertToNHWC moves
their axes onto the NHWC twin and RemoveIdentityRequantize drops the DequantizeLinear / QuantizeLinear pair of
equal parameters around them, leaving the int8 slice / transpose kernels. Compared byte for byte with
onnxruntime (testing.onnx_models.session_options); a move whose QuantizeLinear changes the scale is refused in one
line naming the node."""

from __future__ import annotations

import numpy as np
import pytest

import tinyengine_tvm as te
from tinyengine_tvm.errors import TinyEngineError

from . import needs

onnx = needs.module("onnx")
ort = needs.module("onnxruntime")

from tinyengine_tvm.testing import onnx_models as om  # noqa: E402
from tinyengine_tvm.testing.qdq_graph import QDQGraph, initializer  # noqa: E402

S, Z = 0.05, -3
SHAPE = (1, 8, 5, 6)


def _i64(g, name, v):
    g.inits.append(initializer(name, np.array(v, np.int64)))
    return name


def _slice(g, d, starts, ends, axes, steps=None):
    ins = [d, _i64(g, g.name("st"), starts), _i64(g, g.name("en"), ends), _i64(g, g.name("ax"), axes)]
    if steps is not None:
        ins.append(_i64(g, g.name("sp"), steps))
    return g.op("Slice", ins)


def _check(m, n=3, seed=0):
    cm = te.compile(m)
    rng = np.random.default_rng(seed)
    for _ in range(n):
        x = rng.uniform(-7, 7, SHAPE).astype(np.float32)
        ref = om.ort_run(m, [x])
        ours = cm.run([np.ascontiguousarray(x.transpose(0, 2, 3, 1))])
        for o, r in zip(ours, ref):
            o = o.transpose(0, 3, 1, 2) if o.ndim == 4 else o
            assert o.shape == r.shape and o.tobytes() == r.tobytes()
    return cm


@pytest.mark.parametrize("perm", [[0, 1, 3, 2], [0, 3, 2, 1]])
def test_transpose(perm):
    g = QDQGraph(0)
    d, _, _ = g.qdq("x", S, Z)
    y, _, _ = g.qdq(g.op("Transpose", [d], perm=perm), S, Z)
    assert _check(g.model(y, SHAPE)).report()["op_counts"]["transpose"] == 1


@pytest.mark.parametrize("starts,ends,axes,steps", [([2], [7], [1], None), ([1, 0, -4], [5, 6, 100], [2, 1, 3], [2, 3, 1])])
def test_slice(starts, ends, axes, steps):
    g = QDQGraph(0)
    d, _, _ = g.qdq("x", S, Z)
    y, _, _ = g.qdq(_slice(g, d, starts, ends, axes, steps), S, Z)
    assert _check(g.model(y, SHAPE)).report()["op_counts"]["slice"] == 1


@pytest.mark.parametrize("axis,parts", [(1, [2, 2, 4]), (2, [2, 3])])
def test_split_parts_concatenated_back_and_added(axis, parts):
    """Every part is read, concatenated back in reverse order."""
    from onnx import helper

    g = QDQGraph(0)
    d, _, _ = g.qdq("x", S, Z)
    outs = [g.name("part") for _ in parts]
    g.nodes.append(helper.make_node("Split", [d, _i64(g, "split", parts)], outs, axis=axis))
    q = [g.qdq(o, S, Z)[0] for o in outs]
    y = g.op("Concat", q[::-1], axis=axis)
    yq, _, _ = g.qdq(y, S, Z)
    assert _check(g.model(yq, SHAPE)).report()["op_counts"]["slice"] == len(parts)


def test_move_that_requantizes_is_refused_naming_the_node():
    g = QDQGraph(0)
    d, _, _ = g.qdq("x", S, Z)
    y, _, _ = g.qdq(g.op("Transpose", [d], perm=[0, 1, 3, 2]), 0.1, 0)
    with pytest.raises(TinyEngineError, match=r"^[^\n]*node #\d+ Transpose[^\n]*$"):
        te.compile(g.model(y, SHAPE))


@pytest.mark.parametrize("kind", ["grouped_conv"])
def test_kernel_refusals_name_the_onnx_node(kind):
    """A refusal raised while annotating a kernel (inside a TVM pass) names the node it concerns, in one line
    (it read 'graph passes failed: ...' with no node before)."""
    g = QDQGraph(0)
    d, _, _ = g.qdq("x", S, Z)
    if kind == "grouped_conv":
        y, node = g.conv(d, 8, 8, 3, S, groups=2), "Conv"
    else:
        gate, _, _ = g.qdq(g.op("GlobalAveragePool", [d]), 0.04, 2)
        y, node = g.op("Add", [d, gate]), "Add"
    yq, _, _ = g.qdq(y, 0.1, 0)
    with pytest.raises(TinyEngineError, match=rf"^<onnx model>: node #\d+ {node} \(output '[^']+'\): [^\n]*no kernel[^\n]*$"):
        te.compile(g.model(yq, SHAPE))
