"""LowerSplitToSlices: every output of a ``split`` becomes its own ``strided_slice``.

``split(x)[i]`` (TFLite SPLIT / SPLIT_V, ONNX Split) is rewritten into
``strided_slice(x, axes=[axis], begin=[b_i], end=[e_i])`` with the i-th section's bounds,
so each slice is one single-output kernel in the kernel graph (tinyengine.slice); the
split's tuple disappears. The values are the same elements, so the result is identical.
"""

from __future__ import annotations

from tvm import relax
from tvm.relax.dpl import is_op, is_tuple_get_item, wildcard

from ._util import function_pass, rewrite_to_fixpoint, shape_of


def _bounds(call) -> list:
    """[(begin, end)] of every section of a split call."""
    axis = int(call.attrs.axis) % len(shape_of(call.args[0]))
    n = shape_of(call.args[0])[axis]
    sec = call.attrs.indices_or_sections
    if isinstance(sec, (int,)) or not hasattr(sec, "__len__"):
        k = int(sec)
        cuts = [n * i // k for i in range(1, k)] if n % k == 0 else None
        if cuts is None:
            return []
    else:
        cuts = [int(v) for v in sec]
    edges = [0] + cuts + [n]
    return [(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]


def _rewrite(func: relax.Function) -> relax.Function:
    x = wildcard()
    split = is_op("relax.split")(x)
    item = is_tuple_get_item(split)

    def rewriter(expr, m):
        call, get = m[split], m[item]
        bounds = _bounds(call)
        if not bounds or get.index >= len(bounds):
            return expr
        axis = int(call.attrs.axis) % len(shape_of(call.args[0]))
        b, e = bounds[get.index]
        return relax.op.strided_slice(call.args[0], axes=[axis], begin=[b], end=[e])

    return rewrite_to_fixpoint(item, rewriter, func)


LowerSplitToSlices = function_pass("tinyengine.LowerSplitToSlices", _rewrite)
LowerSplitToSlices.__doc__ = __doc__
