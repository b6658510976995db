"""Test-only: random KernelGraphs (no TVM) and a brute-force byte-level simulation of a memory plan.

``random_graph(rng, style)`` builds chains, residual blocks and multi-output graphs
from int8 kernels with consistent shapes and params (1x1 / 3x3 conv, depthwise,
pooling, add, mean, fully connected through a reshape view).

``simulate(graph, plan)`` runs the plan on a tagged arena, re-deriving each kernel's
reads and writes from its C loop nest literally (written here independently of
planner/contracts.py): every arena byte remembers which tensor element was
stored there last, and each read must find the element it expects. Returns the
list of corrupted reads (empty: the plan is sound for these kernels).
"""

from __future__ import annotations

import numpy as np

from tinyengine_tvm.kernel_graph import KernelGraph, KernelOp, Tensor


# --------------------------------------------------------------------------------------------
# random graphs


class _Builder:
    def __init__(self, rng):
        self.rng = rng
        self.tensors, self.ops = {}, []

    def tensor(self, shape, name=None):
        name = name or f"t{len(self.tensors)}"
        self.tensors[name] = Tensor(name, tuple(shape), "int8", 0.1, 0)
        return name

    def op(self, kernel, inputs, out_shape, params):
        out = self.tensor(out_shape)
        self.ops.append(KernelOp(f"op{len(self.ops)}_{kernel}", kernel, list(inputs), out, params))
        return out

    def conv(self, x, oc, k=1, s=1, depthwise=False):
        _, h, w, c = self.tensors[x].shape
        pad = k // 2
        oh, ow = (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1
        if depthwise:
            oc = c
        rng = self.rng
        fan_in = k * k * (1 if depthwise else c)
        p = dict(in_h=h, in_w=w, in_c=c, out_h=oh, out_w=ow, out_c=oc, k_h=k, k_w=k, stride_h=s, stride_w=s,
                 dil_h=1, dil_w=1, pad_top=pad if k > 1 else 0, pad_left=pad if k > 1 else 0, depth_multiplier=1,
                 in_offset=int(rng.integers(-20, 20)), out_offset=int(rng.integers(-20, 20)), act_min=-128,
                 act_max=127, mult=[int(v) for v in rng.integers(1 << 30, (1 << 31) - 1, oc)],
                 shift=[-int(np.ceil(np.log2(fan_in))) - 6] * oc)
        wshape = (k, k, oc) if depthwise else (oc, k, k, c)
        consts = {"weights": rng.integers(-127, 128, wshape).astype(np.int8),
                  "bias": rng.integers(-2000, 2000, oc).astype(np.int32)}
        out = self.op("depthwise_conv2d" if depthwise else "conv2d", [x], (1, oh, ow, oc), p)
        self.ops[-1].constants = consts
        return out

    def pool(self, x, kind="avg_pool2d"):
        _, h, w, c = self.tensors[x].shape
        oh, ow = (h - 2) // 2 + 1, (w - 2) // 2 + 1
        p = dict(in_h=h, in_w=w, c=c, out_h=oh, out_w=ow, k_h=2, k_w=2, stride_h=2, stride_w=2, pad_top=0,
                 pad_left=0, act_min=-128, act_max=127)
        return self.op(kind, [x], (1, oh, ow, c), p)

    def add(self, a, b):
        n = int(np.prod(self.tensors[a].shape))
        p = dict(n=n, in1_offset=3, in2_offset=-5, in1_mult=1 << 30, in1_shift=0, in2_mult=1 << 30, in2_shift=0,
                 left_shift=20, out_mult=1 << 30, out_shift=-19, out_offset=1, act_min=-128, act_max=127)
        return self.op("add", [a, b], self.tensors[a].shape, p)

    def mean(self, x):
        _, h, w, c = self.tensors[x].shape
        return self.op("mean", [x], (1, c), dict(outer=1, reduce=h * w, inner=c, in_zp=0, out_zp=0, mult=1 << 30, exact=0,
                                                 shift=0))

    def flatten_fc(self, x, out_n):
        n = int(np.prod(self.tensors[x].shape))
        v = self.op("reshape", [x], (1, n), dict(n=n))
        out = self.op("fully_connected", [v], (1, out_n), dict(batches=1, in_n=n, out_n=out_n, in_offset=0,
                                                                 out_offset=0, act_min=-128, act_max=127,
                                                                 per_channel=0, scale=[0.001]))
        self.ops[-1].constants = {"weights": self.rng.integers(-127, 128, (out_n, n)).astype(np.int8)}
        return out


def random_graph(rng, style: str = "mixed", n_blocks: int | None = None) -> KernelGraph:
    b = _Builder(rng)
    h = int(rng.integers(3, 9))
    x = b.tensor((1, h, h, int(rng.integers(1, 6))), "input_0")
    outputs = []
    n_blocks = n_blocks or int(rng.integers(2, 7))
    cur = x
    for _ in range(n_blocks):
        kind = style if style != "mixed" else rng.choice(["chain", "residual", "multi"])
        c = b.tensors[cur].shape[-1]
        if kind == "chain":
            r = rng.random()
            if r < 0.35:
                cur = b.conv(cur, int(rng.integers(1, 13)))
            elif r < 0.6:
                cur = b.conv(cur, 0, k=3, s=int(rng.integers(1, 3)), depthwise=True)
            elif r < 0.8:
                cur = b.conv(cur, int(rng.integers(1, 9)), k=3, s=int(rng.integers(1, 3)))
            elif b.tensors[cur].shape[1] >= 2:
                cur = b.pool(cur, rng.choice(["avg_pool2d", "max_pool2d"]))
            else:
                cur = b.conv(cur, int(rng.integers(1, 9)))
        elif kind == "residual":
            e = b.conv(cur, c * int(rng.integers(1, 5)))
            d = b.conv(e, 0, k=3, depthwise=True)
            pr = b.conv(d, c)
            cur = b.add(pr, cur) if rng.random() < 0.5 else b.add(cur, pr)
        else:  # multi: a side branch ends in a graph output
            side = b.conv(cur, int(rng.integers(1, 9)))
            if rng.random() < 0.5:
                side = b.mean(side)
            outputs.append(side)
            cur = b.conv(cur, int(rng.integers(1, 9)))
    if rng.random() < 0.5:
        cur = b.flatten_fc(cur, int(rng.integers(1, 5)))
    outputs.append(cur)
    return KernelGraph(b.tensors, b.ops, [x], outputs)


# --------------------------------------------------------------------------------------------
# brute-force simulation (each kernel's loop nest, literally)


def _conv_events(p, depthwise):
    """(reads, write) per output element, in the C kernels' loop order; addresses are element indices."""
    in_w, in_c = p["in_w"], p["in_c"]
    out_c = p["out_c"]
    for oy in range(p["out_h"]):
        for ox in range(p["out_w"]):
            for oc in range(out_c):
                reads = []
                for ky in range(p["k_h"]):
                    for kx in range(p["k_w"]):
                        iy = oy * p["stride_h"] - p["pad_top"] + ky
                        ix = ox * p["stride_w"] - p["pad_left"] + kx
                        if 0 <= iy < p["in_h"] and 0 <= ix < p["in_w"]:
                            base = (iy * in_w + ix) * in_c
                            reads += [base + oc] if depthwise else list(range(base, base + in_c))
                yield [(0, r) for r in reads], (oy * p["out_w"] + ox) * out_c + oc


def _events(op):
    k, p = op.kernel, op.params
    if k == "conv2d":
        yield from _conv_events(p, False)
    elif k == "depthwise_conv2d":
        yield from _conv_events(p, True)
    elif k in ("avg_pool2d", "max_pool2d"):
        yield from _conv_events(dict(p, in_c=p["c"], out_c=p["c"]), True)
    elif k == "add":
        for i in range(p["n"]):
            yield [(0, i), (1, i)], i
    elif k == "mean":
        for o in range(p["outer"]):
            for i in range(p["inner"]):
                yield [(0, (o * p["reduce"] + r) * p["inner"] + i) for r in range(p["reduce"])], o * p["inner"] + i
    elif k == "fully_connected":
        for bb in range(p["batches"]):
            for o in range(p["out_n"]):
                yield [(0, bb * p["in_n"] + i) for i in range(p["in_n"])], bb * p["out_n"] + o
    elif k in ("quantize", "dequantize", "requantize"):  # elementwise, one element in, one out
        for i in range(p["n"]):
            yield [(0, i)], i
    else:
        raise NotImplementedError(k)


def simulate(graph, plan) -> list:
    """Corrupted reads when running graph under plan on a tagged arena (see module docstring)."""
    arena = [None] * max(plan.arena_bytes, 1)
    bad = []
    order = plan.order or list(range(len(graph.ops)))
    root = {t: t for t in graph.tensors}
    for s in order:
        op = graph.ops[s]
        if op.kernel == "reshape":
            if plan.offsets.get(op.output) is not None and plan.offsets[op.output] == plan.offsets.get(op.inputs[0]):
                root[op.output] = root[op.inputs[0]]  # a view: same storage, same elements
                continue
            events = (([(0, i)], i) for i in range(graph.tensors[op.output].nbytes))
        else:
            events = _events(op)
        ins = [plan.offsets.get(t) for t in op.inputs]
        out_off = plan.offsets.get(op.output)
        if plan.kernel_fns.get(op.name) == "te_depthwise_conv2d_s8_inplace":
            bad += _simulate_inplace_dw(op, plan, arena, root, ins[0], out_off)
            continue
        for reads, w in events:
            for k, i in reads:
                want = (root[op.inputs[k]], i)
                if ins[k] is not None and arena[ins[k] + i] != want:
                    bad.append(f"{op.name} reads {op.inputs[k]}[{i}] at {ins[k] + i}, finds {arena[ins[k] + i]}")
            if out_off is not None:
                arena[out_off + w] = (root[op.output], w)
        if len(bad) > 20:
            break
    return bad


def _simulate_inplace_dw(op, plan, arena, root, in_off, out_off) -> list:
    """te_depthwise_conv2d_s8_inplace's loop nest: per channel, copy the plane to scratch, then write."""
    p, bad = op.params, []
    c_total, plane = p["in_c"], p["in_h"] * p["in_w"]
    sc = plan.scratch_offsets[op.name]
    x = root[op.inputs[0]]
    for c in range(c_total):
        for i in range(plane):
            if in_off is not None and arena[in_off + i * c_total + c] != (x, i * c_total + c):
                bad.append(f"{op.name} copies {x}[{i * c_total + c}], finds {arena[in_off + i * c_total + c]}")
            arena[sc + i] = ("scratch", op.name, c, i)
        for oy in range(p["out_h"]):
            for ox in range(p["out_w"]):
                for ky in range(p["k_h"]):
                    for kx in range(p["k_w"]):
                        iy = oy * p["stride_h"] - p["pad_top"] + ky
                        ix = ox * p["stride_w"] - p["pad_left"] + kx
                        if 0 <= iy < p["in_h"] and 0 <= ix < p["in_w"]:
                            j = iy * p["in_w"] + ix
                            if arena[sc + j] != ("scratch", op.name, c, j):
                                bad.append(f"{op.name} scratch[{j}] clobbered: {arena[sc + j]}")
                w = (oy * p["out_w"] + ox) * c_total + c
                if out_off is not None:
                    arena[out_off + w] = (root[op.output], w)
    return bad
