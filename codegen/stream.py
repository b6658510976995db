"""C for a line-buffer stage (kernel ``stream_stage``, tinyengine_tvm/patch/stream.py).

Every band call of the schedule is an ordinary kernel call (portable, or the DSP kernel codegen/dsp.py picks for
the band's parameters) on row slices: the stage's inputs and output in place, the tensors inside the stage in
row windows in the stage's scratch. Calls with equal parameters share one parameter struct and the layer's
weights; iterations that repeat with pointers moving by a constant stride become one C loop.
"""

from __future__ import annotations

from ..kernel_graph import KernelOp

_LOOP_MIN = 3  # iterations that repeat at least this often become a loop


def _location(em, t):
    """(symbol, byte offset) of tensor t's first byte: the arena or a caller's buffer."""
    root = em.p.roots.get(t, t)
    if root in em.g.inputs:
        return f"input_{em.g.inputs.index(root)}", 0
    if t in em.g.outputs:
        return f"output_{em.g.outputs.index(t)}", 0
    return "arena.bytes", int(em.p.offsets[t])


def _template(em, op, params, variant: str) -> str:
    """The call text of op's band kernel for these params, pointers as @I<k>@ / @O@ placeholders."""
    clone = KernelOp(variant, op.kernel, list(op.inputs), op.output, params, op.constants)
    saved = em.ptr_override, em.sink
    got = []
    em.ptr_override = {t: f"@I{k}@" for k, t in enumerate(op.inputs)}
    em.ptr_override[op.output] = "@O@"
    em.sink = got.append
    try:
        em.emit_op(clone)
    finally:
        em.ptr_override, em.sink = saved
    if len(got) != 1:
        raise RuntimeError(f"{op.name}: expected one band call, got {got}")
    return got[0]


def emit_stage(em, sop) -> None:
    st = sop.stage
    scratch = int(em.p.scratch_offsets[sop.name]) if st.scratch_bytes else 0
    loc = {t: _location(em, t) for t in list(st.inputs) + [st.output]}
    variants: dict = {}

    def ptr(where, t, off):
        if where == "W":
            return "arena.bytes", scratch + st.windows[t].offset + off
        if where.startswith("B:"):  # a patch stage's buffer
            return "arena.bytes", scratch + st.windows[where[2:]].offset + off
        sym, base = loc[t]
        return sym, base + off

    # per iteration: [(template, [(symbol, offset, const)])]
    its = []
    for acts in st.iterations:
        stmts = []
        for a in acts:
            if hasattr(a, "row_bytes") and hasattr(a, "rect"):  # a patch stage's strided rectangle copy
                if "copy_rect_s8.c" not in em.extra_sources:
                    em.extra_sources.append("copy_rect_s8.c")
                stmts.append((f"te_copy_rect_s8(@O@, {a.dst[2]}, @I0@, {a.src[2]}, {a.row_bytes}, {a.rows});",
                              [("@I0@",) + ptr(a.src[0], a.tensor, a.src[1]) + (True,),
                               ("@O@",) + ptr(a.dst[0], a.tensor, a.dst[1]) + (False,)]))
            elif hasattr(a, "op"):
                op = st.ops[a.op]
                key = (a.op, tuple(sorted((k, v) for k, v in a.params.items() if isinstance(v, (int, float)))))
                if key not in variants:
                    variants[key] = _template(em, op, a.params, f"{op.name}_b{len(variants)}")
                tmpl = variants[key]
                args = []
                if hasattr(a, "out_rect"):  # patch stage: (tensor, rect, where, offset, row stride)
                    reads = [(t, where, off) for (t, _, where, off, _) in a.ins]
                else:                       # line buffers: (tensor, lo, hi, where, offset)
                    reads = [(t, where, off) for (t, _, _, where, off) in a.ins]
                for k, (t, where, off) in enumerate(reads):
                    args.append((f"@I{k}@",) + ptr(where, t, off) + (True,))
                args.append(("@O@",) + ptr(a.out[1], a.out[0], a.out[2]) + (False,))
                stmts.append((tmpl, args))
            else:
                w = ("W", a.tensor)
                stmts.append((f"memmove(@O@, @I0@, {a.nbytes});",
                              [("@I0@",) + ptr(*w, a.src) + (True,), ("@O@",) + ptr(*w, a.dst) + (False,)]))
        its.append(stmts)

    def sig(stmts):
        return [(tm, [(ph, sym, c) for ph, sym, _, c in args]) for tm, args in stmts]

    def offs(stmts):
        return [off for _, args in stmts for _, _, off, _ in args]

    def text(stmts, step=None, indent="  "):
        out = []
        flat = iter(step) if step is not None else None
        for tm, args in stmts:
            s = tm
            for ph, sym, off, const in args:
                d = next(flat) if flat is not None else 0
                expr = f"{sym} + {off}" + (f" + {d} * it" if d else "")
                s = s.replace(ph, f"({'const ' if const else ''}int8_t*)({expr})")
            out.append(indent + s)
        return out

    kind = (f"{st.grid[0]}x{st.grid[1]} patches" if hasattr(st, "grid") else
            f"line buffers, {st.band} output row(s) per iteration")
    lines = [f"  /* {sop.name}: {st.ops[0].name}..{st.ops[-1].name} in {kind}, {len(st.iterations)} iterations, "
             f"buffers {sum(w.nbytes for w in st.windows.values())} B */",
             f"  TE_PROFILE_MARK({em.g.ops.index(sop)});"]
    i, n = 0, len(its)
    while i < n:
        j = i + 1
        step = None
        if j < n and sig(its[j]) == sig(its[i]):
            step = [b - a for a, b in zip(offs(its[i]), offs(its[j]))]
            while j + 1 < n and sig(its[j + 1]) == sig(its[i]) and \
                    [b - a for a, b in zip(offs(its[j]), offs(its[j + 1]))] == step:
                j += 1
            j += 1
        if step is not None and j - i >= _LOOP_MIN:
            lines.append(f"  for (int32_t it = 0; it < {j - i}; ++it) {{")
            lines += text(its[i], step, "    ")
            lines.append("  }")
            i = j
        else:
            lines += text(its[i])
            i += 1
    em.body.append("\n".join(lines))
