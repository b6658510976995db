"""Buffers and their lifetimes: which tensors share storage, and from which step to which step they live.

A reshape's output is a view of its input, so both map to one buffer (the "root"); so does a
concat input written in place into its slice of the concat's output (graph.views, concat_views.py),
whose buffer then lives from the first slice's producer on.
A buffer lives from the step that produces it to the last step that reads any
tensor mapped to it. Graph inputs and outputs are external (the caller's memory).
A kernel's scratch buffer ("scratch:<op name>") lives in the arena during its op's
step only. Steps index the operator order (``order``: op indices, default as listed).
"""

from __future__ import annotations

from dataclasses import dataclass

ALIAS_KERNELS = frozenset({"reshape"})


@dataclass
class Buffer:
    root: str            # tensor that owns the storage
    size: int            # bytes
    first: int           # step that writes it (-1: before the first step)
    last: int            # last step that reads it
    external: bool       # graph input/output: lives in the caller's buffer
    kind: str = "tensor"  # "tensor" or "scratch"

    def overlaps_in_time(self, other: "Buffer") -> bool:
        return not (self.last < other.first or other.last < self.first)


def alias_roots(graph) -> dict[str, str]:
    """tensor name -> root tensor name whose storage it uses."""
    root = {name: name for name in graph.tensors}
    for t, v in getattr(graph, "views", {}).items():  # a concat input written in place (concat_views.py)
        root[t] = v.root
    for op in graph.ops:
        if op.kernel in ALIAS_KERNELS and op.output not in graph.outputs:
            root[op.output] = root[op.inputs[0]]
    return root


def scratch_name(op_name: str) -> str:
    return f"scratch:{op_name}"


def buffers(graph, order=None, scratch=None) -> tuple[dict[str, Buffer], dict[str, str]]:
    """(root name -> Buffer, tensor name -> root name); scratch: op name -> bytes (0: none)."""
    root = alias_roots(graph)
    ops = graph.ops if order is None else [graph.ops[i] for i in order]
    scratch = scratch or {}
    external = {root[t] for t in graph.inputs} | set(graph.outputs)
    bufs: dict[str, Buffer] = {}
    for name in graph.inputs:
        r = root[name]
        bufs[r] = Buffer(r, graph.tensors[r].nbytes, -1, -1, True)
    for step, op in enumerate(ops):
        r = root[op.output]
        if r not in bufs:
            bufs[r] = Buffer(r, graph.tensors[r].nbytes, step, step, r in external)
        for t in op.inputs:
            b = bufs[root[t]]
            b.last = max(b.last, step)
        if scratch.get(op.name, 0) > 0:
            s = scratch_name(op.name)
            bufs[s] = Buffer(s, int(scratch[op.name]), step, step, False, "scratch")
    n = len(ops)
    for t in graph.outputs:  # outputs must survive to the end
        bufs[root[t]].last = n
    return bufs, root
