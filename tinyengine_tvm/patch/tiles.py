"""p x q patches with recomputed halos (MCUNetV2): the other schedule of a stage.

``build_patch_stage(graph, ops, p, q)`` splits the stage output Y into a p x q grid; each patch runs the whole
stage on the input window its receptive field needs (clipped to the image, so zero padding appears only at
image borders, as in the layer-by-layer kernels), every op computing the rectangle its readers need, overlapping
rectangles of neighbouring patches computed again (the halo). A tensor inside the stage lives in a buffer that
holds one patch's rectangle (contiguous, its own width); a stage input is read in place when the window spans its
full width and gathered into a buffer otherwise (te_copy_rect_s8); the patch is written straight into Y when it
spans Y's width, else scattered from a buffer. Elementwise ops whose inputs hold a wider rectangle than they
compute run one call per row.

Actions (per patch, in ``iterations``): ``TCall`` (a kernel call on rectangles) and ``Copy`` (a strided rectangle
copy). ``PatchStage`` has StreamStage's interface (scratch_bytes, describe, access_model), so collapse, the
planner, the checker and codegen/stream.py take it alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import rows as R
from .stream import ALIGN, StageError, Window, _align, _readers


@dataclass
class TCall:
    op: int
    out_rect: tuple          # (r0, r1, c0, c1) inclusive, of op.output
    ins: list                # per input: (tensor, rect, where "X"/"B", byte offset, row stride)
    out: tuple               # (tensor, where "Y"/"B", byte offset, row stride)
    params: dict


@dataclass
class Copy:
    tensor: str              # the tensor the rectangle belongs to
    rect: tuple
    src: tuple               # (where "X"/"B", byte offset, row stride)
    dst: tuple               # (where "B"/"Y", byte offset, row stride)
    row_bytes: int
    rows: int


def _split(n: int, parts: int) -> list:
    parts = max(1, min(parts, n))
    edges = [round(i * n / parts) for i in range(parts + 1)]
    return [(edges[i], edges[i + 1] - 1) for i in range(parts)]


def _in_cols(op, in_w: int, a: int, b: int):
    p = op.params
    if op.kernel in R.WINDOWED:
        s, k, d, pad = int(p["stride_w"]), int(p["k_w"]), max(int(p.get("dil_w", 1)), 1), int(p["pad_left"])
        return max(a * s - pad, 0), min(b * s - pad + (k - 1) * d, in_w - 1)
    return a, b


def _band_params(op, in_rect, out_rect, cw: int) -> dict:
    p = dict(op.params)
    r0, r1, c0, c1 = out_rect
    if op.kernel in R.WINDOWED:
        sh, sw = int(p["stride_h"]), int(p["stride_w"])
        p["in_h"], p["in_w"] = in_rect[1] - in_rect[0] + 1, in_rect[3] - in_rect[2] + 1
        p["pad_top"] = in_rect[0] - (r0 * sh - int(op.params["pad_top"]))
        p["pad_left"] = in_rect[2] - (c0 * sw - int(op.params["pad_left"]))
        p["out_h"], p["out_w"] = r1 - r0 + 1, c1 - c0 + 1
        p["full_out_h"] = int(op.params["out_h"])
        if "macs" in p:
            p["macs"] = int(op.params["macs"]) * (r1 - r0 + 1) * (c1 - c0 + 1) // (
                int(op.params["out_h"]) * int(op.params["out_w"]))
    else:
        p["n"] = (c1 - c0 + 1) * cw
    return p


@dataclass
class PatchStage:
    ops: list
    inputs: list
    output: str
    grid: tuple
    windows: dict            # buffer name -> Window (rows=1, row_bytes=bytes)
    iterations: list
    heights: dict
    row_bytes: dict
    tensors: dict = field(default_factory=dict)
    chans: dict = field(default_factory=dict)
    band: int = 0
    _models: dict = field(default_factory=dict, repr=False)

    @property
    def scratch_bytes(self) -> int:
        return max((w.offset + _align(w.nbytes) for w in self.windows.values()), default=0)

    @property
    def macs(self) -> int:
        return sum(op.macs for op in self.ops)

    @property
    def calls(self) -> list:
        return [a for it in self.iterations for a in it if isinstance(a, TCall)]

    @property
    def computed_macs(self) -> int:
        return sum(int(c.params.get("macs", 0)) for c in self.calls)

    @property
    def moved_bytes(self) -> int:
        return sum(a.row_bytes * a.rows for it in self.iterations for a in it if isinstance(a, Copy))

    def describe(self) -> dict:
        return {"kind": "patches", "ops": [op.name for op in self.ops], "input": list(self.inputs),
                "output": self.output, "grid": list(self.grid), "band_rows": 0, "iterations": len(self.iterations),
                "calls": len(self.calls), "moved_bytes": self.moved_bytes, "scratch_bytes": self.scratch_bytes,
                "recompute": round(self.computed_macs / max(self.macs, 1), 4),
                "windows": {t: w.nbytes for t, w in self.windows.items()}}

    def access_model(self, k: int):
        """As StreamStage.access_model, with Y written patch by patch (write_addr follows the write order)."""
        if k in self._models:
            return self._models[k]
        if k >= len(self.inputs):
            return None
        x, y = self.inputs[k], self.output
        wx, cx = self.row_bytes[x] // self.chans[x], self.chans[x]
        wy, cy = self.row_bytes[y] // self.chans[y], self.chans[y]
        last = np.full((self.heights[x], wx), -1, np.int64)
        order, ends = [], []
        n = 0
        for c, act in enumerate(a for it in self.iterations for a in it):
            reads, write = [], None
            if isinstance(act, TCall):
                reads = [(t, rect) for (t, rect, where, _, _) in act.ins if where == "X"]
                if act.out[1] == "Y":
                    write = act.out_rect
            else:
                if act.src[0] == "X":
                    reads = [(act.tensor, act.rect)]
                if act.dst[0] == "Y":
                    write = act.rect
            if write is not None:
                r0, r1, c0, c1 = write
                for r in range(r0, r1 + 1):
                    order.append((r * wy + np.arange(c0, c1 + 1))[:, None] * cy + np.arange(cy)[None, :])
                    n += (c1 - c0 + 1) * cy
            ends.append(n)
            for t, (r0, r1, c0, c1) in reads:
                if t == x:
                    last[r0:r1 + 1, c0:c1 + 1] = c
        ends = np.asarray(ends, np.int64)
        lr = np.where(last >= 0, ends[np.maximum(last, 0)], -1)
        write_addr = np.concatenate([o.reshape(-1) for o in order]).astype(np.int64)
        res = (write_addr, np.repeat(lr.reshape(-1), cx))
        self._models[k] = res
        return res


def _pack(size: dict, ops, xs, y) -> dict:
    """Buffers placed in the stage's scratch by first fit, largest first: two share bytes only when their
    lives inside a patch (from the op writing one to the last op reading it; a gather buffer from the patch's
    start, the scatter buffer at its end) do not meet."""
    n = len(ops)
    last_read = {}
    for i, op in enumerate(ops):
        for t in op.inputs:
            last_read[t] = i
    prod = {op.output: i for i, op in enumerate(ops)}
    life = {}
    for name in size:
        if name.startswith("gather:"):
            life[name] = (-1, last_read[name[7:]])
        elif name.startswith("scatter:"):
            life[name] = (n - 1, n)
        else:
            life[name] = (prod[name], last_read.get(name, prod[name]))
    placed: list = []
    windows = {}
    for name in sorted(size, key=lambda k: (-size[k], k)):
        a, b = life[name]
        busy = sorted((o, o + _align(sz)) for (o, sz, (c, d)) in placed if not (b < c or d < a))
        off = 0
        for lo, hi in busy:
            if off + size[name] <= lo:
                break
            off = max(off, hi)
        placed.append((off, size[name], (a, b)))
        windows[name] = Window(name, 1, size[name], off)
    return windows


def build_patch_stage(graph, ops, p: int, q: int) -> PatchStage:
    names = {op.name for op in ops}
    for op in ops:
        why = R.streamable(op, graph)
        if why:
            raise StageError(f"{op.name} cannot run in patches: {why}")
    produced = [op.output for op in ops]
    y = ops[-1].output
    readers = _readers(graph)
    for t in produced[:-1]:
        if t in graph.outputs or not readers.get(t, set()) <= names:
            raise StageError(f"{t} is read outside the stage")
    xs = []
    for op in ops:
        for t in op.inputs:
            if t not in produced and t not in xs:
                xs.append(t)
    shape = {t: tuple(int(v) for v in graph.tensors[t].shape) for t in produced + xs}
    H = {t: s[1] for t, s in shape.items()}
    W = {t: s[2] for t, s in shape.items()}
    C = {t: s[3] for t, s in shape.items()}
    prod = {op.output: i for i, op in enumerate(ops)}
    size: dict = {}
    plans = []
    for (r0, r1) in _split(H[y], p):
        for (c0, c1) in _split(W[y], q):
            rect = {y: (r0, r1, c0, c1)}
            need: dict = {}
            for op in reversed(ops):
                t = op.output
                if t not in rect:
                    continue  # nothing of it is read by this patch
                a, b, c, d = rect[t]
                for src in op.inputs:
                    lo, hi = R.in_rows(op, H[src], a, b)
                    cl, ch = _in_cols(op, W[src], c, d)
                    if lo > hi or cl > ch:
                        raise StageError(f"{op.name}: a patch reads only padding")
                    old = rect.get(src)
                    rect[src] = (lo, hi, cl, ch) if old is None else (min(old[0], lo), max(old[1], hi),
                                                                        min(old[2], cl), max(old[3], ch))
            plans.append(rect)
            for t, (a, b, c, d) in rect.items():
                if t != y and t in prod:
                    size[t] = max(size.get(t, 0), (b - a + 1) * (d - c + 1) * C[t])
                if t in xs and not (c == 0 and d == W[t] - 1):
                    size["gather:" + t] = max(size.get("gather:" + t, 0), (b - a + 1) * (d - c + 1) * C[t])
            a, b, c, d = rect[y]
            if not (c == 0 and d == W[y] - 1) and ops[-1].kernel in R.WINDOWED:
                size["scatter:" + y] = max(size.get("scatter:" + y, 0), (b - a + 1) * (d - c + 1) * C[y])
    windows = _pack(size, ops, xs, y)
    iterations = []
    for rect in plans:
        acts = []
        loc = {}  # tensor -> (where, byte offset of rect's origin, row stride, held rect)
        for t in xs:
            if t not in rect:
                continue
            a, b, c, d = rect[t]
            if c == 0 and d == W[t] - 1:
                loc[t] = ("X", 0, W[t] * C[t], (0, H[t] - 1, 0, W[t] - 1))
            else:
                rb = (d - c + 1) * C[t]
                acts.append(Copy(t, rect[t], ("X", (a * W[t] + c) * C[t], W[t] * C[t]), ("B:gather:" + t, 0, rb),
                                 rb, b - a + 1))
                loc[t] = ("B:gather:" + t, 0, rb, rect[t])
        for i, op in enumerate(ops):
            t = op.output
            if t not in rect:
                continue
            a, b, c, d = rect[t]
            direct = t == y and (c == 0 and d == W[y] - 1)
            if t == y and not direct and op.kernel in R.WINDOWED:
                oloc = ("B:scatter:" + y, 0, (d - c + 1) * C[t])
            elif t == y:
                oloc = ("Y", (a * W[y] + c) * C[y], W[y] * C[y])
            else:
                oloc = ("B:" + t, 0, (d - c + 1) * C[t])
            ins_rects = []
            contiguous = oloc[2] == (d - c + 1) * C[t]
            for src in op.inputs:
                if op.kernel in R.WINDOWED:
                    lo, hi = R.in_rows(op, H[src], a, b)
                    cl, ch = _in_cols(op, W[src], c, d)
                    where, base, stride, held = loc[src]
                    if (cl, ch) != (held[2], held[3]) or stride != (ch - cl + 1) * C[src]:
                        raise StageError(f"{op.name}: reads a narrower window of {src} than the patch holds")
                else:
                    lo, hi, cl, ch = a, b, c, d
                    where, base, stride, held = loc[src]
                    contiguous = contiguous and (cl, ch) == (held[2], held[3]) and stride == (ch - cl + 1) * C[src]
                ins_rects.append((src, (lo, hi, cl, ch), where, base, stride, held))
            per_row = op.kernel not in R.WINDOWED and not contiguous
            rows_list = [(r, r) for r in range(a, b + 1)] if per_row else [(a, b)]
            for (ra, rb_) in rows_list:
                ins = []
                for (src, (lo, hi, cl, ch), where, base, stride, held) in ins_rects:
                    if per_row:
                        lo = hi = ra
                    off = base + (lo - held[0]) * stride + (cl - held[2]) * C[src]
                    ins.append((src, (lo, hi, cl, ch), where, off, stride))
                out_rect = (ra, rb_, c, d)
                params = _band_params(op, ins[0][1], out_rect, C[t])
                acts.append(TCall(i, out_rect, ins, (t, oloc[0], oloc[1] + (ra - a) * oloc[2], oloc[2]), params))
            if oloc[0].startswith("B:scatter"):
                rbytes = (d - c + 1) * C[y]
                acts.append(Copy(y, rect[y], (oloc[0], 0, rbytes), ("Y", (a * W[y] + c) * C[y], W[y] * C[y]),
                                 rbytes, b - a + 1))
            if t != y:
                loc[t] = (oloc[0], 0, oloc[2], rect[t])
        iterations.append(acts)
    return PatchStage(list(ops), xs, y, (p, q), windows, iterations, H, {t: W[t] * C[t] for t in H},
                      {t: graph.tensors[t] for t in produced + xs}, C)
