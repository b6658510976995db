"""FoldConstantLayout: fold layout ops on (dequantized) constants into the constants.

After ``ConvertToNHWC`` weights and biases reach their ops through layout ops:
``permute_dims(dequantize(W_int8, s, zp, axis=0))`` (OIHW -> HWIO),
``permute_dims(reshape(dequantize(b_int32), (1, C, 1, 1)))`` (an NCHW bias), or the
same on float constants. ``FoldConstant`` would fold them, but it also folds the
``dequantize`` itself into float weights, which destroys the int8 form the kernel
patterns match. This pass folds only the layout op:

* ``permute_dims(c)`` / ``reshape(c)`` of a float constant -> the transformed constant;
* ``permute_dims(dequantize(c, s, zp, axis))`` -> ``dequantize(permute_dims(c), s, zp, axis')``
  with ``axis'`` the position the channel axis moved to;
* ``reshape(dequantize(c, s, zp, axis))`` -> ``dequantize(reshape(c), ...)`` when the
  reshape adds dimensions (a bias ``(C,) -> (1, C, 1, 1)``) and the channel dimension
  survives it (reshapes that keep the rank, like TFLite's depthwise weight
  ``(1, H, W, O) -> (H, W, O, 1)``, are left to the kernel patterns);

and puts FC weights in the form the TFLite importer writes (the kernel reads
``[out][in]``): ``matmul(x, dequantize(c[K, N], axis=1))`` ->
``matmul(x, dequantize(permute_dims(c.T), axis=1))``.

Integer constants are only transformed under a ``dequantize``, so the TFLite
importer's ``dequantize(permute_dims(c))`` FC weights are left as they are.
"""

from __future__ import annotations

import numpy as np
from tvm import relax
from tvm.relax.dpl import is_const, is_op, wildcard

from ._util import const_value, function_pass, rewrite_to_fixpoint


def _deq_like(d, data, axis):
    return relax.op.dequantize(data, d.args[1], d.args[2], axis=int(axis), out_dtype=str(d.attrs.out_dtype))


def _per_tensor(d) -> bool:
    return const_value(d.args[1]).size == 1 and const_value(d.args[2]).size == 1


def _reshape_axis(old_shape, new_shape, axis):
    """Where old axis ``axis`` lands in new_shape, or None if the reshape splits or merges it."""
    before = int(np.prod(old_shape[:axis]))
    size = old_shape[axis]
    acc = 1
    for i, d in enumerate(new_shape):
        if acc == before and d == size:
            return i
        acc *= d
    return None


def _rewrite(func: relax.Function) -> relax.Function:
    c = is_const()
    deq = is_op("relax.dequantize")(c, is_const(), is_const())
    perm_deq = is_op("relax.permute_dims")(deq)
    reshape_deq = is_op("relax.reshape")(deq, wildcard())
    perm_c = is_op("relax.permute_dims")(c)
    reshape_c = is_op("relax.reshape")(c, wildcard())
    fc_w = is_op("relax.dequantize")(c, is_const(), is_const())
    matmul = is_op("relax.matmul")(wildcard(), fc_w)
    pattern = perm_deq | reshape_deq | perm_c | reshape_c | matmul

    def axes_of(call, rank):
        return [int(a) for a in call.attrs.axes] if call.attrs.axes is not None else list(range(rank))[::-1]

    def rewriter(expr, m):
        if perm_deq in m or reshape_deq in m:
            layout_op = m[perm_deq] if perm_deq in m else m[reshape_deq]
            d, data = m[deq], const_value(m[c])
            axis = int(d.attrs.axis) % max(data.ndim, 1)
            if perm_deq in m:
                axes = axes_of(layout_op, data.ndim)
                return _deq_like(d, relax.const(np.ascontiguousarray(data.transpose(axes))), axes.index(axis))
            new_shape = [int(v) for v in layout_op.ty.shape]
            if len(new_shape) <= data.ndim:  # keep e.g. TFLite's depthwise reshape(deq(W[1,H,W,O])) as it is
                return expr
            if _per_tensor(d):
                return _deq_like(d, relax.const(data.reshape(new_shape)), 0)
            new_axis = _reshape_axis(list(data.shape), new_shape, axis)
            if new_axis is None:
                return expr
            return _deq_like(d, relax.const(data.reshape(new_shape)), new_axis)
        if perm_c in m or reshape_c in m:
            data = const_value(m[c])
            if not np.issubdtype(data.dtype, np.floating):
                return expr
            if perm_c in m:
                return relax.const(np.ascontiguousarray(data.transpose(axes_of(m[perm_c], data.ndim))))
            return relax.const(data.reshape([int(v) for v in m[reshape_c].ty.shape]))
        if matmul in m:
            d, data = m[fc_w], const_value(m[c])
            if data.ndim != 2 or not np.issubdtype(data.dtype, np.integer):
                return expr
            axis = int(d.attrs.axis) % 2
            if not _per_tensor(d) and axis != 1:
                return expr
            w = relax.op.permute_dims(relax.const(np.ascontiguousarray(data.T)), [1, 0])
            mm = m[matmul]
            return relax.op.matmul(mm.args[0], _deq_like(d, w, 1), out_dtype=mm.attrs.out_dtype)
        return expr

    return rewrite_to_fixpoint(pattern, rewriter, func)


FoldConstantLayout = function_pass("tinyengine.FoldConstantLayout", _rewrite)
FoldConstantLayout.__doc__ = __doc__
