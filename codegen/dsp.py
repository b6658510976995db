"""Armv7E-M DSP specialisation: choose a ``*_dsp.c`` kernel per layer and pre-pack its data.

For a target with the DSP extension (``Target.dsp``) the C emitter asks ``specialize``
about every op. When a DSP kernel applies it returns the C call (and the kernel source
to ship); the layer's weights are packed at compile time into the order the kernel's
loop reads them, and its requantization tables into the form the fast requantization
uses. Otherwise it returns None and the portable kernel is emitted.

A DSP kernel is chosen only when it is provably byte-identical to the portable one:

* the fast ``SMMULR``-based requantization (``fast_requant_ok`` states it) equals TFLite's
  MultiplyByQuantizedMultiplier within bounds; ``acc_bounds`` bounds |acc| from the layer's
  weights, bias and input offset, and ``fast_requant_ok`` checks every output channel;
* onnxruntime-arithmetic layers (``params["single_rounding"]``, kernels built with TE_SINGLE_ROUNDING)
  accumulate alike and requantize as te_requantize's float32 form, nearbyint((float)acc * scale), on
  the FPU (te_dsp.h rq_f32); ``ort_requant_ok`` states where that equals the portable kernel and
  ``rq_table_f32`` lays out the table (``params["ort_float"]`` layers keep their portable kernel);
* the memory plan's assumptions hold: the planner may overlap an op's output with its
  input according to the *portable* kernel's access order (``MemoryPlan.kernel_fns``).
  A DSP kernel that keeps that contract (reads never later, writes never earlier, than
  the portable kernel's, relative to each other) may replace it; one that does not is
  used only when the plan keeps its input and output apart.
"""

from __future__ import annotations

import numpy as np

from ..planner.contracts import is_pointwise

PW_MAX_IN_C = 512
_I32 = 1 << 31


def split_shift(shift: int) -> tuple[int, int]:
    """TFLite shift -> (left, right)."""
    return max(int(shift), 0), max(-int(shift), 0)


def acc_bounds(w2d: np.ndarray, bias, in_offset: int) -> np.ndarray:
    """Per output channel, a bound on |bias + sum (x + in_offset) * w| over all int8 x. w2d: [oc][K]."""
    xmax = max(abs(-128 + in_offset), abs(127 + in_offset))
    b = np.abs(np.asarray(bias, np.int64)) if bias is not None else 0
    return np.abs(w2d.astype(np.int64)).sum(axis=1) * xmax + b


def fast_requant_ok(acc_bound: int, mult: int, shift: int, out_offset: int = 128) -> bool:
    """True when the DSP kernels' requantization equals MultiplyByQuantizedMultiplier(acc, mult, shift)
    + out_offset for every |acc| <= acc_bound. The kernels accumulate 2 * acc (inputs widened as
    2 * (x + in_offset), bias doubled) and compute
        y = SMMULR(2 * acc, mult)                     (= SaturatingRoundingDoublingHighMul(acc, mult))
        r = (y + 2^(right-1) + out_offset * 2^right + (y >> 31)) >> right
                                                      (= RoundingDivideByPOT(y, right) + out_offset)
    exact when |2 acc| < 2^31 (no SMMULR overflow), right >= 1, no left shift, and the sum in the
    second line stays inside int32."""
    left, right = split_shift(shift)
    if left > 0 or not (1 <= right <= 30) or not (0 <= mult < _I32):
        return False
    xb = int(acc_bound) << 1
    if xb >= _I32:
        return False
    yb = ((xb * int(mult)) >> 32) + 1
    base = (1 << (right - 1)) + int(out_offset) * (1 << right)
    return -_I32 <= base - yb - 1 and base + yb < _I32


def rq_table(mult, shift, bias, out_c: int):
    """The compact requantization table of the DSP kernels: per channel {(2*bias) << 8 | right, mult}
    (int32), or None when a channel's right shift is 0 (or a left shift) or 2*bias does not fit 24 bits."""
    b = np.zeros(out_c, np.int64) if bias is None else np.asarray(bias, np.int64)
    if np.any(np.asarray(shift) > -1) or np.any(np.abs(2 * b) >= (1 << 23)):
        return None
    right = -np.asarray(shift, np.int64)
    word0 = ((2 * b) << 8) | right
    return np.stack([word0, np.asarray(mult, np.int64)], axis=1).reshape(-1).astype(np.int32)


def rq_table_m1(mult, shift, bias, out_c: int):
    """rq_table with right - 1 instead of right in the low byte (the pointwise and first-layer conv
    kernels: their SMMLAR requantization shifts by right - 1, then SSAT drops the last bit)."""
    t = rq_table(mult, shift, bias, out_c)
    if t is None:
        return None
    t = t.copy()
    t[0::2] -= 1  # right >= 1 (rq_table's condition), so the low byte does not borrow
    return t


ORT_V_BOUND = 1 << 29


def ort_requant_ok(acc_bound: int, fscale) -> bool:
    """True when the DSP kernels' onnxruntime requantization (TE_SINGLE_ROUNDING build, te_dsp.h rq_f32)
    equals te_requantize(acc) + out_offset, clamped, for every |acc| <= acc_bound. The kernels compute
    nearbyint((float)(2 acc) * (scale / 2)) with the FPU's round-to-nearest-even conversion:
      * 2 acc must fit int32 (the accumulator holds it);
      * scale / 2 must be exact in float32 (then the real products (float)(2 acc) * (scale / 2) and
        (float)acc * scale are equal and round to the same float);
      * |acc| * scale < 2^29 (with room for the product's rounding): te_round_half_even_f32 saturates from
        2^30 on and VCVTR only from 2^31, and out_offset is added in int32; below the bound neither
        saturation nor overflow happens, so both are the exact nearest-even integer."""
    s = np.float32(fscale)
    if not np.isfinite(s):
        return False
    half = np.float32(s / np.float32(2))
    if np.float32(half * np.float32(2)) != s:
        return False
    xb = int(acc_bound)
    if 2 * xb >= _I32:
        return False
    return float(xb) * abs(float(s)) * (1 + 2.0 ** -20) < ORT_V_BOUND


def rq_table_f32(fscale, bias, out_c: int):
    """The DSP kernels' table in onnxruntime mode: per channel {(2*bias) << 8 (low byte 0), float32 bits of
    scale / 2} (int32), or None when 2*bias does not fit 24 bits. The low byte 0 makes the kernels' rounding
    constant k1 << 0 = 1 + 2 * out_offset (te_dsp.h rq_m1)."""
    b = np.zeros(out_c, np.int64) if bias is None else np.asarray(bias, np.int64)
    if np.any(np.abs(2 * b) >= (1 << 23)):
        return None
    half = (np.asarray(fscale, np.float32).reshape(-1) / np.float32(2)).astype(np.float32)
    half = np.broadcast_to(half, (out_c,))
    bits = np.ascontiguousarray(half).view(np.int32).astype(np.int64)
    return np.stack([(2 * b) << 8, bits], axis=1).reshape(-1).astype(np.int32)


def _ort(op) -> bool:
    """An onnxruntime-arithmetic layer (TE_SINGLE_ROUNDING build)."""
    return bool(op.params.get("single_rounding"))


def _rq_for(op, w2d, m1: bool):
    """The requantization table for op's DSP kernel, or None when its requantization is not proven identical
    to the portable kernel's: onnxruntime's float32 form (rq_table_f32) or TFLite's fixed point (rq_table /
    rq_table_m1)."""
    p = op.params
    bias = op.constants.get("bias")
    out_c = w2d.shape[0]
    if _ort(op):
        if "fscale" not in p:
            return None
        fs = np.broadcast_to(np.asarray(p["fscale"], np.float32).reshape(-1), (out_c,))
        bounds = acc_bounds(w2d, bias, int(p["in_offset"]))
        if not all(ort_requant_ok(int(bd), s) for bd, s in zip(bounds, fs)):
            return None
        return rq_table_f32(fs, bias, out_c)
    if not _requant_ok(op, w2d):
        return None
    return (rq_table_m1 if m1 else rq_table)(p["mult"], p["shift"], bias, out_c)


def as_words(b: np.ndarray) -> np.ndarray:
    """int8 bytes (length a multiple of 4) -> little-endian int32 words."""
    return np.ascontiguousarray(b, dtype=np.int8).view("<i4").astype(np.int32)


def pack_pointwise(w2d: np.ndarray) -> np.ndarray:
    """[oc][ic] int8 -> the te_conv2d_1x1_s8_dsp order: per oc pair, per 4 ic: 4 bytes of oc, 4 of oc+1."""
    oc, ic = w2d.shape
    parts = []
    for o in range(0, oc - 1, 2):
        a, b = w2d[o].reshape(-1, 4), w2d[o + 1].reshape(-1, 4)
        parts.append(np.stack([a, b], axis=1).reshape(-1))
    if oc % 2:
        parts.append(w2d[oc - 1].reshape(-1))
    return np.concatenate(parts).astype(np.int8)


def _requant_ok(op, w2d) -> bool:
    p = op.params
    bounds = acc_bounds(w2d, op.constants.get("bias"), int(p["in_offset"]))
    off = int(p["out_offset"])
    return all(fast_requant_ok(int(bd), int(m), int(s), off) for bd, m, s in zip(bounds, p["mult"], p["shift"]))


def _plan_allows(em, op, portable: str, keeps_contract: bool, overlap_safe=None) -> bool:
    """May the DSP kernel replace ``portable`` under em's memory plan?

    ``overlap_safe(in_off, out_off)``, for kernels that do not keep the portable contract: an exact
    check of the kernel's own access order against the planned placement."""
    plan = em.p
    if op.name in (getattr(plan, "scratch_offsets", None) or {}):
        return False
    assumed = (getattr(plan, "kernel_fns", None) or {}).get(op.name)
    if assumed not in (None, portable):
        return False
    if keeps_contract or not _overlaps(em, op):
        return True
    if overlap_safe is None or len(op.inputs) != 1 or int(op.params.get("batch", 1)) > 1:
        return False  # overlap_safe checks one image's order; a batch loop repeats it at other offsets
    return bool(overlap_safe(em.p.offsets[op.inputs[0]], em.p.offsets[op.output]))


def dw_channel_major_safe(p, in_off: int, out_off: int) -> bool:
    """Exact check that te_depthwise_conv2d_s8_dsp's order (channel, output row: gather the new input
    rows, then write the row's outputs) never overwrites an input byte before it is read, with the
    output placed at out_off and the input at in_off in the same arena."""
    c, in_h, in_w = int(p["in_c"]), int(p["in_h"]), int(p["in_w"])
    out_h, out_w, k_h, s_h = int(p["out_h"]), int(p["out_w"]), int(p["k_h"]), int(p["stride_h"])
    unit = out_w + 1
    prow = np.arange(in_h) + int(p["pad_top"])
    first = np.maximum(0, -(-(prow - k_h + 1) // s_h))
    read = (first * s_h <= prow) & (first < out_h)
    ch = np.arange(c)
    t_row = np.where(read[:, None], (ch[None, :] * out_h + first[:, None]) * unit, -1)   # [iy][ch]
    t_read = np.broadcast_to(t_row[:, None, :], (in_h, in_w, c)).reshape(-1)
    oy, ox = np.meshgrid(np.arange(out_h), np.arange(out_w), indexing="ij")
    t_write = ((ch[None, None, :] * out_h + oy[:, :, None]) * unit + 1 + ox[:, :, None]).reshape(-1)
    addr = out_off + np.arange(t_write.size) - in_off
    hit = (addr >= 0) & (addr < t_read.size)
    return bool(np.all(t_read[addr[hit]] < t_write[hit]))


def _overlaps(em, op) -> bool:
    offs = em.p.offsets
    o = offs.get(op.output)
    if o is None:
        return False
    ob = em.g.tensors[op.output].nbytes
    for t in op.inputs:
        i = offs.get(t)
        if i is not None and i < o + ob and o < i + em.g.tensors[t].nbytes:
            return True
    return False


PW_SMALL_IN_C = (8, 12, 16, 20, 24)


def pw_small_ok(p) -> bool:
    """te_conv2d_1x1_s8_ic<N>_dsp applies (on top of the conditions of te_conv2d_1x1_s8_dsp): its in_c, an
    even out_c, and no activation clamp beyond int8."""
    return (int(p["in_c"]) in PW_SMALL_IN_C and int(p["out_c"]) % 2 == 0 and int(p["act_min"]) <= -128
            and int(p["act_max"]) >= 127)


def _pointwise(em, op, form=None):
    """``form`` (codegen/variants.py): "ic" (te_conv2d_1x1_s8_ic<N>_dsp), "nc" (no clamp), "clamp", or None for
    the rule below."""
    p = op.params
    if not is_pointwise(p):
        return None
    in_c, out_c = int(p["in_c"]), int(p["out_c"])
    if in_c % 4 or in_c > PW_MAX_IN_C or max(p.get("dil_h", 1), p.get("dil_w", 1)) > 1:
        return None
    w2d = np.asarray(op.constants["weights"]).reshape(out_c, in_c)
    rq = _rq_for(op, w2d, m1=True)
    if rq is None or not _plan_allows(em, op, "te_conv2d_1x1_s8", keeps_contract=True):
        return None
    n = op.name
    pixels = int(p["out_h"]) * int(p["out_w"])
    clamps = int(p["act_min"]) > -128 or int(p["act_max"]) < 127
    if form is None:
        form = "ic" if pw_small_ok(p) else "clamp" if clamps else "nc"
    if (form == "ic" and not pw_small_ok(p)) or (form == "nc" and clamps):
        return None
    fn = {"ic": f"te_conv2d_1x1_s8_ic{in_c}_dsp", "clamp": "te_conv2d_1x1_s8_dsp", "nc": "te_conv2d_1x1_s8_nc_dsp"}[form]
    em.params.append(f"static const te_pw_params {n}_pw = {{.pixels = {pixels}, .in_c = {in_c}, .out_c = {out_c}, "
                     f".in_offset = {int(p['in_offset'])}, .out_offset = {int(p['out_offset'])}, "
                     f".act_min = {int(p['act_min'])}, .act_max = {int(p['act_max'])}"
                     + (f", .out_stride = {int(p['out_stride'])}" if p.get("out_stride") else "") + "};\n")
    w = em.const("int32_t", f"{n}_wp", as_words(pack_pointwise(w2d)))
    q = em.const("int32_t", f"{n}_rq", rq)
    ins = em.ptr(op.inputs[0], const=True)
    return f"{fn}(&{n}_pw, {ins}, {w}, {q}, {em.ptr(op.output)});", ["conv2d_1x1_s8_dsp.c"]


DW_RING = 1024


def dw_prefers_channel_major(p) -> bool:
    """Measured on vww (M7): the channel-major ring kernel wins on large output planes (it widens each
    input row once per channel), the pixel-major 4-channel kernel on small planes and on 3x3 stride 2
    (the ring then widens 4 inputs per output)."""
    pixels = int(p.get("full_out_h", p["out_h"])) * int(p["out_w"])  # a stream stage's band: the layer's plane
    return pixels >= 100 and int(p["k_h"]) == 3 and int(p["stride_h"]) == 1
DW_MAX_K = 8


def dw_pad_right(p) -> int:
    """Right padding a depthwise window needs beyond the input (the portable params only carry the left)."""
    return max(0, (int(p["out_w"]) - 1) * int(p["stride_w"]) + int(p["k_w"]) - int(p["pad_left"]) - int(p["in_w"]))


def dw_fits(p) -> bool:
    pw = int(p["pad_left"]) + int(p["in_w"]) + dw_pad_right(p) + 1
    return int(p["k_h"]) <= DW_MAX_K and int(p["k_w"]) <= DW_MAX_K and int(p["k_h"]) * pw <= DW_RING


def _depthwise_hwc(em, op):
    """te_depthwise_conv2d_s8_hwc_dsp: the portable order, 4 channels per step (keeps the contract)."""
    p = op.params
    c = int(p["in_c"])
    if c % 4 or not dw_basic_ok(p):
        return None
    w = np.asarray(op.constants["weights"]).reshape(-1, c)
    rq = _rq_for(op, np.ascontiguousarray(w.T), m1=False)
    if rq is None:
        return None
    if not _plan_allows(em, op, "te_depthwise_conv2d_s8", keeps_contract=True):
        return None
    return _hwc_depthwise_call(em, op, w, rq, "te_depthwise_conv2d_s8_hwc_dsp", "depthwise_conv2d_s8_hwc_dsp.c")


def _hwc_depthwise_call(em, op, w, rq, fn: str, source: str):
    """Emit the conv params, [k*k][c] int8 weights and requantization table of a depthwise kernel that reads
    the portable layout; returns (C call, [source])."""
    n = op.name
    em.params.append(_conv_struct(n, op.params))
    wname = em.const("int8_t", f"{n}_w", w.reshape(-1))
    q = em.const("int32_t", f"{n}_rq", rq)
    return f"{fn}(&{n}_p, {em.ptr(op.inputs[0], const=True)}, {wname}, {q}, {em.ptr(op.output)});", [source]


DW_ROWS_WORDS = 256
DW_ROWS_MAX_W = 128
DW_ROWS_K = (3, 5, 7)


def dw_rows_ring_words(p) -> int:
    """int32 words of te_depthwise_conv2d_s8_rows_dsp's ring, both channels (its TE_DWR_WORDS bounds them)."""
    k, s = int(p["k_h"]), int(p["stride_h"])
    le = k if s == 1 else (k + 1) // 2
    return 2 * ((int(p["out_w"]) + 1) // 2 + le // 2) * k * s


def dw_rows_applies(p) -> bool:
    k, s = int(p["k_h"]), int(p["stride_h"])
    return (k == int(p["k_w"]) and k in DW_ROWS_K and s == int(p["stride_w"]) and s in (1, 2)
            and int(p["in_c"]) % 2 == 0 and int(p["act_min"]) == -128 and int(p["act_max"]) == 127
            and dw_rows_ring_words(p) <= DW_ROWS_WORDS and int(p["out_w"]) <= DW_ROWS_MAX_W)


def dw_rows_safe(p, in_off: int, out_off: int, band: int) -> bool:
    """Exact check that te_depthwise_conv2d_s8_rows_dsp's order never overwrites an input byte before its
    last read, with input and output at these arena offsets. The order: per band of output rows, per
    channel pair, per output row: widen the padded rows that entered the window (both channels, all
    columns counted as read), then write the row's outputs of both channels. Step
    n = ((band index * c/2) + pair) * band + row in band; its reads happen at time 2n, its writes at 2n + 1."""
    c, in_h, in_w = int(p["in_c"]), int(p["in_h"]), int(p["in_w"])
    out_h, out_w, k, s = int(p["out_h"]), int(p["out_w"]), int(p["k_h"]), int(p["stride_h"])
    pad_top = int(p["pad_top"])
    ch = np.arange(c)
    last_read = np.full((in_h, c), -1, np.int64)
    for bi, b0 in enumerate(range(0, out_h, band)):
        nxt = b0 * s
        for oy in range(b0, min(b0 + band, out_h)):
            top = oy * s
            step = (bi * (c // 2) + ch // 2) * band + (oy - b0)
            for pr in range(max(nxt, top), top + k):
                iy = pr - pad_top
                if 0 <= iy < in_h:
                    last_read[iy] = np.maximum(last_read[iy], 2 * step)
            nxt = top + k
    t_read = np.broadcast_to(last_read[:, None, :], (in_h, in_w, c)).reshape(-1)
    oy = np.arange(out_h)
    bi, r = oy // band, oy % band
    t_write = 2 * ((bi[:, None] * (c // 2) + ch[None, :] // 2) * band + r[:, None]) + 1          # [oy][ch]
    t_write = np.broadcast_to(t_write[:, None, :], (out_h, out_w, c)).reshape(-1)
    addr = out_off + np.arange(t_write.size) - in_off
    hit = (addr >= 0) & (addr < t_read.size)
    return bool(np.all(t_read[addr[hit]] < t_write[hit]))


def dw_rows_band(em, op, at_most=None):
    """The largest band (fewest re-widened rows), at most ``at_most``, whose order the memory plan allows, or None."""
    p = op.params
    out_h = int(p["out_h"])
    top = out_h if at_most is None else max(1, min(out_h, int(at_most)))
    if not _overlaps(em, op):
        return top if _plan_allows(em, op, "te_depthwise_conv2d_s8", keeps_contract=True) else None
    for band in range(top, 0, -1):
        safe = lambda i, o, b=band: dw_rows_safe(p, i, o, b)  # noqa: E731
        if _plan_allows(em, op, "te_depthwise_conv2d_s8", keeps_contract=False, overlap_safe=safe):
            return band
    return None


def dw_rows_preferred(p) -> bool:
    """Measured on vww (M7): the rows kernel wins on output planes of 100+ pixels; on smaller ones its
    padded windows (a 5x5 or 7x7 window over a 5x5 or 3x3 input is mostly padding) and per-row set-up
    cost more than te_depthwise_conv2d_s8_cg_dsp, which visits only the taps inside the input."""
    return int(p.get("full_out_h", p["out_h"])) * int(p["out_w"]) >= 100  # a band: the layer's plane


def _depthwise_rows(em, op, band=None, force=False):
    """te_depthwise_conv2d_s8_rows_dsp: two outputs per step from a ring of widened rows. ``force`` (a tuned
    configuration) skips the size preference; ``band`` asks for at most that many output rows per band."""
    p = op.params
    if not dw_basic_ok(p) or not dw_rows_applies(p) or not (force or dw_rows_preferred(p)):
        return None
    c, k = int(p["in_c"]), int(p["k_h"])
    w = np.asarray(op.constants["weights"]).reshape(k * k, c)
    rq = _rq_for(op, np.ascontiguousarray(w.T), m1=False)
    if rq is None:
        return None
    band = dw_rows_band(em, op, band)
    if band is None:
        return None
    n = op.name
    fields = dict(in_h=p["in_h"], in_w=p["in_w"], c=c, out_h=p["out_h"], out_w=p["out_w"], k_h=k, k_w=k,
                  stride_h=p["stride_h"], stride_w=p["stride_w"], pad_top=p["pad_top"], pad_left=p["pad_left"],
                  pad_right=dw_pad_right(p), in_offset=p["in_offset"], out_offset=p["out_offset"],
                  act_min=p["act_min"], act_max=p["act_max"])
    em.params.append(f"static const te_dw_params {n}_dw = {{" + ", ".join(f".{k} = {int(v)}" for k, v in fields.items())
                     + "};\n")
    wname = em.const("int8_t", f"{n}_wc", np.ascontiguousarray(w.T).reshape(-1))  # channel-major [c][k][k]
    q = em.const("int32_t", f"{n}_rq", rq)
    ins = em.ptr(op.inputs[0], const=True)
    if "full_out_h" in p:  # a line-buffer band: weight rows packed here, not on every call
        pre = em.const("int32_t", f"{n}_wpre", pack_dw_rows(np.ascontiguousarray(w.T), k, int(p["stride_h"])))
        fn = f"te_depthwise_conv2d_s8_rows_pre_k{k}s{int(p['stride_h'])}_dsp"
        return (f"{fn}(&{n}_dw, {band}, {ins}, {pre}, {q}, {em.ptr(op.output)});",
                ["depthwise_conv2d_s8_rows_dsp.c"])
    fn = f"te_depthwise_conv2d_s8_rows_k{k}s{int(p['stride_h'])}_dsp"
    return (f"{fn}(&{n}_dw, {band}, {ins}, {wname}, {q}, {em.ptr(op.output)});",
            ["depthwise_conv2d_s8_rows_dsp.c"])


def _phase_words(n: int) -> int:
    return n if n <= 1 else n - 1


def _pack_phase(t: list, n: int) -> list:
    """depthwise_conv2d_s8_rows_dsp.c pack_phase: the 16-bit pairs mac_phase reads for an n-tap phase."""
    pk = lambda lo, hi: ((int(lo) & 0xFFFF) | ((int(hi) & 0xFFFF) << 16))  # noqa: E731
    if n == 0:
        return []
    if n == 1:
        return [pk(t[0], 0)]
    h = n >> 1
    n_odd = h if n & 1 else h - 1
    return [pk(t[2 * m], t[2 * m + 1]) for m in range(h)] + [pk(t[2 * m - 1], t[2 * m]) for m in range(1, n_odd + 1)]


def pack_dw_rows(wc: np.ndarray, k: int, s: int) -> np.ndarray:
    """Channel-major [c][k*k] weights -> te_depthwise_conv2d_s8_rows_pre_k<K>s<S>_dsp's words: per channel pair,
    per channel, the k packed weight rows (2 * w, even taps then odd taps for stride 2) and the same k rows again,
    exactly as the kernel's prep_pair builds them on the stack."""
    le, lo = (k, 0) if s == 1 else ((k + 1) // 2, k // 2)
    wpr = _phase_words(le) + _phase_words(lo)
    words = []
    for ch in range(wc.shape[0]):
        rows = []
        for ky in range(k):
            taps = [2 * int(v) for v in wc[ch, ky * k:(ky + 1) * k]]
            even, odd = (taps, []) if s == 1 else (taps[0::2], taps[1::2])
            row = _pack_phase(even, le) + _pack_phase(odd, lo)
            assert len(row) == wpr
            rows += row
        words += rows + rows
    return np.asarray(words, np.uint32).view(np.int32)


DW_CG_TAPS = 64
DW_CG_PIXELS = 25


def _depthwise_cg(em, op):
    """te_depthwise_conv2d_s8_cg_dsp: small planes, valid taps only, group of 4 channels by group (only where
    input and output do not overlap: it does not keep the portable kernel's order)."""
    p = op.params
    c, k_h, k_w = int(p["in_c"]), int(p["k_h"]), int(p["k_w"])
    if (not dw_basic_ok(p) or c % 4 or k_h * k_w > DW_CG_TAPS or int(p["out_h"]) * int(p["out_w"]) > DW_CG_PIXELS
            or int(p["act_min"]) != -128 or int(p["act_max"]) != 127):
        return None
    w = np.asarray(op.constants["weights"]).reshape(-1, c)
    rq = _rq_for(op, np.ascontiguousarray(w.T), m1=False)
    if rq is None:
        return None
    if not _plan_allows(em, op, "te_depthwise_conv2d_s8", keeps_contract=False):
        return None
    return _hwc_depthwise_call(em, op, w, rq, "te_depthwise_conv2d_s8_cg_dsp", "depthwise_conv2d_s8_cg_dsp.c")


def dw_basic_ok(p) -> bool:
    """Every DSP depthwise kernel: depth multiplier 1, no dilation."""
    return int(p.get("depth_multiplier", 1)) == 1 and max(int(p.get("dil_h", 1)), int(p.get("dil_w", 1))) == 1


def _depthwise(em, op):
    p = op.params
    if not dw_basic_ok(p):
        return None
    fast = _depthwise_rows(em, op) or _depthwise_cg(em, op)
    if fast is not None:
        return fast
    if dw_prefers_channel_major(p):
        return _depthwise_cm(em, op) or _depthwise_hwc(em, op)
    return _depthwise_hwc(em, op) or _depthwise_cm(em, op)


def _depthwise_cm(em, op):
    """te_depthwise_conv2d_s8_dsp: channel-major with a ring of widened rows."""
    p = op.params
    if not dw_basic_ok(p) or not dw_fits(p):
        return None
    c, k_h, k_w = int(p["in_c"]), int(p["k_h"]), int(p["k_w"])
    w = np.asarray(op.constants["weights"]).reshape(k_h * k_w, c)
    rq = _rq_for(op, np.ascontiguousarray(w.T), m1=False)
    if rq is None:
        return None
    safe = lambda i, o: dw_channel_major_safe(p, i, o)  # noqa: E731
    if not _plan_allows(em, op, "te_depthwise_conv2d_s8", keeps_contract=False, overlap_safe=safe):
        return None
    n = op.name
    if k_h != k_w:
        return None
    fields = dict(in_h=p["in_h"], in_w=p["in_w"], c=c, out_h=p["out_h"], out_w=p["out_w"], k_h=k_h, k_w=k_w,
                  stride_h=p["stride_h"], stride_w=p["stride_w"], pad_top=p["pad_top"], pad_left=p["pad_left"],
                  pad_right=dw_pad_right(p), in_offset=p["in_offset"], out_offset=p["out_offset"],
                  act_min=p["act_min"], act_max=p["act_max"])
    em.params.append(f"static const te_dw_params {n}_dw = {{" + ", ".join(f".{k} = {int(v)}" for k, v in fields.items())
                     + "};\n")
    wname = em.const("int8_t", f"{n}_wc", np.ascontiguousarray(w.T).reshape(-1))  # channel-major [c][k][k]
    q = em.const("int32_t", f"{n}_rq", rq)
    ins = em.ptr(op.inputs[0], const=True)
    return (f"te_depthwise_conv2d_s8_dsp(&{n}_dw, {ins}, {wname}, {q}, {em.ptr(op.output)});",
            ["depthwise_conv2d_s8_dsp.c"])


CONV_MAX_K = 256


def pack_conv_pairs(w: np.ndarray) -> np.ndarray:
    """OHWI int8 weights -> int32 words of 16-bit pairs, [oc][ceil(K/2)] in [ky][kx][ic] order."""
    oc = w.shape[0]
    flat = w.reshape(oc, -1).astype(np.int64)
    if flat.shape[1] % 2:
        flat = np.concatenate([flat, np.zeros((oc, 1), np.int64)], axis=1)
    lo, hi = flat[:, 0::2] & 0xFFFF, flat[:, 1::2] & 0xFFFF
    return ((hi << 16) | lo).astype(np.uint32).view(np.int32).reshape(-1)


CONV_KS = ((3, 3), (3, 6), (3, 9), (3, 12), (5, 5), (5, 10))  # te_conv2d_s8_k<KH>s<SPAN>_dsp entry points


def conv_lane_order(p) -> list:
    """te_conv2d_s8_k<KH>s<SPAN>_dsp's column layout: for each 16-bit lane (word k // 2, half k % 2) of a
    pixel's gathered column, the (ky, byte within the kernel row's k_w * in_c span) it holds, or None for a
    zero lane. Per row, each 4-byte group g gives words (b0, b2), (b1, b3) (SXTAB16 and its ror #8); the last
    span % 4 bytes of every row follow all rows, two per word."""
    k_h, span = int(p["k_h"]), int(p["k_w"]) * int(p["in_c"])
    n4, rem = span // 4, span % 4
    lanes = []
    for ky in range(k_h):
        for g in range(n4):
            lanes += [(ky, 4 * g), (ky, 4 * g + 2), (ky, 4 * g + 1), (ky, 4 * g + 3)]
    for ky in range(k_h):
        lanes += [(ky, 4 * n4 + t) for t in range(rem)]
    if len(lanes) % 2:
        lanes.append(None)
    return lanes


def conv_kw(p):
    """Words per gathered column of te_conv2d_s8_k<KH>s<SPAN>_dsp (even; the C macro TE_CONV_KW), or None
    when no entry point has this kernel height and row span k_w * in_c, or the layer clamps beyond int8."""
    if (int(p["k_h"]), int(p["k_w"]) * int(p["in_c"])) not in CONV_KS:
        return None
    if int(p.get("act_min", -128)) > -128 or int(p.get("act_max", 127)) < 127:
        return None
    words = len(conv_lane_order(p)) // 2
    return words + words % 2


def pack_conv_kw(w: np.ndarray, p, kw: int) -> np.ndarray:
    """OHWI int8 weights -> te_conv2d_s8_k<KH>s<SPAN>_dsp words: 16-bit 2 * w in conv_lane_order, zero lanes
    up to kw words per channel; per output channel pair, per word pair j: [a j, a j+1, b j, b j+1]."""
    oc, k_w, in_c = w.shape[0], int(p["k_w"]), int(p["in_c"])
    lanes = np.zeros((oc, 2 * kw), np.int64)
    for k, src in enumerate(conv_lane_order(p)):
        if src is not None:
            ky, b = src
            lanes[:, k] = 2 * w[:, ky, b // in_c, b % in_c].astype(np.int64)
    words = (lanes[:, 0::2] & 0xFFFF) | ((lanes[:, 1::2] & 0xFFFF) << 16)        # [oc][kw]
    pairs = words.reshape(oc // 2, 2, kw // 2, 2).transpose(0, 2, 1, 3)           # [oc/2][j/2][a|b][2]
    return pairs.reshape(-1).astype(np.uint32).view(np.int32)


def _conv(em, op, form=None):
    """``form`` (codegen/variants.py): "kw" (te_conv2d_s8_k<KH>s<SPAN>_dsp), "pairs" (te_conv2d_s8_dsp), or None
    for the rule: kw where it applies."""
    p = op.params
    k = int(p["k_h"]) * int(p["k_w"]) * int(p["in_c"])
    if k > CONV_MAX_K or max(int(p.get("dil_h", 1)), int(p.get("dil_w", 1))) > 1:
        return None
    w = np.asarray(op.constants["weights"])
    out_c = int(p["out_c"])
    kw = conv_kw(p)
    kw_form = kw is not None and out_c % 2 == 0  # te_conv2d_s8_k<KH>s<SPAN>_dsp, which reads rq_table_m1 words
    if form == "kw" and not kw_form:
        return None
    kw_form = kw_form and form != "pairs"
    rq = _rq_for(op, w.reshape(out_c, -1), m1=kw_form)
    if rq is None or not _plan_allows(em, op, "te_conv2d_s8", keeps_contract=True):
        return None
    n = op.name
    em.params.append(_conv_struct(n, p))
    ins = em.ptr(op.inputs[0], const=True)
    q = em.const("int32_t", f"{n}_rq", rq)
    if kw_form:
        wname = em.const("int32_t", f"{n}_wkw", pack_conv_kw(w, p, kw))
        fn = f"te_conv2d_s8_k{int(p['k_h'])}s{int(p['k_w']) * int(p['in_c'])}_dsp"
        return f"{fn}(&{n}_p, {ins}, {wname}, {q}, {em.ptr(op.output)});", ["conv2d_s8_dsp.c"]
    wname = em.const("int32_t", f"{n}_w16", pack_conv_pairs(w))
    return f"te_conv2d_s8_dsp(&{n}_p, {ins}, {wname}, {q}, {em.ptr(op.output)});", ["conv2d_s8_dsp.c"]


def _conv_struct(n, p) -> str:
    from .emitter import _struct

    return _struct("te_conv_params", f"{n}_p", p)


def add_fast_ok(p) -> bool:
    """te_add_s8_dsp equals te_add_s8 for these parameters (every SMMULR step within its bounds)."""
    if int(p["left_shift"]) != 20 or int(p["in1_shift"]) > 0 or int(p["in2_shift"]) > 0:
        return False
    if int(p["in1_shift"]) < -30 or int(p["in2_shift"]) < -30:
        return False
    total = 0
    for k in ("in1", "in2"):
        v = 255 << 21                                   # 2 * ((x + offset) << 20), |x + offset| <= 255
        m, right = int(p[f"{k}_mult"]), -int(p[f"{k}_shift"])
        if not (0 <= m < _I32) or v >= _I32:
            return False
        total += (((v * m) >> 32) + 1 >> right) + 1
    return fast_requant_ok(total, int(p["out_mult"]), int(p["out_shift"]), int(p["out_offset"]))


def _mbqm_right(x: np.ndarray, m: int, shift: int) -> np.ndarray:
    """te_requantize (TFLite MultiplyByQuantizedMultiplier) for shift <= 0 on int64 arrays."""
    right = -int(shift)
    ab = x.astype(np.int64) * int(m)
    t = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    y = np.where(t >= 0, t >> 31, -((-t) >> 31))  # C division: toward zero
    if right == 0:
        return y
    mask = (1 << right) - 1
    return (y >> right) + ((y & mask) > ((mask >> 1) + (y < 0)))


def add_exact_table(p) -> np.ndarray | None:
    """te_add_s8's output for every int8 pair, [x1 + 128][x2 + 128] (None outside the modelled
    parameters: any left shift other than the input's 20, or out-of-range multipliers)."""
    shifts = (int(p[k]) for k in ("in1_shift", "in2_shift", "out_shift"))
    if int(p["left_shift"]) != 20 or any(s > 0 or s < -31 for s in shifts):
        return None
    if any(not (0 <= int(p[k]) < _I32) for k in ("in1_mult", "in2_mult", "out_mult")):
        return None
    x = np.arange(-128, 128, dtype=np.int64)
    s1 = _mbqm_right((x + int(p["in1_offset"])) << 20, p["in1_mult"], p["in1_shift"])
    s2 = _mbqm_right((x + int(p["in2_offset"])) << 20, p["in2_mult"], p["in2_shift"])
    tot = s1[:, None] + s2[None, :]
    if np.abs(tot).max() >= _I32:
        return None
    r = _mbqm_right(tot, p["out_mult"], p["out_shift"]) + int(p["out_offset"])
    return np.clip(r, int(p["act_min"]), int(p["act_max"]))


def add_linear(p, radius: int = 4):
    """(a, b, c, shift) with clamp((a * x1 + b * x2 + c) >> shift, act) == te_add_s8 on every int8 pair
    (te_add_s8_lin_dsp), |a x1 + b x2 + c| < 2^31, or None. Candidates are the real slopes scaled by
    the largest shift that keeps the sum in int32, +-radius; c comes from the intersection of every
    pair's interval, so a returned tuple is exact by construction (checked again below)."""
    t = add_exact_table(p)
    if t is None:
        return None
    amin, amax = int(p["act_min"]), int(p["act_max"])
    if not -128 <= amin <= amax <= 127:
        return None
    x = np.arange(-128, 128, dtype=np.int64)
    e_out = 20 - 62 + int(p["out_shift"])
    a_real = int(p["in1_mult"]) * int(p["out_mult"]) * 2.0 ** (e_out + int(p["in1_shift"]))
    b_real = int(p["in2_mult"]) * int(p["out_mult"]) * 2.0 ** (e_out + int(p["in2_shift"]))
    big = 1 << 62
    for sh in range(30, 0, -1):
        a0, b0 = round(a_real * 2 ** sh), round(b_real * 2 ** sh)
        if (abs(a0) + abs(b0) + 2 * radius) * 128 + (300 << sh) >= _I32:
            continue
        lo = np.where(t > amin, t << sh, -big)             # at act_min only an upper bound
        hi = np.where(t < amax, ((t + 1) << sh) - 1, big)  # at act_max only a lower bound
        for da in sorted(range(-radius, radius + 1), key=abs):
            for db in sorted(range(-radius, radius + 1), key=abs):
                a, b = a0 + da, b0 + db
                lin = a * x[:, None] + b * x[None, :]
                c_lo, c_hi = int((lo - lin).max()), int((hi - lin).min())
                if c_lo > c_hi:
                    continue
                c = min(max(0, c_lo), c_hi)
                v = lin + c
                if np.abs(v).max() >= _I32:
                    continue
                if np.array_equal(np.clip(v >> sh, amin, amax), t):
                    return int(a), int(b), int(c), int(sh)
        return None
    return None


def _add(em, op, form=None):
    """``form`` (codegen/variants.py): "lin" (te_add_s8_lin_dsp), "fast" (te_add_s8_dsp) or None: lin where exact."""
    p = op.params
    if not _plan_allows(em, op, "te_add_s8", keeps_contract=True):
        return None
    lin = add_linear(p) if form != "fast" else None
    if form == "lin" and lin is None:
        return None
    if lin is not None:
        ins = [em.ptr(t, const=True) for t in op.inputs]
        a, b, c, sh = lin
        return (f"te_add_s8_lin_dsp({int(p['n'])}, {ins[0]}, {ins[-1]}, {em.ptr(op.output)}, {a}, {b}, {c}, {sh}, "
                f"{int(p['act_min'])}, {int(p['act_max'])});", ["add_s8_dsp.c"])
    if not add_fast_ok(p):
        return None
    from .emitter import _struct

    em.params.append(_struct("te_add_params", f"{op.name}_p", p))
    ins = [em.ptr(t, const=True) for t in op.inputs]
    return f"te_add_s8_dsp(&{op.name}_p, {ins[0]}, {ins[-1]}, {em.ptr(op.output)});", ["add_s8_dsp.c"]


FC_MAX_IN = 1024


def _fully_connected_ort(em, op):
    """te_fully_connected_s8_dscale_dsp of a TE_SINGLE_ROUNDING build (onnxruntime's QGemm requantization, the
    scales as float32 values in the double array; any in_n % 4 == 0): replaces te_fully_connected_s8."""
    p = op.params
    in_n, out_n = int(p["in_n"]), int(p["out_n"])
    if in_n % 4 or "fscale" not in p:
        return None
    fs = np.asarray(p["fscale"], np.float32).reshape(-1)
    w2d = np.asarray(op.constants["weights"]).reshape(out_n, in_n)
    bounds = acc_bounds(w2d, op.constants.get("bias"), int(p["in_offset"]))
    if fs.size < (out_n if int(p["per_channel"]) else 1):
        return None
    used = fs[:out_n] if int(p["per_channel"]) else np.repeat(fs[:1], out_n)  # the kernels' scale[ch]
    if not all(ort_requant_ok(int(bd), s) for bd, s in zip(bounds, used)):
        return None
    if not _plan_allows(em, op, "te_fully_connected_s8", keeps_contract=True):
        return None
    return _fc_dscale_call(em, op, fs)


# ---- onnxruntime's unfused float paths on the FPU (--arithmetic onnxruntime; conv2d_1x1_s8_f32_fpu.c,
# add_s8_f32_fpu.c): the portable float kernels' operations in their order, VFMA for fmaf ----


def _ort_float_pointwise(em, op):
    """te_conv2d_1x1_s8_f32_fpu for an ``ort_float`` pointwise conv that MLAS sums with its FMA kernel in
    depth blocks (row mode 0 everywhere; any seg_kblock): replaces te_conv2d_1x1_s8_f32 / te_conv2d_s8_f32."""
    from .emitter import _c_float, _struct

    p, n = op.params, op.name
    if (op.kernel != "conv2d" or not p.get("ort_float") or "in_table" not in p or any(p.get("row_mode", ()))
            or int(p.get("batch", 1)) > 1 or p.get("groups") or p.get("out_stride")
            or (p["k_h"], p["k_w"], p["stride_h"], p["stride_w"], p["pad_top"], p["pad_left"]) != (1, 1, 1, 1, 0, 0)
            or (p["in_h"], p["in_w"]) != (p["out_h"], p["out_w"])):
        return None
    if not _plan_allows(em, op, "te_conv2d_s8_f32" if p.get("ort_general") else "te_conv2d_1x1_s8_f32", keeps_contract=True):
        return None
    em.params.append(_struct("te_conv_params", f"{n}_p", p))
    ends = ", ".join(str(int(v)) for v in p["seg_end"])
    kbs = ", ".join(str(int(v)) for v in p["seg_kblock"])
    em.params.append(f"static const te_conv_f32_params {n}_f = {{.seg_end = {{{ends}}}, .seg_kblock = {{{kbs}}}, "
                     f".out_scale = {_c_float(p['out_fscale'])}}};\n")
    w = em.const("int8_t", f"{n}_w", op.constants["weights"])
    tab = em.float_const(f"{n}_in_tab", p["in_table"])
    ws = em.float_const(f"{n}_wscale", p["w_fscale"])
    bf = em.float_const(f"{n}_bias_f", p["bias_f"]) if "bias_f" in p else "NULL"
    em.libm = True
    return (f"te_conv2d_1x1_s8_f32_fpu(&{n}_p, &{n}_f, {em.ptr(op.inputs[0], const=True)}, {w}, {tab}, {ws}, {bf}, "
            f"{em.ptr(op.output)});", ["conv2d_1x1_s8_f32_fpu.c"])


def _add_ort(em, op):
    """te_add_s8_f32_fpu: te_add_s8_f32 (onnxruntime's float Add / QLinearAdd) on the FPU."""
    if not op.params.get("single_rounding") or not _plan_allows(em, op, "te_add_s8_f32", keeps_contract=True):
        return None
    return f"te_add_s8_f32_fpu({em.ort_add_args(op)});", ["add_s8_f32_fpu.c"]


def _fully_connected(em, op):
    p = op.params
    in_n = int(p["in_n"])
    if in_n % 4 or in_n > FC_MAX_IN or not _plan_allows(em, op, "te_fully_connected_s8_dscale", keeps_contract=True):
        return None
    return _fc_dscale_call(em, op, p["scale"])


def _fc_dscale_call(em, op, scales):
    """The te_fully_connected_s8_dscale_dsp call: params, weights as words, bias, ``scales`` as doubles."""
    from .emitter import _c_double, _struct

    n = op.name
    em.params.append(_struct("te_fc_params", f"{n}_p", op.params))
    w = em.const("int32_t", f"{n}_w32", as_words(np.asarray(op.constants["weights"]).reshape(-1)))
    b = em.const("int32_t", f"{n}_b", op.constants["bias"]) if "bias" in op.constants else "NULL"
    em.weights.append(f"static const double {n}_scale[{len(scales)}] = {{{', '.join(_c_double(v) for v in scales)}}};\n")
    ins = em.ptr(op.inputs[0], const=True)
    return (f"te_fully_connected_s8_dscale_dsp(&{n}_p, {ins}, {w}, {b}, {n}_scale, {em.ptr(op.output)});",
            ["fully_connected_s8_dsp.c"])


# ---- SE blocks: the squeeze (MEAN over H*W) and the excitation (MUL by a per-channel gate) ----


def _se_dsp_off() -> bool:
    """TINYENGINE_NO_DSP_SE=1 keeps MEAN and MUL portable (scripts/bench_se_mcu.py --no-dsp-se: the before)."""
    import os

    return os.environ.get("TINYENGINE_NO_DSP_SE", "") not in ("", "0")


MEAN_DSP_MIN_REDUCE = 8


def _mean(em, op):
    """te_mean_s8_dsp: TFLite's MEAN (exact == 0), sixteen / four channels per step; keeps te_mean_s8's contract."""
    p = op.params
    # short reductions (vww's 3-pixel means) gain nothing from it and would only add its code to Flash
    if _se_dsp_off() or int(p.get("exact", 0)) != 0 or int(p["inner"]) < 4 or int(p["reduce"]) < MEAN_DSP_MIN_REDUCE:
        return None
    if not _plan_allows(em, op, "te_mean_s8", keeps_contract=True):
        return None
    from .emitter import _struct

    em.params.append(_struct("te_mean_params", f"{op.name}_p", p))
    fast = int(mean_fast_ok(p))
    return (f"te_mean_s8_dsp(&{op.name}_p, {fast}, {em.ptr(op.inputs[0], const=True)}, {em.ptr(op.output)});",
            ["mean_s8_dsp.c"])


def mean_fast_ok(p) -> bool:
    """te_mean_s8_dsp may requantize with SMMLAR: fast_requant_ok for |sum - in_zp * n| <= n * 255 with the
    multiplier after TFLite's folding of 1/n (quant.mean_folded_multiplier, te_mean_fold)."""
    from .quant import mean_folded_multiplier

    n = int(p["reduce"])
    if n <= 0:
        return False
    m, sh = mean_folded_multiplier(int(p["mult"]), int(p["shift"]), n)
    zp = int(p["in_zp"])
    return fast_requant_ok(n * max(abs(-128 - zp), abs(127 - zp)), m, sh, int(p["out_zp"]))


def mul_gate_form(p):
    """(pixels, channels, gate operand 1 or 2) when the MUL is a [pixels][c] map times a per-channel [c] gate."""
    d, s1, s2 = list(p["d"]), list(p["s1"]), list(p["s2"])
    if d[0] != 1 or d[1] != 1:
        return None
    pix, c = int(d[2]), int(d[3])
    if (s1, s2) == ([0, 0, c, 1], [0, 0, 0, 1]):
        return pix, c, 2
    if (s1, s2) == ([0, 0, 0, 1], [0, 0, c, 1]):
        return pix, c, 1
    return None


def mul_fast_ok(p) -> bool:
    """te_mul_s8_gate_dsp equals te_mul_s8 for these parameters: fast_requant_ok over every reachable product."""
    def span(off):
        return max(abs(-128 + int(off)), abs(127 + int(off)))

    bound = span(p["in1_offset"]) * span(p["in2_offset"])
    return fast_requant_ok(bound, int(p["out_mult"]), int(p["out_shift"]), int(p["out_offset"]))


MUL_GATE_MAX_C = 1024  # te_mul_s8_gate_dsp's stack table (TE_MUL_GATE_MAX_C)


def _mul(em, op):
    """te_mul_s8_gate_dsp: te_mul_s8's order and contract, the gate turned into a per-channel table first."""
    p, n = op.params, op.name
    form = mul_gate_form(p)
    if _se_dsp_off() or form is None or form[1] > MUL_GATE_MAX_C or not mul_fast_ok(p):
        return None
    if not _plan_allows(em, op, "te_mul_s8", keeps_contract=True):
        return None
    from .emitter import _struct

    pix, c, gate = form
    srcs = [int(p["in1_src"]), int(p["in2_src"])]
    map_src, gate_src = (srcs[0], srcs[1]) if gate == 2 else (srcs[1], srcs[0])
    q = dict(p)
    if gate == 1:  # the kernel takes the map first: swap the operands' offsets (the product commutes)
        q["in1_offset"], q["in2_offset"] = p["in2_offset"], p["in1_offset"]

    def ptr(src):
        return em.const("int8_t", f"{n}_operand", op.constants["operand"]) if src < 0 else em.ptr(op.inputs[src], const=True)

    em.params.append(_struct("te_mul_params", f"{n}_p", q))
    return (f"te_mul_s8_gate_dsp(&{n}_p, {pix}, {c}, {ptr(map_src)}, {ptr(gate_src)}, {em.ptr(op.output)});",
            ["mul_s8_gate_dsp.c"])


def specialize(em, op):
    """(C call, [kernel sources]) for op on a DSP target, or None to emit the portable kernel."""
    if op.params.get("out_stride"):  # a channel slice of a concat (concat_views.py): the kernels writing strided
        return _pointwise(em, op) if op.kernel == "conv2d" and not op.params.get("ort_float") else None
    if op.params.get("groups") or op.params.get("w_offset"):
        return None  # a grouped conv / weights with a zero point: the portable kernels alone take them
    if op.params.get("ort_float"):
        return None  # MLAS's float conv (conv2d_*_f32.c): no DSP kernel computes it
    if _ort(op):  # onnxruntime arithmetic: the kernels with a float32 requantization (rq_f32), max pool as is
        if op.kernel == "conv2d":
            return _pointwise(em, op) or _conv(em, op)
        if op.kernel == "depthwise_conv2d":
            return _depthwise(em, op)
        if op.kernel == "fully_connected":
            return _fully_connected_ort(em, op)
        if op.kernel == "quantize":  # te_quantize_f32_s8_dsp of that build rounds ties to even (VCVTR)
            return _quantize(em, op)
        if op.kernel == "max_pool2d":
            return _pool(em, op)
        return None
    if op.kernel == "fully_connected":
        return _fully_connected(em, op)
    if op.kernel == "add":
        return _add(em, op)
    if op.kernel == "quantize":
        return _quantize(em, op)
    if op.kernel == "conv2d":
        return _pointwise(em, op) or _conv(em, op)
    if op.kernel == "depthwise_conv2d":
        return _depthwise(em, op)
    if op.kernel in ("max_pool2d", "avg_pool2d"):
        return _pool(em, op)
    if op.kernel == "mean":
        return _mean(em, op)
    if op.kernel == "mul":
        return _mul(em, op)
    return None


def _quantize(em, op):
    if not _plan_allows(em, op, "te_quantize_f32_s8", keeps_contract=True):
        return None
    from .emitter import _c_double

    p = op.params
    ins = em.ptr(op.inputs[0], const=True)
    return (f"te_quantize_f32_s8_dsp({p['n']}, {ins}, {em.ptr(op.output)}, {_c_double(p['scale'])}, "
            f"{p['zero_point']});", ["quantize_f32_s8_dsp.c"])


POOL_MAX_AVG_CELLS = 256  # te_avg_pool_s8_dsp's 16-bit lane sums are exact up to 256 * 128


def _pool(em, op):
    """te_max_pool_s8_dsp / te_avg_pool_s8_dsp: four channels per word, the portable kernels' contract."""
    from .emitter import _struct

    p, n = op.params, op.name
    portable = "te_max_pool_s8" if op.kernel == "max_pool2d" else "te_avg_pool_s8"
    if op.kernel == "avg_pool2d" and int(p["k_h"]) * int(p["k_w"]) > POOL_MAX_AVG_CELLS:
        return None
    if int(p["c"]) < 4 or not _plan_allows(em, op, portable, keeps_contract=True):
        return None
    em.params.append(_struct("te_pool_params", f"{n}_p", p))
    return f"{portable}_dsp(&{n}_p, {em.ptr(op.inputs[0], const=True)}, {em.ptr(op.output)});", ["pool_s8_dsp.c"]
