"""CanonicalizeClip: turn the max/min spelling of a clip back into ``R.clip``.

TVM's ONNX importer lowers ``Clip`` from opset 11 on (bounds as inputs) into
``call_tir(maximum, (x, lo))`` and ``call_tir(minimum, (., hi))``, each bound wrapped in
``where(isnan(b), -/+inf, b)``; other frontends write ``R.maximum``/``R.minimum``
with a constant. The kernel patterns and post-training quantization understand only
``R.clip`` (a fused activation), so this pass rewrites, for scalar constant bounds:

* ``maximum(x, lo)`` -> ``clip(x, lo, +inf)`` and ``minimum(x, hi)`` -> ``clip(x, -inf, hi)``
  (relax ops or ``call_tir`` of the importer's ``maximum``/``minimum`` kernels);
* ``clip(clip(x, a, b), c, d)`` -> ``clip(x, max(a, c), min(b, d))``.

A NaN bound means "unbounded" (as in onnxruntime), which is what the ``where`` computes.
"""

from __future__ import annotations

import math

import numpy as np
from tvm import relax
from tvm.relax.dpl import is_call_tir, is_const, is_op, wildcard

from ._util import const_value, function_pass, rewrite_to_fixpoint


def _bound_pattern():
    c = is_const()
    guarded = is_op("relax.where")(is_op("relax.isnan")(c), is_const(), c)
    return c, c | guarded


def _scalar_bound(m, c, default):
    v = const_value(m[c]).reshape(-1)
    if v.size != 1 or not np.issubdtype(v.dtype, np.floating):
        return None
    f = float(v[0])
    return default if math.isnan(f) else f


def _rewrite(func: relax.Function) -> relax.Function:
    x = wildcard()
    c_lo, lo = _bound_pattern()
    c_hi, hi = _bound_pattern()
    max_pat = is_op("relax.maximum")(x, lo) | is_call_tir("maximum", [x, lo])
    min_pat = is_op("relax.minimum")(x, hi) | is_call_tir("minimum", [x, hi])
    inner = is_op("relax.clip")(x, wildcard(), wildcard())
    outer = is_op("relax.clip")(inner, wildcard(), wildcard())

    def rewriter(expr, m):
        if outer in m:
            a, b = m[inner], m[outer]
            lo_v = max(float(a.args[1].value), float(b.args[1].value))
            hi_v = min(float(a.args[2].value), float(b.args[2].value))
            return relax.op.clip(m[x], lo_v, hi_v)
        if max_pat in m:
            v = _scalar_bound(m, c_lo, -math.inf)
            return expr if v is None else relax.op.clip(m[x], v, math.inf)
        v = _scalar_bound(m, c_hi, math.inf)
        return expr if v is None else relax.op.clip(m[x], -math.inf, v)

    return rewrite_to_fixpoint(outer | max_pat | min_pat, rewriter, func)


CanonicalizeClip = function_pass("tinyengine.CanonicalizeClip", _rewrite)
CanonicalizeClip.__doc__ = __doc__
