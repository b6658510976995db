"""Small helpers shared by the passes: reading constants and shapes off Relax expressions."""

from __future__ import annotations

import numpy as np
import tvm
import tvm_ffi
from tvm import relax


def is_constant(expr) -> bool:
    return isinstance(expr, tvm.ir.expr.GenericConst)


def const_value(expr) -> np.ndarray:
    """The numpy value of a Relax constant (raises if expr is not a constant)."""
    if not is_constant(expr):
        raise TypeError(f"expected a constant, got {type(expr).__name__}")
    return expr.value.numpy()


def scalar(expr) -> float:
    return float(const_value(expr).reshape(-1)[0])


def shape_of(expr) -> tuple[int, ...]:
    return tuple(int(d) for d in expr.ty.shape)


def dtype_of(expr) -> str:
    return str(expr.ty.dtype)


def call_op_name(expr) -> str | None:
    if isinstance(expr, relax.Call) and isinstance(expr.op, tvm.ir.Op):
        return expr.op.name
    return None


def rewrite_to_fixpoint(pattern, rewriter, func, limit: int = 64):
    """Apply relax.dpl.rewrite_call until nothing changes (rewrites may expose new matches)."""
    for _ in range(limit):
        new = relax.dpl.rewrite_call(pattern, rewriter, func)
        if new.same_as(func) or tvm_ffi.structural_equal(new, func):
            return new
        func = new
    return func


def function_pass(name: str, transform_func):
    """Build a module pass that rewrites every Relax function with transform_func(func)."""

    @tvm.transform.module_pass(opt_level=0, name=name)
    def _pass(mod, _ctx):
        updates = {}
        for gv, func in mod.functions.items():
            if isinstance(func, relax.Function) and "Composite" not in (func.attrs or {}):
                new = transform_func(func)
                if not new.same_as(func):
                    updates[gv] = new
        if not updates:
            return mod
        mod = mod.clone()  # module passes must not mutate their input
        for gv, func in updates.items():
            mod[gv] = func
        return mod

    return _pass
