"""Armv8.1-M Helium (MVE) specialisation: choose a ``*_mve.c`` kernel per layer and pre-pack its data.

Entry points: ``specialize_mve(em, op)`` returns (C call, [kernel sources]) for a layer an MVE kernel computes,
else None; ``with_dsp(dsp_specialize)`` (what the emitter uses on Helium targets) tries it before the DSP
variants' choice (the Cortex-M55 also has the Armv7E-M DSP instructions), unless TINYENGINE_MVE=0.
Scratch: the kernels' buffers (a 64-byte patch, a row ring of at most 896 bytes, a 512-byte pixel copy) live
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


def _depthwise(em, op):
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
    n = op.name
    from .emitter import _struct

    em.params.append(_struct("te_conv_params", f"{n}_p", p))
    q = em.const("int32_t", f"{n}_rqm", table)
    ins, out = em.ptr(op.inputs[0], const=True), em.ptr(op.output)
    if dw_cm_applies(p, lsh) and dw_prefers_cm(p) and not dsp._overlaps(em, op):  # channel-major: in, out apart
        wname = em.const("int8_t", f"{n}_wc", np.ascontiguousarray(w.T).reshape(-1))
        return f"te_depthwise_conv2d_s8_k{k_h}_cm_mve(&{n}_p, {ins}, {wname}, {q}, {out});", \
            ["depthwise_conv2d_s8_cm_mve.c"]
    wname = em.const("int8_t", f"{n}_wm", pack_depthwise(w))
    fn = "te_depthwise_conv2d_s8_lsh_mve" if lsh else "te_depthwise_conv2d_s8_mve"
    return f"{fn}(&{n}_p, {ins}, {wname}, {q}, {out});", ["depthwise_conv2d_s8_mve.c"]


def dw_prefers_cm(p) -> bool:
    """Measured on vww (M55): the channel-major kernel wins on stride-1 layers with >= 400 output pixels, or >= 100
    with k >= 5 (its per-channel row fills amortise); the pixel-major one on small planes and stride 2."""
    px = int(p["out_h"]) * int(p["out_w"])
    return int(p["stride_h"]) == 1 and (px >= 400 or (px >= 100 and int(p["k_h"]) >= 5))


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


def specialize_mve(em, op):
    """(C call, [kernel sources]) when an MVE kernel computes op, else None."""
    p = op.params
    if p.get("ort_float") or p.get("out_stride") or int(p.get("groups") or 1) > 1 or p.get("w_offset"):
        return None  # a concat channel slice / grouped conv / FC weight zero point: the portable (or DSP) kernels
    if op.kernel == "conv2d":
        return _pointwise(em, op) or _conv(em, op)
    if op.kernel == "depthwise_conv2d":
        return _depthwise(em, op)
    if op.kernel == "fully_connected":
        return _fully_connected(em, op)
    return None


def specialize(em, op):
    """(C call, [kernel sources]) for op on an MVE target: an MVE kernel, else a DSP one, else None."""
    return with_dsp(dsp.specialize)(em, op)


def with_dsp(dsp_specialize):
    """A specialize function for MVE targets: the MVE kernel where one applies (unless TINYENGINE_MVE=0),
    else ``dsp_specialize``'s choice."""
    def pick(em, op):
        if os.environ.get(ENV_SWITCH, "1") != "0":
            r = specialize_mve(em, op)
            if r is not None:
                return r
        return dsp_specialize(em, op)

    return pick
