"""The automatic choice of line-buffer stages: least peak SRAM under an instruction-overhead budget.

Greedy over the memory timeline: while the peak step (graph order, the planner's footprint measure, kernel
overlap contracts included) is an op that can stream, try every stage [first, last] of streamable ops around it
(at most ``MAX_LEN`` ops, disjoint from the stages already chosen) in every schedule of ``SCHEDULES`` (line
buffers, or p x q patches with recomputed halos), keep the one that lowers the footprint peak most (then the
cheaper). When no single stage lowers it (a stage ending early leaves a wide tensor whose readers peak higher,
as MobileNetV2-224's 56x56x24 -> 56x56x144), look one move ahead: the ``LOOKAHEAD`` stages that take their own
step lowest, each followed by the best move at the step that became the peak. Stop when no move lowers the peak,
when ``sram`` is met, or when the next stage would exceed ``max_overhead``.

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
from .tiles import build_patch_stage

MAX_LEN = 12
SCHEDULES = (1, (2, 2), (3, 3), (4, 4))  # line buffers (1-row bands), or p x q patches with recomputed halos
INSTR_PER_MAC = 1.6
CALL_INSTR = 60
MOVE_INSTR_PER_BYTE = 1.0
LOOKAHEAD = 4  # stages tried as the first of a two-stage move when no single move lowers the peak


def call_overhead(op, params) -> float:
    """Estimated extra instructions of one band call against the whole-layer call."""
    if op.kernel == "depthwise_conv2d":
        pairs = int(params["in_c"]) // 2
        s1 = int(params["stride_h"]) == 1
        return CALL_INSTR + pairs * (300 + (16 if s1 else 6) * int(params["in_w"]))
    return CALL_INSTR


def stage_overhead(stage) -> float:
    """Estimated extra instructions of a stage against its layers run whole: per band call (call_overhead),
    per byte moved or copied, and for patches the recomputed MACs."""
    from .tiles import Copy, TCall

    extra = 0.0
    for it in stage.iterations:
        for a in it:
            if isinstance(a, (Call, TCall)):
                extra += call_overhead(stage.ops[a.op], a.params)
            elif isinstance(a, Move):
                extra += MOVE_INSTR_PER_BYTE * a.nbytes
            elif isinstance(a, Copy):
                extra += MOVE_INSTR_PER_BYTE * a.row_bytes * a.rows
    if hasattr(stage, "computed_macs"):
        extra += INSTR_PER_MAC * max(0, stage.computed_macs - stage.macs)
    return extra


def _footprint(graph, target, memo=None) -> tuple[int, list]:
    """(peak, per-step footprint) of graph order."""
    steps = ordering.step_costs(graph, list(range(len(graph.ops))), target, memo=memo)
    return max(steps, default=0), steps


def choose(graph, target: str = "host", max_overhead: float = 0.10, sram=None):
    """The graph with the chosen stages (graph.schedule describes them); the graph itself when none helps."""
    from ..planner.report import parse_bytes

    limit = parse_bytes(sram) if sram is not None else 0
    base_instr = INSTR_PER_MAC * max(graph.macs, 1)
    budget = max_overhead * base_instr
    views = graph.views
    in_concat = set(views) | {v.root for v in views.values()}  # zero-copy concat slices stay layer by layer
    ok = [R.streamable(op, graph) is None and op.output not in in_concat for op in graph.ops]
    chosen: list = []
    spent = 0.0
    cache: dict = {}
    built: dict = {}  # (first, last, how) -> its scheduled stage, shared by every trial graph
    memo: dict = {}  # planner facts per op, shared by every trial graph
    current = graph
    peak, steps = _footprint(current, target, memo)

    def moves(cur, chosen, spent, steps) -> list:
        """Every single move at cur's peak step (a new stage over it, or its stage replaced), within the budget:
        (peak, cost, stage, graph, the stage's own step, steps, spent after, chosen after)."""
        op = cur.ops[max(range(len(steps)), key=lambda i: steps[i])]
        keep, dropped = chosen, 0.0
        if op.kernel == "stream_stage":  # the peak is a stage: try to replace it by a better one over its ops
            a0, b0 = int(op.params["first"]), int(op.params["last"])
            keep = [c for c in chosen if c[0] != a0]
            dropped = next(cache[k][1] for k in cache if cache[k] is not None and k[:2] == (a0, b0)
                           and (a0, b0, k[2]) in chosen)
            lo_idx, hi_idx = a0, b0
        else:
            lo_idx = hi_idx = graph.ops.index(op)
        out = []
        taken = {i for a, b, _ in keep for i in range(a, b + 1)}
        for first in range(max(0, hi_idx - MAX_LEN + 1), hi_idx + 1):
            for last in range(max(lo_idx, first), min(len(graph.ops), first + MAX_LEN)):
                if not (first <= hi_idx and last >= lo_idx):
                    continue
                if not all(ok[first:last + 1]) or any(i in taken for i in range(first, last + 1)):
                    continue
                for how in SCHEDULES:
                    key = (first, last, how)
                    if key not in cache:
                        try:
                            ops = graph.ops[first:last + 1]
                            st = build_stage(graph, ops) if how == 1 else build_patch_stage(graph, ops, *how)
                            cache[key] = (st, stage_overhead(st))
                            built[key] = st
                        except StageError:
                            cache[key] = None
                    if cache[key] is None:
                        continue
                    cost = cache[key][1]
                    if spent - dropped + cost > budget or key in chosen:
                        continue
                    try:
                        trial = apply(graph, keep + [key], built)
                    except StageError:
                        continue
                    p, tsteps = _footprint(trial, target, memo)
                    own = next(tsteps[i] for i, o in enumerate(trial.ops)
                               if o.kernel == "stream_stage" and int(o.params["first"]) == first)
                    out.append((p, cost, key, trial, own, tsteps, spent - dropped + cost, keep + [key]))
        return out

    while peak > limit:
        cands = moves(current, chosen, spent, steps)
        best = min(cands, key=lambda c: (c[0], c[1]), default=None)
        if best is None or best[0] >= peak:
            # Look one move ahead: a stage that takes its own step below the peak but leaves a higher step
            # elsewhere (a stage ending at a wide tensor), then the best move at that step.
            best = None
            for c in sorted((c for c in cands if c[4] < peak), key=lambda c: (c[4], c[1]))[:LOOKAHEAD]:
                for c2 in moves(c[3], c[7], c[6], c[5]):
                    if c2[0] < peak and (best is None or (c2[0], c2[6]) < (best[0], best[6])):
                        best = c2
            if best is None:
                break
        peak, spent, chosen, current, steps = best[0], best[6], best[7], best[3], best[5]
    if not chosen:
        return graph
    for d in current.schedule:
        d["estimated_overhead"] = round(spent / base_instr, 4)
    return current
