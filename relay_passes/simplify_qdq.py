"""RemoveIdentityRequantize: drop ``quantize(dequantize(x))`` pairs that do not change the int8 data.

QDQ models (onnxruntime ``quantize_static``) wrap shape-only ops in their own
quantize/dequantize pair with the input's parameters: ``Flatten`` after a global pool
becomes ``quantize(reshape(dequantize(x, s, z)), s, z)``. With equal scale, zero
point and dtype the pair is the identity on int8 values (``(q - z) * s / s`` rounds
back to ``q - z`` exactly for |q - z| <= 255), so this pass rewrites

* ``quantize(dequantize(x, s, z), s, z)`` -> ``x``
* ``quantize(reshape(dequantize(x, s, z), shape), s, z)`` -> ``reshape(x, shape)``, and the same for the
  other element moves ``permute_dims``, ``strided_slice`` and a part of a ``split`` (ONNX Transpose, Slice, Split)

leaving an int8 reshape (a view in the kernel graph). Pairs with different
parameters are real requantizations and stay.
"""

from __future__ import annotations

import numpy as np
from tvm import relax
from tvm.relax.dpl import is_const, is_op, is_tuple_get_item, wildcard

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
    # element moves: the same int8 values in another place (ONNX Flatten / Reshape, Transpose, Slice, Split)
    moves = [is_op("relax.reshape")(deq, wildcard()), is_op("relax.permute_dims")(deq),
             is_op("relax.strided_slice")(deq, wildcard(), wildcard(), wildcard()),
             is_op("relax.strided_slice")(deq, wildcard(), wildcard(), wildcard(), wildcard())]
    split = is_op("relax.split")(deq)
    part = is_tuple_get_item(split)
    move = part
    for mv_pat in moves:
        move = move | mv_pat
    q_direct = is_op("relax.quantize")(deq, is_const(), is_const())
    q_move = is_op("relax.quantize")(move, is_const(), is_const())

    def rewriter(expr, m):
        q = m[q_move] if q_move in m else m[q_direct]
        d = m[deq]
        if not _same_params(d, q) or dtype_of(m[x]) not in ("int8", "uint8"):
            return expr
        if q_move not in m:
            return m[x]
        if part in m:
            sp = m[split]
            return relax.TupleGetItem(relax.Call(sp.op, [m[x]], sp.attrs), m[part].index)
        mv = next(m[p] for p in moves if p in m)
        return relax.Call(mv.op, [m[x]] + list(mv.args[1:]), mv.attrs)

    return rewrite_to_fixpoint(q_move | q_direct, rewriter, func)


RemoveIdentityRequantize = function_pass("tinyengine.RemoveIdentityRequantize", _rewrite)
RemoveIdentityRequantize.__doc__ = __doc__
