"""Synthetic int8 MobileNet-style networks (TFLite), for the tuner's training spread and held-out tests.

``mbnet(spec)`` builds a real ``.tflite`` with ``tflite_builder.ModelBuilder``: a stem conv, inverted
residual blocks (1x1 expand, KxK depthwise, 1x1 project, residual ADD where shapes allow), an
optional detection-style head (a 3x3 conv per output map) or a classifier (MEAN + FULLY_CONNECTED).
Weights are random int8, per-channel scales, output scales chosen so activations span the int8 range.
``SPECS`` are named networks of different widths, kernels and resolutions.
"""

from __future__ import annotations

import numpy as np

from .tflite_builder import ModelBuilder, _auto_out_quant, _weight_sigma, choose_bias_scale, conv_output_size


class _Net:
    def __init__(self, seed: int):
        self.mb = ModelBuilder("tinyengine_tvm.testing.synth_nets")
        self.rng = np.random.default_rng(seed)
        self.n = 0

    def conv(self, x, shape, quant, out_c, k, stride, act="RELU6", depthwise=False):
        rng, mb = self.rng, self.mb
        n, h, w, c = shape
        self.n += 1
        if depthwise:
            out_c, w_shape, qdim, fan_in = c, (1, k, k, c), 3, k * k
        else:
            w_shape, qdim, fan_in = (out_c, k, k, c), 0, k * k * c
        wi = rng.integers(-127, 128, size=w_shape).astype(np.int8)
        ws = rng.uniform(0.002, 0.01, size=out_c).astype(np.float32)
        bs = choose_bias_scale(quant[0], ws)
        bi = rng.integers(-(2 ** 12), 2 ** 12, size=out_c).astype(np.int32)
        oh, ow = conv_output_size(h, k, stride, "SAME"), conv_output_size(w, k, stride, "SAME")
        oq = _auto_out_quant(_weight_sigma(quant, wi, ws, fan_in), act)
        wt = mb.const(f"w{self.n}", wi, scale=ws, zero_point=0, quantized_dimension=qdim)
        bt = mb.const(f"b{self.n}", bi, scale=bs, zero_point=0, quantized_dimension=0)
        oshape = (n, oh, ow, out_c)
        y = mb.tensor(f"t{self.n}", oshape, "int8", oq[0], oq[1])
        opts = dict(padding="SAME", stride_h=stride, stride_w=stride, fused_activation=act)
        if depthwise:
            opts["depth_multiplier"] = 1
        mb.op("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", [x, wt, bt], [y], **opts)
        return y, oshape, oq

    def add(self, a, b, shape, qa, qb):
        self.n += 1
        oq = (float(np.float32(max(qa[0], qb[0]) * 1.5)), 0)
        y = self.mb.tensor(f"t{self.n}", shape, "int8", oq[0], oq[1])
        self.mb.op("ADD", [a, b], [y], fused_activation="NONE")
        return y, oq


def mbnet(res=48, in_c=3, stem=8, blocks=((1, 8, 3, 1), (4, 16, 3, 2), (4, 16, 3, 1)), head="classifier",
          classes=4, seed=0) -> bytes:
    """A MobileNetV2-style int8 network. ``blocks``: (expand ratio, out channels, depthwise kernel, stride)."""
    net = _Net(seed)
    shape = (1, res, res, in_c)
    q = (0.02, -1)
    x = net.mb.input("input", shape, "int8", q[0], q[1])
    x, shape, q = net.conv(x, shape, q, stem, 3, 2)
    for e, out_c, k, s in blocks:
        inp, ishape, iq = x, shape, q
        c = shape[3]
        if e != 1:
            x, shape, q = net.conv(x, shape, q, c * e, 1, 1)
        x, shape, q = net.conv(x, shape, q, None, k, s, depthwise=True)
        x, shape, q = net.conv(x, shape, q, out_c, 1, 1, act="NONE")
        if s == 1 and ishape == shape:
            x, q = net.add(x, inp, shape, q, iq)
    mb = net.mb
    if head == "detection":  # one 3x3 conv per output map (box + class channels)
        y, _, _ = net.conv(x, shape, q, 4 + classes, 3, 1, act="NONE")
        mb.output(y)
        return mb.finish()
    return _classifier_head(net, x, shape, q, classes)


def _classifier_head(net, x, shape, q, classes):
    """Global MEAN -> RESHAPE -> FULLY_CONNECTED to ``classes`` logits (the model's output); returns the model."""
    mb = net.mb
    net.n += 1
    pooled = mb.tensor(f"t{net.n}", (1, 1, 1, shape[3]), "int8", q[0], q[1])
    mb.op("MEAN", [x], [pooled], keep_dims=True, axis=[1, 2])
    flat = mb.tensor("flat", (1, shape[3]), "int8", q[0], q[1])
    mb.op("RESHAPE", [pooled], [flat], new_shape=[1, shape[3]])
    wi = net.rng.integers(-127, 128, size=(classes, shape[3])).astype(np.int8)
    ws = np.float32(0.005)
    wt = mb.const("fc_w", wi, scale=[ws], zero_point=0)
    bt = mb.const("fc_b", np.zeros(classes, np.int32), scale=choose_bias_scale(q[0], [ws])[0], zero_point=0)
    oq = _auto_out_quant(_weight_sigma(q, wi, np.array([ws]), shape[3]), "NONE")
    y = mb.tensor("logits", (1, classes), "int8", oq[0], oq[1])
    mb.op("FULLY_CONNECTED", [flat, wt, bt], [y], fused_activation="NONE")
    mb.output(y)
    return mb.finish()


# Named networks. TRAIN: the tuner's synthetic spread; HELD_OUT: never in the shipped logs (the cost
# model's whole-network test).
TRAIN = {
    "syn_a": dict(res=64, stem=8, blocks=((1, 8, 3, 1), (3, 16, 3, 2), (3, 16, 5, 1), (4, 24, 3, 2), (4, 24, 7, 1)), seed=1),
    "syn_b": dict(res=40, stem=16, blocks=((1, 16, 3, 1), (6, 24, 5, 2), (6, 24, 3, 1), (6, 40, 5, 2), (6, 48, 3, 1)), seed=2),
    "syn_c": dict(res=96, stem=4, blocks=((1, 8, 3, 2), (2, 12, 3, 2), (4, 20, 7, 1), (4, 32, 3, 2)), seed=3),
    "syn_d": dict(res=32, stem=12, blocks=((2, 12, 5, 1), (5, 20, 3, 1), (5, 28, 5, 2), (3, 36, 3, 1)), seed=4),
}
HELD_OUT = {
    "held_wide": dict(res=48, stem=24, blocks=((1, 24, 3, 1), (4, 32, 3, 2), (4, 32, 3, 1), (4, 56, 5, 2)), seed=11),
    "held_k7": dict(res=56, stem=8, blocks=((1, 8, 7, 1), (3, 16, 7, 2), (3, 16, 7, 1), (5, 24, 5, 2)), seed=12),
    "held_hires": dict(res=112, stem=8, blocks=((1, 8, 3, 2), (3, 12, 3, 2), (3, 16, 5, 1)), seed=13),
    "held_lowres": dict(res=24, stem=16, blocks=((4, 24, 3, 1), (6, 32, 3, 2), (6, 40, 5, 1)), seed=14),
    "held_det": dict(res=64, stem=8, blocks=((1, 8, 3, 1), (4, 16, 3, 2), (4, 24, 5, 2), (4, 24, 3, 1)),
                     head="detection", seed=15),
}


def random_spec(seed: int) -> dict:
    """A random network of the training spread: resolution 16-96, widths 4-96, kernels 3/5/7, strides 1/2."""
    rng = np.random.default_rng(1000 + seed)
    res = int(rng.choice([16, 24, 32, 40, 48, 64, 80, 96]))
    blocks, size = [], res // 2
    for _ in range(int(rng.integers(3, 7))):
        s = 2 if (size >= 8 and rng.random() < 0.35) else 1
        size = (size + s - 1) // s
        blocks.append((int(rng.choice([1, 2, 3, 4, 6])), int(rng.choice([8, 12, 16, 24, 32, 40, 48, 64, 96])),
                       int(rng.choice([3, 3, 5, 7])), s))
    return dict(res=res, stem=int(rng.choice([4, 8, 12, 16, 24, 32])), blocks=tuple(blocks),
                head=str(rng.choice(["classifier", "detection"])), seed=100 + seed)


RANDOM = {f"rand{i}": random_spec(i) for i in range(16)}


# MobileNetV2 (Sandler et al.): (expansion t, channels c at width 1.0, repeats n, first stride s) per stage
MOBILENETV2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                      (6, 320, 1, 1))


def _divisible(v: float, d: int = 8) -> int:
    """torchvision's _make_divisible: round to a multiple of d, never more than 10% below v."""
    n = max(d, int(v + d / 2) // d * d)
    return n + d if n < 0.9 * v else n


def mobilenetv2(res: int = 224, width: float = 1.0, classes: int = 1000, float_input: bool = True,
                seed: int = 0) -> bytes:
    """MobileNetV2 at ``width`` (torchvision's channel rounding; the 1280-channel head conv is never narrowed),
    random int8 weights, MEAN + FULLY_CONNECTED classifier. ``float_input``: a float32 input quantized by a
    QUANTIZE op (as MCUNet's own TFLite models, e.g. vww), so the int8 image is a tensor of the program;
    otherwise an int8 input the caller holds."""
    net = _Net(seed)
    shape = (1, res, res, 3)
    q = (0.02, -1)
    if float_input:
        f = net.mb.input("input", shape, "float32")
        x = net.mb.tensor("input_int8", shape, "int8", q[0], q[1])
        net.mb.op("QUANTIZE", [f], [x])
    else:
        x = net.mb.input("input", shape, "int8", q[0], q[1])
    x, shape, q = net.conv(x, shape, q, _divisible(32 * width), 3, 2)
    for t, c, n, s in MOBILENETV2_STAGES:
        out_c = _divisible(c * width)
        for i in range(n):
            stride = s if i == 0 else 1
            inp, ishape, iq = x, shape, q
            if t != 1:
                x, shape, q = net.conv(x, shape, q, shape[3] * t, 1, 1)
            x, shape, q = net.conv(x, shape, q, None, 3, stride, depthwise=True)
            x, shape, q = net.conv(x, shape, q, out_c, 1, 1, act="NONE")
            if stride == 1 and ishape == shape:
                x, q = net.add(x, inp, shape, q, iq)
    x, shape, q = net.conv(x, shape, q, _divisible(1280 * max(1.0, width)), 1, 1)
    return _classifier_head(net, x, shape, q, classes)
