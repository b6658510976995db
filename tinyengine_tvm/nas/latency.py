"""Latency of an architecture spec from the tuner's cost model, without export, PTQ or C (the ``--latency`` budget).

The cost model prices a layer by its geometry and the kernel variant that runs it, and the variant the
compiler picks depends on facts of the deployed program: the requantization proof of the DSP kernels
(weights, bias, multipliers, shifts, zero points), the memory plan (an output overlapping its input rules
some kernels out) and the shipped tuning log. Pricing the spec's bare kernel graph with the portable kernel
everywhere is what made the spec-only prediction 24 % off on M4. So ``quantized_graph`` gives the spec's
kernel graph the quantization parameters our PTQ produces for an MBConv network (ReLU6 outputs at zero
point -128, per-channel weights spanning +-127, multipliers near 0.6 * 2^31 with right shifts), and
``predict`` chooses every layer's configuration exactly as a compile of it would (the emitter's variant
rules under the planner's plan, then the tuning log), then asks the cost model.
"""

from __future__ import annotations

import numpy as np

from ..kernel_graph import KernelGraph, KernelOp
from .graph import kernel_graph
from .spec import ArchSpec

_MULT = 1_300_000_000   # a typical TFLite multiplier (0.6 * 2^31)


def _shift(acc_typ: float) -> int:
    """The right shift that brings a typical accumulator into int8 range (the PTQ's scales do this)."""
    return -int(np.clip(np.round(np.log2(max(acc_typ, 2.0) * 0.6 / 32.0)), 1, 30))


def quantized_graph(spec: ArchSpec, seed: int = 0) -> KernelGraph:
    """``kernel_graph(spec)`` with the quantization parameters and int8 weights of a PTQ-quantized network."""
    g = kernel_graph(spec)
    rng = np.random.default_rng(seed)
    zp = {name: 0 for name in g.tensors}
    feeds = {t: o.kernel for o in g.ops for t in o.inputs}
    first_conv = next(op for op in g.ops if op.kernel == "conv2d")
    for op in g.ops:  # ReLU6 outputs (stem, expand, depthwise) span [0, 6]: zero point -128; projects and adds 0
        if op is first_conv or op.kernel == "depthwise_conv2d" or feeds.get(op.output) == "depthwise_conv2d":
            zp[op.output] = -128
    ops = []
    for op in g.ops:
        p, c = dict(op.params), dict(op.constants)
        if op.kernel == "quantize":
            p.update(scale=1 / 64, zero_point=0)
        elif op.kernel in ("conv2d", "depthwise_conv2d"):
            oc = p["out_c"]
            k = p["k_h"] * p["k_w"] * (1 if op.kernel == "depthwise_conv2d" else p["in_c"])
            w = rng.normal(0, 40, c["weights"].shape)
            w = np.clip(np.round(w / np.abs(w).max() * 127), -127, 127).astype(np.int8)
            c = {"weights": w, "bias": rng.integers(-4000, 4000, oc).astype(np.int32)}
            p.update(in_offset=-zp[op.inputs[0]], out_offset=zp[op.output], act_min=-128, act_max=127,
                     mult=[int(_MULT + v) for v in rng.integers(-2e8, 2e8, oc)],
                     shift=[_shift(np.sqrt(k) * 40 * 60)] * oc)
        elif op.kernel == "add":
            p.update(in1_offset=-zp[op.inputs[0]], in2_offset=-zp[op.inputs[1]], in1_mult=1_855_019_914, in1_shift=-5,
                     in2_mult=1 << 30, in2_shift=0, left_shift=20, out_mult=2_134_389_944, out_shift=-19,
                     out_offset=zp[op.output], act_min=-128, act_max=127)
        elif op.kernel == "mean":
            p.update(in_zp=zp[op.inputs[0]], out_zp=zp[op.output], mult=1_987_693_889, shift=1, exact=0)
        elif op.kernel == "fully_connected":
            n = p["out_n"]
            w = np.clip(np.round(rng.normal(0, 40, c["weights"].shape)), -127, 127).astype(np.int8)
            c = {"weights": w, "bias": rng.integers(-4000, 4000, n).astype(np.int32)}
            p.update(in_offset=-zp[op.inputs[0]], out_offset=zp[op.output], act_min=-128, act_max=127, per_channel=1,
                     mult=[int(_MULT + v) for v in rng.integers(-1e8, 1e8, n)], shift=[-19] * n, scale=[1e-6] * n)
        elif op.kernel == "dequantize":
            p.update(scale=1 / 16, zero_point=zp[op.inputs[0]])
        ops.append(KernelOp(op.name, op.kernel, list(op.inputs), op.output, p, c))
    for name, t in g.tensors.items():
        if t.dtype == "int8":
            t.scale, t.zero_point = 1 / 16, zp[name]
    return KernelGraph(g.tensors, ops, list(g.inputs), list(g.outputs))


class _Program:
    """What the tuner's configuration queries read of a compiled model: graph, plan, target, tuning."""

    def __init__(self, graph, plan, target):
        self.graph, self.plan, self.target, self.tuning, self.budgets = graph, plan, target, None, True


_LOGS: dict = {}  # target -> (log mtime, records, signatures with a measurement)


def _log(target):
    import os

    from ..tuner import log as tlog

    path = tlog.default_path(target)
    mtime = os.path.getmtime(path) if os.path.isfile(path) else None
    if target not in _LOGS or _LOGS[target][0] != mtime:
        recs = tlog.read(path)
        _LOGS[target] = (mtime, recs, set(tlog.best_table(recs, target)))
    return _LOGS[target][1:]


def configs(graph: KernelGraph, plan, target: str, tuning: bool = True) -> dict:
    """{op name: configuration} a compile of ``graph`` under ``plan`` emits on ``target``: the shipped tuning log's
    choice where it has one (``tuner.log.apply``), else the registry's first exact variant (``default_configs``)."""
    from ..codegen import variants
    from ..codegen.emitter import _Emitter
    from ..codegen.targets import get
    from ..tuner import log as tlog
    from ..tuner import space as tspace

    prog = _Program(graph, plan, get(target).name)
    if tuning:
        recs, sigs = _log(prog.target)
        if any(tspace.signature(tspace.layer_desc(op, graph)) in sigs for op in graph.ops):
            tlog.apply(prog, records=recs)
    em = _Emitter(graph, plan)
    em.target, em.tuning, em.chosen = get(target), prog.tuning, {}
    em.const = lambda ctype, name, values: name  # the C text is thrown away: skip printing the weights
    for op in graph.ops:
        variants.specialize(em, op)
    return tspace.with_opt(em.chosen, (prog.tuning or {}).get("files"))


def predict(spec: ArchSpec, target: str, patch: str = "off", layers: bool = False):
    """Predicted instructions of the compiled ``spec`` on ``target`` (a Cortex-M target with a cost model);
    ``layers=True``: the cost model's {"total", "layers"}."""
    from ..planner import plan as make_plan
    from ..tuner.cost_model import cost_model

    g = quantized_graph(spec)
    if patch != "off":
        from ..patch import schedule

        g = schedule(g, patch, target)
    p = make_plan(g, target=target)
    pred = cost_model(target).predict(g, configs(g, p, target))
    return pred if layers else float(pred["total"])
