"""Line-buffer (row-band) streaming of a stage: a chain or small DAG of spatial ops run band by band.

``build_stage(graph, ops, band)`` schedules ``ops`` (in graph order) so that the stage's output Y is produced
``band`` rows per iteration and every tensor inside the stage exists only as a window of the rows its readers
still need (k_h rows for a k x k window, one for a 1x1 or an add): no row is ever computed twice. The stage's
inputs X (tensors made before it) are read in place, and Y is written in place, row by row in increasing
address order, so the memory plan may put Y over the rows of X the stage has finished reading.

The schedule is simulated at compile time into ``iterations``: per iteration, a list of ``Call`` (one kernel
call for a band of rows of one op, its input rows and its pointers) and ``Move`` (memmove of the rows a window
keeps to its start when it runs out of room). Windows are full-width row ranges, so every slice is contiguous
NHWC and the ordinary kernels run on it with per-call ``in_h`` / ``pad_top`` / ``out_h`` (patch.rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import TinyEngineError
from . import rows as R

ALIGN = 8


class StageError(TinyEngineError):
    """These ops cannot form a stream stage (the reason names the op)."""


@dataclass
class Window:
    tensor: str
    rows: int          # rows it holds
    row_bytes: int
    offset: int = 0    # inside the stage's scratch

    @property
    def nbytes(self) -> int:
        return self.rows * self.row_bytes


@dataclass
class Call:
    op: int                 # index into stage.ops
    a: int                  # output rows [a, b]
    b: int
    ins: list               # per input: (tensor, lo, hi, where, byte offset); where: "X" (stage input) or "W"
    out: tuple              # (tensor, where "Y" or "W", byte offset)
    params: dict            # the band's kernel params (patch.rows.band_params)


@dataclass
class Move:
    tensor: str             # window
    dst: int                # byte offsets inside the window
    src: int
    nbytes: int


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class StreamStage:
    ops: list               # KernelOps, graph order
    inputs: list            # X: tensors read in place
    output: str             # Y
    band: int
    windows: dict           # tensor -> Window
    iterations: list        # per iteration: [Call | Move]
    heights: dict           # tensor -> rows
    row_bytes: dict         # tensor -> bytes per row
    slack: int = 0
    tensors: dict = field(default_factory=dict)  # every tensor the stage touches (inside ones too)
    _models: dict = field(default_factory=dict, repr=False)

    @property
    def scratch_bytes(self) -> int:
        return max((w.offset + _align(w.nbytes) for w in self.windows.values()), default=0)

    @property
    def macs(self) -> int:
        return sum(op.macs for op in self.ops)

    @property
    def calls(self) -> list:
        return [a for it in self.iterations for a in it if isinstance(a, Call)]

    @property
    def moved_bytes(self) -> int:
        return sum(a.nbytes for it in self.iterations for a in it if isinstance(a, Move))

    def describe(self) -> dict:
        return {"kind": "line-buffer", "ops": [op.name for op in self.ops], "input": list(self.inputs),
                "output": self.output, "band_rows": self.band, "iterations": len(self.iterations),
                "calls": len(self.calls), "moved_bytes": self.moved_bytes, "scratch_bytes": self.scratch_bytes,
                "windows": {t: w.rows for t, w in self.windows.items()}}

    def access_model(self, k: int):
        """(write_addr, last_read) of stage input k against Y, at call granularity: every Y byte a call writes
        is taken as written before, and every X byte it reads as read after, all of that call's other
        accesses (so the contract holds whatever order a kernel uses inside one call)."""
        if k in self._models:
            return self._models[k]
        x = self.inputs[k] if k < len(self.inputs) else None
        ybytes = self.heights[self.output] * self.row_bytes[self.output]
        if x is None:
            return None
        rb = self.row_bytes[x]
        last_call = np.full(self.heights[x], -1, np.int64)
        ends = []
        written = 0
        for c, call in enumerate(self.calls):
            if call.out[1] == "Y":
                written = (call.b + 1) * self.row_bytes[self.output]
            ends.append(written)
            for (t, lo, hi, where, _) in call.ins:
                if t == x and lo <= hi:
                    last_call[lo:hi + 1] = c
        ends = np.asarray(ends, np.int64)
        lr_rows = np.where(last_call >= 0, ends[np.maximum(last_call, 0)], -1)
        res = (np.arange(ybytes, dtype=np.int64), np.repeat(lr_rows, rb))
        self._models[k] = res
        return res


def _readers(graph) -> dict:
    out: dict = {}
    for op in graph.ops:
        for t in op.inputs:
            out.setdefault(t, set()).add(op.name)
    return out


def build_stage(graph, ops, band: int = 1, slack: int = 0) -> StreamStage:
    """Schedule ``ops`` (KernelOps of ``graph``, in graph order) as one stream stage (module docstring)."""
    if not ops:
        raise StageError("an empty stage")
    names = {op.name for op in ops}
    for op in ops:
        why = R.streamable(op, graph)
        if why:
            raise StageError(f"{op.name} cannot stream: {why}")
    produced = [op.output for op in ops]
    y = ops[-1].output
    readers = _readers(graph)
    for t in produced[:-1]:
        if t in graph.outputs or not readers.get(t, set()) <= names:
            raise StageError(f"{t} is read outside the stage")
    if any(y in op.inputs for op in ops):
        raise StageError(f"the stage reads its own output {y}")
    xs = []
    for op in ops:
        for t in op.inputs:
            if t not in produced and t not in xs:
                xs.append(t)
    heights, rbytes = {}, {}
    for t in produced + xs:
        _, h, w, c = graph.tensors[t].shape
        heights[t], rbytes[t] = int(h), int(w) * int(c)
    hy = heights[y]
    band = max(1, min(int(band), hy))
    consumers: dict = {t: [] for t in produced}
    for i, op in enumerate(ops):
        for k, t in enumerate(op.inputs):
            if t in consumers:
                consumers[t].append((i, k))

    prod_of = {op.output: i for i, op in enumerate(ops)}

    def simulate(cap):
        done = {t: -1 for t in produced}
        span = {t: 0 for t in produced[:-1]}
        wbase = {t: 0 for t in produced[:-1]}
        vhi = {t: -1 for t in produced[:-1]}
        acts: list = []

        def ensure(t, row):
            """Compute rows of t up to ``row`` (bands of ``band`` rows), each after the input rows it reads."""
            i = prod_of[t]
            op = ops[i]
            while done[t] < row:
                a = done[t] + 1
                b = min(heights[t] - 1, a + band - 1)
                for src in op.inputs:
                    if src in prod_of:
                        ensure(src, R.in_rows(op, heights[src], b, b)[1])
                ins = []
                for src in op.inputs:
                    lo, hi = R.in_rows(op, heights[src], a, b)
                    if lo > hi:
                        raise StageError(f"{op.name}: rows {a}..{b} read only padding")
                    if src in xs:
                        ins.append((src, lo, hi, "X", lo * rbytes[src]))
                    else:
                        if hi > done[src] or lo < wbase[src]:
                            raise StageError(f"{op.name}: schedule bug, rows {lo}..{hi} of {src} not in its window")
                        ins.append((src, lo, hi, "W", (lo - wbase[src]) * rbytes[src]))
                if t == y:
                    out = (t, "Y", a * rbytes[t])
                else:
                    keep = a
                    for (ci, _) in consumers[t]:
                        c_op = ops[ci]
                        r = done[c_op.output] + 1
                        if r < heights[c_op.output]:
                            keep = min(keep, R.in_rows(c_op, heights[t], r, r)[0])
                    if cap is None:
                        span[t] = max(span[t], b - keep + 1)
                        wbase[t] = keep
                    elif b >= wbase[t] + cap[t]:
                        if b - keep + 1 > cap[t]:
                            raise StageError(f"{t}: window of {cap[t]} rows cannot hold rows {keep}..{b}")
                        if vhi[t] >= keep and keep != wbase[t]:
                            rb = rbytes[t]
                            acts.append(Move(t, 0, (keep - wbase[t]) * rb, (vhi[t] - keep + 1) * rb))
                        wbase[t] = keep
                    out = (t, "W", (a - wbase[t]) * rbytes[t])
                    vhi[t] = b
                acts.append(Call(i, a, b, ins, out, R.band_params(op, heights[op.inputs[0]], rbytes[t], a, b)))
                done[t] = b

        iterations = []
        while done[y] < hy - 1:
            ensure(y, done[y] + 1)
            iterations.append(acts)
            acts = []
        # rows past done[t] of an inner tensor are read by nothing (a VALID strided window stops short)
        return iterations, span

    _, span = simulate(None)
    cap = {t: min(heights[t], span[t] + slack) for t in span}
    iterations, _ = simulate(cap)
    windows, off = {}, 0
    for t in produced[:-1]:
        windows[t] = Window(t, cap[t], rbytes[t], off)
        off += _align(windows[t].nbytes)
    return StreamStage(list(ops), xs, y, band, windows, iterations, heights, rbytes, slack,
                       {t: graph.tensors[t] for t in produced + xs})
