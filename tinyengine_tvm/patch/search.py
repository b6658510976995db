"""The automatic choice of line-buffer stages: least peak SRAM under an instruction-overhead budget.

Greedy over the memory timeline: while the peak step (graph order, the planner's footprint measure, kernel
overlap contracts included) is an op that can stream, try every stage [first, last] of streamable ops around it
(at most ``MAX_LEN`` ops, disjoint from the stages already chosen), keep the one that lowers the footprint peak
most, and stop when none does, when ``sram`` is met, or when the next stage would exceed ``max_overhead``.

Overhead is estimated per band call with a per-kernel model (``call_overhead``, fitted to QEMU M7 counts of vww's
stages: the depthwise DSP kernel re-widens its k input rows and re-packs its weights on every band call; the
others pay a call), against a layer-by-layer estimate of ``INSTR_PER_MAC`` instructions per MAC, until the
cost model lands. Peak SRAM of the choice comes from the real planner afterwards.
"""

from __future__ import annotations

from ..planner import order as ordering
from . import rows as R
from .collapse import apply
from .stream import Call, Move, StageError, build_stage

MAX_LEN = 12
INSTR_PER_MAC = 1.6
CALL_INSTR = 60
MOVE_INSTR_PER_BYTE = 1.0


def call_overhead(op, params) -> float:
    """Estimated extra instructions of one band call against the whole-layer call."""
    if op.kernel == "depthwise_conv2d":
        pairs = int(params["in_c"]) // 2
        s1 = int(params["stride_h"]) == 1
        return CALL_INSTR + pairs * (300 + (16 if s1 else 6) * int(params["in_w"]))
    return CALL_INSTR


def stage_overhead(stage) -> float:
    extra = 0.0
    for it in stage.iterations:
        for a in it:
            if isinstance(a, Call):
                extra += call_overhead(stage.ops[a.op], a.params)
            elif isinstance(a, Move):
                extra += MOVE_INSTR_PER_BYTE * a.nbytes
    return extra


def _footprint(graph, target) -> tuple[int, list]:
    """(peak, per-step footprint) of graph order."""
    steps = ordering.step_costs(graph, list(range(len(graph.ops))), target)
    return max(steps, default=0), steps


def choose(graph, target: str = "host", max_overhead: float = 0.10, sram=None):
    """The graph with the chosen stages (graph.schedule describes them); the graph itself when none helps."""
    from ..planner.report import parse_bytes

    limit = parse_bytes(sram) if sram is not None else 0
    base_instr = INSTR_PER_MAC * max(graph.macs, 1)
    budget = max_overhead * base_instr
    views = getattr(graph, "views", {}) or {}
    in_concat = set(views) | {v.root for v in views.values()}  # zero-copy concat slices stay layer by layer
    ok = [R.streamable(op, graph) is None and op.output not in in_concat for op in graph.ops]
    chosen: list = []
    spent = 0.0
    cache: dict = {}
    current = graph
    peak, steps = _footprint(current, target)
    while peak > limit:
        # the peak op, as an index of the layer-by-layer graph
        at = max(range(len(steps)), key=lambda i: steps[i])
        op = current.ops[at]
        if op.kernel == "stream_stage":
            break
        idx = graph.ops.index(op)
        best = None
        taken = {i for a, b, _ in chosen for i in range(a, b + 1)}
        for first in range(max(0, idx - MAX_LEN + 1), idx + 1):
            for last in range(idx, min(len(graph.ops), first + MAX_LEN)):
                if not all(ok[first:last + 1]) or any(i in taken for i in range(first, last + 1)):
                    continue
                key = (first, last)
                if key not in cache:
                    try:
                        st = build_stage(graph, graph.ops[first:last + 1])
                        cache[key] = (st, stage_overhead(st))
                    except StageError:
                        cache[key] = None
                if cache[key] is None:
                    continue
                cost = cache[key][1]
                if spent + cost > budget:
                    continue
                try:
                    trial = apply(graph, chosen + [(first, last, 1)])
                except StageError:
                    continue
                p, _ = _footprint(trial, target)
                if best is None or (p, cost) < (best[0], best[1]):
                    best = (p, cost, (first, last, 1), trial)
        if best is None or best[0] >= peak:
            break
        peak, spent = best[0], spent + best[1]
        chosen.append(best[2])
        current = best[3]
        _, steps = _footprint(current, target)
    if not chosen:
        return graph
    for d in current.schedule:
        d["estimated_overhead"] = round(spent / base_instr, 4)
    return current
