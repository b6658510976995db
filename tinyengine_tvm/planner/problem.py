"""The placement problem: arena buffers and, for every pair alive at the same step, the offsets allowed between them.

``build(graph, order, target)`` decides which kernel function runs each op (and so
its scratch size and overlap contract, see contracts.py), computes lifetimes over
``order``, and lists every pair of arena buffers whose lifetimes intersect with the
``Overlap`` that ``offset[b] - offset[a]`` must satisfy: plain disjointness, or the
kernel's contract when ``a`` is an input that dies at the op producing ``b``.
The per-step lower bound lives here too, because it is a property of the problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import contracts
from .lifetimes import Buffer, buffers, scratch_name


@dataclass
class Problem:
    bufs: list                       # arena Buffers (tensor roots and scratch), index = id
    pairs: list                      # (a, b, Overlap): offset[b] - offset[a] must be allowed
    steps: int                       # number of ops
    all_bufs: dict                   # root -> Buffer (incl. external)
    roots: dict                      # tensor -> root
    kernel_fns: dict                 # op name -> C function whose contract was used
    scratch: dict                    # op name -> scratch bytes
    contract_pairs: dict = field(default_factory=dict)  # (a, b) -> (op name, input tensor)
    step_ops: list = field(default_factory=list)        # op name per step

    def index(self) -> dict:
        return {b.root: i for i, b in enumerate(self.bufs)}

    def live_bytes(self) -> list:
        return [sum(b.size for b in self.bufs if b.first <= s <= b.last) for s in range(self.steps)]

    def step_lower_bounds(self) -> list:
        """Per step: bytes any placement needs (live bytes minus the most the contracts let overlap)."""
        live = self.live_bytes()
        saving = [0] * self.steps
        out_size = [0] * self.steps
        for a, b, ov in self.pairs:
            if (a, b) in self.contract_pairs:
                A, B = self.bufs[a], self.bufs[b]
                s = B.first
                saving[s] += ov.max_overlap(A.size, B.size)
                out_size[s] = B.size
        return [live[s] - min(saving[s], out_size[s]) for s in range(self.steps)]

    def lower_bound(self) -> int:
        return max(self.step_lower_bounds() + [max((b.size for b in self.bufs), default=0)], default=0)


def build(graph, order=None, target: str = "host", overlap: bool = True, fns=None) -> Problem:
    """The Problem for ``order``; ``fns`` (op name -> C function) defaults to the plain kernels."""
    order = list(range(len(graph.ops))) if order is None else list(order)
    ops = [graph.ops[i] for i in order]
    fns = fns or contracts.choose_functions(graph, target, inplace=())
    scratch = {op.name: contracts.scratch_bytes(fns[op.name], op.params) for op in ops}
    all_bufs, roots = buffers(graph, order, scratch)
    bufs: list[Buffer] = [b for b in all_bufs.values() if not b.external and b.size > 0]
    idx = {b.root: i for i, b in enumerate(bufs)}
    # contracts: (input root index, output root index) -> Overlap
    special: dict = {}
    cpairs: dict = {}
    for step, op in enumerate(ops):
        out_root = roots[op.output]
        views = getattr(graph, "views", {})
        if out_root not in idx or all_bufs[out_root].first != step or not overlap or op.output in views:
            continue
        in_roots = [roots[t] for t in op.inputs]
        for k, t in enumerate(op.inputs):
            r = in_roots[k]
            if r not in idx or r == out_root or in_roots.count(r) > 1 or all_bufs[r].last != step or t in views:
                continue
            ti, to = graph.tensors[t], graph.tensors[op.output]
            ov = contracts.overlap(fns[op.name], op.params, k, ti.nbytes, to.nbytes, ti.dtype, to.dtype)
            if ov.max_overlap(ti.nbytes, to.nbytes) > 0:
                special[(idx[r], idx[out_root])] = ov
                cpairs[(idx[r], idx[out_root])] = (op.name, t)
    pairs = []
    for i, A in enumerate(bufs):
        for j in range(i + 1, len(bufs)):
            B = bufs[j]
            if A.overlaps_in_time(B):
                if (i, j) in special:
                    pairs.append((i, j, special[(i, j)]))
                elif (j, i) in special:
                    pairs.append((j, i, special[(j, i)]))
                else:
                    pairs.append((i, j, contracts.disjoint(A.size, B.size)))
    used = {op.name: fns[op.name] for op in ops if scratch[op.name] > 0}
    for (a, b), (name, _) in cpairs.items():
        used[name] = fns[name]
    return Problem(bufs, pairs, len(ops), all_bufs, roots, used, {k: v for k, v in scratch.items() if v > 0},
                   cpairs, [op.name for op in ops])


__all__ = ["Problem", "build", "scratch_name"]
