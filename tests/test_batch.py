"""Models with a fixed batch N > 1: every image of the batch is exact (issue 10, defect 1).

The NHWC kernels (conv, depthwise, pools, pad, resize) compute one image; the emitter calls them once
per image (codegen/emitter.py batch_loop) and the planner models that order (planner/contracts.py
access_model). Each model here is built with the project's TFLite builder and compared byte for
byte, every batch element, with LiteRT's reference kernels.
"""

import numpy as np
import pytest

import tinyengine_tvm as te
from tinyengine_tvm.planner import contracts
from tinyengine_tvm.testing import tflite_builder as tb
from tinyengine_tvm.testing.reference import run_litert


def _inputs(cm, rng):
    return [rng.integers(-128, 128, size=s.shape, dtype=np.int8) if s.dtype == "int8"
            else rng.uniform(-2, 2, size=s.shape).astype(s.dtype) for s in cm.inputs]


def _check(model, target="host", n_inputs=2, seed=0):
    cm = te.compile(bytes(model), target=target)
    rng = np.random.default_rng(seed)
    for _ in range(n_inputs):
        xs = _inputs(cm, rng)
        ours, ref = cm.run(xs), run_litert(bytes(model), xs)
        for o, r in zip(ours, ref):
            assert o.shape == r.shape and o.dtype == r.dtype
            for b in range(r.shape[0]):  # name the element that differs
                np.testing.assert_array_equal(o[b], r[b], err_msg=f"batch element {b}")
    return cm


@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("case", ["conv3x3", "conv1x1", "dw", "dw_dm2", "maxpool", "avgpool", "pad", "mean"])
def test_single_op_batches(case, n):
    m = {
        "conv3x3": lambda: tb.conv2d_model((n, 7, 6, 3), 5, stride=(2, 2), seed=n),
        "conv1x1": lambda: tb.conv2d_model((n, 5, 5, 8), 6, kernel=(1, 1), seed=n),
        "dw": lambda: tb.conv2d_model((n, 6, 7, 4), depthwise=True, activation="RELU6", seed=n),
        "dw_dm2": lambda: tb.conv2d_model((n, 6, 6, 3), depthwise=True, depth_multiplier=2, seed=n),
        "maxpool": lambda: tb.pool_model("MAX", (n, 7, 7, 5), filter=(3, 3), stride=(2, 2), padding="SAME"),
        "avgpool": lambda: tb.pool_model("AVG", (n, 6, 6, 4)),
        "pad": lambda: tb.pad_model((n, 4, 5, 3)),
        "mean": lambda: tb.mean_model((n, 5, 5, 6), keep_dims=False, out_quant=(0.03, 2)),
    }[case]()
    _check(m)


def _network(n, h=10, c=4):
    """float in -> QUANTIZE -> conv 3x3 s2 -> depthwise 3x3 (in place candidate) -> max pool -> PAD ->
    nearest x2 -> avg pool -> MEAN -> FULLY_CONNECTED -> DEQUANTIZE: every NHWC kernel, batch n."""
    b = tb.ModelBuilder()
    rng = np.random.default_rng(n)
    xf = b.input("x", (n, h, h, 3), "float32")
    q0 = (0.02, 1)
    x = b.tensor("xq", (n, h, h, 3), scale=q0[0], zero_point=q0[1])
    b.op("QUANTIZE", [xf], [x])

    def wb(name, shape, cout, in_s, qdim):
        ws = rng.uniform(0.005, 0.02, cout).astype(np.float32)
        w = b.const(f"{name}_w", rng.integers(-127, 128, shape, dtype=np.int8), scale=ws, zero_point=0,
                    quantized_dimension=qdim)
        bias = b.const(f"{name}_b", rng.integers(-300, 300, cout, dtype=np.int32), scale=tb.choose_bias_scale(in_s, ws))
        return w, bias

    h1 = (h + 1) // 2
    w, bias = wb("conv", (c, 3, 3, 3), c, q0[0], 0)
    y1 = b.tensor("conv", (n, h1, h1, c), scale=0.03, zero_point=-128)
    b.op("CONV_2D", [x, w, bias], [y1], padding="SAME", stride_h=2, stride_w=2, fused_activation="RELU6")
    w, bias = wb("dw", (1, 3, 3, c), c, 0.03, 3)
    y2 = b.tensor("dw", (n, h1, h1, c), scale=0.04, zero_point=-5)
    b.op("DEPTHWISE_CONV_2D", [y1, w, bias], [y2], padding="SAME", depth_multiplier=1)
    h3 = h1 // 2
    y3 = b.tensor("maxpool", (n, h3, h3, c), scale=0.04, zero_point=-5)
    b.op("MAX_POOL_2D", [y2], [y3], padding="VALID", stride_h=2, stride_w=2, filter_h=2, filter_w=2)
    y4 = b.tensor("pad", (n, h3 + 2, h3 + 1, c), scale=0.04, zero_point=-5)
    b.op("PAD", [y3], [y4], paddings=[[0, 0], [1, 1], [0, 1], [0, 0]])
    size = b.const_int32("size", [2 * (h3 + 2), 2 * (h3 + 1)])
    y5 = b.tensor("resize", (n, 2 * (h3 + 2), 2 * (h3 + 1), c), scale=0.04, zero_point=-5)
    b.op("RESIZE_NEAREST_NEIGHBOR", [y4, size], [y5])
    y6 = b.tensor("avgpool", (n, h3 + 2, h3 + 1, c), scale=0.04, zero_point=-5)
    b.op("AVERAGE_POOL_2D", [y5], [y6], padding="VALID", stride_h=2, stride_w=2, filter_h=2, filter_w=2)
    axes = b.const_int32("axes", [1, 2])
    y7 = b.tensor("mean", (n, c), scale=0.03, zero_point=0)
    b.op("MEAN", [y6, axes], [y7], keep_dims=False)
    w = b.const("fc_w", rng.integers(-127, 128, (3, c), dtype=np.int8), scale=0.01, zero_point=0)
    bias = b.const("fc_b", rng.integers(-300, 300, 3, dtype=np.int32), scale=float(np.float32(0.03 * 0.01)))
    y8 = b.tensor("fc", (n, 3), scale=0.02, zero_point=3)
    b.op("FULLY_CONNECTED", [y7, w, bias], [y8])
    yf = b.tensor("y", (n, 3), "float32")
    b.op("DEQUANTIZE", [y8], [yf])
    b.output(yf)
    return b.finish()


@pytest.mark.parametrize("n", [2, 4])
def test_network_batches_on_host(n):
    m = _network(n)
    cm = _check(m)
    x = np.random.default_rng(n).uniform(-2, 2, cm.inputs[0].shape).astype(np.float32)
    np.testing.assert_array_equal(cm.run([x], sanitize=True)[0], run_litert(bytes(m), [x])[0])  # ASan/UBSan build
    kinds = set(cm.report()["op_counts"])
    assert {"conv2d", "depthwise_conv2d", "max_pool2d", "pad", "resize_nearest", "avg_pool2d", "mean",
            "fully_connected"} <= kinds


def test_batched_contract_is_the_per_image_one_repeated():
    """The planner's access model of a batched kernel: image b's writes land b images further and its
    reads are due b * (writes per image) later; a byte-exact overlap check agrees with it."""
    p = dict(in_h=5, in_w=5, in_c=2, out_h=5, out_w=5, out_c=2, k_h=3, k_w=3, stride_h=1, stride_w=1,
             pad_top=1, pad_left=1, depth_multiplier=1)
    one_w, one_r = contracts.access_model("te_depthwise_conv2d_s8", p, 0, 50)
    w, r = contracts.access_model("te_depthwise_conv2d_s8", dict(p, batch=3), 0, 150)
    assert w.size == 150 and r.size == 150
    np.testing.assert_array_equal(w[100:], one_w + 100)
    np.testing.assert_array_equal(r[50:100], np.where(one_r >= 0, one_r + 50, -1))
    ov = contracts.overlap("te_depthwise_conv2d_s8", dict(p, batch=3), 0, 150, 150)
    for d in range(-150, 151):
        assert ov.allows(d) <= contracts.exact_safe("te_depthwise_conv2d_s8", dict(p, batch=3), 0, 150, 150, d)


def test_network_batch_on_qemu_m7():
    """The DSP kernels (codegen/dsp.py) inside the batch loop, under QEMU on Cortex-M7."""
    from .mcu_tools import require_arm_tools

    require_arm_tools()
    _check(_network(3, h=12, c=8), target="cortex-m7", n_inputs=1)
