"""Independent plan checker: does a MemoryPlan really keep every live byte intact?

``check(graph, plan)`` recomputes everything from the graph and the plan's order
with its own code (not lifetimes.py / problem.py): storage sharing (only a
reshape's view may share its input's storage), the step each buffer is written
and last read, and then, for every two arena buffers alive at a common step,
requires their byte ranges to be disjoint, unless one is an input read for the
last time by the op that writes the other, and the kernel's access model
(contracts.py) accepts that exact offset byte by byte. It also checks the order
is a topological order, offsets are aligned and inside the arena, outputs and
inputs are external, and every kernel that needs scratch has its own. Returns a
list of problems (empty: the plan is sound); ``verify`` raises on any.
"""

from __future__ import annotations

from ..errors import TinyEngineError
from . import contracts

ALIGN = 8


class PlanError(TinyEngineError):
    """The memory plan would corrupt a live tensor (a planner bug, never a user error)."""


def check(graph, plan, target: str = "host") -> list:
    problems = []
    n = len(graph.ops)
    order = list(plan.order) if plan.order else list(range(n))
    if sorted(order) != list(range(n)):
        return [f"order {order} is not a permutation of the {n} ops"]
    ops = [graph.ops[i] for i in order]
    # 1. topological order
    ready = set(graph.inputs)
    for s, op in enumerate(ops):
        for t in op.inputs:
            if t not in ready:
                problems.append(f"step {s} ({op.name}) reads {t} before it is written")
        ready.add(op.output)
    # 2. storage: which tensors may share (reshape views only)
    views = getattr(graph, "views", {})
    share = {t: t for t in graph.tensors}
    inside = {t: 0 for t in graph.tensors}  # byte offset inside the shared storage (concat slices)
    for t, v in views.items():
        share[t], inside[t] = v.root, v.offset * (graph.tensors[t].nbytes // max(1, _elems(graph, t)))
    for op in graph.ops:
        if op.kernel == "reshape" and op.output not in graph.outputs:
            share[op.output], inside[op.output] = share[op.inputs[0]], inside[op.inputs[0]]
    problems += _check_views(graph, views)
    external = {share[t] for t in graph.inputs} | set(graph.outputs)
    for t in graph.tensors:
        off = plan.offsets.get(t, "missing")
        if share[t] in external:
            if off not in (None, "missing"):
                problems.append(f"external tensor {t} has an arena offset {off}")
            if inside[t] != getattr(plan, "view_offsets", {}).get(t, 0):
                problems.append(f"tensor {t} is {inside[t]} bytes into {share[t]}, the plan says otherwise")
            continue
        if off in (None, "missing"):
            problems.append(f"tensor {t} has no arena offset")
            continue
        if off != plan.offsets.get(share[t]) + inside[t]:
            problems.append(f"tensor {t} shares no storage with {share[t]} but sits at {off}")
    # 3. lifetimes (step written, step last read) of arena buffers
    span = {}
    for s, op in enumerate(ops):
        r = share[op.output]
        if r not in external and r not in span:
            span[r] = [s, s]
        for t in op.inputs:
            r = share[t]
            if r in span:
                span[r][1] = max(span[r][1], s)
    bufs = {}  # name -> (offset, size, first, last, kind)
    for r, (a, b) in span.items():
        off = plan.offsets.get(r)
        if isinstance(off, int):
            bufs[r] = (off, graph.tensors[r].nbytes, a, b)
    fns = dict(plan.kernel_fns)
    for s, op in enumerate(ops):
        fn = fns.get(op.name) or contracts.kernel_function(op, target)
        need = contracts.scratch_bytes(fn, op.params)
        have = plan.scratch_bytes.get(op.name, 0)
        if need > have:
            problems.append(f"{op.name} needs {need} bytes of scratch, the plan gives {have}")
        if op.kernel == "stream_stage":  # a line-buffer stage: replay its schedule (patch/check.py)
            from ..patch.check import check_patch_stage, check_stage

            verify = check_patch_stage if hasattr(op.stage, "grid") else check_stage
            problems += [f"{op.name}: {p}" for p in verify(op.stage, have)]
        if have:
            if op.name not in plan.scratch_offsets:
                problems.append(f"{op.name} has scratch bytes but no scratch offset")
            else:
                bufs[f"scratch:{op.name}"] = (plan.scratch_offsets[op.name], have, s, s)
    for name, (off, size, _, _) in bufs.items():
        if off < 0 or off % ALIGN:
            problems.append(f"{name} at offset {off} is negative or not {ALIGN}-aligned")
        if off + size > plan.arena_bytes:
            problems.append(f"{name} [{off}, {off + size}) runs past the arena ({plan.arena_bytes} bytes)")
    # 4. pairwise: alive together => disjoint, or an exact kernel contract
    step_of = {op.name: s for s, op in enumerate(ops)}
    writer = {}
    for op in ops:  # the op that first writes each buffer (a view's reshape writes nothing)
        if share[op.output] in bufs:
            writer.setdefault(share[op.output], op)
    items = sorted(bufs.items(), key=lambda kv: kv[1][2])
    for i, (na, (oa, sa, fa, la)) in enumerate(items):
        for nb, (ob, sb, fb, lb) in items[i + 1:]:
            if fb > la:
                break
            if lb < fa or sa == 0 or sb == 0 or not (oa < ob + sb and ob < oa + sa):
                continue
            ok = False
            # input `na` last read at step fb by the op writing `nb` (or the other way round)
            for (ni, oi, li), (no, oo, fo) in (((na, oa, la), (nb, ob, fb)), ((nb, ob, lb), (na, oa, fa))):
                op = writer.get(no)
                if op is None or step_of[op.name] != fo or li != fo or no.startswith("scratch:"):
                    continue
                idx = [k for k, t in enumerate(op.inputs) if share[t] == ni]
                if len(idx) != 1 or op.name not in fns or op.output in views or op.inputs[idx[0]] in views:
                    continue  # a concat slice: no kernel contract covers it
                k = idx[0]
                t_in = op.inputs[k]
                if graph.tensors[t_in].dtype != "int8" or graph.tensors[op.output].dtype != "int8":
                    continue
                ok = ok or contracts.exact_safe(fns[op.name], op.params, k, graph.tensors[t_in].nbytes,
                                          graph.tensors[op.output].nbytes, oo - oi)
            if not ok:
                problems.append(f"{na} [{oa}, {oa + sa}) and {nb} [{ob}, {ob + sb}) overlap while both are live "
                                f"(steps {fa}-{la} and {fb}-{lb})")
    return problems


def _elems(graph, t) -> int:
    n = 1
    for d in graph.tensors[t].shape:
        n *= int(d)
    return n


def _check_views(graph, views) -> list:
    """Concat slices: inside their concat's tensor, pairwise disjoint, and written by a producer that
    honours the slice's stride (a strided slice's producer must take params["out_stride"])."""
    problems = []
    producer = {op.output: op for op in graph.ops}
    cells: dict = {}  # root -> [(first, last) element of each run]
    for t, v in views.items():
        total = _elems(graph, v.root)
        if (v.rows * v.width != _elems(graph, t) or v.offset < 0 or v.offset + (v.rows - 1) * v.stride + v.width > total
                or (v.rows > 1 and v.offset + v.width > v.stride)):
            problems.append(f"view {t} ({v.rows} x {v.width} at {v.offset}, stride {v.stride}) does not fit in {v.root}")
            continue
        if t in graph.inputs or t in graph.outputs or t not in producer:
            problems.append(f"view {t} is a graph input / output or has no producer")
            continue
        op = producer[t]
        if v.rows > 1 and v.stride != v.width:
            per_pixel = op.params.get("out_c")
            if op.params.get("out_stride") != v.stride or per_pixel != v.width or \
                    op.params.get("out_h", 0) * op.params.get("out_w", 0) != v.rows:
                problems.append(f"{op.name} writes {t} contiguously but it is a strided slice of {v.root}")
            if sum(t in o.inputs for o in graph.ops) != 1 or sum(x == t for o in graph.ops for x in o.inputs) != 1:
                problems.append(f"strided slice {t} of {v.root} has readers other than its concat")
        cells.setdefault(v.root, []).append((v.offset, v.width, v.stride, v.rows, t))
    for root, lst in cells.items():
        lst.sort()
        for (o1, w1, s1, r1, t1), (o2, w2, s2, r2, t2) in zip(lst, lst[1:]):
            if o1 + w1 > o2 or (s1, r1) != (s2, r2):
                problems.append(f"slices {t1} and {t2} of {root} overlap")
    return problems


def verify(graph, plan, target: str = "host") -> None:
    problems = check(graph, plan, target)
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise PlanError(f"memory plan check failed: {problems[0]}{more}")
