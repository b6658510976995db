"""Operator ordering: a topological order of the kernel graph that minimises the peak step footprint.

The footprint of running op v after the set S of ops is what the placement
lower bound charges at that step: every arena buffer alive (produced and still
to be read, or v's own inputs), v's output and scratch, minus the bytes v's output
may share with inputs that die at v (kernel contracts). The search is a dynamic
program over executed sets, level by level (one op per level), keeping for each
set the best peak; it is exact while every level holds at most ``max_states``
sets, and becomes a beam search (best ``max_states`` by peak, then live bytes)
beyond, in which case ``exact`` is False and the bound falls back to the
order-independent per-op bound.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import contracts
from .lifetimes import alias_roots


@dataclass
class OrderResult:
    order: list          # op indices
    peak: int            # max step footprint of that order
    exact: bool          # True: no order has a smaller peak
    bound: int           # lower bound on the peak footprint of any order


def _ops_info(graph, target, fns=None, memo=None):
    """``memo``: a dict kept across calls on graphs sharing KernelOp objects (patch.search's trial graphs): each
    op's function, scratch and per-input overlap are computed once (they depend on the op alone)."""
    roots = alias_roots(graph)
    external = {roots[t] for t in graph.inputs} | set(graph.outputs)
    n = len(graph.ops)
    producer, tproducer = {}, {}
    for i, op in enumerate(graph.ops):
        producer.setdefault(roots[op.output], i)
        tproducer[op.output] = i
    consumers: dict = {}  # root -> ops reading it (through any view)
    for i, op in enumerate(graph.ops):
        for t in op.inputs:
            consumers.setdefault(roots[t], set()).add(i)
    size = {r: (0 if r in external else graph.tensors[r].nbytes) for r in set(roots.values())}
    info = []
    if memo is None or fns is not None:
        fns = fns or contracts.choose_functions(graph, target, inplace=())
    for i, op in enumerate(graph.ops):
        ent = memo.get(id(op)) if memo is not None and fns is None else None
        if ent is None or ent[0] is not op:  # the op itself is kept in the entry, so its id is never reused
            fn = fns[op.name] if fns is not None else contracts.kernel_function(op, target)
            ent = (op, fn, contracts.scratch_bytes(fn, op.params), {})
            if memo is not None and fns is None:
                memo[id(op)] = ent
        _, fn, scratch, ovmemo = ent
        out_r = roots[op.output]
        new_out = producer.get(out_r) == i
        ins = [roots[t] for t in op.inputs]
        deps = {tproducer[t] for t in op.inputs if t in tproducer and tproducer[t] != i}
        ov = []
        views = getattr(graph, "views", {})
        if op.output in views:  # a slice written into its concat's buffer: every writer may be the first
            new_out = True
        for k, t in enumerate(op.inputs):
            r = ins[k]
            if (size[r] == 0 or r == out_r or ins.count(r) > 1 or not new_out or size[out_r] == 0
                    or t in views or op.output in views):
                ov.append(0)
                continue
            if k not in ovmemo:
                ti, to = graph.tensors[t], graph.tensors[op.output]
                o = contracts.overlap(fn, op.params, k, ti.nbytes, to.nbytes, ti.dtype, to.dtype)
                ovmemo[k] = o.max_overlap(ti.nbytes, to.nbytes)
            ov.append(ovmemo[k])
        info.append((deps, set(ins), out_r if new_out else None, scratch, ov))
    return n, roots, size, consumers, info, external


def order_ops(graph, target: str = "host", max_states: int = 200, fns=None) -> OrderResult:
    n, roots, size, consumers, info, _ = _ops_info(graph, target, fns)
    if n == 0:
        return OrderResult([], 0, True, 0)
    rid = {r: i for i, r in enumerate(sorted(size))}
    rsize = [0] * len(rid)
    for r, i in rid.items():
        rsize[i] = size[r]
    cons = [0] * len(rid)  # root id -> bitmask of ops reading it
    for r, ops in consumers.items():
        for v in ops:
            cons[rid[r]] |= 1 << v
    deps = [sum(1 << d for d in info[v][0]) for v in range(n)]
    # per op: (input root ids with their contract overlap, output root id or -1, output bytes, scratch)
    op_ins, op_out, op_outsz, op_scr = [], [], [], []
    for v in range(n):
        _, ins, out_r, scratch, ov = info[v]
        pairs = {}
        for k, t in enumerate(graph.ops[v].inputs):
            i = rid[roots[t]]
            pairs[i] = max(pairs.get(i, 0), ov[k])
        op_ins.append(list(pairs.items()))
        has_out = out_r is not None and size[out_r] > 0
        op_out.append(rid[out_r] if has_out and cons[rid[out_r]] else -1)
        op_outsz.append(size[out_r] if has_out else 0)
        op_scr.append(scratch)

    level = {0: (0, 0, 0, [])}  # done mask -> (peak, live mask, live bytes, order)
    exact = True
    for _ in range(n):
        nxt: dict = {}
        for done, (peak, live, live_b, order) in level.items():
            for v in range(n):
                bit = 1 << v
                if done & bit or deps[v] & ~done:
                    continue
                nd = done | bit
                save, nl, nb = 0, live, live_b
                for i, ov in op_ins[v]:
                    if not (cons[i] & ~nd):  # v is its last reader
                        save += ov
                        if nl >> i & 1:
                            nl &= ~(1 << i)
                            nb -= rsize[i]
                out_new = op_out[v] < 0 or not (live >> op_out[v] & 1)  # a concat buffer may be live already
                cost = live_b + op_scr[v] + (op_outsz[v] - min(save, op_outsz[v]) if out_new else 0)
                if op_out[v] >= 0 and not (nl >> op_out[v] & 1):
                    nl |= 1 << op_out[v]
                    nb += rsize[op_out[v]]
                cand = (max(peak, cost), nl, nb, order)
                best = nxt.get(nd)
                if best is None or (cand[0], nb) < (best[0], best[2]):
                    nxt[nd] = (cand[0], nl, nb, order + [v])
        if len(nxt) > max_states:
            exact = False
            nxt = dict(sorted(nxt.items(), key=lambda kv: (kv[1][0], kv[1][2]))[:max_states])
        level = nxt
    peak, _, _, order = min(level.values(), key=lambda v: v[0])
    bound = peak if exact else per_op_bound(graph, target, fns)
    return OrderResult(order, peak, exact, bound)


def per_op_bound(graph, target: str = "host", fns=None) -> int:
    """Order-independent bound: while op v runs, every order holds v's inputs, output and scratch
    (minus contract overlap) and every tensor produced by an ancestor of v and read by a descendant."""
    n, roots, size, consumers, info, _ = _ops_info(graph, target, fns)
    anc = [0] * n  # bitmask of ops that precede v in every order
    for v in range(n):  # graph.ops is a topological order
        for d in info[v][0]:
            anc[v] |= anc[d] | (1 << d)
    desc = [0] * n
    for v in range(n):
        m = anc[v]
        while m:
            low = m & -m
            desc[low.bit_length() - 1] |= 1 << v
            m ^= low
    producer = {}
    for v in range(n):
        if info[v][2] is not None:
            producer[info[v][2]] = v
    cons_mask = {r: sum(1 << c for c in cs) for r, cs in consumers.items()}
    best = 0
    for v in range(n):
        _, ins, out_r, scratch, ov = info[v]
        total = sum(size[r] for r in ins) + scratch
        if out_r is not None:
            # an input can share bytes with the output only if v may be its last reader
            save = sum(o for k, o in enumerate(ov)
                       if not cons_mask.get(roots[graph.ops[v].inputs[k]], 0) & desc[v])
            total += size[out_r] - min(save, size[out_r])
        for r, p in producer.items():  # alive across v in every order
            if r not in ins and r != out_r and size[r] and anc[v] >> p & 1 and cons_mask.get(r, 0) & desc[v]:
                total += size[r]
        best = max(best, total)
    return best


def peak_of(graph, order, target: str = "host", fns=None) -> int:
    """Max step footprint of a given order (same measure as order_ops)."""
    return max(step_costs(graph, order, target, fns), default=0)


def step_costs(graph, order, target: str = "host", fns=None, memo=None) -> list:
    """Footprint of each step of a given order (same measure as order_ops); ``memo``: see _ops_info."""
    n, roots, size, consumers, info, _ = _ops_info(graph, target, fns, memo)
    done, live, costs = frozenset(), set(), []
    for v in order:
        _, ins, out_r, scratch, ov = info[v]
        cost = sum(size[r] for r in live) + scratch
        if out_r is not None and out_r not in live:
            cost += size[out_r]
            save = sum(ov[k] for k, t in enumerate(graph.ops[v].inputs)
                       if ov[k] and consumers.get(roots[t], set()) <= (done | {v}))
            cost -= min(save, size[out_r])
        costs.append(cost)
        done = done | {v}
        if out_r is not None and size[out_r] > 0 and consumers.get(out_r):
            live.add(out_r)
        live = {r for r in live if not consumers.get(r, set()) <= done}
    return costs
