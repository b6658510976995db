"""FoldFloatConstants: evaluate constant float subgraphs with numpy (a fast ``FoldConstant`` for weights).

After ``FoldBatchnormToConv2D`` and ``ConvertToNHWC`` a float model's weights are
small constant expressions: ``permute_dims(multiply(W, reshape(divide(gamma,
sqrt(add(var, eps))))))`` and the like, one per conv. ``relax.transform.FoldConstant``
compiles and runs a TIR kernel for every one of them (about 100 s for a
MobileNetV2); this pass evaluates them with numpy in milliseconds, in float32 like
the TIR kernels, and leaves everything else alone. Folded ops: ``add``, ``subtract``,
``multiply``, ``divide``, ``sqrt``, ``rsqrt``, ``negative``, ``reshape``,
``permute_dims``, ``expand_dims``, ``squeeze``, ``astype`` when every tensor operand is
a constant (scalar ``PrimValue`` operands allowed).
"""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax

from ._util import call_op_name, is_constant

_BINARY = {"relax.add": np.add, "relax.subtract": np.subtract, "relax.multiply": np.multiply, "relax.divide": np.divide}
_UNARY = {"relax.sqrt": np.sqrt, "relax.rsqrt": lambda a: 1.0 / np.sqrt(a), "relax.negative": np.negative}


def _operand(e, env):
    """numpy value of a constant operand (Constant, PrimValue, or a var folded earlier), else None."""
    if isinstance(e, relax.Var) and e in env:
        return env[e]
    if is_constant(e):
        return e.value.numpy()
    if type(e).__name__ in ("FloatImm", "IntImm"):  # a scalar PrimValue operand
        return np.array(e.value, dtype=str(e.ty))
    return None


def _evaluate(value, env):
    name = call_op_name(value)
    if name is None:
        return None
    args = [_operand(a, env) for a in value.args]
    out_dtype = str(value.ty.dtype) if isinstance(value.ty, relax.TensorType) else None
    if out_dtype is None or not out_dtype.startswith("float"):
        return None
    if name in _BINARY and all(a is not None for a in args):
        r = _BINARY[name](args[0].astype(out_dtype), args[1].astype(out_dtype))
    elif name in _UNARY and args[0] is not None:
        r = _UNARY[name](args[0].astype(out_dtype))
    elif name in ("relax.reshape", "relax.expand_dims", "relax.squeeze") and args[0] is not None:
        r = args[0].reshape([int(d) for d in value.ty.shape])
    elif name == "relax.permute_dims" and args[0] is not None:
        axes = value.attrs.axes
        r = args[0].transpose([int(a) for a in axes] if axes is not None else None)
    elif name == "relax.astype" and args[0] is not None:
        r = args[0]
    else:
        return None
    return np.ascontiguousarray(np.asarray(r, dtype=out_dtype))


def _substitute(e, env, remap):
    if isinstance(e, relax.Var):
        if e in env:
            return relax.const(env[e])
        return remap.get(e, e)
    if isinstance(e, relax.Call):
        return relax.Call(e.op, [_substitute(a, env, remap) for a in e.args], e.attrs, e.ty_args, span=e.span)  # source location
    if isinstance(e, relax.Tuple):
        return relax.Tuple([_substitute(f, env, remap) for f in e.fields])
    if isinstance(e, relax.TupleGetItem):
        return relax.TupleGetItem(_substitute(e.tuple_value, env, remap), e.index)
    return e


def _fold(func: relax.Function) -> relax.Function:
    bindings = [b for block in func.body.blocks for b in block.bindings]
    env = {}
    for b in bindings:
        if isinstance(b, relax.VarBinding):
            r = _evaluate(b.value, env)
            if r is not None:
                env[b.var] = r
    if not env:
        return func
    bb = relax.BlockBuilder()
    remap = {}
    attrs = dict(func.attrs) if func.attrs else None
    body = func.body.body
    with bb.function("main", list(func.params), attrs=attrs):
        with bb.dataflow():
            last = None
            for b in bindings:
                if b.var in env:
                    continue
                new = _substitute(b.value, env, remap)
                if b.var.same_as(body):
                    last = bb.emit_output(new, name_hint=str(b.var.name))
                    remap[b.var] = last
                else:
                    remap[b.var] = bb.emit(new, name_hint=str(b.var.name))
            out = last if last is not None else bb.emit_output(_substitute(body, env, remap))
        bb.emit_func_output(out)
    return bb.get()["main"]


@tvm.transform.module_pass(opt_level=0, name="tinyengine.FoldFloatConstants")
def FoldFloatConstants(mod, _ctx):
    """Fold constant float subexpressions of main with numpy (see module docstring)."""
    if not any(gv.name_hint == "main" for gv in mod.get_global_vars()):
        return mod
    func = mod["main"]
    new = _fold(func)
    if new.same_as(func):
        return mod
    mod = mod.clone()
    mod["main"] = new
    return mod


FoldFloatConstants.__doc__ = __doc__
