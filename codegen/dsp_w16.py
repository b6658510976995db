"""te_conv2d_1x1_s8_w16_dsp (conv2d_1x1_s8_w16_dsp.c): the pointwise conv with its weights widened to 16 bits at
compile time. Registered in codegen/variants.py as ``pw_w16``; not in the default configuration (it costs
in_c * out_c bytes of Flash more than the int8 packing): the tuner measures it and the shipped logs pick it where
it wins.

Exact where te_conv2d_1x1_s8_nc_dsp is (the same accumulation and rq_table_m1 requantization, dsp._rq_for), and
it keeps te_conv2d_1x1_s8's overlap contract (a 4-pixel block is read before it is written, blocks in order).
"""

from __future__ import annotations

import numpy as np

from . import dsp

MAX_IN_C = 256     # TE_W16_MAX_IN_C
# The Flash trade: in_c * out_c extra bytes buy 4 instructions per 32 MACs, i.e. pixels / 8 instructions per extra
# byte. Offered only where a byte buys >= 50 instructions (on vww: the 40x40 and 20x20 layers, +4,992 B for about
# 200 k instructions on M7; from 100 pixels on it would be about 370 k for +22 kB, against the 490 kB Flash goal).
MIN_PIXELS = 400


def applies(p) -> bool:
    return ((int(p["k_h"]), int(p["k_w"]), int(p["stride_h"]), int(p["stride_w"]), int(p["pad_top"]),
             int(p["pad_left"])) == (1, 1, 1, 1, 0, 0)
            and max(int(p.get("dil_h", 1)), int(p.get("dil_w", 1))) == 1
            and int(p["in_c"]) % 8 == 0 and int(p["in_c"]) <= MAX_IN_C and int(p["out_c"]) % 2 == 0
            and int(p["act_min"]) <= -128 and int(p["act_max"]) >= 127 and not p.get("out_stride")
            and int(p.get("batch", 1)) == 1
            and int(p["out_h"]) * int(p["out_w"]) >= MIN_PIXELS)


def pack(w2d: np.ndarray) -> np.ndarray:
    """[oc][ic] int8 -> per oc pair (a, b), per 4 ic: [a0 a2] [b0 b2] [a1 a3] [b1 b3] as int32 (16-bit lanes, low
    lane first)."""
    oc, ic = w2d.shape
    w = w2d.astype(np.int64).reshape(oc // 2, 2, ic // 4, 4)                 # [pair][a|b][group][4]
    lo, hi = w[..., [0, 1]], w[..., [2, 3]]                                   # lanes (x0, x1) and (x2, x3)
    even = (lo[..., 0] & 0xFFFF) | ((hi[..., 0] & 0xFFFF) << 16)              # [a0 a2]: low lane x0, high x2
    odd = (lo[..., 1] & 0xFFFF) | ((hi[..., 1] & 0xFFFF) << 16)               # [a1 a3]
    words = np.stack([even[:, 0], even[:, 1], odd[:, 0], odd[:, 1]], axis=-1)  # [pair][group][4]
    return words.reshape(-1).astype(np.uint32).view(np.int32)


def emit(em, op):
    p = op.params
    if not applies(p):
        return None
    in_c, out_c = int(p["in_c"]), int(p["out_c"])
    w2d = np.asarray(op.constants["weights"]).reshape(out_c, in_c)
    rq = dsp._rq_for(op, w2d, m1=True)
    if rq is None or not dsp._plan_allows(em, op, "te_conv2d_1x1_s8", keeps_contract=True):
        return None
    n = op.name
    pixels = int(p["out_h"]) * int(p["out_w"])
    em.params.append(f"static const te_pw_params {n}_pw16 = {{.pixels = {pixels}, .in_c = {in_c}, .out_c = {out_c}, "
                     f".in_offset = {int(p['in_offset'])}, .out_offset = {int(p['out_offset'])}, "
                     f".act_min = {int(p['act_min'])}, .act_max = {int(p['act_max'])}}};\n")
    w = em.const("int32_t", f"{n}_w16", pack(w2d))
    q = em.const("int32_t", f"{n}_rq", rq)
    return (f"te_conv2d_1x1_s8_w16_dsp(&{n}_pw16, {em.ptr(op.inputs[0], const=True)}, {w}, {q}, {em.ptr(op.output)});",
            ["conv2d_1x1_s8_w16_dsp.c"])
