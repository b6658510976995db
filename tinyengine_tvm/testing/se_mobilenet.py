"""An int8 MobileNetV2-style TFLite model with squeeze-and-excitation blocks (MCUNetV2 / MobileNetV3 style).

The network is written once against a small layer interface and run twice: in float (numpy) on
random calibration images to find every tensor's range, then emitted with
:class:`~tinyengine_tvm.testing.tflite_builder.ModelBuilder` as int8 TFLite (per-channel symmetric
weights, asymmetric activations from the calibrated ranges, int32 bias), the way TensorFlow's
converter lays such a model out:

* inverted residual blocks: 1x1 expand (ReLU6) -> 3x3 depthwise (ReLU6) -> [SE] -> 1x1 project, + residual;
* SE on the expanded features: MEAN over H, W (keep dims) -> 1x1 conv (ReLU) -> 1x1 conv ->
  hard sigmoid as ADD 3 (fused RELU6) -> MUL 1/6 by constants (or LOGISTIC) -> MUL of the
  [1,1,1,C] gate over the [1,H,W,C] map.

Weights are random (He-initialised), so the model is a realistic workload and a correctness
test, not a classifier.
"""

from __future__ import annotations

import numpy as np

from . import tflite_builder as tb

# (expansion, channels at width 1.0, repeats, first stride, SE) per stage, as MobileNetV2
STAGES = [(1, 16, 1, 1, False), (6, 24, 2, 2, False), (6, 32, 3, 2, True), (6, 64, 4, 2, True),
          (6, 96, 3, 1, True), (6, 160, 3, 2, True), (6, 320, 1, 1, True)]


def _divisible(v: float, d: int = 8) -> int:
    return max(d, int(v + d / 2) // d * d)


def _pads(n, k, s):
    out = (n + s - 1) // s
    total = max((out - 1) * s + k - n, 0)
    return out, total // 2, total - total // 2


def _conv_f(x, w, stride, depthwise):
    """NHWC float conv, TFLite SAME padding. w: [O, kh, kw, I] (depthwise: [1, kh, kw, C])."""
    b, h, wd, c = x.shape
    kh, kw = w.shape[1], w.shape[2]
    oh, pt, pb = _pads(h, kh, stride)
    ow, pl, pr = _pads(wd, kw, stride)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::stride, ::stride][:, :oh, :ow]
    if depthwise:  # win [b, oh, ow, c, kh, kw]
        return np.einsum("bhwcij,ijc->bhwc", win, w[0], optimize=True)
    return np.einsum("bhwcij,oijc->bhwo", win, w, optimize=True)


class _Float:
    """Runs the layers in float, recording each named tensor's range."""

    def __init__(self, x):
        self.ranges = {}
        self.x = x

    def _rec(self, name, v):
        self.ranges[name] = (float(min(v.min(), 0.0)), float(max(v.max(), 0.0)))
        return v

    def input(self):
        return self._rec("input", self.x)

    def conv(self, name, x, w, b, stride, act, depthwise=False):
        y = _conv_f(x, w, stride, depthwise) + b
        y = np.clip(y, 0, 6) if act == "RELU6" else (np.maximum(y, 0) if act == "RELU" else y)
        return self._rec(name, y)

    def add(self, name, a, b):
        return self._rec(name, a + b)

    def mean(self, name, x, keep):
        return self._rec(name, x.mean(axis=(1, 2), keepdims=keep))

    def hard_sigmoid(self, name, x):
        a = self._rec(name + "_add3", np.clip(x + 3.0, 0, 6))
        return self._rec(name, a * (1.0 / 6.0))

    def logistic(self, name, x):
        return self._rec(name, 1.0 / (1.0 + np.exp(-x)))

    def mul(self, name, a, b):
        return self._rec(name, a * b)

    def fc(self, name, x, w, b):
        return self._rec(name, x @ w.T + b)


def _quant_of(rng_):
    lo, hi = rng_
    scale = float(np.float32(max(hi - lo, 1e-6) / 255.0))
    zp = int(np.clip(round(-128 - lo / scale), -128, 127))
    return scale, zp


class _Emit:
    """Writes the same layers as int8 TFLite with the calibrated ranges."""

    def __init__(self, shape, ranges):
        self.mb = tb.ModelBuilder("tinyengine_tvm.testing.se_mobilenet")
        self.r = ranges
        self.q = {}
        self.shape = {}
        self.shape_in = shape

    def _t(self, name, shape, quant=None):
        q = quant or _quant_of(self.r[name])
        i = self.mb.tensor(name, shape, "int8", *q)
        self.q[i], self.shape[i] = q, tuple(shape)
        return i

    def input(self):
        q = (1.0 / 128, 0)
        i = self.mb.input("input", self.shape_in, "int8", *q)
        self.q[i], self.shape[i] = q, tuple(self.shape_in)
        return i

    def conv(self, name, x, w, b, stride, act, depthwise=False):
        s_in = self.q[x][0]
        axes = (1, 2, 3) if not depthwise else (0, 1, 2)
        amax = np.abs(w).max(axis=axes)
        ws = np.maximum(amax / 127.0, 1e-8).astype(np.float32)
        wq = np.round(w / (ws.reshape(-1, 1, 1, 1) if not depthwise else ws.reshape(1, 1, 1, -1)))
        wt = self.mb.const(name + "_w", np.clip(wq, -127, 127).astype(np.int8), scale=ws, zero_point=0,
                           quantized_dimension=3 if depthwise else 0)
        bs = tb.choose_bias_scale(s_in, ws)
        bt = self.mb.const(name + "_b", np.round(b / bs).astype(np.int32), scale=bs, zero_point=0)
        n, h, wd, _ = self.shape[x]
        oh, ow = (h + stride - 1) // stride, (wd + stride - 1) // stride
        y = self._t(name, (n, oh, ow, w.shape[3] if depthwise else w.shape[0]))
        opts = dict(padding="SAME", stride_h=stride, stride_w=stride, fused_activation=act)
        if depthwise:
            opts["depth_multiplier"] = 1
        self.mb.op("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", [x, wt, bt], [y], **opts)
        return y

    def add(self, name, a, b):
        y = self._t(name, self.shape[a])
        self.mb.op("ADD", [a, b], [y])
        return y

    def mean(self, name, x, keep):
        n, _, _, c = self.shape[x]
        y = self._t(name, (n, 1, 1, c) if keep else (n, c))
        self.mb.op("MEAN", [x], [y], axis=[1, 2], keep_dims=keep)
        return y

    def _const(self, name, value):
        c = self.mb.const(name, np.array([127], np.int8), scale=float(np.float32(value / 127.0)), zero_point=0)
        self.q[c], self.shape[c] = (float(np.float32(value / 127.0)), 0), (1,)
        return c

    def hard_sigmoid(self, name, x):
        a = self._t(name + "_add3", self.shape[x])
        self.mb.op("ADD", [x, self._const(name + "_three", 3.0)], [a], fused_activation="RELU6")
        y = self._t(name, self.shape[x])
        self.mb.op("MUL", [a, self._const(name + "_sixth", 1.0 / 6.0)], [y])
        return y

    def logistic(self, name, x):
        y = self._t(name, self.shape[x], (1.0 / 256, -128))  # LiteRT's required LOGISTIC output quantization
        self.mb.op("LOGISTIC", [x], [y])
        return y

    def mul(self, name, a, b):
        y = self._t(name, self.shape[a])
        self.mb.op("MUL", [a, b], [y])
        return y

    def fc(self, name, x, w, b):
        s_in = self.q[x][0]
        ws = np.float32(max(np.abs(w).max() / 127.0, 1e-8))
        wt = self.mb.const(name + "_w", np.clip(np.round(w / ws), -127, 127).astype(np.int8), scale=float(ws), zero_point=0)
        bs = float(np.float32(s_in) * ws)
        bt = self.mb.const(name + "_b", np.round(b / bs).astype(np.int32), scale=bs, zero_point=0)
        y = self._t(name, (self.shape[x][0], w.shape[0]))
        self.mb.op("FULLY_CONNECTED", [x, wt, bt], [y])
        return y


def _network(g, weights, width, gate, se_ratio, stages):
    """The layer sequence, on a _Float or an _Emit; weights(name, shape) gives the float parameters."""
    def conv(name, x, c_in, c_out, k, stride, act, depthwise=False):
        w = weights(name, (1, k, k, c_in) if depthwise else (c_out, k, k, c_in), k * k * (1 if depthwise else c_in))
        b = weights(name + "_bias", (c_out,), 0)
        return g.conv(name, x, w, b, stride, act, depthwise)

    x = g.input()
    c = _divisible(32 * width)
    x = conv("stem", x, 3, c, 3, 2, "RELU6")
    for si, (t, ch, n, s, se) in enumerate(stages):
        out_c = _divisible(ch * width)
        for bi in range(n):
            name = f"s{si}b{bi}"
            stride = s if bi == 0 else 1
            inp, exp_c = x, c * t
            h = conv(name + "_expand", x, c, exp_c, 1, 1, "RELU6") if t != 1 else x
            h = conv(name + "_dw", h, exp_c, exp_c, 3, stride, "RELU6", depthwise=True)
            if se:
                sq = _divisible(exp_c * se_ratio)
                m = g.mean(name + "_se_mean", h, True)
                r = conv(name + "_se_reduce", m, exp_c, sq, 1, 1, "RELU")
                e = conv(name + "_se_expand", r, sq, exp_c, 1, 1, "NONE")
                gt = g.hard_sigmoid(name + "_se_gate", e) if gate == "hard_sigmoid" else g.logistic(name + "_se_gate", e)
                h = g.mul(name + "_se_scale", h, gt)
            h = conv(name + "_project", h, exp_c, out_c, 1, 1, "NONE")
            x = g.add(name + "_add", inp, h) if stride == 1 and c == out_c else h
            c = out_c
    last = _divisible(1280 * width) if width > 1.0 else 1280 // 4
    x = conv("head", x, c, last, 1, 1, "RELU6")
    x = g.mean("pool", x, False)
    return g.fc("classifier", x, weights("classifier", (10, last), last), weights("classifier_bias", (10,), 0))


def se_mobilenetv2_model(resolution: int = 128, width: float = 0.5, gate: str = "hard_sigmoid", se_ratio: float = 0.25,
                         stages=None, seed: int = 0, calibration: int = 4) -> bytes:
    """The int8 TFLite bytes of an SE MobileNetV2 (see module docstring); input [1, R, R, 3] int8
    (scale 1/128, zero point 0), output [1, 10] int8."""
    stages = STAGES if stages is None else stages
    rng = np.random.default_rng(seed)
    cache: dict = {}

    def weights(name, shape, fan_in):
        if name not in cache:
            if fan_in:
                cache[name] = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)
            else:
                cache[name] = rng.normal(0.0, 0.1, size=shape)
        return cache[name]

    xs = rng.uniform(-1, 1, size=(calibration, resolution, resolution, 3))
    f = _Float(xs)
    _network(f, weights, width, gate, se_ratio, stages)
    e = _Emit((1, resolution, resolution, 3), f.ranges)
    out = _network(e, weights, width, gate, se_ratio, stages)
    e.mb.output(out)
    return e.mb.finish()
