"""RemoveIdentityRequantize: drop ``quantize(dequantize(x))`` pairs that do not change the int8 data.

QDQ models (onnxruntime ``quantize_static``) wrap shape-only ops in their own
quantize/dequantize pair with the input's parameters: ``Flatten`` after a global pool
becomes ``quantize(reshape(dequantize(x, s, z)), s, z)``. With equal scale, zero
point and dtype the pair is the identity on int8 values (``(q - z) * s / s`` rounds
back to ``q - z`` exactly for |q - z| <= 255), so this pass rewrites

* ``quantize(dequantize(x, s, z), s, z)`` -> ``x``
* ``quantize(reshape(dequantize(x, s, z), shape), s, z)`` -> ``reshape(x, shape)``

leaving an int8 reshape (a view in the kernel graph). Pairs with different
parameters are real requantizations and stay.
"""

from __future__ import annotations

import numpy as np
from tvm import relax
from tvm.relax.dpl import is_const, is_op, wildcard

from ._util import const_value, dtype_of, function_pass, is_constant, rewrite_to_fixpoint


def _same_params(d, q) -> bool:
    for a, b in ((d.args[1], q.args[1]), (d.args[2], q.args[2])):
        if not (is_constant(a) and is_constant(b)):
            return False
        va, vb = const_value(a).astype(np.float64).reshape(-1), const_value(b).astype(np.float64).reshape(-1)
        if va.size != 1 or vb.size != 1 or va[0] != vb[0]:
            return False
    return str(d.args[0].ty.dtype) == str(q.attrs.out_dtype)


def _rewrite(func: relax.Function) -> relax.Function:
    x = wildcard()
    deq = is_op("relax.dequantize")(x, is_const(), is_const())
    reshape = is_op("relax.reshape")(deq, wildcard())
    q_direct = is_op("relax.quantize")(deq, is_const(), is_const())
    q_reshape = is_op("relax.quantize")(reshape, is_const(), is_const())

    def rewriter(expr, m):
        q = m[q_reshape] if q_reshape in m else m[q_direct]
        d = m[deq]
        if not _same_params(d, q) or dtype_of(m[x]) not in ("int8", "uint8"):
            return expr
        if q_reshape in m:
            return relax.op.reshape(m[x], m[reshape].args[1])
        return m[x]

    return rewrite_to_fixpoint(q_reshape | q_direct, rewriter, func)


RemoveIdentityRequantize = function_pass("tinyengine.RemoveIdentityRequantize", _rewrite)
RemoveIdentityRequantize.__doc__ = __doc__
