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

TOPOLOGY_KINDS = frozenset({"concat"})


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


def describe_topology(kind: str, func, calls) -> dict:
    if kind == "concat":
        return _concat(func, calls)
    raise UnsupportedOperatorError(f"composite {kind} has no kernel")
