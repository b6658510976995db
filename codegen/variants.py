"""The registry of kernel variants: the one table the emitter, the tuner and the cost model read.

A ``Variant`` is one way to compute a kernel kind on a target: where it applies (the op kinds,
the ISA extension it needs, the arithmetic modes), when it is exact (its ``emit`` returns None
whenever the layer's requantization bounds, geometry or the memory plan's overlap contract do not
prove it byte-identical with the portable kernel), the planner contract it keeps (``contract``:
the portable kernel whose access order it preserves, or None when it checks the placement itself),
its knobs and their values, and the cost features the tuner's model sees.

``specialize(em, op)`` is the emitter's hook: it applies the layer's tuned configuration
(``em.tuning``) when that configuration is exact for this layer, else the default configuration:
the applicable variants in ``default_rank`` order, the first whose ``emit`` succeeds (today's rules,
so an untuned compile emits what it always did). Kinds no variant is registered for fall back to
``dsp.specialize`` unchanged. Other ISAs register beside the DSP variants with ``register``:

    register(Variant("dw_mve", ("depthwise_conv2d",), my_emit, "depthwise_conv2d_s8_mve.c", requires="mve",
                     default_rank=lambda p: -1))

Every file a variant emits can be built at another optimisation level: a ``files`` entry of the
tuning (``{"conv2d_1x1_s8_dsp.c": "O3"}``) prepends ``#pragma GCC optimize`` to that kernel file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from . import dsp, mve

OPT_LEVELS = ("O2", "O3", "Os")     # per kernel file; O2 is the build's default (runners/firmware.py)
DEFAULT_OPT = "O2"
PORTABLE = "portable"


@dataclass(frozen=True)
class Variant:
    name: str
    kinds: tuple                        # kernel kinds (KernelOp.kernel) it computes
    emit: Callable                      # (em, op, knobs) -> (C call, [sources]) | None when not exact here
    source: str | None                  # the kernel file (the per-file flag knob applies to it)
    requires: str | None = "dsp"        # Target attribute it needs ("dsp", "mve"), None for any target
    arith: tuple = ("tflite", "ort")    # arithmetic modes: TFLite fixed point, onnxruntime float32 requantization
    knobs: dict = field(default_factory=dict)        # knob -> candidate values (the first is the default)
    default_rank: Callable = lambda p: 0             # params -> rank in the default configuration, None = not used
    contract: str | None = None         # portable kernel whose planner contract it keeps; None: own overlap check
    features: Callable = lambda p: {}   # params -> extra cost-model features
    doc: str = ""
    float_conv: bool = False            # computes onnxruntime's unfused float conv (``ort_float`` layers) instead


_REGISTRY: list[Variant] = []


def register(v: Variant) -> Variant:
    """Add a variant (a later registration with the same name replaces the earlier one)."""
    for i, old in enumerate(_REGISTRY):
        if old.name == v.name:
            _REGISTRY[i] = v
            return v
    _REGISTRY.append(v)
    return v


def variants(kind: str | None = None) -> list[Variant]:
    return [v for v in _REGISTRY if kind is None or kind in v.kinds]


def get(name: str) -> Variant:
    for v in _REGISTRY:
        if v.name == name:
            return v
    raise KeyError(f"no kernel variant named {name!r}")


def _arith(op) -> str:
    return "ort" if op.params.get("single_rounding") else "tflite"


def usable(v: Variant, op, target) -> bool:
    """v applies to op's kind and arithmetic on target (exactness is emit's to decide)."""
    if op.kernel not in v.kinds or _arith(op) not in v.arith or bool(op.params.get("ort_float")) != v.float_conv:
        return False
    return v.requires is None or bool(getattr(target, v.requires, False))


def default_order(op, target) -> list[Variant]:
    ranked = [(v.default_rank(op.params), i, v) for i, v in enumerate(_REGISTRY) if usable(v, op, target)]
    return [v for r, _, v in sorted((x for x in ranked if x[0] is not None), key=lambda x: (x[0], x[1]))]


def covered(kind: str) -> bool:
    return any(kind in v.kinds for v in _REGISTRY)


def _try(v: Variant, em, op, knobs: dict):
    return v.emit(em, op, {k: knobs.get(k, vals[0]) for k, vals in v.knobs.items()})


def specialize(em, op):
    """(C call, [sources]) for op, or None for the portable kernel; records the choice in em.chosen."""
    target = getattr(em, "target", None)
    chosen = getattr(em, "chosen", None)
    if chosen is None:
        chosen = em.chosen = {}
    p = op.params
    if p.get("groups") or p.get("w_offset") or (p.get("out_stride") and op.kernel != "conv2d"):
        chosen[op.name] = {"variant": PORTABLE}  # grouped conv, weight zero point, strided slice: portable only
        return None
    if p.get("out_stride"):  # a concat channel slice (concat_views.py): the pointwise kernels take out_stride
        for v in default_order(op, target):
            r = _try(v, em, op, {}) if v.name.startswith("pw") and v.requires == "dsp" else None
            if r is not None:
                chosen[op.name] = {"variant": v.name, **{k: vals[0] for k, vals in v.knobs.items()}}
                return r
        chosen[op.name] = {"variant": PORTABLE}
        return None
    if not covered(op.kernel):
        if target is not None and getattr(target, "dsp", False):
            r = dsp.specialize(em, op)
            chosen[op.name] = {"variant": "dsp" if r is not None else PORTABLE}
            return r
        chosen[op.name] = {"variant": PORTABLE}
        return None
    cfg = ((getattr(em, "tuning", None) or {}).get("layers") or {}).get(op.name)
    if cfg:
        name = cfg.get("variant")
        if name == PORTABLE:
            chosen[op.name] = {"variant": PORTABLE}
            return None
        try:
            v = get(name)
        except KeyError:
            v = None
        if v is not None and usable(v, op, target):
            r = _try(v, em, op, cfg)
            if r is not None:
                chosen[op.name] = {"variant": v.name, **{k: cfg.get(k, vals[0]) for k, vals in v.knobs.items()}}
                return r
    for v in default_order(op, target):
        r = _try(v, em, op, {})
        if r is not None:
            chosen[op.name] = {"variant": v.name, **{k: vals[0] for k, vals in v.knobs.items()}}
            return r
    chosen[op.name] = {"variant": PORTABLE}
    return None


def source_of(variant_name: str) -> str | None:
    if variant_name in (PORTABLE, "dsp"):
        return None
    try:
        return get(variant_name).source
    except KeyError:
        return None


def knob_space(v: Variant) -> list[dict]:
    """Every knob assignment of v (cartesian product of its knob values)."""
    out = [{}]
    for k, vals in v.knobs.items():
        out = [dict(d, **{k: x}) for d in out for x in vals]
    return out


def exact_configs(em, op) -> list[dict]:
    """Every configuration of op that is exact under em's plan: {"variant": name, knobs...}, the portable
    kernel first. ``em`` is a scratch emitter (its params / weights lists receive throwaway text)."""
    target = getattr(em, "target", None)
    if not covered(op.kernel) or op.params.get("out_stride"):  # dsp.py's own rule decides: one configuration
        legacy = target is not None and getattr(target, "dsp", False) and dsp.specialize(em, op) is not None
        return [{"variant": "dsp" if legacy else PORTABLE}]
    out = [{"variant": PORTABLE}]
    for v in variants(op.kernel):
        if not usable(v, op, target):
            continue
        seen = set()
        for knobs in knob_space(v):
            r = v.emit(em, op, knobs)
            if r is None or r[0] in seen:   # a knob value the kernel clamps to an already-seen call
                continue
            seen.add(r[0])
            out.append({"variant": v.name, **knobs})
    return out


# --- the Armv7E-M DSP variants: today's rules in codegen/dsp.py, as the default configuration --------------

def _pw_rank(p):
    return 0


register(Variant("pw_ic", ("conv2d",), lambda em, op, k: dsp._pointwise(em, op, "ic"), "conv2d_1x1_s8_dsp.c",
                 default_rank=lambda p: 0, contract="te_conv2d_1x1_s8",
                 doc="1x1 conv, in_c in {8..24} unrolled, even out_c, no clamp"))
register(Variant("pw_nc", ("conv2d",), lambda em, op, k: dsp._pointwise(em, op, "nc"), "conv2d_1x1_s8_dsp.c",
                 default_rank=lambda p: 1, contract="te_conv2d_1x1_s8", doc="1x1 conv, 2x2 blocked, no clamp"))
register(Variant("pw", ("conv2d",), lambda em, op, k: dsp._pointwise(em, op, "clamp"), "conv2d_1x1_s8_dsp.c",
                 default_rank=lambda p: 2, contract="te_conv2d_1x1_s8", doc="1x1 conv, 2x2 blocked, any clamp"))
register(Variant("conv_kw", ("conv2d",), lambda em, op, k: dsp._conv(em, op, "kw"), "conv2d_s8_dsp.c",
                 default_rank=lambda p: 3, contract="te_conv2d_s8",
                 doc="KxK conv, gathered column in lane order, k_h in {3, 5}, row span in CONV_KS"))
register(Variant("conv_pairs", ("conv2d",), lambda em, op, k: dsp._conv(em, op, "pairs"), "conv2d_s8_dsp.c",
                 default_rank=lambda p: 4, contract="te_conv2d_s8", doc="KxK conv, 16-bit weight pairs, K <= 256"))
register(Variant("dw_rows", ("depthwise_conv2d",),
                 lambda em, op, k: dsp._depthwise_rows(em, op, band=k.get("band"), force=True),
                 "depthwise_conv2d_s8_rows_dsp.c", knobs={"band": (None, 1, 2, 4, 8)},
                 default_rank=lambda p: 0 if dsp.dw_rows_preferred(p) else None, contract=None,
                 features=lambda p: {"ring_words": dsp.dw_rows_ring_words(p)},
                 doc="depthwise 3/5/7, two outputs per step from a ring of widened rows; band = output rows per "
                     "pass (None: the largest the plan allows)"))
register(Variant("dw_cg", ("depthwise_conv2d",), lambda em, op, k: dsp._depthwise_cg(em, op),
                 "depthwise_conv2d_s8_cg_dsp.c", default_rank=lambda p: 1, contract=None,
                 doc="depthwise, small planes (<= 25 pixels), valid taps only; input and output apart"))
register(Variant("dw_cm", ("depthwise_conv2d",), lambda em, op, k: dsp._depthwise_cm(em, op),
                 "depthwise_conv2d_s8_dsp.c", default_rank=lambda p: 2 if dsp.dw_prefers_channel_major(p) else 4,
                 contract=None, doc="depthwise, channel-major with a ring of widened rows"))
register(Variant("dw_hwc", ("depthwise_conv2d",), lambda em, op, k: dsp._depthwise_hwc(em, op),
                 "depthwise_conv2d_s8_hwc_dsp.c", default_rank=lambda p: 3, contract="te_depthwise_conv2d_s8",
                 doc="depthwise, portable order, 4 channels per step"))
register(Variant("add_lin", ("add",), lambda em, op, k: dsp._add(em, op, "lin"), "add_s8_dsp.c", arith=("tflite",),
                 default_rank=lambda p: 0, contract="te_add_s8", doc="add as one exact linear form"))
register(Variant("add_fast", ("add",), lambda em, op, k: dsp._add(em, op, "fast"), "add_s8_dsp.c", arith=("tflite",),
                 default_rank=lambda p: 1, contract="te_add_s8", doc="add, SMMULR requantization"))
register(Variant("fc_dscale", ("fully_connected",), lambda em, op, k: dsp._fully_connected(em, op),
                 "fully_connected_s8_dsp.c", arith=("tflite",), contract="te_fully_connected_s8_dscale"))
register(Variant("fc_ort", ("fully_connected",), lambda em, op, k: dsp._fully_connected_ort(em, op),
                 "fully_connected_s8_dsp.c", arith=("ort",), contract="te_fully_connected_s8"))
register(Variant("pw_f32_fpu", ("conv2d",), lambda em, op, k: dsp._ort_float_pointwise(em, op),
                 "conv2d_1x1_s8_f32_fpu.c", arith=("ort",), float_conv=True, contract="te_conv2d_1x1_s8_f32",
                 doc="onnxruntime's unfused float 1x1 conv, four filters per input read, VFMA"))
register(Variant("add_ort_fpu", ("add",), lambda em, op, k: dsp._add_ort(em, op), "add_s8_f32_fpu.c", arith=("ort",),
                 contract="te_add_s8_f32", doc="onnxruntime's float Add / QLinearAdd on the FPU"))
register(Variant("quantize_dsp", ("quantize",), lambda em, op, k: dsp._quantize(em, op), "quantize_f32_s8_dsp.c",
                 contract="te_quantize_f32_s8"))
register(Variant("pool_dsp", ("max_pool2d", "avg_pool2d"),
                 lambda em, op, k: None if (_arith(op) == "ort" and op.kernel == "avg_pool2d") else dsp._pool(em, op),
                 "pool_s8_dsp.c", contract=None, doc="pools, four channels per word"))


# --- the Armv8.1-M Helium (MVE) variants (codegen/mve.py): ranked ahead of the DSP ones on MVE targets; each
# emit returns None where its kernel is not proven exact, or with TINYENGINE_MVE=0 (the DSP path) -------------
register(Variant("pw_mve", ("conv2d",), mve.emitter("pw"), "conv2d_1x1_s8_mve.c", requires="mve",
                 default_rank=lambda p: -3, contract="te_conv2d_1x1_s8", doc="1x1 conv, VMLADAVA, 4 channels per step"))
register(Variant("conv_mve", ("conv2d",), mve.emitter("conv"), "conv2d_s8_mve.c", requires="mve",
                 default_rank=lambda p: -2, contract="te_conv2d_s8", doc="conv with k_h * k_w * in_c <= 64 (first layers)"))
register(Variant("dw_cm_mve", ("depthwise_conv2d",), mve.emitter("dw_cm"), "depthwise_conv2d_s8_cm_mve.c",
                 requires="mve", default_rank=lambda p: -2 if mve.dw_prefers_cm(p) else None, contract=None,
                 doc="depthwise 3/5/7, channel by channel, 4 pixels per VMLA; input and output apart"))
register(Variant("dw_mve", ("depthwise_conv2d",), mve.emitter("dw"), "depthwise_conv2d_s8_mve.c", requires="mve",
                 default_rank=lambda p: -1, contract="te_depthwise_conv2d_s8",
                 doc="depthwise, 16 channels per step, taps in exact int16 pairs"))
register(Variant("fc_mve", ("fully_connected",), mve.emitter("fc"), "fully_connected_s8_mve.c", requires="mve",
                 arith=("tflite",), default_rank=lambda p: -1, contract="te_fully_connected_s8_dscale"))
register(Variant("quantize_mve", ("quantize",), mve.emitter("quantize"), "quantize_f32_s8_mve.c", requires="mve",
                 default_rank=lambda p: -1, contract="te_quantize_f32_s8", doc="float32 -> int8, 4 per vector"))
register(Variant("add_lin_mve", ("add",), mve.emitter("add"), "add_s8_mve.c", requires="mve", arith=("tflite",),
                 default_rank=lambda p: -1, contract="te_add_s8", doc="add as one exact linear form, 4 per vector"))


# --- kernels-work: new DSP variants (issue 12's speed acceptance), one block --------------------------------

from . import dsp_ring4  # noqa: E402

register(Variant("dw_ring4", ("depthwise_conv2d",), lambda em, op, k: dsp_ring4.emit(em, op),
                 "depthwise_conv2d_s8_ring4_dsp.c", default_rank=lambda p: None, contract=None,
                 features=lambda p: {"ring_words": dsp_ring4.ring_words(p)},
                 doc="depthwise k in {3,5,7}, stride 1/2, group of 4 channels over a ring of widened padded rows, "
                     "every tap unrolled (one LDRD of data, one of weights, 4 MACs)"))

from . import dsp_w16  # noqa: E402

register(Variant("pw_w16", ("conv2d",), lambda em, op, k: dsp_w16.emit(em, op), "conv2d_1x1_s8_w16_dsp.c",
                 default_rank=lambda p: None, contract="te_conv2d_1x1_s8",
                 features=lambda p: {"w16_extra_bytes": int(p["in_c"]) * int(p["out_c"])},
                 doc="1x1 conv, no clamp, weights widened to 16 bits at compile time (no SXTB16 in the 4x2 loop; "
                     "in_c * out_c more Flash)"))
