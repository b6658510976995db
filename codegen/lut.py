"""Elementwise int8 ops: broadcast loops, MUL parameters, and 256-entry tables for unary functions.

An int8 tensor takes only 256 values, so any int8 -> int8 function of one tensor is its table
(``te_lut_s8``). This module computes those tables from the reference's *own* arithmetic, value
by value, so the table is the reference's answer for every possible input:

* LOGISTIC (LiteRT ``activations.cc`` SigmoidPrepare, kReference: ``PopulateLookupTable<int8_t>``):
  ``round(1 / (1 + expf(-x)) * (1 / out_scale)) + out_zp`` in float32 with the C library's expf;
* HARD_SWISH (``reference_ops::HardSwish``): TFLite's int16 fixed-point algorithm;
* RELU_N1_TO_1 (``QuantizedReluX``): MultiplyByQuantizedMultiplier rescale, clamp to round(+-1 / s);
* ADD / SUB / MUL with a scalar constant operand: the binary kernels' integer arithmetic.

It also owns the compile-time collapse of NHWC broadcasting into ``te_bcast_params``' 4 loops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math

import numpy as np

from . import quant

_I16_MIN, _I16_MAX = -(1 << 15), (1 << 15) - 1


# --------------------------------------------------------------------------------------------
# broadcasting


def bcast_loops(shape1, shape2, out_shape) -> dict:
    """``te_bcast_params`` (d, s1, s2) for out = f(in1, in2) with numpy/TFLite broadcasting.

    Output axes of extent 1 are dropped and neighbouring axes with the same broadcast pattern
    merged (a [1,H,W,C] x [1,1,1,C] gate becomes [H*W][C] with in2 strides (0, 1)); the result
    must fit four loops (ValueError otherwise)."""
    out = [int(d) for d in out_shape]
    r = len(out)
    a = [1] * (r - len(shape1)) + [int(d) for d in shape1]
    b = [1] * (r - len(shape2)) + [int(d) for d in shape2]
    if any(x not in (1, o) for x, o in zip(a, out)) or any(x not in (1, o) for x, o in zip(b, out)):
        raise ValueError(f"shapes {list(shape1)} and {list(shape2)} do not broadcast to {out}")
    axes = []  # (extent, in1 broadcast, in2 broadcast)
    for o, x, y in zip(out, a, b):
        if o == 1:
            continue
        key = (x == 1, y == 1)
        if axes and (axes[-1][1], axes[-1][2]) == key:
            axes[-1] = (axes[-1][0] * o, *key)
        else:
            axes.append((o, *key))
    if len(axes) > 4:
        raise ValueError(f"broadcasting {list(shape1)} with {list(shape2)} needs {len(axes)} loops (4 supported)")
    axes = [(1, False, False)] * (4 - len(axes)) + axes
    d = [e for e, _, _ in axes]

    def strides(bcast_index):
        s, step = [0] * 4, 1
        for i in range(3, -1, -1):
            if not axes[i][bcast_index] and d[i] > 1:  # extent-1 loops: stride 0 (canonical form)
                s[i] = step
                step *= d[i]
        return s

    return {"d": d, "s1": strides(1), "s2": strides(2)}


def bcast_index(loops: dict, k: int) -> np.ndarray:
    """For every output element in write order, the element of input k (1 or 2) it reads."""
    d, s = loops["d"], loops["s1" if k == 1 else "s2"]
    idx = np.zeros(d, np.int64)
    for i in range(4):
        shape = [1, 1, 1, 1]
        shape[i] = d[i]
        idx = idx + (np.arange(d[i], dtype=np.int64) * s[i]).reshape(shape)
    return idx.reshape(-1)


# --------------------------------------------------------------------------------------------
# MUL


def mul_params(s1: float, z1: int, s2: float, z2: int, so: float, zo: int, act_min: int = -128,
               act_max: int = 127) -> dict:
    """int8 MUL parameters as LiteRT's mul.cc Prepare; keys are ``te_mul_params`` fields.

    ``QuantizeMultiplier(double(s1) * double(s2) / double(so))`` (any magnitude: a product above
    the output range gives a left shift)."""
    real = float(np.float32(s1)) * float(np.float32(s2)) / float(np.float32(so))
    m, sh = quant.quantize_multiplier(real)
    return {"in1_offset": -int(z1), "in2_offset": -int(z2), "out_offset": int(zo), "out_mult": int(m),
            "out_shift": int(sh), "act_min": int(act_min), "act_max": int(act_max)}


def _mbqm(x: np.ndarray, m: int, shift: int) -> np.ndarray:
    return np.array([quant.multiply_by_quantized_multiplier(int(v), m, shift) for v in x], np.int64)


_X = np.arange(-128, 128, dtype=np.int64)


def _table(values: np.ndarray) -> list[int]:
    """Outputs for inputs -128..127 -> the kernel's table order: index (uint8) x."""
    v = np.asarray(values, np.int64)
    return [int(t) for t in np.roll(v, -128)]  # x = 0 first, then 1..127, then -128..-1


def mul_const_table(p: dict, const: int, const_first: bool) -> list[int]:
    """te_mul_s8's output for every x with one operand the int8 constant ``const``."""
    x1, x2 = (int(const), _X) if const_first else (_X, int(const))
    v = (x1 + p["in1_offset"]) * (x2 + p["in2_offset"])
    r = _mbqm(v, p["out_mult"], p["out_shift"]) + p["out_offset"]
    return _table(np.clip(r, p["act_min"], p["act_max"]))


def add_const_table(p: dict, const: int, const_first: bool) -> list[int]:
    """te_add_s8's (or SUB's) output for every x with one operand the int8 constant ``const``."""
    def scaled(x, off, m, sh):
        return _mbqm((np.asarray(x, np.int64) + off) << int(p["left_shift"]), m, sh)

    x1 = np.full(256, int(const)) if const_first else _X
    x2 = _X if const_first else np.full(256, int(const))
    s = scaled(x1, p["in1_offset"], p["in1_mult"], p["in1_shift"]) + scaled(x2, p["in2_offset"], p["in2_mult"], p["in2_shift"])
    r = _mbqm(s, p["out_mult"], p["out_shift"]) + p["out_offset"]
    return _table(np.clip(r, p["act_min"], p["act_max"]))


# --------------------------------------------------------------------------------------------
# activations


def _libm_expf():
    name = ctypes.util.find_library("m")
    lib = ctypes.CDLL(name) if name else ctypes.CDLL(None)
    f = lib.expf
    f.restype, f.argtypes = ctypes.c_float, [ctypes.c_float]
    return f


def logistic_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> list[int]:
    """LiteRT's int8 LOGISTIC table (PopulateLookupTable, float32 throughout, the C library's expf,
    std::round ties away from zero)."""
    expf = _libm_expf()
    f32 = np.float32
    s_in, inv = f32(in_scale), f32(1) / f32(out_scale)
    out = []
    for x in range(-128, 128):
        deq = f32(s_in * f32(x - int(in_zp)))
        e = f32(expf(float(-deq)))
        t = f32(f32(1) / f32(f32(1) + e))
        rescaled = quant._round_half_away(float(f32(t * inv)))
        out.append(min(127, max(-128, rescaled + int(out_zp))))
    return _table(out)


def _srdhm16(a: int, b: int) -> int:
    if a == b == _I16_MIN:
        return _I16_MAX
    ab = a * b
    num = ab + ((1 << 14) if ab >= 0 else 1 - (1 << 14))
    q = abs(num) >> 15
    return q if num >= 0 else -q


def _sdhm16(a: int, b: int) -> int:
    """TFLite's SaturatingDoublingHighMul (int16, truncating toward zero)."""
    if a == b == _I16_MIN:
        return _I16_MAX
    ab = a * b
    q = abs(ab) >> 15
    return q if ab >= 0 else -q


def _rdbpot16(x: int, e: int) -> int:
    mask = (1 << e) - 1
    return (x >> e) + (1 if (x & mask) > (mask >> 1) + (1 if x < 0 else 0) else 0)


def _sat_lshift16(v: int, amount: int) -> int:
    return max(_I16_MIN, min(_I16_MAX, v * (1 << amount)))


def _int16_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier then DownScaleInt32ToInt16Multiplier (activations.cc)."""
    m, e = quant.quantize_multiplier(real)
    m16 = _I16_MAX if m >= (1 << 31) - 1 - (1 << 15) else (m + (1 << 15)) >> 16
    return m16, e


def hard_swish_params(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> dict:
    """HardSwishPrepare's HardSwishParams (float32 scale arithmetic, as there)."""
    f32 = np.float32
    hires = f32(f32(1.0) / f32(128.0)) * f32(in_scale)
    reluish_scale = f32(3.0) / f32(32768.0)
    om, oe = _int16_multiplier(float(f32(hires / f32(out_scale))))
    rm, re_ = _int16_multiplier(float(f32(hires / reluish_scale)))
    if oe > 0:
        raise ValueError(f"HARD_SWISH output multiplier exponent {oe} > 0 (TFLite refuses this quantization)")
    return {"in_zp": int(in_zp), "out_zp": int(out_zp), "out_m": om, "out_e": oe, "relu_m": rm, "relu_e": re_}


def hard_swish_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> list[int]:
    """reference_ops::HardSwish<int8_t>, value by value (int16 fixed point)."""
    p = hard_swish_params(in_scale, in_zp, out_scale, out_zp)
    out = []
    for x in range(-128, 128):
        v = x - p["in_zp"]
        hires = v * 128
        pre_out = _srdhm16(hires, p["out_m"])
        r = hires
        if p["relu_e"] > 0:
            r = _sat_lshift16(r, p["relu_e"] - 1)
        r = _srdhm16(r, p["relu_m"])
        if p["relu_e"] > 0:
            r = _sat_lshift16(r, 1)
        if p["relu_e"] < 0:
            r = _rdbpot16(r, -p["relu_e"])
        r = (r + (1 << 15)) >> 1
        o = _rdbpot16(_sdhm16(r, pre_out), -p["out_e"])
        o = ((o + p["out_zp"] + (1 << 15)) & 0xFFFF) - (1 << 15)  # int16 arithmetic
        out.append(min(127, max(-128, o)))
    return _table(out)


def relu_x_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int, lo: float, hi: float) -> list[int]:
    """QuantizedReluX<int8_t>(lo, hi) (RELU_N1_TO_1: -1, 1): MultiplyByQuantizedMultiplier with
    QuantizeMultiplier(in_scale / out_scale) (a float32 quotient), clamped to
    [zp + roundf(lo / s), zp + roundf(hi / s)] within int8."""
    f32 = np.float32
    m, sh = quant.quantize_multiplier(float(f32(f32(in_scale) / f32(out_scale))))
    amin = max(-128, int(out_zp) + quant._round_half_away(float(f32(f32(lo) / f32(out_scale)))))
    amax = 127 if math.isinf(hi) else min(127, int(out_zp) + quant._round_half_away(float(f32(f32(hi) / f32(out_scale)))))
    r = _mbqm(_X - int(in_zp), m, sh) + int(out_zp)
    return _table(np.clip(r, amin, amax))


# --------------------------------------------------------------------------------------------
# onnxruntime's arithmetic (ONNX / PyTorch graphs, TE_SINGLE_ROUNDING): every QDQ unary op is again a
# function of the int8 input, so a table; the float32 steps below are what its CPU EP runs (measured:
# tests/test_elementwise_ort.py, every int8 input against onnxruntime).


def _f32(x):
    return np.asarray(x, np.float32)


def _fma32(a, b, c):
    """float32 fused multiply-add, one rounding (exact rational, then the nearest float32)."""
    from fractions import Fraction

    a, b, c = np.broadcast_arrays(_f32(a), _f32(b), _f32(c))
    return np.array([quant._f32_nearest(Fraction(float(x)) * Fraction(float(y)) + Fraction(float(z)))
                     for x, y, z in zip(a.ravel(), b.ravel(), c.ravel())], np.float32).reshape(a.shape)


def ort_quantize_table(v: np.ndarray, scale: float, zero_point: int) -> list[int]:
    """QuantizeLinear (MLAS): nearbyint(v / scale) (float32 division, ties to even) + zero point, saturated."""
    r = (_f32(v) / np.float32(scale)).astype(np.float32)
    return _table(np.clip(np.rint(r).astype(np.int64) + int(zero_point), -128, 127))


def ort_hard_sigmoid(d: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """onnxruntime's float HardSigmoid (Eigen, no FMA): min(max(alpha * x + beta, 0), 1) in float32."""
    t = (np.float32(alpha) * _f32(d)).astype(np.float32) + np.float32(beta)
    return np.clip(t.astype(np.float32), np.float32(0), np.float32(1)).astype(np.float32)


_LOGISTIC = [np.float32(v) for v in (4.37031012579801e-11, 1.15627324459942e-07, 6.08574864600143e-05,
                                     8.51377133304701e-03, 2.48287947061529e-01)]      # alpha_9 .. alpha_1
_LOGISTIC_Q = [np.float32(v) for v in (6.10247389755681e-13, 5.76102136993427e-09, 6.29106785017040e-06,
                                       1.70198817374094e-03, 1.16817656904453e-01, 9.93151921023180e-01)]  # beta_10 .. 0


def ort_logistic(d: np.ndarray, fma: bool) -> np.ndarray:
    """MLAS MlasComputeLogistic (Eigen's rational approximation), float32: the SSE kernel multiplies then adds,
    the AVX2 kernel (MlasLogisticKernelFma3) fuses each multiply-add."""
    x = np.clip(_f32(d), np.float32(-18), np.float32(18)).astype(np.float32)
    x2 = (x * x).astype(np.float32)

    def madd(a, b, c):
        return _fma32(a, b, c) if fma else ((a * b).astype(np.float32) + c).astype(np.float32)

    p = madd(x2, _LOGISTIC[0], _LOGISTIC[1])
    for c in _LOGISTIC[2:]:
        p = madd(p, x2, c)
    p = (p * x).astype(np.float32)
    q = madd(x2, _LOGISTIC_Q[0], _LOGISTIC_Q[1])
    for c in _LOGISTIC_Q[2:]:
        q = madd(q, x2, c)
    y = ((p / q).astype(np.float32) + np.float32(0.5)).astype(np.float32)
    return np.clip(y, np.float32(0), np.float32(1)).astype(np.float32)


def ort_fma_host() -> bool:
    """Does this host's onnxruntime run MLAS's FMA3 kernels (AVX2 and FMA)? TINYENGINE_ORT_FMA=0/1 overrides."""
    import os

    env = os.environ.get("TINYENGINE_ORT_FMA")
    if env is not None:
        return env not in ("", "0")
    flags = quant._host_cpu()[0] or frozenset()
    return "avx2" in flags and "fma" in flags


def ort_unary_table(kind: str, si: float, zi: int, so: float, zo: int, alpha: float = 0.2, beta: float = 0.5,
                    fma: bool | None = None) -> list[int]:
    """The table of onnxruntime's QLinearSigmoid (``sigmoid``: MLAS logistic of every dequantized input, then
    QuantizeLinear) or of its unfused float DequantizeLinear -> HardSigmoid / HardSwish (HardSigmoid(1/6, 1/2)
    then Mul, as onnxruntime expands it) -> QuantizeLinear."""
    d = quant.ort_dequant_table(si, zi)
    if kind == "sigmoid":
        v = ort_logistic(d, ort_fma_host() if fma is None else fma)
    elif kind == "hard_sigmoid":
        v = ort_hard_sigmoid(d, alpha, beta)
    elif kind == "hard_swish":
        v = (d * ort_hard_sigmoid(d, np.float32(1.0) / np.float32(6.0), 0.5)).astype(np.float32)
    else:
        raise ValueError(f"no onnxruntime table for {kind}")
    return ort_quantize_table(v, so, zo)
