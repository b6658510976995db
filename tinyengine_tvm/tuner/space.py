"""A layer's signature, cost features and exact configurations.

The signature is what a layer's cost depends on (kind, geometry, clamps, arithmetic), never its
weights: two layers with one signature share their log records. Exactness does depend on the
weights and the memory plan, so ``configs`` asks the variant registry on the real layer and plan.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

GEOM = ("in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w", "stride_h", "stride_w", "dil_h", "dil_w",
        "pad_top", "pad_left", "depth_multiplier", "n", "in_n", "out_n", "batches", "c", "rows", "cols", "outer",
        "reduce", "inner", "batch", "out_stride", "full_out_h")
KINDS = ("conv2d", "depthwise_conv2d", "fully_connected", "add", "avg_pool2d", "max_pool2d", "mean", "pad",
         "resize_nearest", "quantize", "dequantize", "requantize", "log_softmax", "reshape")


def layer_desc(op, graph=None) -> dict:
    """The cost-relevant description of op: kind, geometry, clamps, arithmetic, element counts."""
    p = op.params
    d = {"kind": op.kernel}
    for k in GEOM:
        v = p.get(k)
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            d[k] = int(v)
    if "act_min" in p:
        d["clamps"] = int(int(p["act_min"]) > -128 or int(p.get("act_max", 127)) < 127)
    if p.get("single_rounding"):
        d["ort"] = 1
    if graph is not None:
        d["in_bytes"] = int(sum(graph.tensors[t].nbytes for t in op.inputs))
        d["out_bytes"] = int(graph.tensors[op.output].nbytes)
    d["macs"] = int(op.macs)
    return d


def signature(desc: dict) -> str:
    return hashlib.sha1(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:16]


def config_key(cfg: dict) -> str:
    return json.dumps({k: cfg[k] for k in sorted(cfg)}, sort_keys=True)


def scratch_emitter(cm):
    """An emitter over cm's graph and plan whose output is thrown away (for exactness queries)."""
    from ..codegen.emitter import _Emitter
    from ..codegen.targets import get

    e = _Emitter(cm.graph, cm.plan)
    e.target, e.tuning, e.chosen = get(cm.target), getattr(cm, "tuning", None), {}
    return e


def configs(cm, opts=None) -> dict:
    """{op name: [configuration, ...]} of every exact configuration of every op of a compiled model, each with
    the optimisation level of its kernel file ("opt"; the portable kernel keeps the build's)."""
    from ..codegen import variants

    opts = tuple(opts or variants.OPT_LEVELS)
    em = scratch_emitter(cm)
    out = {}
    for op in cm.graph.ops:
        cands = []
        for cfg in variants.exact_configs(em, op):
            if variants.source_of(cfg["variant"]) is None:
                cands.append(dict(cfg, opt=variants.DEFAULT_OPT))
            else:
                cands += [dict(cfg, opt=o) for o in opts]
        out[op.name] = cands
    return out


def default_configs(cm) -> dict:
    """{op name: configuration (with "opt")} cm emits: its tuning where exact, else the default configuration."""
    from ..codegen import variants

    em = scratch_emitter(cm)
    for op in cm.graph.ops:
        variants.specialize(em, op)
    return with_opt(em.chosen, (cm.tuning or {}).get("files") if getattr(cm, "tuning", None) else None)


def with_opt(chosen: dict, files: dict | None) -> dict:
    """Emitted configurations + the optimisation level their kernel file was built at."""
    from ..codegen import variants

    files = files or {}
    out = {}
    for n, c in chosen.items():
        src = variants.source_of(c.get("variant", variants.PORTABLE))
        out[n] = dict(c, opt=files.get(src, variants.DEFAULT_OPT) if src else variants.DEFAULT_OPT)
    return out


def tuning_from(choice: dict) -> dict:
    """{op name: configuration with "opt"} -> the emitter's tuning {"layers": ..., "files": ...}; a file's level is
    the one its layers ask for (they agree within one measured build; otherwise the most asked for)."""
    from collections import Counter

    from ..codegen import variants

    layers, votes = {}, {}
    for name, cfg in choice.items():
        layers[name] = {k: v for k, v in cfg.items() if k != "opt"}
        src = variants.source_of(cfg.get("variant", variants.PORTABLE))
        if src is not None:
            votes.setdefault(src, Counter())[cfg.get("opt", variants.DEFAULT_OPT)] += 1
    files = {f: c.most_common(1)[0][0] for f, c in votes.items()}
    return {"layers": layers, "files": files}


class _NoPlan:
    offsets: dict = {}
    roots: dict = {}
    scratch_offsets: dict = {}
    kernel_fns: dict = {}


def default_layer_config(op, graph, target=None) -> dict:
    """The default configuration of a layer outside the memory plan (a line-buffer stage's layer): the registry's
    first exact variant, placement assumed apart (as a stage's band windows are)."""
    from ..codegen import variants
    from ..codegen.emitter import _Emitter

    e = _Emitter(graph, _NoPlan())
    e.ptr = lambda tensor, const=False: "p"  # noqa: E731 - placement does not enter the choice here
    e.target, e.tuning, e.chosen = target, None, {}
    try:
        variants.specialize(e, op)
    except Exception:  # noqa: BLE001 - a kernel needing plan facts: the portable kernel is the safe guess
        return {"variant": variants.PORTABLE, "opt": variants.DEFAULT_OPT}
    return dict(e.chosen.get(op.name, {"variant": variants.PORTABLE}), opt=variants.DEFAULT_OPT)
