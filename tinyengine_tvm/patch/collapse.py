"""Put stream stages into a KernelGraph: each stage's ops become one ``stream_stage`` op.

The stage op reads the stage's inputs and writes its output like any kernel, has the stage's windows as its
scratch, and an overlap contract from the schedule's access order (StreamStage.access_model), so the planner,
its checker and the emitter treat it as one kernel call whose insides the schedule fixes.
"""

from __future__ import annotations

from ..kernel_graph import KernelGraph, KernelOp
from .stream import StageError, build_stage

KERNEL = "stream_stage"


def stage_op(graph, first: int, last: int, band=1, slack: int = 0, built=None) -> KernelOp:
    """The stream_stage KernelOp for graph.ops[first..last] (inclusive): line buffers of ``band`` rows, or
    p x q patches with recomputed halos when ``band`` is a (p, q) grid. ``built``: that stage, already scheduled."""
    if built is not None:
        st = built
        name = f"op{first}_{last}_{'patches' if isinstance(band, (tuple, list)) else 'stream'}"
    elif isinstance(band, (tuple, list)):
        from .tiles import build_patch_stage

        st = build_patch_stage(graph, graph.ops[first:last + 1], int(band[0]), int(band[1]))
        name = f"op{first}_{last}_patches"
    else:
        st = build_stage(graph, graph.ops[first:last + 1], band=band, slack=slack)
        name = f"op{first}_{last}_stream"
    params = {"macs": st.macs, "scratch_bytes": st.scratch_bytes, "band": st.band if isinstance(st.band, int) else 0, "first": first, "last": last,
              "stage": st}
    return KernelOp(name, KERNEL, list(st.inputs), st.output, params, {}, stage=st)


def apply(graph, stages, built=None) -> KernelGraph:
    """A new KernelGraph with each (first, last, band) range of graph.ops replaced by its stream_stage op.
    Ranges must be disjoint; tensors inside a stage leave the graph."""
    spans = sorted(stages, key=lambda s: s[0])
    for (a, b, _), (c, _, _) in zip(spans, spans[1:]):
        if c <= b:
            raise StageError(f"stages op{a}..op{b} and op{c}.. overlap")
    views = getattr(graph, "views", {}) or {}
    for first, last, _ in spans:
        inside = {op.output for op in graph.ops[first:last + 1]}
        if inside & (set(views) | {v.root for v in views.values()}):
            raise StageError(f"stage op{first}..op{last} writes a zero-copy concatenation slice")
    ops, i, done = [], 0, []
    for first, last, band in spans:
        ops += graph.ops[i:first]
        sop = stage_op(graph, first, last, band, built=(built or {}).get((first, last, band)))
        ops.append(sop)
        done.append(sop)
        i = last + 1
    ops += graph.ops[i:]
    used = set(graph.inputs) | set(graph.outputs)
    for op in ops:
        used.update(op.inputs)
        used.add(op.output)
    tensors = {n: t for n, t in graph.tensors.items() if n in used}
    sched = list(graph.schedule) + [dict(sop.stage.describe(), op=sop.name, first=first, last=last, how=how)
                                    for sop, (first, last, how) in zip(done, spans)]
    return KernelGraph(tensors, ops, list(graph.inputs), list(graph.outputs), views=dict(views), schedule=sched)


def expand(graph) -> KernelGraph:
    """The layer-by-layer graph a stage graph came from (stage ops replaced by their ops)."""
    ops = []
    tensors = dict(graph.tensors)
    for op in graph.ops:
        if op.kernel == KERNEL:
            ops += op.stage.ops
            tensors.update(op.stage.tensors)
        else:
            ops.append(op)
    return KernelGraph(tensors, ops, list(graph.inputs), list(graph.outputs), views=dict(getattr(graph, "views", {}) or {}))
