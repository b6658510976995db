"""FoldConvBiasIntoBatchnorm: move a conv bias into the batch norm that follows it.

``nn.Conv2d(..., bias=True)`` followed by ``nn.BatchNorm2d`` (the PyTorch default) imports
as ``batch_norm(add(conv2d(x, w), b), gamma, beta, mean, var)``. TVM's
``FoldBatchnormToConv2D`` folds a batch norm only when it reads the conv directly, so the
bias add keeps such a batch norm alive and it later decomposes into float ops that have no
int8 kernel. Since

    gamma * ((y + b) - mean) / sqrt(var + eps) + beta  ==  gamma * (y - (mean - b)) / sqrt(var + eps) + beta,

this pass rewrites, for a constant bias ``b`` broadcast along the batch norm's channel axis
(a constant, or ``reshape`` of one, as the PyTorch importer writes it),

    batch_norm(add(conv2d(x, w), b), gamma, beta, mean, var)
      -> batch_norm(conv2d(x, w), gamma, beta, mean - b, var)

after which ``FoldBatchnormToConv2D`` folds the batch norm (and the bias) into the conv.
Any other user of the add keeps reading it: the rewrite changes only the batch norm's inputs.
"""

from __future__ import annotations

import numpy as np
from tvm import relax
from tvm.relax.dpl import is_const, is_op, wildcard

from ._util import const_value, function_pass, rewrite_to_fixpoint, shape_of


def _per_channel(b: np.ndarray, axis: int, rank: int, channels: int):
    """b as a [channels] vector if it broadcasts only along ``axis`` of a rank-``rank`` tensor, else None."""
    shape = (1,) * (rank - b.ndim) + tuple(b.shape)
    if len(shape) != rank or shape[axis] not in (1, channels):
        return None
    if any(d != 1 for i, d in enumerate(shape) if i != axis):
        return None
    return np.broadcast_to(b.reshape(shape[axis]), (channels,)).astype(np.float64)


def _rewrite(func: relax.Function) -> relax.Function:
    x, w = wildcard(), wildcard()
    conv = is_op("relax.nn.conv2d")(x, w)
    c = is_const()
    bias = c | is_op("relax.reshape")(c, wildcard())
    add = is_op("relax.add")(conv, bias) | is_op("relax.add")(bias, conv)
    gamma, beta, mean, var = is_const(), is_const(), is_const(), is_const()
    bn = is_op("relax.nn.batch_norm")(add, gamma, beta, mean, var)

    def rewriter(expr, m):
        attrs = expr.attrs
        out_shape = shape_of(m[conv])
        axis = int(attrs.axis) % len(out_shape)
        mean_v = const_value(m[mean])
        b = const_value(m[c]).reshape(shape_of(m[bias]))  # the add's operand, after any reshape
        b = _per_channel(b, axis, len(out_shape), out_shape[axis])
        if b is None or mean_v.shape != (out_shape[axis],):
            return expr
        new_mean = relax.const((mean_v.astype(np.float64) - b).astype(mean_v.dtype))
        return relax.op.nn.batch_norm(m[conv], m[gamma], m[beta], new_mean, m[var], axis=axis,
                                      epsilon=float(attrs.epsilon), center=bool(attrs.center),
                                      scale=bool(attrs.scale), momentum=float(attrs.momentum),
                                      training=bool(attrs.training))

    return rewrite_to_fixpoint(bn, rewriter, func)


FoldConvBiasIntoBatchnorm = function_pass("tinyengine.FoldConvBiasIntoBatchnorm", _rewrite)
FoldConvBiasIntoBatchnorm.__doc__ = __doc__
