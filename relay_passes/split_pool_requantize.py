"""SplitPoolRequantize: give a quantized pool the same parameters at both ends.

The int8 pooling kernels (like TFLite's) keep the input's scale and zero point. A QDQ graph
may requantize across a pool (onnxruntime, for instance, quantizes ``MaxPool -> Relu`` as one
group with the Relu's output parameters):

    quantize(pool(dequantize(x, s1, z1)), s2, z2)          (s1, z1) != (s2, z2), per tensor

This pass splits it into a pool that keeps (s1, z1) and a requantization:

    quantize(dequantize(quantize(pool(dequantize(x, s1, z1)), s1, z1), s1, z1), s2, z2)

For a max pool the two are equal (max commutes with the monotonic quantization); for an
average pool the pooled value is rounded once more, to the input's grid, before the
requantization. In graphs with onnxruntime's arithmetic (``tinyengine.rounding = "exact"``)
average pools are left whole: that build's te_avg_pool_s8 rescales as QLinearAveragePool does.
"""

from __future__ import annotations

import numpy as np
from tvm import relax
from tvm.relax.dpl import is_const, is_op, wildcard

from ._util import const_value, function_pass, rewrite_to_fixpoint
from .annotate import ROUNDING_ATTR


def _qparams(call):
    return const_value(call.args[1]), const_value(call.args[2])


def _rewrite(func: relax.Function) -> relax.Function:
    # onnxruntime's arithmetic (ONNX / PyTorch graphs): its average pool rescales in one rounding, as
    # te_avg_pool_s8 does in that build, so only max pools are split there
    ort = str((func.attrs or {}).get(ROUNDING_ATTR, "")) == "exact"
    x = wildcard()
    dq = is_op("relax.dequantize")(x, is_const(), is_const())
    avg = is_op("relax.nn.avg_pool2d")(dq)
    pool = is_op("relax.nn.max_pool2d")(dq) if ort else (is_op("relax.nn.max_pool2d")(dq) | avg)
    q = is_op("relax.quantize")(pool, is_const(), is_const())

    def rewriter(expr, m):
        (s1, z1), (s2, z2) = _qparams(m[dq]), _qparams(m[q])
        if s1.size != 1 or s2.size != 1 or (np.array_equal(s1, s2) and np.array_equal(z1, z2)):
            return expr
        d, a = m[dq], expr.attrs
        kept = relax.op.quantize(m[pool], d.args[1], d.args[2], axis=int(a.axis), out_dtype=str(a.out_dtype))
        back = relax.op.dequantize(kept, d.args[1], d.args[2], axis=int(d.attrs.axis), out_dtype=str(d.attrs.out_dtype))
        return relax.op.quantize(back, expr.args[1], expr.args[2], axis=int(a.axis), out_dtype=str(a.out_dtype))

    return rewrite_to_fixpoint(q, rewriter, func)


SplitPoolRequantize = function_pass("tinyengine.SplitPoolRequantize", _rewrite)
SplitPoolRequantize.__doc__ = __doc__
