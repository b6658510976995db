"""Whole compiler (frontend -> passes -> planner -> C) on single-op and small multi-op int8 TFLite models.

Each model is built for the test with tinyengine_tvm.testing.tflite_builder, compiled from its
bytes, run on the host, and compared byte for byte with LiteRT's reference kernels.
"""

import numpy as np
import pytest

import tinyengine_tvm as te
from tinyengine_tvm.testing import tflite_builder as tb
from tinyengine_tvm.testing.reference import run_litert


def _check(model, n_inputs=3, seed=0):
    cm = te.compile(bytes(model))
    rng = np.random.default_rng(seed)
    for _ in range(n_inputs):
        xs = [rng.integers(-128, 128, size=s.shape, dtype=np.int8) if s.dtype == "int8"
              else rng.uniform(-2, 2, size=s.shape).astype(s.dtype) for s in cm.inputs]
        ours = cm.run(xs)
        ref = run_litert(bytes(model), xs)
        for o, r in zip(ours, ref):
            assert o.shape == r.shape and o.dtype == r.dtype
            np.testing.assert_array_equal(o, r)
    return cm


CONV_CASES = [
    # in_shape, out_c, kernel, stride, padding, activation, depthwise, depth_multiplier
    ((1, 9, 9, 3), 8, (3, 3), (2, 2), "SAME", "RELU6", False, 1),
    ((1, 7, 8, 5), 7, (1, 1), (1, 1), "VALID", "NONE", False, 1),
    ((1, 11, 10, 4), 6, (5, 5), (1, 1), "SAME", "RELU", False, 1),
    ((1, 12, 12, 3), 5, (7, 7), (2, 2), "SAME", "NONE", False, 1),
    ((1, 10, 9, 7), 7, (3, 3), (1, 1), "SAME", "RELU6", True, 1),
    ((1, 13, 13, 6), 12, (5, 5), (2, 2), "SAME", "NONE", True, 2),
    ((1, 9, 9, 5), 5, (7, 7), (1, 1), "VALID", "RELU", True, 1),
    ((1, 8, 8, 16), 24, (1, 1), (2, 2), "VALID", "NONE", False, 1),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=[f"conv{i}" for i in range(len(CONV_CASES))])
def test_conv_models(case):
    in_shape, out_c, k, s, pad, act, dw, dm = case
    m = tb.conv2d_model(in_shape, out_c, kernel=k, stride=s, padding=pad, activation=act,
                        depthwise=dw, depth_multiplier=dm, seed=sum(in_shape) + out_c)
    cm = _check(m)
    assert cm.report()["op_counts"] == {("depthwise_conv2d" if dw else "conv2d"): 1}


@pytest.mark.parametrize("per_channel,act", [(False, "NONE"), (False, "RELU"), (True, "RELU6")])
def test_fully_connected_models(per_channel, act):
    _check(tb.fully_connected_model((1, 37), 11, activation=act, per_channel=per_channel, seed=5))


@pytest.mark.parametrize("act", ["NONE", "RELU"])
def test_add_model(act):
    _check(tb.add_model((1, 5, 6, 7), activation=act))


@pytest.mark.parametrize("kind,filt,stride,padding", [("AVG", (2, 2), (2, 2), "VALID"), ("AVG", (3, 3), (2, 2), "SAME"),
                                                       ("MAX", (3, 3), (1, 1), "SAME"), ("MAX", (2, 2), (2, 2), "VALID")])
def test_pool_models(kind, filt, stride, padding):
    _check(tb.pool_model(kind, (1, 9, 10, 6), filter=filt, stride=stride, padding=padding))


@pytest.mark.parametrize("axes,keep_dims,out_quant", [((1, 2), True, None), ((1, 2), False, (0.03, 4)), ((2,), False, None)])
def test_mean_models(axes, keep_dims, out_quant):
    _check(tb.mean_model((1, 5, 7, 9), axes=axes, keep_dims=keep_dims, out_quant=out_quant))


def test_pad_then_conv_folds_and_stays_exact():
    """A PAD with the zero point feeding a VALID conv: folded into the conv, same bytes."""
    b = tb.ModelBuilder()
    rng = np.random.default_rng(1)
    x = b.input("x", (1, 8, 8, 3), scale=0.05, zero_point=-3)
    p = b.tensor("p", (1, 10, 10, 3), scale=0.05, zero_point=-3)
    b.op("PAD", [x], [p], paddings=[[0, 0], [1, 1], [1, 1], [0, 0]])
    w = b.const("w", rng.integers(-127, 128, (4, 3, 3, 3), dtype=np.int8), scale=np.full(4, 0.01, np.float32), zero_point=0)
    bias = b.const("b", rng.integers(-500, 500, 4, dtype=np.int32), scale=tb.choose_bias_scale(0.05, np.full(4, 0.01)))
    y = b.tensor("y", (1, 8, 8, 4), scale=0.08, zero_point=2)
    b.op("CONV_2D", [p, w, bias], [y], padding="VALID")
    b.output(y)
    cm = _check(b.finish())
    assert cm.report()["op_counts"] == {"conv2d": 1}


def test_pad_with_other_value_keeps_pad_kernel():
    m = tb.pad_model((1, 4, 5, 3), paddings=((0, 0), (2, 1), (0, 3), (0, 0)), in_quant=(0.1, 0))
    cm = _check(m)
    # nothing to fold into, so the pad stays a kernel of its own
    assert cm.report()["op_counts"] == {"pad": 1}


def test_residual_block_with_quantize_boundaries():
    """float in -> QUANTIZE -> conv 1x1 -> depthwise -> conv 1x1 -> ADD(residual) -> DEQUANTIZE -> float out."""
    b = tb.ModelBuilder()
    rng = np.random.default_rng(2)
    xf = b.input("xf", (1, 6, 6, 8), "float32")
    xq = b.tensor("xq", (1, 6, 6, 8), scale=0.02, zero_point=1)
    b.op("QUANTIZE", [xf], [xq])

    def conv(name, src, src_q, cin, cout, k, dw=False, act="RELU6", out_q=(0.03, -128)):
        shape = (1, k, k, cout) if dw else (cout, k, k, cin)
        w = b.const(f"{name}_w", rng.integers(-127, 128, shape, dtype=np.int8),
                    scale=rng.uniform(0.005, 0.02, cout).astype(np.float32), zero_point=0, quantized_dimension=3 if dw else 0)
        ws = b.tensor_quant(w)[0] if hasattr(b, "tensor_quant") else None
        bias = b.const(f"{name}_b", rng.integers(-300, 300, cout, dtype=np.int32), scale=tb.choose_bias_scale(src_q[0], ws))
        y = b.tensor(name, (1, 6, 6, cout), scale=out_q[0], zero_point=out_q[1])
        if dw:
            b.op("DEPTHWISE_CONV_2D", [src, w, bias], [y], padding="SAME", depth_multiplier=1, fused_activation=act)
        else:
            b.op("CONV_2D", [src, w, bias], [y], padding="SAME", fused_activation=act)
        return y

    h1 = conv("expand", xq, (0.02, 1), 8, 16, 1)
    h2 = conv("dw", h1, (0.03, -128), 16, 16, 3, dw=True)
    h3 = conv("project", h2, (0.03, -128), 16, 8, 1, act="NONE", out_q=(0.04, 3))
    s = b.tensor("sum", (1, 6, 6, 8), scale=0.05, zero_point=-2)
    b.op("ADD", [h3, xq], [s])
    yf = b.tensor("yf", (1, 6, 6, 8), "float32")
    b.op("DEQUANTIZE", [s], [yf])
    b.output(yf)
    cm = _check(b.finish(), n_inputs=4)
    assert cm.report()["op_counts"] == {"quantize": 1, "conv2d": 2, "depthwise_conv2d": 1, "add": 1, "dequantize": 1}


def test_add_of_a_tensor_with_itself():
    b = tb.ModelBuilder()
    x = b.input("x", (1, 3, 4, 5), scale=0.05, zero_point=-3)
    y = b.tensor("y", (1, 3, 4, 5), scale=0.09, zero_point=1)
    b.op("ADD", [x, x], [y])
    b.output(y)
    cm = _check(b.finish())
    assert cm.report()["op_counts"] == {"add": 1}
