"""CONCATENATION, channel and spatial, zero-copy: producers write straight into their slice.

Every model is compared byte for byte with LiteRT's reference kernels (BUILTIN_REF); the plan is
checked by planner.check on every compile, and these tests also assert which inputs became
in-place views and that a few hand-made bad view layouts are refused by the checker."""

import dataclasses

import numpy as np
import pytest

import tinyengine_tvm as te
from tinyengine_tvm.planner import check
from tinyengine_tvm.testing import tflite_builder as tb
from tinyengine_tvm.testing.reference import run_litert

from . import needs

Q = (0.04, 1)  # the concat's quantization (TFLite's int8 CONCATENATION needs it on every input)


def _conv(b, rng, name, x, cout, k=1, stride=1, depthwise=False, out_q=Q, act="NONE"):
    cin = b.tensor_shape(x)[3]
    h, wd = b.tensor_shape(x)[1:3]
    xq = b.tensor_quant(x)
    in_s = float(xq[0][0])
    if depthwise:
        cout = cin
        w = b.const(name + "_w", rng.integers(-127, 128, (1, k, k, cout), dtype=np.int8),
                    scale=np.full(cout, 0.02, np.float32), zero_point=0, quantized_dimension=3)
    else:
        w = b.const(name + "_w", rng.integers(-127, 128, (cout, k, k, cin), dtype=np.int8),
                    scale=np.full(cout, 0.01, np.float32), zero_point=0)
    bias = b.const(name + "_b", rng.integers(-500, 500, cout, dtype=np.int32),
                   scale=tb.choose_bias_scale(in_s, np.full(cout, 0.02 if depthwise else 0.01)))
    y = b.tensor(name, (1, -(-h // stride), -(-wd // stride), cout), scale=out_q[0], zero_point=out_q[1])
    b.op("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", [x, w, bias], [y], padding="SAME",
         stride_h=stride, stride_w=stride, fused_activation=act)
    return y


def _run(model, n=2, sanitize=False, target="host"):
    cm = te.compile(bytes(model), target=target)
    rng = np.random.default_rng(7)
    for _ in range(n):
        xs = [rng.integers(-128, 128, size=s.shape, dtype=np.int8) for s in cm.inputs]
        ours, ref = cm.run(xs, sanitize=sanitize), run_litert(bytes(model), xs)
        for o, r in zip(ours, ref):
            np.testing.assert_array_equal(o, r)
    return cm


def _channel_concat_model(with_input=True, concat_is_output=False):
    rng = np.random.default_rng(0)
    b = tb.ModelBuilder()
    x = b.input("x", (1, 9, 7, 3), scale=0.04, zero_point=1)
    a = _conv(b, rng, "a", x, 5)                      # 1x1 conv -> strided slice
    c = _conv(b, rng, "c", x, 4, k=3, act="RELU")     # 3x3 conv -> strided slice
    d = _conv(b, rng, "d", a, 0, k=3, depthwise=True)  # depthwise reading a: a has two readers -> copy
    parts = [a, c, d] + ([x] if with_input else [])
    width = sum(b.tensor_shape(t)[3] for t in parts)
    cat = b.tensor("cat", (1, 9, 7, width), scale=Q[0], zero_point=Q[1])
    b.op("CONCATENATION", parts, [cat], axis=3)
    if concat_is_output:
        b.output(cat)
    else:
        b.output(_conv(b, rng, "head", cat, 6, k=3, stride=2, out_q=(0.05, -2)))
    return b.finish()


def test_channel_concat_views_and_copies():
    cm = _run(_channel_concat_model())
    g = cm.graph
    cat = next(op for op in g.ops if op.kernel == "concat")
    # a: read by the depthwise too -> copied; c (3x3 conv) and d (depthwise) write in place; x: graph input
    assert cat.params["copy"] == [1, 0, 0, 1] and set(g.views) == {cat.inputs[1], cat.inputs[2]}
    assert all(g.producer(t).params["out_stride"] == 17 for t in g.views)


def test_channel_concat_as_model_output():
    cm = _run(_channel_concat_model(with_input=False, concat_is_output=True))
    assert cm.graph.views and cm.graph.outputs[0] == next(op.output for op in cm.graph.ops if op.kernel == "concat")


def test_spatial_concat_is_contiguous_views():
    rng = np.random.default_rng(2)
    b = tb.ModelBuilder()
    x = b.input("x", (1, 8, 8, 4), scale=0.04, zero_point=1)
    top = _conv(b, rng, "top", x, 5, k=3, stride=2)          # (1, 4, 4, 5): 80 bytes, so bot stays aligned
    bot = _conv(b, rng, "bot", x, 5, k=1, stride=2)          # (1, 4, 4, 5), also read by "side"
    side = _conv(b, rng, "side", bot, 5)
    cat = b.tensor("cat", (1, 8, 4, 5), scale=Q[0], zero_point=Q[1])
    b.op("CONCATENATION", [top, bot], [cat], axis=1)
    b.output(cat)
    b.output(side)
    cm = _run(b.finish(), sanitize=True)
    assert len(cm.graph.views) == 2 and all(v.rows == 1 for v in cm.graph.views.values())


def test_checker_refuses_bad_views():
    cm = te.compile(bytes(_channel_concat_model()))
    g, plan = cm.graph, cm.plan
    assert check(g, plan) == []
    t, v = next(iter(g.views.items()))
    g.views[t] = dataclasses.replace(v, offset=v.offset + 1)  # overlaps the next slice / wrong offset
    assert check(g, plan)
    g.views[t] = v
    prod = g.producer(t)
    stride = prod.params.pop("out_stride")
    assert any("contiguously" in p for p in check(g, plan))
    prod.params["out_stride"] = stride


def test_concat_with_different_scales_is_refused():
    rng = np.random.default_rng(0)
    b = tb.ModelBuilder()
    x = b.input("x", (1, 4, 4, 3), scale=0.04, zero_point=1)
    a = _conv(b, rng, "a", x, 5, out_q=(0.03, 2))
    cat = b.tensor("cat", (1, 4, 4, 8), scale=Q[0], zero_point=Q[1])
    b.op("CONCATENATION", [a, x], [cat], axis=3)
    b.output(cat)
    with pytest.raises(te.TinyEngineError, match="scale / zero point differs"):
        te.compile(b.finish())


def _pointwise_concat_model():
    """Three pointwise producers of one channel concat, shaped for each DSP pointwise kernel (clamped,
    unclamped 4-pixel asm blocks, the in_c = 8 variant) and an odd pixel count (the last pixel alone)."""
    rng = np.random.default_rng(5)
    b = tb.ModelBuilder()
    x = b.input("x", (1, 7, 9, 8), scale=0.04, zero_point=1)
    parts = [_conv(b, rng, "a", x, 6, act="RELU6"), _conv(b, rng, "c", x, 10), _conv(b, rng, "d", x, 16)]
    cat = b.tensor("cat", (1, 7, 9, 32), scale=Q[0], zero_point=Q[1])
    b.op("CONCATENATION", parts, [cat], axis=3)
    b.output(_conv(b, rng, "head", cat, 8, out_q=(0.05, -2)))
    return b.finish()


@pytest.mark.parametrize("target", ["cortex-m4"])
def test_strided_pointwise_dsp_kernels_on_qemu(target):
    """The DSP pointwise kernels write channel slices with te_pw_params.out_stride: same bytes as LiteRT."""
    from .mcu_tools import require_arm_tools

    require_arm_tools()
    model = _pointwise_concat_model()
    cm = te.compile(bytes(model), target=target)
    assert len(cm.graph.views) == 3
    with open(cm._project() + "/model.c") as f:
        c = f.read()
    assert c.count(".out_stride = 32") == 3 and "_dsp(&op" in c
    x = np.random.default_rng(9).integers(-128, 128, size=cm.inputs[0].shape, dtype=np.int8)
    np.testing.assert_array_equal(cm.run([x])[0], run_litert(bytes(model), [x])[0])


def test_onnx_qdq_concat_matches_onnxruntime():
    """ONNX Concat (NCHW axis 1) of two convs: a channel concat in NHWC with the bytes onnxruntime computes
    (its QLinearConcat)."""
    needs.module("onnxruntime")
    from tinyengine_tvm.testing import onnx_models as om
    from tinyengine_tvm.testing.qdq_graph import QDQGraph, conv_out_scale

    g = QDQGraph(seed=3)
    xd, _, _ = g.qdq("x", 0.05, 3)
    s = conv_out_scale(0.05, 72)
    a, _, _ = g.qdq(g.conv(xd, 8, 4, 3, 0.05), s, 1)
    b, _, _ = g.qdq(g.conv(xd, 8, 6, 1, 0.05), s, 1)
    y, _, _ = g.qdq(g.op("Concat", [a, b], axis=1), s, 1)
    model = g.model(y, (1, 8, 6, 6))
    cm = te.compile(model, arithmetic="onnxruntime")
    # both convs read x, which onnxruntime then leaves unfused (float MLAS conv, no strided output): copied
    assert cm.report()["op_counts"]["concat"] == 1 and not cm.graph.views
    rng = np.random.default_rng(0)
    for _ in range(2):
        x = rng.uniform(-3, 3, (1, 8, 6, 6)).astype(np.float32)
        ours = cm.run([np.ascontiguousarray(x.transpose(0, 2, 3, 1))])[0].transpose(0, 3, 1, 2)
        np.testing.assert_array_equal(ours, om.ort_run(model, [x])[0])


@pytest.mark.parametrize("fused", [False, True])
def test_onnx_concat_requantizes_like_onnxruntime(fused):
    """ONNX Concat of inputs quantized unlike the output: each is requantized as onnxruntime does (fused
    into QLinearConcat, or DequantizeLinear -> Concat -> QuantizeLinear in float when left unfused)."""
    needs.module("onnxruntime")
    from tinyengine_tvm.testing import onnx_models as om
    from tinyengine_tvm.testing.qdq_graph import QDQGraph, conv_out_scale

    g = QDQGraph(seed=4)
    xd, _, _ = g.qdq("x", 0.05, 3)
    s = conv_out_scale(0.05, 72)
    a, _, _ = g.qdq(g.conv(xd, 8, 4, 3, 0.05), s, 1)
    other = g.qdq(g.conv(xd, 8, 6, 1, 0.05), s * 0.7, -9)[0] if fused else xd
    y, _, _ = g.qdq(g.op("Concat", [a, other], axis=1), s * 1.3, 4)
    model = g.model(y, (1, 8, 6, 6))
    cm = te.compile(model, arithmetic="onnxruntime")
    rng = np.random.default_rng(1)
    for _ in range(2):
        x = rng.uniform(-3, 3, (1, 8, 6, 6)).astype(np.float32)
        ours = cm.run([np.ascontiguousarray(x.transpose(0, 2, 3, 1))])[0].transpose(0, 3, 1, 2)
        np.testing.assert_array_equal(ours, om.ort_run(model, [x])[0])
