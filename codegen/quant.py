"""TFLite-exact computation of the int8 kernel parameters.

Everything here reproduces, bit for bit, how TFLite (LiteRT 2.x, tflite/kernels/*.cc and
tflite/kernels/internal/quantization_util.cc) turns a model's float32 quantization parameters into
the integers its int8 reference kernels use, so that the C kernels in ``codegen/kernels`` produce
byte-identical outputs.

Conventions (the same as ``codegen/kernels/tinyengine_kernels.h``):

* scales are float32 in a ``.tflite`` file; every function first rounds its scale arguments to
  float32 (``np.float32``) and then widens them to double exactly where TFLite does;
* a requantization is a ``(multiplier, shift)`` pair as produced by ``QuantizeMultiplier``:
  ``multiplier`` is a Q31 value in ``[2^30, 2^31)`` (or 0) and ``shift > 0`` is a left shift;
* ``*_offset`` fields follow TFLite: ``in_offset = -input_zero_point``,
  ``out_offset = output_zero_point``.

Pure Python + numpy; no TVM import.
"""

from __future__ import annotations

import functools
import math
import os
from typing import Iterable, Sequence, Tuple, Union

import numpy as np

__all__ = [
    "INT8_MIN",
    "INT8_MAX",
    "quantize_multiplier",
    "quantize_multiplier_smaller_than_one_exp",
    "multiply_by_quantized_multiplier",
    "conv_requant_params",
    "depthwise_requant_params",
    "fc_requant_params",
    "fc_dscale_params",
    "add_params",
    "mean_params",
    "mean_folded_multiplier",
    "mean_view",
    "requantize_params",
    "activation_range",
    "compute_padding",
    "ort_conv_scale",
    "ort_gap_scale",
    "ort_dequant_table",
    "f32_bits",
]

INT8_MIN = -128
INT8_MAX = 127
_INT32_MIN = -(1 << 31)
_INT32_MAX = (1 << 31) - 1

Activation = Union[str, int, None]

# TFLite ActivationFunctionType enum values (schema.fbs) -> canonical names.
_ACT_BY_ENUM = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH",
                5: "SIGN_BIT", 6: "SIGMOID"}


# --------------------------------------------------------------------------------------------
# scalar helpers


def _f32(x: float) -> float:
    """Round a Python float to the nearest float32 (how a scale is stored in a .tflite file)."""
    return float(np.float32(x))


def _round_half_away(x: float) -> int:
    """std::round / TfLiteRound on a double: nearest integer, ties away from zero (exact)."""
    if not math.isfinite(x):
        raise ValueError(f"cannot round non-finite value {x!r}")
    t = math.trunc(x)
    frac = x - t  # exact: x and t are within a factor of two (or t == 0)
    if frac >= 0.5:
        t += 1
    elif frac <= -0.5:
        t -= 1
    return int(t)


def _round_half_away_f32(x: np.float32) -> int:
    """std::round on a float (roundf): the argument is already a float32 value."""
    return _round_half_away(float(x))


# --------------------------------------------------------------------------------------------
# QuantizeMultiplier and friends


def quantize_multiplier(real: float) -> Tuple[int, int]:
    """TFLite ``QuantizeMultiplier(double, int32_t*, int*)`` (default, non-single-rounding build).

    Returns ``(multiplier, shift)`` with ``real ~= multiplier * 2^(shift - 31)``:

    * ``q, shift = frexp(real)`` (``q`` in [0.5, 1));
    * ``multiplier = round_half_away(q * 2^31)``; if that rounds up to ``2^31`` it is halved and
      ``shift`` incremented;
    * ``shift < -31`` (``|real| < ~2^-32``) flushes to ``(0, 0)``; ``real == 0`` gives ``(0, 0)``.
    """
    real = float(real)
    if not math.isfinite(real):
        raise ValueError(f"quantize_multiplier: non-finite multiplier {real!r}")
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = _round_half_away(q * float(1 << 31))  # q * 2^31 is exact
    if abs(q_fixed) > (1 << 31):  # cannot happen for a finite double; TFLITE_CHECK in TFLite
        raise ValueError(f"quantize_multiplier: bad fixed-point value for {real!r}")
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if q_fixed > _INT32_MAX:
        raise ValueError(f"quantize_multiplier: multiplier overflow for {real!r}")
    if shift < -31:
        shift = 0
        q_fixed = 0
    return int(q_fixed), int(shift)


def quantize_multiplier_smaller_than_one_exp(real: float) -> Tuple[int, int]:
    """TFLite ``QuantizeMultiplierSmallerThanOneExp``: requires ``0 < real < 1``; shift <= 0."""
    real = float(real)
    if not (0.0 < real < 1.0):
        raise ValueError(f"multiplier {real!r} must lie in (0, 1)")
    mult, shift = quantize_multiplier(real)
    if shift > 0:  # TFLITE_CHECK_LE(shift, 0)
        raise ValueError(f"multiplier {real!r} quantizes to a positive shift")
    return mult, shift


def _srdhm(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul on int32 values."""
    if a == _INT32_MIN and b == _INT32_MIN:
        return _INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    num = ab + nudge
    # C++ integer division truncates toward zero
    q = abs(num) >> 31
    return q if num >= 0 else -q


def _rdbpot(x: int, e: int) -> int:
    """gemmlowp RoundingDivideByPOT: x / 2^e, rounding to nearest, ties away from zero."""
    if e <= 0:
        return x
    mask = (1 << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if remainder > threshold else 0)


def _wrap_i32(v: int) -> int:
    return ((v + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLite ``MultiplyByQuantizedMultiplier(int32_t, int32_t, int)`` (double rounding).

    Python mirror of the C ``te_requantize``: useful for constant folding and tests.
    """
    left = shift if shift > 0 else 0
    right = 0 if shift > 0 else -shift
    return _rdbpot(_srdhm(_wrap_i32(int(x) * (1 << left)), int(multiplier)), right)


# --------------------------------------------------------------------------------------------
# per-layer parameters


def conv_requant_params(in_scale: float, w_scales: Union[float, Sequence[float]],
                        out_scale: float, out_channels: int | None = None
                        ) -> Tuple[np.ndarray, np.ndarray]:
    """Per-output-channel ``(mult[], shift[])`` of CONV_2D / DEPTHWISE_CONV_2D.

    As TFLite's ``PopulateConvolutionQuantizationParams``: for each channel
    ``effective = double(input_scale) * double(w_scale[c]) / double(output_scale)`` (each scale a
    float32 first), then ``QuantizeMultiplier``. A single weight scale (per-tensor weights) is
    broadcast to ``out_channels`` entries when ``out_channels`` is given.
    Returns two ``int32`` numpy arrays.
    """
    scales = np.atleast_1d(np.asarray(w_scales, dtype=np.float32))
    if scales.size == 1 and out_channels is not None:
        scales = np.repeat(scales, out_channels)
    elif out_channels is not None and scales.size != out_channels:
        raise ValueError(f"{scales.size} weight scales for {out_channels} output channels")
    si = float(np.float32(in_scale))
    so = float(np.float32(out_scale))
    if so <= 0.0:
        raise ValueError(f"output scale must be positive, got {out_scale!r}")
    mult = np.empty(scales.size, dtype=np.int32)
    shift = np.empty(scales.size, dtype=np.int32)
    for c, ws in enumerate(scales):
        mult[c], shift[c] = quantize_multiplier(si * float(ws) / so)
    return mult, shift


depthwise_requant_params = conv_requant_params


def fc_requant_params(in_scale: float, w_scales: Union[float, Sequence[float]],
                      out_scale: float) -> Tuple[np.ndarray, np.ndarray, bool]:
    """FULLY_CONNECTED fixed-point ``(mult[], shift[], per_channel)`` for ``te_fully_connected_s8``.

    This is what TFLite's optimized kernels (and TFLite Micro) use; LiteRT's reference kernel
    scales in double instead, see :func:`fc_dscale_params`.

    * per-tensor weights (one scale): TFLite's ``GetQuantizedConvolutionMultipler``, which
      multiplies ``input_scale * filter_scale`` in **float32**, widens the product to double and
      divides by ``double(output_scale)``; one entry is returned and ``per_channel`` is False;
    * per-channel weights: the same per-channel formula as conv (double product).
    """
    scales = np.atleast_1d(np.asarray(w_scales, dtype=np.float32))
    if scales.size > 1:
        mult, shift = conv_requant_params(in_scale, scales, out_scale)
        return mult, shift, True
    prod = float(np.float32(np.float32(in_scale) * scales[0]))
    if prod < 0:
        raise ValueError("input_scale * filter_scale must be non-negative")
    m, s = quantize_multiplier(prod / float(np.float32(out_scale)))
    return np.array([m], dtype=np.int32), np.array([s], dtype=np.int32), False


def fc_dscale_params(in_scale: float, w_scales: Union[float, Sequence[float]],
                     out_scale: float) -> Tuple[np.ndarray, bool]:
    """FULLY_CONNECTED output scales for ``te_fully_connected_s8_dscale``: ``(scale[], per_channel)``.

    LiteRT's *reference* int8 FULLY_CONNECTED (what ``OpResolverType.BUILTIN_REF`` runs) does not
    requantize in fixed point: ``reference_integer_ops::FullyConnected{,PerChannel}`` computes
    ``round(double(acc) * effective)`` with
    ``effective = double(input_scale) * double(filter_scale[c]) / double(output_scale)``
    (double product, also for per-tensor weights). Returns float64 scales (one entry for
    per-tensor weights) and whether they are per channel.
    """
    scales = np.atleast_1d(np.asarray(w_scales, dtype=np.float32))
    si, so = _f32(in_scale), _f32(out_scale)
    if so <= 0.0:
        raise ValueError(f"output scale must be positive, got {out_scale!r}")
    eff = np.array([si * float(ws) / so for ws in scales], dtype=np.float64)
    return eff, bool(scales.size > 1)


def requantize_params(in_scale: float, out_scale: float) -> Tuple[int, int]:
    """int8 -> int8 QUANTIZE: ``QuantizeMultiplier(double(in_scale) / double(out_scale))``."""
    return quantize_multiplier(_f32(in_scale) / _f32(out_scale))


def add_params(in1_scale: float, in1_zp: int, in2_scale: float, in2_zp: int,
               out_scale: float, out_zp: int, act: Activation = "NONE", n: int = 0) -> dict:
    """int8 ADD parameters, as TFLite's ``add.cc`` Prepare; keys are ``te_add_params`` fields.

    ``left_shift = 20``; ``twice_max = 2 * double(max(s1, s2))``;
    ``in_k = QuantizeMultiplierSmallerThanOneExp(double(s_k) / twice_max)``;
    ``out = QuantizeMultiplierSmallerThanOneExp(twice_max / (2^20 * double(s_out)))``.
    """
    s1, s2, so = _f32(in1_scale), _f32(in2_scale), _f32(out_scale)
    left_shift = 20
    twice_max = 2.0 * max(s1, s2)
    m1, sh1 = quantize_multiplier_smaller_than_one_exp(s1 / twice_max)
    m2, sh2 = quantize_multiplier_smaller_than_one_exp(s2 / twice_max)
    mo, sho = quantize_multiplier_smaller_than_one_exp(twice_max / (float(1 << left_shift) * so))
    act_min, act_max = activation_range(act, out_scale, out_zp)
    return {
        "n": int(n),
        "in1_offset": -int(in1_zp), "in2_offset": -int(in2_zp),
        "in1_mult": m1, "in1_shift": sh1,
        "in2_mult": m2, "in2_shift": sh2,
        "left_shift": left_shift,
        "out_mult": mo, "out_shift": sho,
        "out_offset": int(out_zp),
        "act_min": act_min, "act_max": act_max,
    }


def mean_view(shape: Sequence[int], axes: Iterable[int]) -> Tuple[int, int, int]:
    """``(outer, reduce, inner)`` of MEAN over ``axes`` of a row-major tensor of ``shape``.

    The reduced axes must be adjacent (after normalising negatives and dropping duplicates),
    e.g. NHWC over (1, 2) -> (N, H*W, C). Raises ValueError otherwise.
    """
    rank = len(shape)
    ax = sorted({(a + rank) if a < 0 else a for a in axes})
    if any(a < 0 or a >= rank for a in ax):
        raise ValueError(f"MEAN axes {list(axes)} out of range for rank {rank}")
    if not ax:
        return int(np.prod(shape, dtype=np.int64)), 1, 1
    if ax != list(range(ax[0], ax[-1] + 1)):
        raise ValueError(f"MEAN over non-adjacent axes {ax} is not supported by te_mean_s8")
    outer = int(np.prod(shape[:ax[0]], dtype=np.int64))
    reduce = int(np.prod(shape[ax[0]:ax[-1] + 1], dtype=np.int64))
    inner = int(np.prod(shape[ax[-1] + 1:], dtype=np.int64))
    return outer, reduce, inner


def mean_params(in_scale: float, in_zp: int, out_scale: float, out_zp: int,
                outer: int = 1, reduce: int = 1, inner: int = 1, exact: bool = False) -> dict:
    """int8 MEAN parameters; keys are ``te_mean_params`` fields.

    LiteRT's reference MEAN for int8 always takes ``reference_ops::QuantizedMeanOrSum``
    (also when input and output share scale and zero point):
    ``mult, shift = QuantizeMultiplier(double(in_scale) / double(out_scale))``.
    The kernel folds ``1/reduce`` into them itself (see :func:`mean_folded_multiplier`).
    ``exact=True`` asks the kernel for one rounding instead (ONNX/PyTorch graphs, as onnxruntime).
    """
    mult, shift = quantize_multiplier(_f32(in_scale) / _f32(out_scale))
    return {"outer": int(outer), "reduce": int(reduce), "inner": int(inner),
            "in_zp": int(in_zp), "out_zp": int(out_zp), "mult": mult, "shift": shift, "exact": int(bool(exact))}


def mean_folded_multiplier(mult: int, shift: int, n: int) -> Tuple[int, int]:
    """The ``(mult', shift')`` that ``QuantizedMeanOrSum`` applies to ``sum - in_zp * n``.

    ``s = min(floor(log2(n)), 32, 31 + shift)``; ``mult' = (mult << s) // n``; ``shift' = shift - s``.
    """
    if n <= 0:
        raise ValueError("MEAN over an empty axis")
    s = min(n.bit_length() - 1, 32, 31 + shift)
    s = max(s, 0)
    return int((mult << s) // n), int(shift - s)


def activation_range(act: Activation, out_scale: float, out_zp: int,
                     qmin: int = INT8_MIN, qmax: int = INT8_MAX) -> Tuple[int, int]:
    """``CalculateActivationRangeQuantized`` for a fused activation, in the output's int8 domain.

    ``act`` is a name (``"NONE"``, ``"RELU"``, ``"RELU6"``, ``"RELU_N1_TO_1"``, case-insensitive),
    a TFLite ``ActivationFunctionType`` enum value, or None. Each bound is
    ``zp + int(roundf(float32(f) / float32(scale)))`` (float32 arithmetic, ties away from zero),
    intersected with ``[qmin, qmax]``.
    """
    if act is None:
        name = "NONE"
    elif isinstance(act, (int, np.integer)):
        if int(act) not in _ACT_BY_ENUM:
            raise ValueError(f"unknown fused activation enum {act!r}")
        name = _ACT_BY_ENUM[int(act)]
    else:
        name = str(act).upper()
    scale = np.float32(out_scale)

    def q(f: float) -> int:
        with np.errstate(all="raise"):
            v = np.float32(f) / scale
        return int(out_zp) + _round_half_away_f32(v)

    if name == "NONE":
        return qmin, qmax
    if name == "RELU":
        return max(qmin, q(0.0)), qmax
    if name == "RELU6":
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    if name in ("RELU_N1_TO_1", "RELU1"):
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    raise ValueError(f"fused activation {name} is not supported by the int8 kernels")


def compute_padding(in_size: int, k: int, stride: int, dilation: int = 1,
                    padding: str = "SAME") -> Tuple[int, int, int]:
    """TFLite ``ComputePaddingHeightWidth`` for one spatial dimension.

    Returns ``(out_size, pad_before, pad_after)``; the extra odd cell goes after (bottom/right).
    """
    eff_k = (k - 1) * dilation + 1
    pad = str(padding).upper()
    if pad == "SAME":
        out = (in_size + stride - 1) // stride
    elif pad == "VALID":
        out = (in_size - eff_k + stride) // stride
    else:
        raise ValueError(f"unknown padding {padding!r}")
    if out <= 0:
        raise ValueError(f"kernel {eff_k} larger than input {in_size} with {pad} padding")
    total = max(0, (out - 1) * stride + eff_k - in_size)
    return out, total // 2, total - total // 2


# --------------------------------------------------------------------------------------------
# onnxruntime's arithmetic (graphs from ONNX / PyTorch; kernels built with TE_SINGLE_ROUNDING)


def ort_conv_scale(in_scale: float, w_scales: Union[float, Sequence[float]], out_scale: float) -> np.ndarray:
    """Per-channel float32 requantization scale of QLinearConv / QGemm: (x_scale * w_scale) / y_scale.

    onnxruntime computes it in float32 in that order (qlinearconv.cc, quantization ComputeOutputScale)
    and MLAS multiplies the int32 accumulator, converted to float, by it."""
    x, y = np.float32(in_scale), np.float32(out_scale)
    w = np.atleast_1d(np.asarray(w_scales, dtype=np.float32))
    return ((x * w).astype(np.float32) / y).astype(np.float32)


def ort_gap_scale(in_scale: float, out_scale: float, n: int) -> np.float32:
    """QLinearGlobalAveragePool's float32 scale, x_scale / (y_scale * (float)n) (MLAS qlgavgpool.cpp)."""
    return np.float32(np.float32(in_scale) / (np.float32(out_scale) * np.float32(n)))


def ort_dequant_table(scale: float, zero_point: int) -> np.ndarray:
    """DequantizeLinear of every int8 value, (float)(q - zp) * scale in float32: index q + 128."""
    q = np.arange(-128, 128, dtype=np.int32) - int(zero_point)
    return (q.astype(np.float32) * np.float32(scale)).astype(np.float32)


def f32_bits(values) -> np.ndarray:
    """IEEE-754 bit patterns of float32 values as int32 (how te_requantize's TE_SINGLE_ROUNDING build
    receives its scale through the int32 multiplier tables)."""
    return np.ascontiguousarray(np.asarray(values, dtype=np.float32)).view(np.int32).copy()


def _f32_nearest(x) -> np.float32:
    """The float32 nearest to the exact rational x (ties to even): one rounding, like an FMA's."""
    from fractions import Fraction

    x = Fraction(x)
    c = np.float32(float(x))  # within one float32 ulp of x
    best = None
    for cand in (np.nextafter(c, np.float32(-np.inf)), c, np.nextafter(c, np.float32(np.inf))):
        err = abs(Fraction(float(cand)) - x)
        even = (int(np.array([cand], np.float32).view(np.uint32)[0]) & 1) == 0
        if best is None or err < best[0] or (err == best[0] and even):
            best = (err, cand)
    return np.float32(best[1])


def ort_qlinearadd_params(s1: float, z1: int, s2: float, z2: int, s_out: float, z_out: int):
    """(ratio1, ratio2, fixed) of onnxruntime's x86 QLinearAdd on uint8 data (MLAS FMA kernel):
    ratioK = sK / s_out and fixed = (z_out + 128) - fma(ratio1, z1 + 128, ratio2 * (z2 + 128)), all float32."""
    from fractions import Fraction

    so = np.float32(s_out)
    r1, r2 = np.float32(np.float32(s1) / so), np.float32(np.float32(s2) / so)
    t = np.float32(r2 * np.float32(z2 + 128))
    inner = _f32_nearest(Fraction(float(r1)) * (z1 + 128) + Fraction(float(t)))
    fixed = np.float32(np.float32(z_out + 128) - inner)
    return float(r1), float(r2), float(fixed)


@functools.lru_cache(maxsize=None)
def _host_cpu() -> tuple:
    """(CPU flags or None, physical cores or 0) of this host, read once from /proc/cpuinfo."""
    flags, cores = None, set()
    try:
        with open("/proc/cpuinfo") as f:
            phys = core = None
            for line in f:
                key, _, val = line.partition(":")
                key = key.strip()
                if key == "flags" and flags is None:
                    flags = frozenset(val.split())
                elif key == "physical id":
                    phys = val.strip()
                elif key == "core id":
                    core = val.strip()
                elif not key and phys is not None:
                    cores.add((phys, core))
                    phys = core = None
            if phys is not None:
                cores.add((phys, core))
    except OSError:
        pass
    return flags, len(cores)


def ort_nchwc_block() -> int:
    """onnxruntime's NCHWc block on this host (MlasNchwcGetBlockSize: 16 with AVX-512F, 8 with AVX2 + FMA,
    else 1: no NCHWc layout); TINYENGINE_ORT_NCHWC_BLOCK overrides it, and a host whose CPU flags cannot be
    read counts as AVX-512. Its graph optimizer rewrites a float AveragePool on a multiple of that many
    channels into an NCHWc pool, which sums each window row by row: an unfused QDQ average pool's result
    depends on it, as a float conv's depends on ``ort_threads``."""
    env = os.environ.get("TINYENGINE_ORT_NCHWC_BLOCK")
    if env:
        return max(1, int(env))
    flags = _host_cpu()[0]
    if flags is None:
        return 16
    return 16 if "avx512f" in flags else (8 if {"avx2", "fma"} <= flags else 1)


# MLAS's vectorized 2D pool: strides of at most 2 across the width, kernels of at most 32 cells per
# axis, and the padded input row inside its 2048-float reduction buffer (minus 3 floats of over-read).
_MLAS_POOL_BUFFER = 2048 - 3

# te_pool_ort_params.path (TE_POOL_ORT_* in tinyengine_kernels.h)
ORT_POOL_QLINEAR, ORT_POOL_QLINEAR_GLOBAL, ORT_POOL_FLOAT_ROWS, ORT_POOL_FLOAT_COLS, ORT_POOL_FLOAT_GLOBAL = range(5)


def ort_avg_pool_path(p: dict, in_int8: bool, out_int8: bool, nchwc_block: int | None = None) -> int:
    """Which computation onnxruntime's x86 CPU EP runs for a QDQ AveragePool with geometry ``p``
    (te_pool_params fields plus pad_bottom / pad_right). ``in_int8`` / ``out_int8``: the pool's input /
    output QuantizeLinear keeps int8 data, i.e. it is not read by exactly one DequantizeLinear (otherwise
    onnxruntime rewrites the pair to uint8).

    Both ends of one type: fused into QLinearAveragePool, or QLinearGlobalAveragePool when the kernel
    covers the whole unpadded input. Mixed types are not fused: a float AveragePool, run by MLAS's
    NCHWc pool (channels a multiple of ``nchwc_block``), its global kernel (kernel == input, stride 1,
    no padding), its vector kernel (width stride <= 2, kernels <= 32, padded row within its buffer)
    or its generic kernel. Measured: tests/test_ort_pool.py."""
    pads = (p["pad_top"], p["pad_left"], p.get("pad_bottom", 0), p.get("pad_right", 0))
    whole = (p["k_h"], p["k_w"]) == (p["in_h"], p["in_w"]) and not any(pads)
    if in_int8 == out_int8:
        return ORT_POOL_QLINEAR_GLOBAL if whole else ORT_POOL_QLINEAR
    nchwc_block = ort_nchwc_block() if nchwc_block is None else nchwc_block
    if nchwc_block > 1 and p["c"] % nchwc_block == 0:
        return ORT_POOL_FLOAT_ROWS
    if whole and (p["stride_h"], p["stride_w"]) == (1, 1):
        return ORT_POOL_FLOAT_GLOBAL
    if p["stride_w"] <= 2 and p["k_h"] <= 32 and p["k_w"] <= 32 and p["in_w"] + pads[1] + pads[3] <= _MLAS_POOL_BUFFER:
        return ORT_POOL_FLOAT_COLS
    return ORT_POOL_FLOAT_ROWS


# MLAS's SGEMM blocking and threading constants (onnxruntime/core/mlas/lib/mlasi.h, x86-64)
_MLAS_STRIDE_N = 128
_MLAS_STRIDE_K = 128
_MLAS_THREAD_ALIGN_N = 16
_MLAS_THREAD_COMPLEXITY = 64 * 1024
_MLAS_MAX_THREADS = 16


def _mlas_kblock(n: int, k: int) -> int:
    """The depth stride MlasSgemmOperation / MlasConvOperation take for n output columns and depth k:
    128, or for n < k a larger stride as n shrinks (the N stride halved while > 16 and still >= 2n)."""
    sn, sk = _MLAS_STRIDE_N, _MLAS_STRIDE_K
    if n < k:
        while sn > 16 and sn // 2 >= n:
            sk, sn = sk * 2, sn // 2
    return sk


def _mlas_partition(tid: int, count: int, total: int) -> tuple[int, int]:
    """MlasPartitionWork: (start, count) of thread tid's share of total (the first shares one larger)."""
    per, extra = divmod(total, count)
    return ((per + 1) * tid, per + 1) if tid < extra else (per * tid + extra, per)


def ort_threads() -> int:
    """The intra-op thread count onnxruntime uses by default here: one thread per physical core
    (TINYENGINE_ORT_THREADS overrides it). MLAS's depth blocking of a float conv depends on it."""
    env = os.environ.get("TINYENGINE_ORT_THREADS")
    if env:
        return max(1, int(env))
    return max(1, _host_cpu()[1] or (os.cpu_count() or 1))


def ort_conv_schedule(p: dict, groups: int, threads: int) -> dict:
    """How onnxruntime's float Conv (MlasConvPrepare / MlasConv, x86-64) sums each output, for the conv
    geometry ``p`` (annotate's conv params) in ``groups`` groups and a session of ``threads`` intra-op
    threads: which of MLAS's SGEMM kernels computes each output channel (``row_mode``: 0 the FMA
    kernel in depth blocks, 1 the M = 1 kernel, 2 / 3 / 4 the N = 1 kernel's 4-, 2- and 1-row
    reductions, 5 the M = 1 kernel on transposed B, whose rows are the output pixels) and the depth
    block of the FMA kernel per run of output pixels (``seg_end`` / ``seg_kblock``, at most 4 runs:
    the block only grows as a thread's column count shrinks). te_conv2d_s8_f32 /
    te_depthwise_conv2d_s8_f32 follow it.

    MLAS per group (filters M = out_c / groups, depth K = in_c / groups * k_h * k_w, N = pixels):
    GemmDirect (MlasGemm on the input itself; MlasSgemmOperation per group when groups > 1) for a
    stride-1 unpadded conv that is pointwise, or has one input channel per group and a kernel as wide
    as the input (B transposed) or as tall as the input and 1 wide; else ExpandThenGemm (MlasGemm over
    the whole im2col) when M > N; else ExpandThenGemmSegmented (MlasConvOperation per thread segment
    of N columns; the whole N per group when groups > 1)."""
    in_c, out_c = p["in_c"], p["out_c"]
    m_rows, n = out_c // groups, p["out_h"] * p["out_w"]
    ic_group = in_c // groups
    depth = ic_group * p["k_h"] * p["k_w"]
    dil_h, dil_w = max(1, p["dil_h"]), max(1, p["dil_w"])
    pad_bottom = (p["out_h"] - 1) * p["stride_h"] + dil_h * (p["k_h"] - 1) + 1 - p["in_h"] - p["pad_top"]
    pad_right = (p["out_w"] - 1) * p["stride_w"] + dil_w * (p["k_w"] - 1) + 1 - p["in_w"] - p["pad_left"]
    direct = None  # GemmDirect: (B transposed, ldb)
    if (p["stride_h"], p["stride_w"], p["pad_top"], p["pad_left"], pad_bottom, pad_right) == (1, 1, 0, 0, 0, 0):
        if depth == ic_group:
            direct = (False, n)
        elif (dil_h, dil_w) == (1, 1) and ic_group == 1:
            if p["k_w"] == p["in_w"]:
                direct = (True, p["in_w"])
            elif p["k_h"] == p["in_h"] and p["k_w"] == 1:
                direct = (False, p["in_w"])
    modes = [0] * m_rows
    runs: list[tuple[int, int]] = []  # (first pixel, depth block)

    def sgemm(row0: int, rows: int, col0: int, cols: int, trans_b: bool, ldb: int, ldc: int):
        """MlasSgemmOperation on rows x cols: its M = 1 and N = 1 kernels, else FMA depth blocks."""
        if rows == 1:
            modes[row0] = 5 if trans_b else 1
        elif cols == 1 and ldb == 1 and ldc == 1:
            r = 0
            while rows - r >= 4:
                modes[row0 + r:row0 + r + 4] = [2] * 4
                r += 4
            if (rows - r) & 2:
                modes[row0 + r:row0 + r + 2] = [3] * 2
                r += 2
            if (rows - r) & 1:
                modes[row0 + r] = 4
        else:
            runs.append((col0, _mlas_kblock(cols, depth)))

    def gemm_threaded(trans_b: bool, ldb: int):
        """MlasGemm -> MlasGemmBatch: a 1-D split over N (if N > M, 16-column units) or over M."""
        t = min(int(float(m_rows) * n * depth / _MLAS_THREAD_COMPLEXITY) + 1, threads)
        if n > m_rows:
            blocked = -(-n // _MLAS_THREAD_ALIGN_N)
            t = min(t, blocked)
            for tid in range(t):
                s, c = _mlas_partition(tid, t, blocked)
                s, c = s * _MLAS_THREAD_ALIGN_N, c * _MLAS_THREAD_ALIGN_N
                c = min(n - s, c)
                if c > 0:
                    sgemm(0, m_rows, s, c, trans_b, ldb, n)
        else:
            t = min(t, m_rows)
            for tid in range(t):
                s, c = _mlas_partition(tid, t, m_rows)
                if c > 0:
                    sgemm(s, c, 0, n, trans_b, ldb, n)

    def conv_segment(start: int, count: int):
        """MlasConvOperation on columns [start, start + count): one depth stride for the segment; each
        depth block goes through MlasSgemmOperation (ldb = the slice's columns, ldc = N)."""
        if m_rows == 1 or (n == 1 and count == 1):
            sgemm(0, m_rows, start, count, False, count, n)
        else:
            runs.append((start, _mlas_kblock(count, depth)))

    if direct is not None:
        if groups > 1:
            sgemm(0, m_rows, 0, n, direct[0], direct[1], n)
        else:
            gemm_threaded(*direct)
    elif m_rows > n:
        gemm_threaded(False, n)
    elif groups > 1:
        conv_segment(0, n)
    else:
        complexity = float(m_rows) * float(n) * float(depth)
        if complexity < float(_MLAS_THREAD_COMPLEXITY * _MLAS_MAX_THREADS):
            t = int(complexity / _MLAS_THREAD_COMPLEXITY) + 1
        else:
            t = _MLAS_MAX_THREADS
        t = min(t, threads)
        stride = -(-n // t)
        if t > 1:
            stride = (stride + _MLAS_THREAD_ALIGN_N - 1) & ~(_MLAS_THREAD_ALIGN_N - 1)
        for s in range(0, n, min(stride, n)):
            conv_segment(s, min(stride, n - s))
    if not runs:
        runs = [(0, _MLAS_STRIDE_K)]
    merged: list[list[int]] = []
    for start, kb in sorted(runs):
        if not merged or merged[-1][1] != kb:
            merged.append([start, kb])
    if len(merged) > 4:
        raise ValueError(f"MLAS conv schedule with {len(merged)} depth-block runs (the kernel takes 4)")
    ends = [s for s, _ in merged[1:]] + [n] * (5 - len(merged))
    kbs = [kb for _, kb in merged] + [merged[-1][1]] * (4 - len(merged))
    return {"seg_end": ends[:4], "seg_kblock": kbs, "row_mode": modes * groups}
