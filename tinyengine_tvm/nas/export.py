"""An architecture spec as an int8 TFLite model with random weights (float input and output).

The model is what a trained, quantized network of this architecture looks like to the
compiler: float32 input -> QUANTIZE -> stem CONV_2D (ReLU6) -> MBConv blocks (CONV_2D 1x1
ReLU6, DEPTHWISE_CONV_2D ReLU6, CONV_2D 1x1 linear, ADD) -> MEAN over H, W -> FULLY_CONNECTED
-> DEQUANTIZE, zero padding k // 2 on every side (a PAD before each strided conv).
TinyNAS uses it to check its fast constraint path against a full compile, and
to measure candidates on a target before any training.
"""

from __future__ import annotations

import numpy as np

from ..testing.tflite_builder import ModelBuilder, choose_bias_scale
from .spec import ArchSpec

_ACT = (6.0 / 255.0, -128)      # ReLU6 outputs: [0, 6]
_LINEAR = (0.08, 0)             # projections, residual sums, logits


def to_tflite(spec: ArchSpec, seed: int = 0) -> bytes:
    """The .tflite bytes of ``spec`` with random int8 weights (per-channel scales)."""
    rng = np.random.default_rng(seed)
    mb = ModelBuilder(description="tinyengine_tvm.nas.export")
    r = spec.resolution
    names = iter(range(1 << 30))

    def act(shape, q):
        return mb.tensor(f"t{next(names)}", shape, "int8", q[0], q[1])

    def conv(x, x_q, in_c, out_c, k, stride, relu6, depthwise=False):
        _, h, w, _ = mb.tensor_shape(x)
        oh, ow = (h + stride - 1) // stride, (w + stride - 1) // stride
        fan_in = k * k * (1 if depthwise else in_c)
        w_shape = (1, k, k, out_c) if depthwise else (out_c, k, k, in_c)
        w_int = rng.integers(-127, 128, size=w_shape).astype(np.int8)
        # weight scales so the accumulated output spans a useful part of the output range
        w_scales = (rng.uniform(0.5, 1.5, size=out_c) * 2.0 / (x_q[0] * 127 * np.sqrt(fan_in) * 2)).astype(np.float32)
        wt = mb.const(f"w{next(names)}", w_int, scale=w_scales, zero_point=0, quantized_dimension=3 if depthwise else 0)
        bias = rng.integers(-(2 ** 10), 2 ** 10, size=out_c).astype(np.int32)
        bt = mb.const(f"b{next(names)}", bias, scale=choose_bias_scale(x_q[0], w_scales), zero_point=0)
        q = _ACT if relu6 else _LINEAR
        y = act((1, oh, ow, out_c), q)
        padding = "SAME"
        if stride > 1 and k > 1:  # PyTorch's symmetric k // 2 (TFLite's SAME pads less on top at even sizes)
            p = k // 2
            xp = mb.tensor(f"t{next(names)}", (1, h + 2 * p, w + 2 * p, in_c), "int8", x_q[0], x_q[1])
            mb.op("PAD", [x], [xp], paddings=[[0, 0], [p, p], [p, p], [0, 0]])
            x, padding = xp, "VALID"
        opts = dict(padding=padding, stride_h=stride, stride_w=stride, fused_activation="RELU6" if relu6 else "NONE")
        if depthwise:
            opts["depth_multiplier"] = 1
        mb.op("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", [x, wt, bt], [y], **opts)
        return y, q

    xf = mb.input("input", (1, r, r, spec.in_c), "float32")
    x_q = (1.0 / 128, 0)
    x = act((1, r, r, spec.in_c), x_q)
    mb.op("QUANTIZE", [xf], [x])
    x, x_q = conv(x, x_q, spec.in_c, spec.stem_c, spec.stem_kernel, spec.stem_stride, True)
    c = spec.stem_c
    for blk in spec.blocks:
        block_in, block_q, mid = x, x_q, c * blk.expand
        if blk.expand != 1:
            x, x_q = conv(x, x_q, c, mid, 1, 1, True)
        x, x_q = conv(x, x_q, mid, mid, blk.kernel, blk.stride, True, depthwise=True)
        x, x_q = conv(x, x_q, mid, blk.out_c, 1, 1, False)
        if blk.stride == 1 and blk.out_c == c:
            y = act(mb.tensor_shape(x), _LINEAR)
            mb.op("ADD", [x, block_in], [y], fused_activation="NONE")
            x, x_q = y, _LINEAR
        c = blk.out_c
    if spec.head_c:
        x, x_q = conv(x, x_q, c, spec.head_c, 1, 1, True)
        c = spec.head_c
    pooled = act((1, c), x_q)
    mb.op("MEAN", [x], [pooled], axis=[1, 2], keep_dims=False)
    w_int = rng.integers(-127, 128, size=(spec.classes, c)).astype(np.int8)
    w_scale = np.float32(1.0 / (x_q[0] * 127 * np.sqrt(c)) * 0.05)
    wt = mb.const("fc_w", w_int, scale=w_scale, zero_point=0)
    bt = mb.const("fc_b", np.zeros(spec.classes, np.int32), scale=choose_bias_scale(x_q[0], [w_scale])[0], zero_point=0)
    logits = act((1, spec.classes), _LINEAR)
    mb.op("FULLY_CONNECTED", [pooled, wt, bt], [logits], fused_activation="NONE")
    out = mb.tensor("output", (1, spec.classes), "float32")
    mb.op("DEQUANTIZE", [logits], [out])
    mb.output(out)
    return mb.finish()
