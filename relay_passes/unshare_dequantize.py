"""UnshareDequantize: give every consumer of a dequantized int8 tensor its own ``dequantize``.

Frontends (and common-subexpression elimination) may bind ``d = dequantize(x)`` once
and use ``d`` in several ops, e.g. a residual input read by both a conv and an add.
A binding can belong to only one fused group, so a shared ``dequantize`` would keep
the second consumer from matching its kernel pattern. Dequantized constants (weights, the
scalar operand of an ADD / MUL by a constant) are unshared the same way. This pass rewrites each use
of such a binding into a fresh ``dequantize(x)`` next to the use and removes the
shared one. Dequantize is pure, so the result is unchanged.
"""

from __future__ import annotations

import tvm
from tvm import relax

from ._util import call_op_name


@relax.expr_functor.mutator
class _Unshare(relax.PyExprMutator):
    def __init__(self, mod):
        super().__init__(mod)
        self.deq = {}

    def visit_dataflow_block_(self, block):
        # Only uses inside the same dataflow block are rewritten: a copy emitted
        # elsewhere would use a DataflowVar outside its block.
        self.deq = {}
        out = super().visit_dataflow_block_(block)
        self.deq = {}
        return out

    def visit_var_binding_(self, binding):
        value = binding.value
        # A dequantized constant is unshared too: TFLite models reuse one constant tensor (Keras hard_sigmoid's
        # 1/6 in every SE block), and a shared binding would be pulled into the first MUL's composite and
        # reach the second one as a float parameter instead of a constant operand.
        if isinstance(binding.var, relax.DataflowVar) and call_op_name(value) == "relax.dequantize":
            self.deq[binding.var] = value
        super().visit_var_binding_(binding)

    def _own(self, a):
        """A fresh dequantize for a use of a shared one (other operands unchanged)."""
        if not (isinstance(a, relax.Var) and a in self.deq):
            return a
        d = self.deq[a]
        return self.builder_.emit(relax.op.dequantize(self.visit_expr(d.args[0]), d.args[1], d.args[2], axis=int(d.attrs.axis),
                                                      out_dtype=str(d.attrs.out_dtype)))

    def visit_call_(self, call):
        call = super().visit_call_(call)
        if not any(isinstance(a, relax.Var) and a in self.deq for a in call.args):
            return call
        return relax.Call(call.op, [self._own(a) for a in call.args], call.attrs, call.ty_args)

    def visit_tuple_(self, tup):
        # A tuple use too: the model's output tuple may return a dequantize that also feeds an op (a head
        # tapped before a CONCATENATION); shared, it was pulled into the concat's composite as a second result.
        tup = super().visit_tuple_(tup)
        if not any(isinstance(f, relax.Var) and f in self.deq for f in tup.fields):
            return tup
        return relax.Tuple([self._own(f) for f in tup.fields])


@tvm.transform.module_pass(opt_level=0, name="tinyengine.UnshareDequantize")
def UnshareDequantize(mod, _ctx):
    """Duplicate shared dequantize bindings (of activations and of constants) so each consumer owns one."""
    updates = {}
    for gv, func in mod.functions.items():
        if isinstance(func, relax.Function) and "Composite" not in (func.attrs or {}):
            new = _Unshare(mod).visit_expr(func)
            updates[gv] = relax.analysis.remove_all_unused(new)
    mod = mod.clone()
    for gv, func in updates.items():
        mod[gv] = func
    return mod
