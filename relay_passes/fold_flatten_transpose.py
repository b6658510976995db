"""FoldFlattenTransposeIntoDense: flatten an NHWC tensor straight into a dense layer.

A PyTorch or ONNX classifier flattens an NCHW feature map before its linear layer
(``torch.flatten(h, 1)``, ONNX ``Flatten``). After ``ConvertToNHWC`` the graph keeps the
NCHW element order explicitly:

    matmul(reshape(permute_dims(x, [0, 3, 1, 2]), [N, C*H*W]), w)      x: NHWC, w: [C*H*W, M] constant

The transpose has no int8 kernel and costs a copy of the feature map. Flattening in NHWC
order instead only renumbers the rows of the constant weight, so this pass rewrites it to

    matmul(reshape(x, [N, H*W*C]), w')     w'[(h*W + w)*C + c] = w[(c*H + h)*W + w]

In a QDQ graph (ONNX) the same flatten reads a dequantized tensor and is requantized before the
dense layer, whose weight is ``dequantize(permute_dims(W))`` of an int8 ``W: [M, C*H*W]``:

    matmul(dequantize(quantize(reshape(permute_dims(x, [0, 3, 1, 2])))), dequantize(permute_dims(W)))

The per-tensor quantize/dequantize commute with the renumbering, so the transpose goes and the
columns of ``W`` are renumbered (per-channel weight scales are per output, untouched). Any other
spelling is left alone.
"""

from __future__ import annotations

import numpy as np
from tvm import relax
from tvm.relax.dpl import is_const, is_op, wildcard

from ._util import const_value, function_pass, rewrite_to_fixpoint, shape_of


def nchw_rows_in_nhwc_order(h: int, w: int, c: int) -> np.ndarray:
    """For each row of an NHWC flatten, the row of the NCHW flatten holding the same element."""
    hh, ww, cc = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
    return ((cc * h + hh) * w + ww).reshape(-1)


def _per_tensor(call) -> bool:
    return all(const_value(a).size == 1 for a in call.args[1:3])


def _rewrite(func: relax.Function) -> relax.Function:
    x = wildcard()
    perm = is_op("relax.permute_dims")(x)
    flat = is_op("relax.reshape")(perm, wildcard())
    q = is_op("relax.quantize")(flat, is_const(), is_const())
    dq = is_op("relax.dequantize")(q, is_const(), is_const())
    wc = is_const()
    wt = is_op("relax.permute_dims")(wc)
    wdq = is_op("relax.dequantize")(wt | wc, is_const(), is_const())
    dense = is_op("relax.matmul")(flat | dq, wc | wdq)

    def rewriter(expr, m):
        axes = m[perm].attrs.axes
        xs = shape_of(m[x])
        if axes is None or [int(a) for a in axes] != [0, 3, 1, 2] or len(xs) != 4:
            return expr
        n, h, w, c = xs
        k = h * w * c
        wv = const_value(m[wc])
        transposed = wt in m  # W stored [M, K], read through permute_dims
        if shape_of(m[flat]) != (n, k) or wv.ndim != 2 or wv.shape[1 if transposed else 0] != k:
            return expr
        if transposed and [int(a) for a in (m[wt].attrs.axes or [1, 0])] != [1, 0]:
            return expr
        if dq in m and not (_per_tensor(m[q]) and _per_tensor(m[dq])):
            return expr
        rows = nchw_rows_in_nhwc_order(h, w, c)
        new_w = relax.const(np.ascontiguousarray(wv[:, rows] if transposed else wv[rows]))
        if wdq in m:
            d = m[wdq]
            inner = relax.op.permute_dims(new_w, [1, 0]) if transposed else new_w
            new_w = relax.op.dequantize(inner, d.args[1], d.args[2], axis=int(d.attrs.axis), out_dtype=str(d.attrs.out_dtype))
        lhs = relax.op.reshape(m[x], (n, k))
        if dq in m:
            qq, dd = m[q], m[dq]
            lhs = relax.op.quantize(lhs, qq.args[1], qq.args[2], axis=int(qq.attrs.axis), out_dtype=str(qq.attrs.out_dtype))
            lhs = relax.op.dequantize(lhs, dd.args[1], dd.args[2], axis=int(dd.attrs.axis), out_dtype=str(dd.attrs.out_dtype))
        return relax.op.matmul(lhs, new_w, out_dtype=expr.attrs.out_dtype)

    return rewrite_to_fixpoint(dense, rewriter, func)


FoldFlattenTransposeIntoDense = function_pass("tinyengine.FoldFlattenTransposeIntoDense", _rewrite)
FoldFlattenTransposeIntoDense.__doc__ = __doc__
