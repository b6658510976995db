"""FoldFlattenTransposeIntoDense: flatten an NHWC tensor straight into a dense layer.

A PyTorch or ONNX classifier flattens an NCHW feature map before its linear layer
(``torch.flatten(h, 1)``, ONNX ``Flatten``). After ``ConvertToNHWC`` the graph keeps the
NCHW element order explicitly:

    matmul(reshape(permute_dims(x, [0, 3, 1, 2]), [N, C*H*W]), w)      x: NHWC, w: [C*H*W, M] constant

The transpose has no int8 kernel and costs a copy of the feature map. Flattening in NHWC
order instead only renumbers the rows of the constant weight, so this pass rewrites it to

    matmul(reshape(x, [N, H*W*C]), w')     w'[(h*W + w)*C + c] = w[(c*H + h)*W + w]

(a float graph, before quantization: the weight is still a plain constant). Any other
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


def _rewrite(func: relax.Function) -> relax.Function:
    x = wildcard()
    perm = is_op("relax.permute_dims")(x)
    flat = is_op("relax.reshape")(perm, wildcard())
    weight = is_const()
    dense = is_op("relax.matmul")(flat, weight)

    def rewriter(expr, m):
        axes = m[perm].attrs.axes
        xs = shape_of(m[x])
        if axes is None or [int(a) for a in axes] != [0, 3, 1, 2] or len(xs) != 4:
            return expr
        n, h, w, c = xs
        wv = const_value(m[weight])
        if shape_of(m[flat]) != (n, h * w * c) or wv.ndim != 2 or wv.shape[0] != h * w * c:
            return expr
        new_w = relax.const(np.ascontiguousarray(wv[nchw_rows_in_nhwc_order(h, w, c)]))
        return relax.op.matmul(relax.op.reshape(m[x], (n, h * w * c)), new_w, out_dtype=expr.attrs.out_dtype)

    return rewrite_to_fixpoint(dense, rewriter, func)


FoldFlattenTransposeIntoDense = function_pass("tinyengine.FoldFlattenTransposeIntoDense", _rewrite)
FoldFlattenTransposeIntoDense.__doc__ = __doc__
