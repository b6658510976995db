"""C calls of the detection-head / topology kernels (concat, slices, softmax ...), for emitter.py.

Each emitter takes (emitter, op) and returns the C statement(s) for the op.
"""

from __future__ import annotations

import numpy as np


def ort_rescale_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """int8 -> int8 as onnxruntime requantizes a concat input (DequantizeLinear then QuantizeLinear, float32):
    saturate(round_half_even(((q - in_zp) * in_scale) / out_scale) + out_zp), indexed by (uint8)q."""
    f32 = np.float32
    q = np.arange(256, dtype=np.int64).astype(np.uint8).view(np.int8).astype(np.int64)
    v = (q - in_zp).astype(f32) * f32(in_scale)
    return np.clip(np.rint(v / f32(out_scale)).astype(np.int64) + out_zp, -128, 127).astype(np.int8)


def _concat(em, op) -> str:
    """Copies of the inputs not written in place (concat_views.py); a view input costs nothing."""
    p = op.params
    out = em.ptr(op.output)
    lines = []
    for k, t in enumerate(op.inputs):
        if not p["copy"][k]:
            lines.append(f"/* {t}: written in place by its producer */")
            continue
        dst = f"{out} + {p['col'][k]}" if p["col"][k] else out
        if p["rescale"][k]:
            if not p.get("single_rounding"):  # annotate refuses it for TFLite graphs (as LiteRT does)
                from ..errors import UnsupportedOperatorError

                raise UnsupportedOperatorError(f"{op.name}: concatenating {t}, whose quantization differs from the "
                                               "output's, has no kernel in this arithmetic")
            tab = em.const("int8_t", f"{op.name}_lut{k}", ort_rescale_table(p["in_fscale"][k], p["in_zp"][k],
                                                                           p["out_fscale"], p["out_zp"]))
            lines.append(f"te_copy_rows_lut_s8({p['outer']}, {p['inner'][k]}, {p['inner'][k]}, {p['row']}, "
                         f"{em.ptr(t, const=True)}, {dst}, {tab});")
            continue
        lines.append(f"te_copy_rows_s8({p['outer']}, {p['inner'][k]}, {p['inner'][k]}, {p['row']}, "
                     f"{em.ptr(t, const=True)}, {dst});")
    return "\n  ".join(lines)


def _softmax(em, op) -> str:
    p = op.params
    from .emitter import _c_float

    tab = em.float_const(f"{op.name}_table", p["table"])
    return (f"te_softmax_s8({p['rows']}, {p['cols']}, {tab}, {_c_float(p['out_scale'])}, {p['out_zp']}, "
            f"{em.ptr(op.inputs[0], const=True)}, {em.ptr(op.output)});")


def _slice(em, op) -> str:
    """A slice of the last axis only (a channel split) is a strided row copy; anything else te_slice_s8."""
    p, n = op.params, op.name
    d, o, b, st = p["in_dims"], p["out_dims"], p["begin"], p["step"]
    src = em.ptr(op.inputs[0], const=True)
    if d[:3] == o[:3] and st[3] == 1:
        rows = o[0] * o[1] * o[2]
        return f"te_copy_rows_s8({rows}, {o[3]}, {d[3]}, {o[3]}, {src} + {b[3]}, {em.ptr(op.output)});"
    fields = ", ".join(f".{k} = {{{', '.join(str(int(v)) for v in p[k2])}}}"
                       for k, k2 in (("in_dims", "in_dims"), ("out_dims", "out_dims"), ("begin", "begin"), ("step", "step")))
    em.params.append(f"static const te_slice_params {n}_p = {{{fields}}};\n")
    return f"te_slice_s8(&{n}_p, {src}, {em.ptr(op.output)});"


def _pad_channels(em, op) -> str:
    p, n = op.params, op.name
    fields = ", ".join(f".{k} = {{{', '.join(str(int(v)) for v in p[k])}}}" for k in ("in_dims", "before", "after"))
    em.params.append(f"static const te_pad4_params {n}_p = {{{fields}, .value = {int(p['value'])}}};\n")
    return f"te_pad4_s8(&{n}_p, {em.ptr(op.inputs[0], const=True)}, {em.ptr(op.output)});"


def _transpose(em, op) -> str:
    p, n = op.params, op.name
    em.params.append(f"static const te_transpose_params {n}_p = {{.in_dims = {{{', '.join(map(str, p['in_dims']))}}}, "
                     f".perm = {{{', '.join(map(str, p['perm']))}}}}};\n")
    return f"te_transpose_s8(&{n}_p, {em.ptr(op.inputs[0], const=True)}, {em.ptr(op.output)});"


TOPOLOGY_EMITTERS = {
    "transpose": _transpose,
    "pad_channels": _pad_channels,
    "concat": _concat,
    "softmax": _softmax,
    "slice": _slice,
}
# kernel kind -> C sources (emitter._KERNEL_SOURCES takes these)
TOPOLOGY_SOURCES = {"concat": ["copy_rows_s8.c"], "transpose": ["transpose_s8.c"], "pad_channels": ["pad4_s8.c"], "softmax": ["softmax_s8.c"], "slice": ["copy_rows_s8.c", "slice_s8.c"]}
