"""``plan(graph)``: operator order, lifetimes, contracts and placement, combined into a MemoryPlan.

Steps: choose an operator order (order.py), build the placement problem for it
(problem.py: buffers incl. scratch, pairs, kernel overlap contracts), place it
greedily by size and by conflicts (greedy.py), and, when neither meets the
lower bound, try the exact MILP under a time limit (exact.py). The best placement
wins; the plan records every method's result, the lower bound and the gap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from . import contracts, exact, greedy, order as ordering
from .problem import build

METHODS = ("auto", "greedy-size", "greedy-conflicts", "ilp")


@dataclass
class MemoryPlan:
    arena_bytes: int                                   # static arena size (aligned)
    offsets: dict                                      # tensor name -> arena offset, or None when external
    buffers: dict = field(default_factory=dict)        # root -> Buffer (steps index `order`)
    roots: dict = field(default_factory=dict)          # tensor -> root
    live_bytes: list = field(default_factory=list)     # per step: bytes of arena buffers alive
    order: list = field(default_factory=list)          # op indices (into graph.ops) in execution order
    scratch_offsets: dict = field(default_factory=dict)  # op name -> arena offset of its scratch
    scratch_bytes: dict = field(default_factory=dict)    # op name -> scratch bytes
    kernel_fns: dict = field(default_factory=dict)       # op name -> C function whose contract/scratch the plan assumes
    overlaps: list = field(default_factory=list)         # (op name, input tensor, out_off - in_off) where they share bytes
    lower_bound_bytes: int = 0                         # no order and placement can use less (kernel contracts)
    order_lower_bound: int = 0                         # lower bound for this plan's order
    peak_sram_bytes: int = 0                           # highest arena byte in use (before alignment)
    high_water: list = field(default_factory=list)     # per step: highest arena byte in use
    method: str = "greedy-size"
    methods: dict = field(default_factory=dict)        # method -> arena end it reached
    order_exact: bool = True
    placement_optimal: bool = False
    planner_seconds: float = 0.0
    view_offsets: dict = field(default_factory=dict)   # tensor -> byte offset inside its root (concat slices)

    @property
    def peak_live_bytes(self) -> int:
        return max(self.live_bytes, default=0)

    @property
    def gap_bytes(self) -> int:
        return max(0, self.arena_bytes - self.lower_bound_bytes)

    @property
    def peak_step(self) -> int:
        """Step (index into ``order``) where the arena high-water mark is reached."""
        if not self.high_water:
            return 0
        return max(range(len(self.high_water)), key=lambda s: (self.high_water[s], self.live_bytes[s]))

    def ops(self, graph) -> list:
        """graph.ops in execution order."""
        return [graph.ops[i] for i in self.order] if self.order else list(graph.ops)


def plan(graph, target: str = "host", method: str = "auto", time_limit: float = 2.0, overlap: bool = True,
         reorder: bool = True, inplace: str = "auto") -> MemoryPlan:
    """Plan the arena for a KernelGraph (a pure function of the graph).

    ``inplace``: "auto" switches ops at the peak to an in-place kernel variant (with scratch)
    while that shrinks the arena, "all" uses every variant that is cheaper at its own step,
    "none" keeps the plain kernels.
    """
    if method not in METHODS:
        raise ValueError(f"unknown placement method '{method}'; choose from {', '.join(METHODS)}")
    t0 = time.perf_counter()
    plain = contracts.choose_functions(graph, target, inplace=())
    best_case = contracts.choose_functions(graph, target, inplace=None) if overlap else plain
    # bound over every order and every kernel variant (per op, the cheaper one)
    if reorder and len(graph.ops) > 1:
        res = ordering.order_ops(graph, target, fns=best_case)
        global_bound, bound_exact = res.bound, res.exact
    else:
        global_bound, bound_exact = ordering.per_op_bound(graph, target, best_case), False
    if inplace == "all":
        chosen = best_case
    else:
        chosen = plain
    best = _plan_once(graph, target, method, time_limit, overlap, reorder, chosen)
    if inplace == "auto" and overlap:
        cands = {n for n, fn in best_case.items() if fn != plain[n]}
        using: set = set()
        while True:
            ops = best.ops(graph)
            at_peak = {ops[s].name for s, h in enumerate(best.high_water) if h == best.peak_sram_bytes}
            new = (at_peak & cands) - using
            if not new:
                break
            trial = _plan_once(graph, target, method, time_limit, overlap, reorder,
                               contracts.choose_functions(graph, target, inplace=using | new))
            if trial.arena_bytes >= best.arena_bytes:
                break
            best, using = trial, using | new
    best.lower_bound_bytes = min(global_bound, best.order_lower_bound)
    best.order_exact = bound_exact or not reorder
    best.planner_seconds = time.perf_counter() - t0
    return best


def _plan_once(graph, target, method, time_limit, overlap, reorder, fns) -> MemoryPlan:
    ident = list(range(len(graph.ops)))
    order = ident
    if reorder and len(graph.ops) > 1:
        res = ordering.order_ops(graph, target, fns=fns)
        if ordering.peak_of(graph, ident, target, fns) > res.peak:
            order = res.order
    prob = build(graph, order, target, overlap=overlap, fns=fns)
    order_bound = prob.lower_bound()
    results = {}
    for key in ("size", "conflicts"):
        if method in ("auto", f"greedy-{key}"):
            results[f"greedy-{key}"] = greedy.place(prob, key)
    best_name = min(results, key=lambda k: results[k][1]) if results else None
    # the arena is a multiple of ALIGN: reaching the aligned bound is optimal
    optimal = best_name is not None and greedy.align_up(results[best_name][1]) <= greedy.align_up(order_bound)
    if method == "ilp" or (method == "auto" and not optimal and len(prob.bufs) <= 200):
        seed = results[best_name] if best_name else greedy.place(prob, "size")  # incumbent: an upper bound
        ub = greedy.align_up(max(seed[1], 1))
        off, end, bound, opt = exact.solve(prob, ub, time_limit)
        if off is None and best_name is None:  # no MILP answer in time: keep the greedy incumbent
            off, end, bound, opt = seed[0], seed[1], order_bound, False
        if off is not None:
            results["ilp"] = (off, end)
            if best_name is None or end < results[best_name][1]:
                best_name = "ilp"
            optimal = optimal or (opt and results[best_name][1] <= end)
            order_bound = max(order_bound, min(bound, results[best_name][1]))
    off, end = results[best_name]
    optimal = optimal or greedy.align_up(end) <= greedy.align_up(order_bound)
    arena = greedy.align_up(end) if end > 0 else 0
    root_off = {b.root: off[i] for i, b in enumerate(prob.bufs)}
    from ..concat_views import byte_offsets

    view_off = byte_offsets(graph, prob.roots)  # a concat slice sits inside its concat's buffer
    offsets = {}
    for t, r in prob.roots.items():
        if r in prob.all_bufs:
            offsets[t] = None if prob.all_bufs[r].external else root_off.get(r, 0) + view_off.get(t, 0)
    scratch_offsets = {name: root_off[f"scratch:{name}"] for name in prob.scratch}
    overlaps = []
    for (a, b), (opname, t) in prob.contract_pairs.items():
        A, B = prob.bufs[a], prob.bufs[b]
        oa, ob = off[a], off[b]
        if oa < ob + B.size and ob < oa + A.size:
            overlaps.append((opname, t, ob - oa))
    live = prob.live_bytes()
    high = [max((off[i] + b.size for i, b in enumerate(prob.bufs) if b.first <= s <= b.last), default=0)
            for s in range(prob.steps)]
    used_fns = {name: fn for name, fn in prob.kernel_fns.items()
                if name in prob.scratch or any(o[0] == name for o in overlaps)}
    return MemoryPlan(
        arena_bytes=arena, offsets=offsets, buffers=prob.all_bufs, roots=prob.roots, live_bytes=live, order=order,
        scratch_offsets=scratch_offsets, scratch_bytes=dict(prob.scratch), kernel_fns=used_fns, overlaps=overlaps,
        lower_bound_bytes=order_bound, order_lower_bound=order_bound, peak_sram_bytes=end, high_water=high,
        method=best_name or "none", methods={k: v[1] for k, v in results.items()}, order_exact=False,
        placement_optimal=optimal, view_offsets={t: o for t, o in view_off.items() if o})
