"""Armv8.1-M Helium (MVE) specialisation: choose a ``*_mve.c`` kernel per layer and pre-pack its data.

Entry point: ``emitter(kind)``, the emit function of each MVE variant codegen/variants.py registers
(requires="mve", ranked ahead of the DSP variants, which the Cortex-M55 also runs); TINYENGINE_MVE=0 turns
them off (the DSP path on Helium targets: scripts/bench_mcu.py --m55 compares both).
Scratch: the kernels' buffers (a 64-byte patch, a 784-byte depthwise window, a row ring of at most 896 bytes, a 512-byte pixel copy) live
on the stack, not in the arena, so the planner needs nothing per ISA.

An MVE kernel is chosen only where it is byte-identical with the portable kernel:

* TFLite arithmetic: te_mve.h's requantization (VQRDMULH, a sign fix-up, VRSHL) equals
  MultiplyByQuantizedMultiplier for every int32 accumulator and every shift, so there is no bound
  to check (``tflite_rq_ok`` only checks the table fits its fields);
* onnxruntime arithmetic (``params["single_rounding"]``, TE_SINGLE_ROUNDING builds): VCVTN of the
  float32 product equals te_round_half_even_f32 below 2^30 in magnitude, which ``ort_rq_ok`` bounds
  from the layer's weights (dsp.acc_bounds);
* the input offset is folded into the bias (bias + in_offset * sum(w)), equal modulo 2^32 to the
  portable kernel's int32 sum;
* the memory plan: each kernel's access order against the planner's contract for the portable
  kernel (see each ``_<kind>`` function).
"""

from __future__ import annotations

import os

import numpy as np

from . import dsp
from ..planner.contracts import is_pointwise

ENV_SWITCH = "TINYENGINE_MVE"  # "0": Helium targets run the DSP path (scripts/bench_mcu.py --m55 compares both)

_I31 = 1 << 31


def fold_bias(w2d: np.ndarray, bias, in_offset: int) -> np.ndarray:
    """bias + in_offset * sum(w) per output channel, wrapped to int32 like the kernels' int32 sums."""
    b = np.zeros(w2d.shape[0], np.int64) if bias is None else np.asarray(bias, np.int64)
    v = b + int(in_offset) * w2d.astype(np.int64).sum(axis=1)
    return ((v + _I31) % (1 << 32) - _I31).astype(np.int64)


def tflite_rq_ok(mult, shift) -> bool:
    m, s = np.asarray(mult, np.int64), np.asarray(shift, np.int64)
    return bool(np.all((m >= 0) & (m < _I31) & (s <= 31) & (s >= -31)))


def ort_rq_ok(acc_bound, fscale) -> bool:
    """|acc * scale| stays below 2^30 (te_round_half_even_f32 saturates there, VCVTN only at 2^31) with room
    for the float rounding of acc and of the product."""
    s = np.abs(np.asarray(fscale, np.float64))
    if not np.all(np.isfinite(s)):
        return False
    return bool(np.all(np.asarray(acc_bound, np.float64) * s * (1 + 2.0 ** -20) < float(1 << 29)))


def rq_table(op, w2d: np.ndarray):
    """te_mve.h's requantization table (per 4 channels: bias'[4], mult[4] int32, -right[4], left[4] int8) and
    whether any channel shifts left; None when the layer's requantization is outside what is proven."""
    p = op.params
    oc = w2d.shape[0]
    bias = op.constants.get("bias")
    ort = bool(p.get("single_rounding"))
    if ort:
        if "fscale" not in p:
            return None
        fs = np.broadcast_to(np.asarray(p["fscale"], np.float32).reshape(-1), (oc,))
        if not ort_rq_ok(dsp.acc_bounds(w2d, bias, int(p["in_offset"])), fs):
            return None
        mult = np.ascontiguousarray(fs).view(np.int32).astype(np.int64)
        nrs = left = np.zeros(oc, np.int64)
    else:
        mult = np.broadcast_to(np.asarray(p["mult"], np.int64).reshape(-1), (oc,))
        shift = np.broadcast_to(np.asarray(p["shift"], np.int64).reshape(-1), (oc,))
        if not tflite_rq_ok(mult, shift):
            return None
        nrs, left = np.minimum(shift, 0), np.maximum(shift, 0)
    g = -(-oc // 4) * 4
    t = np.zeros((4, g), np.int64)
    t[0, :oc], t[1, :oc], t[2, :oc], t[3, :oc] = fold_bias(w2d, bias, int(p["in_offset"])), mult, nrs, left
    words = t[:2].astype(np.uint32).reshape(2, g // 4, 4).transpose(1, 0, 2).reshape(g // 4, 8)
    shifts = t[2:].astype(np.int8).reshape(2, g // 4, 4).transpose(1, 0, 2).reshape(g // 4, 8)
    table = np.concatenate([words, np.ascontiguousarray(shifts).view("<u4")], axis=1)
    return table.reshape(-1).view(np.int32), bool(np.any(left > 0))


PW_KEEP = 512  # TE_PW_MVE_KEEP: above it te_conv2d_1x1_s8_mve runs only with out apart from in
PW_REGS_MAX_IN_C = 48  # te_conv2d_1x1_s8_mve keeps the input in registers and reads plain rows up to here


def pack_pointwise(w2d: np.ndarray) -> np.ndarray:
    """[oc][ic] int8 -> te_conv2d_1x1_s8_mve's order, zero rows up to a whole group of 4 output channels. With
    ic <= 48: the plain rows and 16 zero bytes (its 16-byte loads run past a row's end). Otherwise per group,
    per 16 input channels 4 x 16 bytes, then the ic % 16 last bytes of the 4 rows one after the other."""
    oc, ic = w2d.shape
    g, full = -(-oc // 4) * 4, ic // 16
    w = np.zeros((g, ic), np.int8)
    w[:oc] = w2d
    if ic <= PW_REGS_MAX_IN_C:
        return np.concatenate([w.reshape(-1), np.zeros(16, np.int8)])
    w = w.reshape(g // 4, 4, ic)
    body = w[:, :, :full * 16].reshape(g // 4, 4, full, 16).transpose(0, 2, 1, 3).reshape(g // 4, -1)
    return np.concatenate([body, w[:, :, full * 16:].reshape(g // 4, -1)], axis=1).reshape(-1)


def _plan_ok(em, op, portable: str, overlap_ok: bool) -> bool:
    """May the MVE kernel replace ``portable`` under em's plan? (overlap_ok: it runs correctly with its
    output placed wherever the portable kernel's contract allows.)"""
    return dsp._plan_allows(em, op, portable, keeps_contract=overlap_ok)


def _pointwise(em, op):
    p = op.params
    if not is_pointwise(p):
        return None
    if max(int(p.get("dil_h", 1)), int(p.get("dil_w", 1))) > 1:
        return None
    in_c, out_c = int(p["in_c"]), int(p["out_c"])
    w2d = np.asarray(op.constants["weights"]).reshape(out_c, in_c)
    rq = rq_table(op, w2d)
    if rq is None or not _plan_ok(em, op, "te_conv2d_1x1_s8", overlap_ok=in_c <= PW_KEEP):
        return None
    table, lsh = rq
    n = op.name
    pixels = int(p["out_h"]) * int(p["out_w"])
    em.params.append(f"static const te_pw_params {n}_pw = {{.pixels = {pixels}, .in_c = {in_c}, .out_c = {out_c}, "
                     f".in_offset = {int(p['in_offset'])}, .out_offset = {int(p['out_offset'])}, "
                     f".act_min = {int(p['act_min'])}, .act_max = {int(p['act_max'])}}};\n")
    w = em.const("int8_t", f"{n}_wm", pack_pointwise(w2d))
    q = em.const("int32_t", f"{n}_rqm", table)
    fn = "te_conv2d_1x1_s8_lsh_mve" if lsh else "te_conv2d_1x1_s8_mve"
    return f"{fn}(&{n}_pw, {em.ptr(op.inputs[0], const=True)}, {w}, {q}, {em.ptr(op.output)});", \
        ["conv2d_1x1_s8_mve.c"]


def pack_depthwise(w: np.ndarray) -> np.ndarray:
    """[k_h*k_w][c] int8 -> te_depthwise_conv2d_s8_mve's order: per 16 channels (zero channels pad the last
    block), per tap, 16 bytes."""
    taps, c = w.shape
    cb = -(-c // 16) * 16
    wp = np.zeros((taps, cb), np.int8)
    wp[:, :c] = w
    return wp.reshape(taps, cb // 16, 16).transpose(1, 0, 2).reshape(-1)


DW_TAPS = 49  # TE_DW_MVE_TAPS: te_depthwise_conv2d_s8_mve's stack patch holds this many taps of 16 channels
DW_ORDER = np.array([0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15])  # its accumulators' channels per block


def dw_pairs_ok(w: np.ndarray) -> bool:
    """te_depthwise_conv2d_s8_mve's int16 pair sums are exact: |x * w1 + x' * w2| <= 2^15 - 1 unless some channel
    has -128 in both weights of a pair (taps 2j, 2j + 1). w: [taps][c] int8."""
    m = np.asarray(w) == -128
    n = (m.shape[0] // 2) * 2
    return not bool(np.any(m[0:n:2] & m[1:n:2]))


def dw_table(op, w: np.ndarray):
    """rq_table for te_depthwise_conv2d_s8_mve: channels padded to whole 16-channel blocks and listed in its
    accumulators' order (DW_ORDER per block). w: [taps][c]. None where rq_table is None."""
    taps, c = w.shape
    cb = -(-c // 16) * 16
    perm = (np.arange(0, cb, 16)[:, None] + DW_ORDER[None, :]).reshape(-1)
    wp = np.zeros((cb, taps), np.int64)
    wp[:c] = np.asarray(w).T
    p = dict(op.params)
    for k in ("mult", "shift", "fscale"):
        if k in p and np.ndim(p[k]) and np.size(p[k]) == c:
            v = np.zeros(cb, np.asarray(p[k]).dtype)
            v[:c] = np.asarray(p[k]).reshape(-1)
            v[c:] = v[0]  # padding channels: any valid requantization (their outputs are not stored)
            p[k] = v[perm]
    bias = op.constants.get("bias")
    if bias is not None:
        bv = np.zeros(cb, np.int64)
        bv[:c] = np.asarray(bias).reshape(-1)
        bias = bv[perm]
    from types import SimpleNamespace

    return rq_table(SimpleNamespace(params=p, constants={"bias": bias}), wp[perm])


def dw_function(w: np.ndarray, lsh: bool, k_h: int = 0, k_w: int = 0) -> str:
    """te_depthwise_conv2d_s8_mve's entry point for weights w ([taps][c]), a table with / without left shifts and a
    k_h x k_w window (3x3 without left shifts: the unrolled _k3_ entry)."""
    if not dw_pairs_ok(w):
        return "te_depthwise_conv2d_s8_t1_mve"
    if lsh:
        return "te_depthwise_conv2d_s8_lsh_mve"
    return "te_depthwise_conv2d_s8_k3_mve" if (k_h, k_w) == (3, 3) else "te_depthwise_conv2d_s8_mve"


def _depthwise(em, op, form=None):
    """form: "pm" (pixel-major, te_depthwise_conv2d_s8_mve), "cm" (channel-major, where it applies and the plan keeps
    in and out apart), or None: the channel-major one where dw_prefers_cm, else the pixel-major one."""
    p = op.params
    if int(p.get("depth_multiplier", 1)) != 1 or max(int(p.get("dil_h", 1)), int(p.get("dil_w", 1))) > 1:
        return None
    c, k_h, k_w = int(p["in_c"]), int(p["k_h"]), int(p["k_w"])
    if int(p["out_c"]) != c:
        return None
    w = np.asarray(op.constants["weights"]).reshape(k_h * k_w, c)
    rq = rq_table(op, np.ascontiguousarray(w.T))
    if rq is None or not _plan_ok(em, op, "te_depthwise_conv2d_s8", overlap_ok=True):
        return None
    table, lsh = rq
    cm_ok = dw_cm_applies(p, lsh) and not dsp._overlaps(em, op)  # channel-major: in and out apart
    cm = form == "cm" or (form is None and cm_ok and dw_prefers_cm(p))
    if (cm and not cm_ok) or (not cm and k_h * k_w > DW_TAPS):
        return None
    n = op.name
    from .emitter import _struct

    em.params.append(_struct("te_conv_params", f"{n}_p", p))
    ins, out = em.ptr(op.inputs[0], const=True), em.ptr(op.output)
    if cm:
        q = em.const("int32_t", f"{n}_rqm", table)
        wname = em.const("int8_t", f"{n}_wc", np.ascontiguousarray(w.T).reshape(-1))
        return f"te_depthwise_conv2d_s8_k{k_h}_cm_mve(&{n}_p, {ins}, {wname}, {q}, {out});", \
            ["depthwise_conv2d_s8_cm_mve.c"]
    table, lsh = dw_table(op, w)
    wname = em.const("int8_t", f"{n}_wm", pack_depthwise(w))
    q = em.const("int32_t", f"{n}_rqd", table)
    return f"{dw_function(w, lsh, k_h, k_w)}(&{n}_p, {ins}, {wname}, {q}, {out});", ["depthwise_conv2d_s8_mve.c"]


def dw_prefers_cm(p) -> bool:
    """Measured on vww (M55, patch off): the channel-major kernel wins on stride-1 layers with >= 400 output pixels
    and at most 32 channels (40x40x16 3x3: 362 K vs 471 K instructions), where the pixel-major one's per-block
    work has few blocks to spread over; the pixel-major one (int16 tap pairs) elsewhere (20x20x48 3x3: 323 K vs
    330 K; 10x10x120 5x5: 521 K vs 671 K)."""
    px = int(p["out_h"]) * int(p["out_w"])
    return int(p["stride_h"]) == 1 and px >= 400 and int(p["in_c"]) <= 32


DWC_WP = 64  # TE_DWC_MVE_WP: bytes per phase of a padded row in te_depthwise_conv2d_s8_k<K>_cm_mve's ring


def dw_cm_applies(p, lsh: bool) -> bool:
    """te_depthwise_conv2d_s8_k<K>_cm_mve computes this layer (it still needs the plan to keep in and out apart):
    square k 3/5/7, equal strides 1 or 2, no left shift, and padded rows that fit the ring's phases (the
    filled columns, and the reads of the last 4-pixel group)."""
    k, s = int(p["k_h"]), int(p["stride_h"])
    if lsh or k != int(p["k_w"]) or k not in (3, 5, 7) or s != int(p["stride_w"]) or s not in (1, 2):
        return False
    return (int(p["pad_left"]) + int(p["in_w"]) + 3) // s + 1 <= DWC_WP and int(p["out_w"]) + k + 4 <= DWC_WP


CONV_MAX_K = 64  # te_conv2d_s8_mve's patch


def pack_conv(w: np.ndarray) -> np.ndarray:
    """OHWI int8 -> te_conv2d_s8_mve's order: per 4 output channels (zero rows up to a whole group), each row
    [k_h][k_w][in_c] zero-padded to whole 16-byte chunks."""
    oc = w.shape[0]
    flat = w.reshape(oc, -1)
    k = flat.shape[1]
    g, kp = -(-oc // 4) * 4, -(-k // 16) * 16
    out = np.zeros((g, kp), np.int8)
    out[:oc, :k] = flat
    return out.reshape(-1)


def _conv(em, op):
    """te_conv2d_s8_mve: any conv whose window k_h * k_w * in_c fits the 64-byte patch (first layers)."""
    p = op.params
    k = int(p["k_h"]) * int(p["k_w"]) * int(p["in_c"])
    if k > CONV_MAX_K or max(int(p.get("dil_h", 1)), int(p.get("dil_w", 1))) > 1:
        return None
    w = np.asarray(op.constants["weights"])
    out_c = int(p["out_c"])
    rq = rq_table(op, w.reshape(out_c, -1))
    if rq is None or not _plan_ok(em, op, "te_conv2d_s8", overlap_ok=True):
        return None
    table, lsh = rq
    n = op.name
    from .emitter import _struct

    em.params.append(_struct("te_conv_params", f"{n}_p", p))
    wname = em.const("int8_t", f"{n}_wm", pack_conv(w))
    q = em.const("int32_t", f"{n}_rqm", table)
    fn = "te_conv2d_s8_lsh_mve" if lsh else "te_conv2d_s8_mve"
    return f"{fn}(&{n}_p, {em.ptr(op.inputs[0], const=True)}, {wname}, {q}, {em.ptr(op.output)});", \
        ["conv2d_s8_mve.c"]


def _fully_connected(em, op):
    """te_fully_connected_s8_dscale_mve: TFLite arithmetic (LiteRT's double scale), any in_n."""
    p = op.params
    if p.get("single_rounding") or "scale" not in p:
        return None
    if not _plan_ok(em, op, "te_fully_connected_s8_dscale", overlap_ok=True):
        return None
    from .emitter import _c_double, _struct

    n = op.name
    in_n, out_n = int(p["in_n"]), int(p["out_n"])
    w2d = np.asarray(op.constants["weights"]).reshape(out_n, in_n)
    em.params.append(_struct("te_fc_params", f"{n}_p", p))
    w = em.const("int8_t", f"{n}_w", w2d.reshape(-1))
    b = em.const("int32_t", f"{n}_bm", fold_bias(w2d, op.constants.get("bias"), int(p["in_offset"])))
    scales = p["scale"]
    em.weights.append(f"static const double {n}_scale[{len(scales)}] = {{{', '.join(_c_double(v) for v in scales)}}};\n")
    return (f"te_fully_connected_s8_dscale_mve(&{n}_p, {em.ptr(op.inputs[0], const=True)}, {w}, {b}, {n}_scale, "
            f"{em.ptr(op.output)});", ["fully_connected_s8_mve.c"])


QUANT_SCALE_RANGE = (2.0 ** -60, 2.0 ** 60)  # te_quantize_f32_s8_mve: no subnormal reciprocal or product


def quantize_ok(scale) -> bool:
    fs = float(np.float32(scale))
    return QUANT_SCALE_RANGE[0] <= fs <= QUANT_SCALE_RANGE[1]


def _quantize(em, op):
    """te_quantize_f32_s8_mve: the portable kernel's bytes (its own guard sends vectors near a rounding boundary
    to it), for scales in QUANT_SCALE_RANGE."""
    p = op.params
    if not quantize_ok(p["scale"]) or not _plan_ok(em, op, "te_quantize_f32_s8", overlap_ok=True):
        return None
    from .emitter import _c_double

    # quantize.c (its fallback) is already the quantize kind's own source
    return (f"te_quantize_f32_s8_mve({p['n']}, {em.ptr(op.inputs[0], const=True)}, {em.ptr(op.output)}, "
            f"{_c_double(p['scale'])}, {p['zero_point']});", ["quantize_f32_s8_mve.c"])


def _add(em, op):
    """te_add_s8_lin_mve: TFLite ADD where dsp.add_linear finds its exact linear form."""
    p = op.params
    lin = dsp.add_linear(p)
    if lin is None or not _plan_ok(em, op, "te_add_s8", overlap_ok=True):
        return None
    a, b, c, sh = lin
    ins = [em.ptr(t, const=True) for t in op.inputs]
    return (f"te_add_s8_lin_mve({int(p['n'])}, {ins[0]}, {ins[-1]}, {em.ptr(op.output)}, {a}, {b}, {c}, {sh}, "
            f"{int(p['act_min'])}, {int(p['act_max'])});", ["add_s8_mve.c"])


def enabled() -> bool:
    """The Helium kernels are on (TINYENGINE_MVE unset or not "0"); codegen/variants.py's MVE variants read it."""
    return os.environ.get(ENV_SWITCH, "1") != "0"


def emitter(kind: str):
    """The (em, op, knobs) emit function of codegen/variants.py's MVE variant ``kind``: None when the switch is off
    or a concat channel slice / grouped conv / FC weight zero point (the DSP or portable kernels take those)."""
    fns = {"pw": _pointwise, "conv": _conv, "fc": _fully_connected, "quantize": _quantize, "add": _add,
           "dw": lambda em, op: _depthwise(em, op, "pm"), "dw_cm": lambda em, op: _depthwise(em, op, "cm")}
    fn = fns[kind]

    def emit(em, op, knobs):
        p = op.params
        if not enabled() or p.get("ort_float") or p.get("out_stride") or int(p.get("groups") or 1) > 1 \
                or p.get("w_offset"):
            return None
        return fn(em, op)

    return emit
