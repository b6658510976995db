"""SinkTransposeThroughMean: move an int8 TRANSPOSE below the MEAN that consumes it.

Rewrites ``quantize(mean(dequantize(permute_dims(x, perm)), axes))`` into
``permute_dims(quantize(mean(dequantize(x), perm[axes])), rest)`` where ``rest`` is
the order the surviving axes had, and drops ``rest`` when it is the identity.
Repeated to a fixpoint, this turns TFLite's TRANSPOSE(NHWC->NCHW) + MEAN + MEAN
idiom (a global average pool, as in MCUNet's vww) into reductions over the NHWC
tensor itself with no transpose left. Each MEAN keeps its own rounding, so the
integer kernels compute exactly what the original graph specifies. (A MEAN over
several axes keeps its set of reduced elements but, in the float reference, may
sum them in another order.) Per-channel quantization follows the permutation on
the dequantize; a per-channel quantize after the MEAN blocks the rewrite.
"""

from __future__ import annotations

import numpy as np
from tvm import relax
from tvm.relax.dpl import is_op, wildcard

from ._util import function_pass, rewrite_to_fixpoint


def _elements(expr) -> int:
    shape = expr.ty.shape
    return int(np.prod([int(v) for v in shape])) if shape is not None else 1


def _rewrite(func: relax.Function) -> relax.Function:
    x = wildcard()
    perm_p = is_op("relax.permute_dims")(x)
    deq = is_op("relax.dequantize")(perm_p, wildcard(), wildcard())
    mean = is_op("relax.mean")(deq)
    quant = is_op("relax.quantize")(mean, wildcard(), wildcard())

    def rewriter(expr, m):
        t, d, mn, q = m[perm_p], m[deq], m[mean], m[quant]
        src = m[x]
        rank = len(src.ty.shape)
        perm = [int(a) for a in t.attrs.axes] if t.attrs.axes is not None else list(range(rank))[::-1]
        if mn.attrs.axis is None:
            return expr
        axes = sorted(int(a) % rank for a in mn.attrs.axis)
        keepdims = bool(mn.attrs.keepdims)
        new_axes = sorted(perm[a] for a in axes)
        if _elements(q.args[1]) > 1 or _elements(q.args[2]) > 1:
            return expr  # per-channel output quantization: its axis would move too; leave it
        d_axis = int(d.attrs.axis) % rank
        d2 = relax.op.dequantize(src, d.args[1], d.args[2], axis=perm[d_axis], out_dtype=str(d.attrs.out_dtype))
        m2 = relax.op.mean(d2, axis=new_axes, keepdims=keepdims)
        q2 = relax.op.quantize(m2, q.args[1], q.args[2], axis=int(q.attrs.axis), out_dtype=str(q.attrs.out_dtype))
        if keepdims:
            rest = perm
        else:
            kept_src = [perm[j] for j in range(rank) if j not in axes]  # source dims, in output order
            order = sorted(kept_src)
            rest = [order.index(s) for s in kept_src]
        if rest == list(range(len(rest))):
            return q2
        return relax.op.permute_dims(q2, rest)

    return rewrite_to_fixpoint(quant, rewriter, func)


SinkTransposeThroughMean = function_pass("tinyengine.SinkTransposeThroughMean", _rewrite)
SinkTransposeThroughMean.__doc__ = __doc__
