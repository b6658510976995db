"""WrapPatchStages: make the chosen line-buffer / patch stages visible in the IR.

Each stage (a run of consecutive kernel calls in ``main``, numbered as kernel_graph.extract numbers them) becomes a
private Relax function ``stage_<first>_<last>`` holding those calls in a dataflow block, with the schedule as
function attributes (``tinyengine.stage``: "line-buffer" or "patches", ``tinyengine.band_rows``,
``tinyengine.grid`` [p, q], ``tinyengine.first`` / ``tinyengine.last``); ``main`` calls it in their place.
kernel_graph.extract reads the calls back as that stage (patch.apply). The computation is unchanged: the stage
function only groups the calls.
"""

from __future__ import annotations

import tvm
from tvm import relax

STAGE_ATTR = "tinyengine.stage"


def _kernel_bindings(func):
    """(block index, binding index, kernel number) of main's kernel calls, numbered like kernel_graph.extract."""
    out, k = [], 0
    for bi, block in enumerate(func.body.blocks):
        for j, b in enumerate(block.bindings):
            if isinstance(b.value, relax.Call) and isinstance(b.value.op, relax.GlobalVar):
                out.append((bi, j, k))
                k += 1
    return out


def _lookup(vmap, a):
    for k, v in vmap.items():
        if isinstance(a, relax.Var) and a.same_as(k):
            return v
    return a


def _stage_function(bindings, outside_used, how):
    """The stage function for these bindings and the call replacing them: (function, inputs, output var)."""
    defined = [b.var for b in bindings]
    inputs = []
    for b in bindings:
        for a in b.value.args:
            if isinstance(a, relax.Var) and not any(a.same_as(d) for d in defined) \
                    and not any(a.same_as(i) for i in inputs):
                inputs.append(a)
    escaping = [b.var for b in bindings if any(b.var.same_as(u) for u in outside_used)]
    if len(escaping) != 1 or not escaping[0].same_as(bindings[-1].var):
        raise ValueError("a stage must leave exactly one tensor, its last call's output, to the rest of main")
    vmap = {v: relax.Var(str(v.name), v.ty) for v in inputs}
    new = []
    for i, b in enumerate(bindings):
        last = i == len(bindings) - 1
        nv = (relax.Var if last else relax.DataflowVar)(str(b.var.name), b.var.ty)
        args = [_lookup(vmap, a) for a in b.value.args]
        new.append(relax.VarBinding(nv, relax.Call(b.value.op, args, b.value.attrs, b.value.ty_args, ret_ty=b.value.ty)))
        vmap[b.var] = nv
    first, last_k, band = how
    attrs = {STAGE_ATTR: "patches" if isinstance(band, (tuple, list)) else "line-buffer",
             "tinyengine.first": first, "tinyengine.last": last_k,
             "tinyengine.band_rows": 0 if isinstance(band, (tuple, list)) else int(band),
             "tinyengine.grid": [int(v) for v in band] if isinstance(band, (tuple, list)) else [1, 1]}
    body = relax.SeqExpr([relax.DataflowBlock(new)], new[-1].var)
    fn = relax.Function([_lookup(vmap, v) for v in inputs], body, bindings[-1].var.ty, True).with_attrs(attrs)
    return fn, inputs


def WrapPatchStages(stages) -> tvm.transform.Pass:  # noqa: N802 (TVM pass naming)
    """Wrap each (first, last, band | (p, q)) run of main's kernel calls into a scheduled stage function."""
    stages = sorted((int(a), int(b), c) for a, b, c in stages)

    @tvm.transform.module_pass(opt_level=0, name="WrapPatchStages")
    def _pass(mod, _ctx):
        if not stages:
            return mod
        main = mod["main"]
        kb = _kernel_bindings(main)
        where = {k: (bi, j) for bi, j, k in kb}
        bb = relax.BlockBuilder(mod.clone())  # add_func gives each stage function's GlobalVar its type
        blocks = [list(b.bindings) for b in main.body.blocks]
        replace = {}  # (block, first binding index) -> new binding; bindings to drop
        drop = set()
        for first, last, band in stages:
            if first not in where or last not in where or where[first][0] != where[last][0]:
                raise ValueError(f"stage op{first}..op{last} is not a run of kernel calls in one block of main")
            bi, j0 = where[first]
            j1 = where[last][1]
            run = blocks[bi][j0:j1 + 1]
            used_after = set()
            for bj, block in enumerate(blocks):
                for jj, b in enumerate(block):
                    if bj == bi and j0 <= jj <= j1:
                        continue
                    # a multi-output model binds its output tuple inside the block: its fields are uses too
                    reads = b.value.fields if isinstance(b.value, relax.Tuple) else getattr(b.value, "args", []) or []
                    for a in reads:
                        if isinstance(a, relax.Var):
                            used_after.add(a)
                    if isinstance(b.value, relax.Var):
                        used_after.add(b.value)
            out_expr = main.body.body
            for a in (out_expr.fields if isinstance(out_expr, relax.Tuple) else [out_expr]):
                if isinstance(a, relax.Var):
                    used_after.add(a)
            fn, inputs = _stage_function(run, used_after, (first, last, band))
            gv = bb.add_func(fn, f"stage_{first}_{last}")
            y = run[-1].var
            replace[(bi, j0)] = relax.VarBinding(y, relax.Call(gv, list(inputs), ret_ty=y.ty))
            drop.update((bi, j) for j in range(j0 + 1, j1 + 1))
        new_blocks = []
        for bi, (block, orig) in enumerate(zip(blocks, main.body.blocks)):
            nb = [replace.get((bi, j), b) for j, b in enumerate(block) if (bi, j) not in drop]
            new_blocks.append(relax.DataflowBlock(nb) if isinstance(orig, relax.DataflowBlock) else relax.BindingBlock(nb))
        mod = bb.get()
        mod["main"] = relax.Function(main.params, relax.SeqExpr(new_blocks, main.body.body), main.ret_ty,
                                     main.is_pure, main.attrs)
        return relax.transform.Normalize()(mod)  # types of the rebuilt expressions

    return _pass
