"""te_conv2d_s8_k3s2c3_dsp (conv2d_s8_k3s2c3_dsp.c): an RGB stem (3x3, stride 2, 3 input channels) without the
window gather. Registered in codegen/variants.py as ``conv_stem``.

Exact where the other DSP convs are: the same accumulation of 2 acc (lanes 2 (x + in_offset), weights as they are)
and the rq_table_m1 requantization that dsp._rq_for proves for every channel. The kernel goes output row by output
row, widening each input row once when it enters the window; ``safe`` checks that order against the memory plan.
"""

from __future__ import annotations

import numpy as np

from . import dsp

RING_WORDS = 200   # TE_STEM_RW


def ring_words(p) -> int:
    cols = 2 * (int(p["out_w"]) - 1) + 3
    return (cols * 3 + 2) // 2


def applies(p) -> bool:
    return ((int(p["k_h"]), int(p["k_w"]), int(p["stride_h"]), int(p["stride_w"]), int(p["in_c"])) == (3, 3, 2, 2, 3)
            and max(int(p.get("dil_h", 1)), int(p.get("dil_w", 1))) == 1 and int(p["out_c"]) % 2 == 0
            and int(p["act_min"]) <= -128 and int(p["act_max"]) >= 127 and int(p["pad_top"]) >= 0
            and int(p["pad_left"]) >= 0 and ring_words(p) + 3 <= RING_WORDS and not p.get("out_stride")
            and not p.get("groups") and int(p.get("batch", 1)) == 1)


def pack(w: np.ndarray) -> np.ndarray:
    """OHWI [oc][3][3][3] int8 -> per output channel pair (a, b), per kernel row, 5 word pairs [a_k, b_k]: word k
    holds lanes 2k, 2k+1 of the row's 9 [kx][ic] lanes (lane 9 zero), 16 bits each, low lane first."""
    oc = w.shape[0]
    lanes = np.zeros((oc, 3, 10), np.int64)
    lanes[:, :, :9] = w.reshape(oc, 3, 9)
    words = (lanes[..., 0::2] & 0xFFFF) | ((lanes[..., 1::2] & 0xFFFF) << 16)          # [oc][ky][5]
    pairs = words.reshape(oc // 2, 2, 3, 5).transpose(0, 2, 3, 1)                      # [pair][ky][k][a|b]
    return pairs.reshape(-1).astype(np.uint32).view(np.int32)


def safe(p, in_off: int, out_off: int) -> bool:
    """Exact check of the kernel's order with input at in_off and output at out_off in one arena: step oy reads (at
    2 oy) the input rows entering output row oy's window, all columns counted, then writes (at 2 oy + 1) row oy."""
    in_h, in_w, out_h, out_w, out_c = (int(p[k]) for k in ("in_h", "in_w", "out_h", "out_w", "out_c"))
    pad_top = int(p["pad_top"])
    first = np.full(in_h, -1, np.int64)
    nxt = 0
    for oy in range(out_h):
        for pr in range(max(nxt, 2 * oy), 2 * oy + 3):
            iy = pr - pad_top
            if 0 <= iy < in_h:
                first[iy] = 2 * oy
        nxt = 2 * oy + 3
    t_read = np.repeat(first, in_w * 3)
    t_write = np.repeat(2 * np.arange(out_h) + 1, out_w * out_c)
    addr = out_off + np.arange(t_write.size) - in_off
    hit = (addr >= 0) & (addr < t_read.size)
    return bool(np.all(t_read[addr[hit]] < t_write[hit]))


def emit(em, op):
    p = op.params
    if not applies(p):
        return None
    w = np.asarray(op.constants["weights"])
    out_c = int(p["out_c"])
    rq = dsp._rq_for(op, w.reshape(out_c, -1), m1=True)
    if rq is None:
        return None
    if not dsp._plan_allows(em, op, "te_conv2d_s8", keeps_contract=False, overlap_safe=lambda i, o: safe(p, i, o)):
        return None
    n = op.name
    em.params.append(dsp._conv_struct(n, p))
    wname = em.const("int32_t", f"{n}_wstem", pack(w))
    q = em.const("int32_t", f"{n}_rq", rq)
    return (f"te_conv2d_s8_k3s2c3_dsp(&{n}_p, {em.ptr(op.inputs[0], const=True)}, {wname}, {q}, {em.ptr(op.output)});",
            ["conv2d_s8_k3s2c3_dsp.c"])
