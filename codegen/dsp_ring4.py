"""te_depthwise_conv2d_s8_ring4_k<K>s<S>_dsp (depthwise_conv2d_s8_ring4_dsp.c): when it applies, when its
order is safe under the memory plan, and its C call. Registered in codegen/variants.py as ``dw_ring4``.

The kernel runs group of 4 channels by group, output row by output row, widening each input row of a group
once into a ring; its requantization is the other depthwise DSP kernels' (dsp._rq_for, m1=False), so it is
emitted only where dsp.fast_requant_ok (or the onnxruntime form's bound) proves every channel exact.
"""

from __future__ import annotations

import numpy as np

from . import dsp

RING_WORDS = 448          # TE_DWR4_RING
KS = (3, 5, 7)


def ring_words(p) -> int:
    k, s = int(p["k_h"]), int(p["stride_h"])
    return ((int(p["out_w"]) - 1) * s + k) * k * 2


def applies(p) -> bool:
    k, s = int(p["k_h"]), int(p["stride_h"])
    return (dsp.dw_basic_ok(p) and k == int(p["k_w"]) and k in KS and s == int(p["stride_w"]) and s in (1, 2)
            and int(p["in_c"]) % 4 == 0 and int(p["act_min"]) == -128 and int(p["act_max"]) == 127
            and int(p["pad_top"]) >= 0 and int(p["pad_left"]) >= 0 and ring_words(p) <= RING_WORDS
            and int(p.get("batch", 1)) == 1)


def safe(p, in_off: int, out_off: int) -> bool:
    """Exact check that the kernel's order never overwrites an input byte before its last read, input at in_off and
    output at out_off in one arena. Step n = group * out_h + oy reads (at time 2n) the input rows entering the
    window of output row oy, all columns counted, for the group's 4 channels, then writes (at 2n + 1) row oy."""
    c, in_h, in_w = int(p["in_c"]), int(p["in_h"]), int(p["in_w"])
    out_h, out_w, k, s = int(p["out_h"]), int(p["out_w"]), int(p["k_h"]), int(p["stride_h"])
    pad_top = int(p["pad_top"])
    last = np.full(in_h, -1, np.int64)      # step (within a group) of each input row's read, -1: never read
    nxt = 0
    for oy in range(out_h):
        top = oy * s
        for pr in range(max(nxt, top), top + k):
            iy = pr - pad_top
            if 0 <= iy < in_h:
                last[iy] = oy
        nxt = top + k
    g = np.arange(c) // 4
    t_row = np.where(last[:, None] >= 0, 2 * (g[None, :] * out_h + last[:, None]), -1)   # [iy][ch]
    t_read = np.broadcast_to(t_row[:, None, :], (in_h, in_w, c)).reshape(-1)
    oy = np.arange(out_h)
    t_write = 2 * (g[None, :] * out_h + oy[:, None]) + 1                                   # [oy][ch]
    t_write = np.broadcast_to(t_write[:, None, :], (out_h, out_w, c)).reshape(-1)
    addr = out_off + np.arange(t_write.size) - in_off
    hit = (addr >= 0) & (addr < t_read.size)
    return bool(np.all(t_read[addr[hit]] < t_write[hit]))


def emit(em, op):
    """(C call, [source]) or None where the kernel does not apply or is not proven exact / safe here."""
    p = op.params
    if not applies(p):
        return None
    c, k = int(p["in_c"]), int(p["k_h"])
    w = np.asarray(op.constants["weights"]).reshape(k * k, c)
    rq = dsp._rq_for(op, np.ascontiguousarray(w.T), m1=False)
    if rq is None:
        return None
    if not dsp._plan_allows(em, op, "te_depthwise_conv2d_s8", keeps_contract=False,
                            overlap_safe=lambda i, o: safe(p, i, o)):
        return None
    n = op.name
    fields = dict(in_h=p["in_h"], in_w=p["in_w"], c=c, out_h=p["out_h"], out_w=p["out_w"], k_h=k, k_w=k,
                  stride_h=p["stride_h"], stride_w=p["stride_w"], pad_top=p["pad_top"], pad_left=p["pad_left"],
                  pad_right=dsp.dw_pad_right(p), in_offset=p["in_offset"], out_offset=p["out_offset"],
                  act_min=p["act_min"], act_max=p["act_max"])
    em.params.append(f"static const te_dw_params {n}_dw4 = {{"
                     + ", ".join(f".{f} = {int(v)}" for f, v in fields.items()) + "};\n")
    wname = em.const("int8_t", f"{n}_w", w.reshape(-1))
    q = em.const("int32_t", f"{n}_rq", rq)
    fn = f"te_depthwise_conv2d_s8_ring4_k{k}s{int(p['stride_h'])}_dsp"
    return (f"{fn}(&{n}_dw4, {em.ptr(op.inputs[0], const=True)}, {wname}, {q}, {em.ptr(op.output)});",
            ["depthwise_conv2d_s8_ring4_dsp.c"])
