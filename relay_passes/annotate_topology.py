"""Kernel parameters of the detection-head / topology composites (concat, ...).

``describe_topology(kind, func, calls)`` is called by AnnotateKernelParams.describe for the kinds
listed in ``TOPOLOGY_KINDS``; like the rest of annotate it returns plain ints / int lists (plus
float32 scales where onnxruntime's arithmetic needs them).
"""

from __future__ import annotations

import math

import numpy as np
from tvm import relax

from ..errors import UnsupportedOperatorError
from ._util import const_value, scalar, shape_of

TOPOLOGY_KINDS = frozenset({"concat", "softmax", "slice", "pad_channels", "transpose"})


def _qp(call) -> tuple[float, int]:
    return float(np.float32(scalar(call.args[1]))), int(scalar(call.args[2]))


def _param_index(func, calls, expr) -> int:
    """Index of the composite parameter a dequantize (or its argument) reads."""
    expr = calls.value(expr)
    if isinstance(expr, relax.Call):
        expr = calls.value(expr.args[0])
    for i, p in enumerate(func.params):
        if expr.same_as(p):
            return i
    raise ValueError("concat field is not a dequantized parameter")


def concat_view(shapes, axis: int) -> tuple[int, list, int]:
    """(outer, per-input row length, output row length): concatenating along ``axis`` copies, for each
    of ``outer`` rows, ``inner[k]`` contiguous elements of input k to column sum(inner[:k])."""
    outer = int(np.prod(shapes[0][:axis], dtype=np.int64))
    inner = [int(np.prod(s[axis:], dtype=np.int64)) for s in shapes]
    return outer, inner, sum(inner)


def _concat(func, calls) -> dict:
    cat = calls["relax.concat"][0]
    fields = list(calls.value(cat.args[0]).fields) if not isinstance(cat.args[0], relax.Tuple) else list(cat.args[0].fields)
    shapes = [shape_of(f) for f in fields]
    rank = len(shapes[0])
    axis = int(cat.attrs.axis) % rank
    outer, inner, row = concat_view(shapes, axis)
    deqs = [calls.value(f) for f in fields]
    q = calls["relax.quantize"][-1]
    so, zo = _qp(q)
    for c in calls.get("relax.clip", []):
        lo, hi = float(c.args[1].value), float(c.args[2].value)
        if (lo > (-128 - zo) * so) or (hi < (127 - zo) * so):
            raise UnsupportedOperatorError("CONCATENATION with a fused activation that clamps has no kernel")
    ins = [_qp(d) for d in deqs]
    return {
        "axis": axis, "rank": rank, "outer": outer, "inner": inner, "row": row,
        "srcs": [_param_index(func, calls, d) for d in deqs],
        "in_zp": [z for _, z in ins], "out_zp": zo,
        "rescale": [int((s, z) != (so, zo)) for s, z in ins],
        "in_fscale": [s for s, _ in ins], "out_fscale": so,
        "n": outer * row,
    }


_I32_MIN, _I32_MAX = -(1 << 31), (1 << 31) - 1


def _sat_shl(x: int, e: int) -> int:
    """gemmlowp SaturatingRoundingMultiplyByPOT for e > 0: x * 2^e saturated to int32."""
    return max(_I32_MIN, min(_I32_MAX, x << e))


def _exp_on_negative_q5_26(a: int) -> int:
    """gemmlowp exp_on_negative_values for a Q5.26 input a <= 0: exp(a / 2^26) as Q0.31 (the bit-exact
    fixed-point evaluation LiteRT's reference softmax runs: a Taylor polynomial on [-1/4, 0) and a
    barrel shifter of exp(-2^k) constants for the rest)."""
    from ..codegen.quant import _rdbpot, _srdhm, _wrap_i32

    if a == 0:
        return _I32_MAX
    frac = 26
    quarter = 1 << (frac - 2)
    r = _wrap_i32((a & (quarter - 1)) - quarter)  # a mod 1/4 - 1/4, in [-1/4, 0)
    x = _wrap_i32(_sat_shl(r, 5) + (1 << 28))      # Rescale to Q0.31, + 1/8
    x2 = _srdhm(x, x)
    x3 = _srdhm(x2, x)
    x4 = _srdhm(x2, x2)
    x4_over_4 = _rdbpot(x4, 2)
    poly = _rdbpot(_wrap_i32(_srdhm(_wrap_i32(x4_over_4 + x3), 715827883) + x2), 1)
    c = 1895147668  # exp(-1/8)
    result = _wrap_i32(c + _srdhm(c, _wrap_i32(x + poly)))
    remainder = _wrap_i32(r - a)
    for k, mult in ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535),
                    (3, 720401), (4, 242)):
        if remainder & (1 << (frac + k)):
            result = _srdhm(result, mult)
    return result


def softmax_table(in_scale: float, beta: float = 1.0) -> list:
    """exp of every row-max difference d = x - max(row) in 0..-255, as LiteRT's BUILTIN_REF int8 SOFTMAX
    computes it (reference_ops::Softmax, gemmlowp fixed point, not the float table of the optimized
    kernel): the difference is scaled to Q5.26 by the multiplier PreprocessSoftmaxScaling derives from
    beta * in_scale (double), then exp_on_negative_values gives Q0.31. table[255 + d]; differences
    below diff_min (-CalculateInputRadius) contribute nothing and give 0."""
    from ..codegen.quant import _srdhm, quantize_multiplier

    real = min(float(beta) * float(in_scale) * float(1 << 26), float((1 << 31) - 1))
    mult, shift = quantize_multiplier(real)
    if shift < 0:
        raise UnsupportedOperatorError(f"SOFTMAX with input scale {in_scale!r} x beta {beta!r} below 2^-26 "
                                       "(LiteRT's fixed-point softmax refuses it too)")
    diff_min = -int(math.floor(31.0 * float(1 << 26) / float(1 << shift)))
    table = [0] * 256
    for d in range(0, -256, -1):
        if d >= diff_min:
            table[255 + d] = _exp_on_negative_q5_26(_srdhm(d * (1 << shift), mult))
    return table


def _softmax(func, calls) -> dict:
    sm = calls["relax.nn.softmax"][0]
    shape = shape_of(sm)
    if int(sm.attrs.axis) % len(shape) != len(shape) - 1:
        raise UnsupportedOperatorError(f"SOFTMAX over axis {int(sm.attrs.axis)} of a {list(shape)} tensor "
                                       "(only the last axis has a kernel)")
    deq = calls.value(sm.args[0])
    (si, _), (so, zo) = _qp(deq), _qp(calls["relax.quantize"][-1])
    if zo != -128 or abs(so - 1 / 256) > 0.001 / 256:  # LiteRT refuses these too (SoftmaxPrepare)
        raise UnsupportedOperatorError(f"SOFTMAX with int8 output scale {so!r} / zero point {zo} (only "
                                       "1/256, -128 has a kernel, as in LiteRT)")
    if int(shape[-1]) > 4095:  # the Q12.19 sum of exps could overflow int32
        raise UnsupportedOperatorError(f"SOFTMAX over rows of {int(shape[-1])} values (up to 4095 has a kernel)")
    return {"rows": int(np.prod(shape[:-1])), "cols": int(shape[-1]), "out_zp": zo, "out_scale": so,
            "table": softmax_table(si), "macs": int(np.prod(shape))}


def slice_view(in_shape, out_shape, axes, begin, end, strides) -> dict:
    """A strided slice as 4-D (leading 1s) begin / step per axis, checked against the output shape."""
    rank = len(in_shape)
    b, st = [0] * rank, [1] * rank
    for a, lo, hi, s in zip(axes, begin, end, strides):
        a = int(a) % rank
        start, stop, step = slice(int(lo), int(hi), int(s)).indices(int(in_shape[a]))
        if len(range(start, stop, step)) != int(out_shape[a]) or step <= 0:
            raise UnsupportedOperatorError(f"STRIDED_SLICE {list(begin)}:{list(end)}:{list(strides)} of a "
                                           f"{list(in_shape)} tensor (negative steps have no kernel)")
        b[a], st[a] = start, step
    if rank > 4:
        raise UnsupportedOperatorError(f"STRIDED_SLICE of a rank-{rank} tensor (up to 4 has a kernel)")
    pad = 4 - rank
    return {"in_dims": [1] * pad + [int(d) for d in in_shape], "out_dims": [1] * pad + [int(d) for d in out_shape],
            "begin": [0] * pad + b, "step": [1] * pad + st}


def _slice(func, calls) -> dict:
    sl = calls["relax.strided_slice"][0]
    vals = [[int(v.value) for v in a.fields] for a in sl.args[1:]]
    axes, begin, end = vals[:3]
    strides = vals[3] if len(vals) > 3 else [1] * len(axes)
    p = slice_view(shape_of(sl.args[0]), shape_of(sl), axes, begin, end, strides)
    p["n"] = int(np.prod(p["out_dims"]))
    return p


def _pad_channels(func, calls) -> dict:
    pad = calls["relax.nn.pad"][0]
    shape = shape_of(pad.args[0])
    pw = [int(v) for v in pad.attrs.pad_width]
    if len(shape) > 4:
        raise UnsupportedOperatorError(f"PAD of a rank-{len(shape)} tensor (up to 4 has a kernel)")
    lead = 4 - len(shape)
    return {"in_dims": [1] * lead + list(shape), "before": [0] * lead + pw[0::2], "after": [0] * lead + pw[1::2],
            "value": int(float(pad.attrs.pad_value)), "n": int(np.prod(shape_of(pad)))}


def _transpose(func, calls) -> dict:
    t = calls["relax.permute_dims"][0]
    shape = shape_of(t.args[0])
    rank = len(shape)
    axes = list(range(rank))[::-1] if t.attrs.axes is None else [int(a) % rank for a in t.attrs.axes]
    if rank > 4:
        raise UnsupportedOperatorError(f"TRANSPOSE of a rank-{rank} tensor (up to 4 has a kernel)")
    lead = 4 - rank
    return {"in_dims": [1] * lead + list(shape), "perm": list(range(lead)) + [a + lead for a in axes],
            "n": int(np.prod(shape))}


def describe_topology(kind: str, func, calls) -> dict:
    if kind == "transpose":
        return _transpose(func, calls)
    if kind == "pad_channels":
        return _pad_channels(func, calls)
    if kind == "softmax":
        return _softmax(func, calls)
    if kind == "slice":
        return _slice(func, calls)
    if kind == "concat":
        return _concat(func, calls)
    raise UnsupportedOperatorError(f"composite {kind} has no kernel")
