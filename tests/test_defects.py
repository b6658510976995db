"""Regression tests for the defects of issue 10 outside the CLI: each model is built with the project's
TFLite builder and, where it compiles, compared byte for byte with LiteRT's reference kernels."""

import numpy as np
import pytest

import tinyengine_tvm as te
from tinyengine_tvm.errors import TinyEngineError
from tinyengine_tvm.testing import tflite_builder as tb
from tinyengine_tvm.testing.reference import run_litert


def _check(model, n_inputs=2, seed=0, **kw):
    cm = te.compile(bytes(model), **kw)
    rng = np.random.default_rng(seed)
    for _ in range(n_inputs):
        xs = [rng.integers(-128, 128, size=s.shape, dtype=np.int8) if s.dtype == "int8"
              else rng.uniform(-2, 2, size=s.shape).astype(s.dtype) for s in cm.inputs]
        ours, ref = cm.run(xs), run_litert(bytes(model), xs)
        assert len(ours) == len(ref)
        for o, r in zip(ours, ref):
            assert o.shape == r.shape and o.dtype == r.dtype
            np.testing.assert_array_equal(o, r)
    return cm


def _conv_with_signature(shape, signature):
    b = tb.ModelBuilder()
    rng = np.random.default_rng(0)
    x = b.input("image", shape, scale=0.05, zero_point=-3, shape_signature=signature)
    w = b.const("w", rng.integers(-127, 128, (4, 3, 3, shape[-1]), dtype=np.int8), scale=np.full(4, 0.01, np.float32),
                zero_point=0)
    bias = b.const("b", rng.integers(-300, 300, 4, dtype=np.int32), scale=tb.choose_bias_scale(0.05, np.full(4, 0.01)))
    y = b.tensor("y", shape[:-1] + (4,), scale=0.1, zero_point=0)
    b.op("CONV_2D", [x, w, bias], [y], padding="SAME")
    b.output(y)
    return b.finish()


# -- defect 2: dynamic shapes (TFLite shape_signature) ---------------------------------------------

def test_dynamic_spatial_input_is_refused_naming_the_input():
    m = _conv_with_signature((1, 1, 1, 3), (1, -1, -1, 3))
    with pytest.raises(TinyEngineError) as e:
        te.compile(bytes(m))
    msg = str(e.value)
    assert "input 'image'" in msg and "[1, -1, -1, 3]" in msg and "re-export" in msg and "\n" not in msg
    assert "--input-shape" not in msg  # the stored 1x1 placeholder is no shape to offer


def test_dynamic_batch_is_refused_or_compiled_at_its_stored_shape():
    m = _conv_with_signature((1, 6, 6, 3), (-1, 6, 6, 3))
    with pytest.raises(TinyEngineError, match=r"input 'image' has a dynamic shape \[-1, 6, 6, 3\].*--input-shape image:1,6,6,3"):
        te.compile(bytes(m))
    with pytest.raises(TinyEngineError, match="only at its stored shape"):
        te.compile(bytes(m), input_shapes={"image": (2, 6, 6, 3)})
    _check(m, input_shapes={"image": (1, 6, 6, 3)})  # what LiteRT runs without a resize


# -- defect 4: ordinary graphs of listed operators ------------------------------------------------

def _fc_over(in_shape, in_n, out_n=5, keep_num_dims=False, out_shape=None):
    """FULLY_CONNECTED reading a rank-3/4 tensor: TFLite flattens it to [size / in_n, in_n] (Keras Flatten
    folded into the layer when in_n is the whole feature map)."""
    b = tb.ModelBuilder()
    rng = np.random.default_rng(in_n)
    x = b.input("x", in_shape, scale=0.05, zero_point=-3)
    w = b.const("w", rng.integers(-127, 128, (out_n, in_n), dtype=np.int8), scale=0.01, zero_point=0)
    bias = b.const("b", rng.integers(-300, 300, out_n, dtype=np.int32), scale=float(np.float32(0.05) * np.float32(0.01)))
    y = b.tensor("y", out_shape, scale=0.1, zero_point=2)
    b.op("FULLY_CONNECTED", [x, w, bias], [y], keep_num_dims=keep_num_dims)
    b.output(y)
    return b.finish()


@pytest.mark.parametrize("in_shape,in_n,keep,out_shape", [
    ((1, 3, 3, 4), 36, False, (1, 5)),      # Flatten folded into the FC
    ((2, 2, 3, 4), 48, False, (2, 5)),      # ... over a batch of 2
    ((1, 6, 4), 24, False, (1, 5)),
    ((1, 3, 3, 4), 4, False, (9, 5)),       # last axis only: rows = the other dimensions
    ((1, 6, 4), 4, True, (1, 6, 5)),        # keep_num_dims
])
def test_fully_connected_over_rank3_and_rank4_inputs(in_shape, in_n, keep, out_shape):
    cm = _check(_fc_over(in_shape, in_n, keep_num_dims=keep, out_shape=out_shape))
    assert cm.report()["op_counts"]["fully_connected"] == 1


@pytest.mark.parametrize("dm,per_channel,stride", [(1, True, 1), (2, True, 1), (2, False, 2), (3, True, 2)])
def test_depthwise_on_one_channel(dm, per_channel, stride):
    _check(tb.conv2d_model((1, 7, 6, 1), depthwise=True, depth_multiplier=dm, per_channel=per_channel,
                           stride=(stride, stride), seed=dm))


def test_add_of_1x1_maps_from_means():
    """Two global means ([1,1,1,C] maps) added: the squeeze-and-excitation style head."""
    b = tb.ModelBuilder()
    x = b.input("x", (1, 5, 5, 6), scale=0.05, zero_point=-3)
    axes = b.const_int32("axes", [1, 2])
    m1 = b.tensor("m1", (1, 1, 1, 6), scale=0.04, zero_point=1)
    b.op("MEAN", [x, axes], [m1], keep_dims=True)
    mx = b.tensor("mx", (1, 1, 1, 6), scale=0.05, zero_point=-3)
    b.op("MAX_POOL_2D", [x], [mx], padding="VALID", stride_h=5, stride_w=5, filter_h=5, filter_w=5)
    y = b.tensor("y", (1, 1, 1, 6), scale=0.08, zero_point=-2)
    b.op("ADD", [m1, mx], [y])
    b.output(y)
    _check(b.finish(), n_inputs=3)
    _check(tb.add_model((1, 1, 1, 7), activation="RELU"))


# -- defect 6: standalone activations --------------------------------------------------------------

@pytest.mark.parametrize("op,out_q", [("RELU", (0.05, -3)), ("RELU", (0.03, -128)), ("RELU6", (0.05, -3)),
                                      ("RELU6", (0.02, 5)), ("RELU_N1_TO_1", (0.01, 0))])
def test_standalone_relu(op, out_q):
    b = tb.ModelBuilder()
    x = b.input("x", (1, 4, 5, 3), scale=0.05, zero_point=-3)
    y = b.tensor("y", (1, 4, 5, 3), scale=out_q[0], zero_point=out_q[1])
    b.op(op, [x], [y])
    b.output(y)
    assert len(_check(b.finish(), n_inputs=3).report()["op_counts"]) == 1  # one kernel (requantize + clamp, or a table)


# -- defect 5: float32 and dynamic-range (hybrid) TFLite models --------------------------------------

def _float_conv(hybrid: bool):
    b = tb.ModelBuilder()
    rng = np.random.default_rng(0)
    x = b.input("x", (1, 6, 6, 3), "float32")
    if hybrid:
        w = b.const("w", rng.integers(-127, 128, (4, 3, 3, 3), dtype=np.int8), scale=np.full(4, 0.01, np.float32), zero_point=0)
    else:
        w = b.const("w", rng.normal(size=(4, 3, 3, 3)).astype(np.float32))
    bias = b.const("b", rng.normal(size=4).astype(np.float32))
    y = b.tensor("conv_out", (1, 6, 6, 4), "float32")
    b.op("CONV_2D", [x, w, bias], [y], padding="SAME")
    b.output(y)
    return b.finish()


@pytest.mark.parametrize("hybrid", [False, True])
def test_float_and_hybrid_models_are_refused_with_a_way_out(hybrid):
    with pytest.raises(TinyEngineError) as e:
        te.compile(bytes(_float_conv(hybrid)))
    msg = str(e.value)
    assert "not int8-quantized" in msg and "operator #0 CONV_2D" in msg and "--calibration" in msg and "\n" not in msg
    assert ("dynamic-range" in msg) == hybrid


# -- defect 4: errors name the TFLite operator, not the Relax call it became --------------------------

def _transpose_model():
    b = tb.ModelBuilder()
    x = b.input("x", (1, 4, 5, 3), scale=0.05, zero_point=-3)
    y = b.tensor("nchw", (1, 3, 4, 5), scale=0.05, zero_point=-3)
    b.op("TRANSPOSE", [x, b.const_int32("perm", [0, 3, 1, 2])], [y])
    b.output(y)
    return b.finish()


@pytest.mark.parametrize("make", [_transpose_model, lambda: tb.add_model((1, 4, 4, 8), (1, 1, 1, 8))],
                         ids=["transpose", "broadcast_add"])
def test_rejection_names_the_tflite_operator(make):
    """Either exact (once a kernel takes the op) or refused in one line naming the TFLite operator."""
    m = make()
    try:
        cm = te.compile(bytes(m))
    except TinyEngineError as err:
        msg = str(err)
        assert "operator #0 " in msg and "\n" not in msg and "bound to" not in msg, msg
        return
    _check(m)
    assert cm is not None


def test_locate_picks_the_operator_by_relax_op_and_shape():
    from tinyengine_tvm.frontend.tflite import locate

    rec = [(0, "CONV_2D", "a", [("relax.nn.conv2d", (1, 4, 4, 8)), ("relax.add", (1, 4, 4, 8))]),
           (1, "ADD", "b", [("relax.add", (1, 4, 4, 8))]), (2, "ADD", "c", [("relax.add", (1, 2, 2, 8))])]
    assert locate(rec, "relax.add", (1, 2, 2, 8)) == "operator #2 ADD (output 'c')"
    assert locate(rec, "relax.nn.conv2d", (9,)) == "operator #0 CONV_2D (output 'a')"  # any shape as a fallback
    assert locate(rec, "relax.matmul", (1, 2)) is None


def test_onnx_rejection_names_the_node():
    """A QDQ graph ending in a float Relu (no QuantizeLinear after it): the node is named, not relax.nn.relu."""
    from tinyengine_tvm.testing.qdq_graph import QDQGraph

    g = QDQGraph()
    d, _, _ = g.qdq("x", 0.02, -3)
    r = g.op("Relu", [d])
    with pytest.raises(TinyEngineError) as e:
        te.compile(g.model(r, [1, 3, 6, 8], [1, 3, 6, 8]))
    msg = str(e.value)
    assert f"node #2 Relu (output '{r}')" in msg and "\n" not in msg and "bound to" not in msg, msg
