"""Kernel parameters of the detection-head / topology composites (concat, ...).

``describe_topology(kind, func, calls)`` is called by AnnotateKernelParams.describe for the kinds
listed in ``TOPOLOGY_KINDS``; like the rest of annotate it returns plain ints / int lists (plus
float32 scales where onnxruntime's arithmetic needs them).
"""

from __future__ import annotations

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


def _expf_f32():
    """The host C library's expf (what LiteRT's std::exp(float) calls), or numpy's float32 exp."""
    import ctypes
    import ctypes.util

    try:
        libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        f = libm.expf
        f.restype, f.argtypes = ctypes.c_float, [ctypes.c_float]
        return lambda v: np.float32(f(float(v)))
    except (OSError, AttributeError):  # pragma: no cover - no C library to ask
        return lambda v: np.exp(np.float32(v))


def softmax_table(in_scale: float, beta: float = 1.0) -> list:
    """LiteRT's int8 SOFTMAX table (what BUILTIN_REF runs: optimized_ops' float lookup-table softmax):
    table[255 - d] = expf(d * -(in_scale * beta)) in float32 for d = 0..255 (d = row max - value)."""
    expf = _expf_f32()
    scale = np.float32(-np.float32(in_scale) * np.float32(beta))
    table = [0.0] * 256
    for d in range(256):
        table[255 - d] = float(expf(np.float32(scale * np.float32(d))))
    return table


def _softmax(func, calls) -> dict:
    sm = calls["relax.nn.softmax"][0]
    shape = shape_of(sm)
    if int(sm.attrs.axis) % len(shape) != len(shape) - 1:
        raise UnsupportedOperatorError(f"SOFTMAX over axis {int(sm.attrs.axis)} of a {list(shape)} tensor "
                                       "(only the last axis has a kernel)")
    deq = calls.value(sm.args[0])
    (si, _), (so, zo) = _qp(deq), _qp(calls["relax.quantize"][-1])
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
