"""The TFLite model builder makes models that LiteRT loads and computes correctly.

Each int8 model is checked against an independent float computation in numpy
(dequantize, compute in float64, requantize): LiteRT's integer reference
kernels must agree within 1 LSB.
"""

import numpy as np
import pytest

from . import needs

from tinyengine_tvm.testing import tflite_builder as tb
from tinyengine_tvm.testing.reference import model_io_details, run_litert

needs.module("ai_edge_litert")


# ------------------------------------------------------------------ numpy references
def _deq(q, scale, zp):
    return (q.astype(np.float64) - zp) * np.float64(np.float32(scale))


def _q(x, scale, zp, lo=-128, hi=127):
    y = np.asarray(x, np.float64) / np.float64(np.float32(scale))
    y = np.sign(y) * np.floor(np.abs(y) + 0.5) + zp
    return np.clip(y, lo, hi).astype(np.int64)


def _act(y, act):
    if act == "RELU":
        return np.maximum(y, 0)
    if act == "RELU6":
        return np.clip(y, 0, 6)
    if act == "RELU_N1_TO_1":
        return np.clip(y, -1, 1)
    return y


def _same_pads(size, k, s, d):
    eff = (k - 1) * d + 1
    out = -(-size // s)
    total = max((out - 1) * s + eff - size, 0)
    return total // 2, total - total // 2


def _conv_float(x, w, b, stride, padding, dilation, depthwise, mult=1):
    """x: NHWC float, w: OHWI (or 1HWC for depthwise) float, b: (O,) float."""
    n, h, wd, c = x.shape
    kh, kw = w.shape[1:3]
    sh, sw = stride
    dh, dw = dilation
    if padding == "SAME":
        (pt, pb), (pl, pr) = _same_pads(h, kh, sh, dh), _same_pads(wd, kw, sw, dw)
    else:
        pt = pb = pl = pr = 0
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    oh = (xp.shape[1] - ((kh - 1) * dh + 1)) // sh + 1
    ow = (xp.shape[2] - ((kw - 1) * dw + 1)) // sw + 1
    oc = w.shape[3] if depthwise else w.shape[0]
    y = np.zeros((n, oh, ow, oc))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, i * dh: i * dh + (oh - 1) * sh + 1: sh, j * dw: j * dw + (ow - 1) * sw + 1: sw, :]
            if depthwise:
                y += np.repeat(patch, mult, axis=3) * w[0, i, j, :]
            else:
                y += np.einsum("nhwc,oc->nhwo", patch, w[:, i, j, :])
    return y + b


def _rand_int8(shape, seed):
    return np.random.default_rng(seed).integers(-128, 128, size=shape).astype(np.int8)


def _assert_within_1lsb(got, want):
    diff = np.abs(got.astype(np.int64) - want.astype(np.int64))
    assert got.shape == want.shape
    assert diff.max() <= 1, f"max diff {diff.max()} LSB at {np.unravel_index(diff.argmax(), diff.shape)}"


def _not_degenerate(q, zero_point=0, activation="NONE"):
    """The auto-chosen output quantization must use the int8 range well.

    With RELU (zero point -128) code -128 is the legitimate real 0; RELU6 and
    RELU_N1_TO_1 clamp on purpose, so only the spread of codes is checked.
    """
    assert np.unique(q).size >= min(8, q.size // 2)
    if activation in ("RELU6", "RELU_N1_TO_1"):
        return
    saturated = (q == 127) | ((q == -128) & (zero_point != -128))
    assert np.mean(saturated) < 0.1


# ------------------------------------------------------------------ convolution
CONV_CASES = [
    dict(in_shape=(1, 8, 8, 3), out_c=4),
    dict(in_shape=(1, 9, 7, 5), out_c=6, kernel=(3, 3), stride=(2, 2), padding="VALID",
         activation="RELU", per_channel=False),
    dict(in_shape=(1, 10, 10, 4), out_c=3, kernel=(3, 2), stride=(1, 2), dilation=(2, 2),
         activation="RELU6"),
    dict(in_shape=(2, 6, 6, 8), out_c=8, kernel=(1, 1)),
    dict(in_shape=(1, 8, 8, 4), out_c=None, depthwise=True),
    dict(in_shape=(1, 9, 9, 3), out_c=6, depthwise=True, depth_multiplier=2, stride=(2, 2),
         activation="RELU", in_quant=(0.02, 10)),
    dict(in_shape=(1, 11, 11, 4), out_c=4, depthwise=True, kernel=(5, 5), padding="VALID",
         dilation=(2, 1), activation="RELU_N1_TO_1"),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=[str(i) for i in range(len(CONV_CASES))])
def test_conv2d_matches_float_reference(case):
    model = tb.conv2d_model(seed=3, **case)
    info = model.info
    x = _rand_int8(info.input_shapes[0], 7)
    (y,) = run_litert(model, x)
    assert y.dtype == np.int8 and y.shape == info.output_shape

    (s_in, zp_in), (s_out, zp_out) = info.input_quant[0], info.output_quant
    if case.get("depthwise"):
        w = info.weights * info.weight_scales.astype(np.float64)  # (1, kh, kw, C*M): channel last
    else:
        w = info.weights * info.weight_scales.astype(np.float64).reshape(-1, 1, 1, 1)  # OHWI
    b = info.bias * info.bias_scales.astype(np.float64)
    opts = info.options
    yf = _conv_float(_deq(x, s_in, zp_in), w, b, (opts["stride_h"], opts["stride_w"]), opts["padding"],
                     (opts["dilation_h"], opts["dilation_w"]), case.get("depthwise", False),
                     case.get("depth_multiplier", 1))
    want = _q(_act(yf, case.get("activation", "NONE")), s_out, zp_out)
    _assert_within_1lsb(y, want)
    _not_degenerate(y, zp_out, case.get("activation", "NONE"))


def test_conv2d_known_weights():
    """Hand-made weights: a 3x3 box filter on channel 0 and an identity on channel 1."""
    w = np.zeros((2, 3, 3, 2), np.int8)
    w[0, :, :, 0] = 100
    w[1, 1, 1, 1] = 127
    model = tb.conv2d_model((1, 5, 5, 2), 2, weights=w, bias=[0, 0], weight_scales=[0.01, 1 / 127],
                            in_quant=(0.1, 0), out_quant=(0.1, 0))
    x = np.zeros((1, 5, 5, 2), np.int8)
    x[0, 2, 2, 0] = 10  # 1.0 in the middle of channel 0
    x[0, :, :, 1] = np.arange(25).reshape(5, 5)
    (y,) = run_litert(model, x)
    # box filter (weight 1.0 each) spreads the 1.0 over the 3x3 neighbourhood
    expected0 = np.zeros((5, 5), np.int8)
    expected0[1:4, 1:4] = 10
    np.testing.assert_array_equal(y[0, :, :, 0], expected0)
    np.testing.assert_array_equal(y[0, :, :, 1], x[0, :, :, 1])


# ------------------------------------------------------------------ fully connected
@pytest.mark.parametrize("per_channel,activation", [(False, "NONE"), (False, "RELU"), (True, "NONE")])
def test_fully_connected(per_channel, activation):
    model = tb.fully_connected_model((3, 40), 12, activation=activation, per_channel=per_channel, seed=1)
    info = model.info
    x = _rand_int8((3, 40), 2)
    (y,) = run_litert(model, x)
    (s_in, zp_in), (s_out, zp_out) = info.input_quant[0], info.output_quant
    w = info.weights.astype(np.float64) * info.weight_scales.astype(np.float64).reshape(-1, 1)
    b = info.bias.astype(np.float64) * info.bias_scales.astype(np.float64)
    want = _q(_act(_deq(x, s_in, zp_in) @ w.T + b, activation), s_out, zp_out)
    _assert_within_1lsb(y, want)
    _not_degenerate(y, zp_out, activation)


def test_fully_connected_without_bias():
    model = tb.fully_connected_model((1, 16), 4, use_bias=False, seed=4)
    info = model.info
    x = _rand_int8((1, 16), 5)
    (y,) = run_litert(model, x)
    (s_in, zp_in), (s_out, zp_out) = info.input_quant[0], info.output_quant
    w = info.weights.astype(np.float64) * np.float64(info.weight_scales[0])
    _assert_within_1lsb(y, _q(_deq(x, s_in, zp_in) @ w.T, s_out, zp_out))


# ------------------------------------------------------------------ elementwise
@pytest.mark.parametrize("shape_b,activation", [(None, "NONE"), ((1, 1, 1, 3), "RELU")])
def test_add(shape_b, activation):
    model = tb.add_model((1, 4, 5, 3), shape_b, activation=activation)
    info = model.info
    a = _rand_int8(info.input_shapes[0], 1)
    b = _rand_int8(info.input_shapes[1], 2)
    (y,) = run_litert(model, [a, b])
    (sa, za), (sb, zb) = info.input_quant
    want = _q(_act(_deq(a, sa, za) + _deq(b, sb, zb), activation), *info.output_quant)
    _assert_within_1lsb(y, want)


def test_mul():
    model = tb.binary_model("MUL", (1, 3, 3, 4), (1, 1, 1, 4))
    info = model.info
    a, b = _rand_int8((1, 3, 3, 4), 1), _rand_int8((1, 1, 1, 4), 2)
    (y,) = run_litert(model, [a, b])
    (sa, za), (sb, zb) = info.input_quant
    _assert_within_1lsb(y, _q(_deq(a, sa, za) * _deq(b, sb, zb), *info.output_quant))


# ------------------------------------------------------------------ pooling, mean, pad
def _pool_ref(x, kind, fh, fw, sh, sw, padding):
    n, h, w, c = x.shape
    if padding == "SAME":
        (pt, _), (pl, _) = _same_pads(h, fh, sh, 1), _same_pads(w, fw, sw, 1)
    else:
        pt = pl = 0
    oh, ow = tb.conv_output_size(h, fh, sh, padding), tb.conv_output_size(w, fw, sw, padding)
    y = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * sh - pt, j * sw - pl
            win = x[:, max(r0, 0): min(r0 + fh, h), max(c0, 0): min(c0 + fw, w), :]  # padding excluded
            y[:, i, j, :] = win.max(axis=(1, 2)) if kind == "MAX" else win.mean(axis=(1, 2))
    return y


@pytest.mark.parametrize("kind,filt,stride,padding", [
    ("AVG", (2, 2), (2, 2), "VALID"),
    ("AVG", (3, 3), (2, 2), "SAME"),
    ("AVG", (7, 7), (1, 1), "VALID"),
    ("MAX", (3, 3), (2, 2), "SAME"),
    ("MAX", (2, 2), (1, 1), "VALID"),
])
def test_pool(kind, filt, stride, padding):
    model = tb.pool_model(kind, (1, 7, 7, 5), filter=filt, stride=stride, padding=padding)
    info = model.info
    x = _rand_int8((1, 7, 7, 5), 3)
    (y,) = run_litert(model, x)
    s, zp = info.input_quant[0]
    want = _q(_pool_ref(_deq(x, s, zp), kind, *filt, *stride, padding), *info.output_quant)
    assert y.shape == info.output_shape
    if kind == "MAX":
        np.testing.assert_array_equal(y, want)
    else:
        _assert_within_1lsb(y, want)


@pytest.mark.parametrize("axes,keep_dims,out_quant", [
    ((1, 2), True, None),
    ((1, 2), False, (0.01, 5)),
    ((3,), True, None),
])
def test_mean(axes, keep_dims, out_quant):
    model = tb.mean_model((1, 5, 6, 8), axes=axes, keep_dims=keep_dims, out_quant=out_quant)
    info = model.info
    x = _rand_int8((1, 5, 6, 8), 4)
    (y,) = run_litert(model, x)
    want = _q(_deq(x, *info.input_quant[0]).mean(axis=axes, keepdims=keep_dims), *info.output_quant)
    _assert_within_1lsb(y, want)


def test_pad():
    pads = ((0, 0), (1, 2), (0, 3), (0, 0))
    model = tb.pad_model((1, 3, 4, 2), pads, in_quant=(0.1, -7))
    x = _rand_int8((1, 3, 4, 2), 5)
    (y,) = run_litert(model, x)
    np.testing.assert_array_equal(y, np.pad(x, pads, constant_values=-7))  # pads with the zero point


def test_pad_float():
    model = tb.pad_model((2, 3), ((1, 0), (2, 2)), dtype="float32")
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    (y,) = run_litert(model, x)
    np.testing.assert_array_equal(y, np.pad(x, ((1, 0), (2, 2))))


# ------------------------------------------------------------------ shape ops
def test_reshape_and_transpose():
    mb = tb.ModelBuilder()
    x = mb.input("x", (1, 2, 3, 4), scale=0.1, zero_point=1)
    r = mb.tensor("r", (1, 6, 4), scale=0.1, zero_point=1)
    t = mb.tensor("t", (1, 4, 6), scale=0.1, zero_point=1)
    mb.op("RESHAPE", [x], [r], new_shape=[1, 6, 4])
    mb.op("TRANSPOSE", [r], [t], perm=[0, 2, 1])
    mb.output(r)
    mb.output(t)
    model = mb.finish()
    x_val = _rand_int8((1, 2, 3, 4), 6)
    r_val, t_val = run_litert(model, x_val)
    np.testing.assert_array_equal(r_val, x_val.reshape(1, 6, 4))
    np.testing.assert_array_equal(t_val, x_val.reshape(1, 6, 4).transpose(0, 2, 1))


def test_concatenation():
    mb = tb.ModelBuilder()
    a = mb.input("a", (1, 2, 2, 3), scale=0.05, zero_point=0)
    b = mb.input("b", (1, 2, 2, 1), scale=0.05, zero_point=0)
    y = mb.tensor("y", (1, 2, 2, 4), scale=0.05, zero_point=0)
    mb.op("CONCATENATION", [a, b], [y], axis=3)
    mb.output(y)
    av, bv = _rand_int8((1, 2, 2, 3), 1), _rand_int8((1, 2, 2, 1), 2)
    (yv,) = run_litert(mb.finish(), [av, bv])
    np.testing.assert_array_equal(yv, np.concatenate([av, bv], axis=3))


# ------------------------------------------------------------------ float / mixed-type ops
def test_quantize_dequantize():
    scale, zp = 0.02, -4
    mb = tb.ModelBuilder()
    x = mb.input("x", (2, 50), dtype="float32")
    q = mb.tensor("q", (2, 50), dtype="int8", scale=scale, zero_point=zp)
    d = mb.tensor("d", (2, 50), dtype="float32")
    mb.op("QUANTIZE", [x], [q])
    mb.op("DEQUANTIZE", [q], [d])
    mb.output(q)
    mb.output(d)
    xv = np.random.default_rng(0).uniform(-3, 3, size=(2, 50)).astype(np.float32)
    qv, dv = run_litert(mb.finish(), xv)
    assert qv.dtype == np.int8 and dv.dtype == np.float32
    want = _q(xv, scale, zp)
    _assert_within_1lsb(qv, want)
    assert np.mean(qv == want) > 0.95
    np.testing.assert_allclose(dv, (qv.astype(np.float32) - zp) * np.float32(scale), rtol=1e-6)


def test_float_log_softmax_and_softmax():
    mb = tb.ModelBuilder()
    x = mb.input("x", (3, 10), dtype="float32")
    ls = mb.tensor("ls", (3, 10), dtype="float32")
    sm = mb.tensor("sm", (3, 10), dtype="float32")
    mb.op("LOG_SOFTMAX", [x], [ls])
    mb.op("SOFTMAX", [x], [sm], beta=0.5)
    mb.output(ls)
    mb.output(sm)
    xv = np.random.default_rng(1).normal(size=(3, 10)).astype(np.float32) * 3
    lsv, smv = run_litert(mb.finish(), xv)
    x64 = xv.astype(np.float64)
    want_ls = x64 - x64.max(1, keepdims=True)
    want_ls -= np.log(np.exp(want_ls).sum(1, keepdims=True))
    e = np.exp(0.5 * (x64 - x64.max(1, keepdims=True)))
    np.testing.assert_allclose(lsv, want_ls, atol=1e-5)
    np.testing.assert_allclose(smv, e / e.sum(1, keepdims=True), atol=1e-6)


def test_option_less_ops_float():
    mb = tb.ModelBuilder()
    x = mb.input("x", (4, 4), dtype="float32")
    names = ["RELU", "RELU6", "TANH"]
    outs = []
    for n in names:
        outs.append(mb.tensor(n.lower(), (4, 4), dtype="float32"))
        mb.op(n, [x], [outs[-1]])
        mb.output(outs[-1])
    xv = np.linspace(-8, 8, 16, dtype=np.float32).reshape(4, 4)
    relu, relu6, tanh = run_litert(mb.finish(), xv)
    np.testing.assert_array_equal(relu, np.maximum(xv, 0))
    np.testing.assert_array_equal(relu6, np.clip(xv, 0, 6))
    np.testing.assert_allclose(tanh, np.tanh(xv), atol=1e-6)


# ------------------------------------------------------------------ chain
def test_two_op_chain_pad_conv_maxpool():
    """PAD + VALID CONV_2D == SAME CONV_2D; then MAX_POOL_2D (monotone, keeps the 1-LSB bound)."""
    ref = tb.conv2d_model((1, 6, 6, 3), 5, padding="SAME", activation="RELU", seed=9, in_quant=(0.05, 4))
    info = ref.info
    s_in, zp_in = info.input_quant[0]
    s_out, zp_out = info.output_quant
    mb = tb.ModelBuilder()
    x = mb.input("x", (1, 6, 6, 3), scale=s_in, zero_point=zp_in)
    p = mb.tensor("padded", (1, 8, 8, 3), scale=s_in, zero_point=zp_in)
    w = mb.const("w", info.weights, scale=info.weight_scales, zero_point=0)
    b = mb.const("b", info.bias, scale=info.bias_scales, zero_point=0)
    c = mb.tensor("conv", (1, 6, 6, 5), scale=s_out, zero_point=zp_out)
    y = mb.tensor("pool", (1, 3, 3, 5), scale=s_out, zero_point=zp_out)
    mb.op("PAD", [x], [p], paddings=[[0, 0], [1, 1], [1, 1], [0, 0]])
    mb.op("CONV_2D", [p, w, b], [c], padding="VALID", fused_activation="RELU")
    mb.op("MAX_POOL_2D", [c], [y], filter_h=2, filter_w=2, stride_h=2, stride_w=2, padding="VALID")
    mb.output(y)
    xv = _rand_int8((1, 6, 6, 3), 10)
    (yv,) = run_litert(mb.finish(), xv)
    (conv_same,) = run_litert(ref, xv)
    np.testing.assert_array_equal(yv, _pool_ref(conv_same, "MAX", 2, 2, 2, 2, "VALID").astype(np.int8))

    wf = info.weights * info.weight_scales.astype(np.float64).reshape(-1, 1, 1, 1)
    bf = info.bias * info.bias_scales.astype(np.float64)
    yf = _act(_conv_float(_deq(xv, s_in, zp_in), wf, bf, (1, 1), "SAME", (1, 1), False), "RELU")
    _assert_within_1lsb(yv, _pool_ref(_q(yf, s_out, zp_out), "MAX", 2, 2, 2, 2, "VALID"))


# ------------------------------------------------------------------ flatbuffer structure
def test_flatbuffer_structure():
    import tflite
    from tflite.BuiltinOperator import BuiltinOperator
    from tflite.BuiltinOptions import BuiltinOptions

    model = tb.conv2d_model((1, 8, 8, 3), 4, depthwise=False, per_channel=True)
    data = bytes(model)
    assert data[4:8] == b"TFL3"
    assert tflite.Model.ModelBufferHasIdentifier(data, 0)
    m = tflite.Model.GetRootAsModel(data, 0)
    assert m.Version() == 3
    assert m.SubgraphsLength() == 1
    assert m.OperatorCodesLength() == 1
    oc = m.OperatorCodes(0)
    assert oc.BuiltinCode() == BuiltinOperator.CONV_2D
    assert oc.DeprecatedBuiltinCode() == BuiltinOperator.CONV_2D
    assert oc.Version() == 3
    assert m.Buffers(0).DataLength() == 0  # the empty sentinel buffer
    sg = m.Subgraphs(0)
    op = sg.Operators(0)
    assert op.BuiltinOptionsType() == BuiltinOptions.Conv2DOptions
    assert list(op.InputsAsNumpy()) == [0, 1, 2] and list(op.OutputsAsNumpy()) == [3]
    w = sg.Tensors(1)
    assert w.Name() == b"weights"
    q = w.Quantization()
    np.testing.assert_array_equal(q.ScaleAsNumpy(), model.info.weight_scales)
    assert q.QuantizedDimension() == 0 and q.ZeroPointLength() == 4
    wbuf = m.Buffers(w.Buffer()).DataAsNumpy()
    np.testing.assert_array_equal(wbuf.view(np.int8).reshape(4, 3, 3, 3), model.info.weights)
    bias = sg.Tensors(2)
    np.testing.assert_allclose(bias.Quantization().ScaleAsNumpy(), 0.05 * model.info.weight_scales, rtol=1e-6)

    dw = tflite.Model.GetRootAsModel(bytes(tb.conv2d_model((1, 4, 4, 2), None, depthwise=True)), 0)
    assert dw.Subgraphs(0).Tensors(1).Quantization().QuantizedDimension() == 3
    assert dw.Subgraphs(0).Operators(0).BuiltinOptionsType() == BuiltinOptions.DepthwiseConv2DOptions


def test_large_opcode_uses_both_fields():
    """Opcodes > 127 keep 127 in the deprecated int8 field (the TFLite convention)."""
    import tflite
    from tflite.BuiltinOperator import BuiltinOperator

    code = BuiltinOperator.GELU
    assert code > 127
    mb = tb.ModelBuilder()
    x = mb.input("x", (2, 3), dtype="float32")
    y = mb.tensor("y", (2, 3), dtype="float32")
    mb.op("GELU", [x], [y])
    mb.output(y)
    oc = tflite.Model.GetRootAsModel(mb.finish(), 0).OperatorCodes(0)
    assert oc.DeprecatedBuiltinCode() == 127 and oc.BuiltinCode() == code


def test_model_io_details_and_path(tmp_path):
    model = tb.add_model((1, 2, 2, 3), a_quant=(0.5, 1), b_quant=(0.25, -2), out_quant=(1.0, 0))
    ins, outs = model_io_details(model)
    assert [i.name for i in ins] == ["input_a", "input_b"]
    assert ins[0].shape == (1, 2, 2, 3) and ins[0].dtype == np.int8
    assert ins[0].quantization == (0.5, 1) and ins[1].quantization == (0.25, -2)
    assert outs[0].scale == 1.0 and outs[0].zero_point == 0
    path = tmp_path / "add.tflite"
    path.write_bytes(model)
    a = np.full((1, 2, 2, 3), 5, np.int8)   # 2.0
    b = np.full((1, 2, 2, 3), 2, np.int8)   # 1.0
    (y,) = run_litert(path, [a, b])
    np.testing.assert_array_equal(y, np.full((1, 2, 2, 3), 3, np.int8))
    (y2,) = run_litert(str(path), [a, b])
    np.testing.assert_array_equal(y, y2)
    f_ins, f_outs = model_io_details(tb.pad_model((2, 3), ((0, 0), (1, 1)), dtype="float32"))
    assert f_ins[0].quantization == (0.0, 0) and f_outs[0].shape == (2, 5)


def test_run_litert_checks_inputs():
    model = tb.pool_model("MAX", (1, 4, 4, 2))
    with pytest.raises(TypeError, match="dtype"):
        run_litert(model, np.zeros((1, 4, 4, 2), np.float32))
    with pytest.raises(ValueError, match="shape"):
        run_litert(model, np.zeros((1, 4, 4, 3), np.int8))
    with pytest.raises(ValueError, match="input"):
        run_litert(model, [np.zeros((1, 4, 4, 2), np.int8)] * 2)


def test_builder_errors():
    mb = tb.ModelBuilder()
    x = mb.input("x", (1, 4), scale=0.1, zero_point=0)
    with pytest.raises(ValueError, match="duplicate"):
        mb.tensor("x", (1, 4))
    with pytest.raises(ValueError, match="unknown TFLite builtin"):
        mb.op("NOT_AN_OP", [x], [x])
    y = mb.tensor("y", (1, 4), scale=0.1, zero_point=0)
    with pytest.raises(TypeError, match="unknown option"):
        mb.op("ADD", [x, x], [y], stride_h=2)
    with pytest.raises(ValueError, match="activation"):
        mb.op("ADD", [x, x], [y], fused_activation="SWISH")
    with pytest.raises(ValueError, match="per-channel"):
        mb.const("w", np.zeros((3, 2), np.int8), scale=[0.1, 0.2], quantized_dimension=0)
    with pytest.raises(ValueError, match="no outputs"):
        tb.ModelBuilder().finish()


def test_choose_bias_scale():
    s = tb.choose_bias_scale(0.05, [0.01, 0.02])
    assert s.dtype == np.float32
    np.testing.assert_array_equal(s, np.float32(0.05) * np.array([0.01, 0.02], np.float32))


# ------------------------------------------------------------------ TVM frontend
def test_tvm_frontend_accepts_conv_model():
    tvm = needs.module("tvm")
    import tflite
    from tvm.relax.frontend.tflite import from_tflite
    from tvm.relax.frontend.tflite.tflite_frontend import OperatorConverter

    class Converter(OperatorConverter):
        _SUPPORTED_QUANTIZED_OPS = frozenset(OperatorConverter._SUPPORTED_QUANTIZED_OPS) | {"PAD", "TRANSPOSE"}

    for model in (tb.conv2d_model((1, 8, 8, 3), 4, activation="RELU"),
                  tb.conv2d_model((1, 8, 8, 4), None, depthwise=True),
                  tb.pad_model((1, 3, 3, 2))):
        mod = from_tflite(tflite.Model.GetRootAsModel(bytes(model), 0), op_converter=Converter)
        assert isinstance(mod, tvm.IRModule)
        assert "main" in [gv.name_hint for gv in mod.functions]
