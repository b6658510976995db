"""AnnotateKernelParams: attach to every ``tinyengine.*`` composite the integer parameters its kernel needs.

Reads the composite's float body (scales, zero points, conv geometry, clip bounds)
and attaches ``tinyengine.params``: a map of plain ints / int lists holding exactly
what the C kernel consumes: offsets, activation range, geometry and TFLite-exact
requantization (fixed-point multiplier and shift per output channel, computed the
way TFLite computes them, see ``tinyengine_tvm.codegen.quant``). Weights and bias
stay in the body as int8 / int32 constants; ``weight_constants`` hands them out in
the layout the kernels read.
"""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax

from ..codegen import quant
from ..errors import UnsupportedOperatorError
from ..planner.contracts import is_pointwise
from ._util import call_op_name, const_value, dtype_of, is_constant, scalar, shape_of
from .annotate_topology import TOPOLOGY_KINDS, describe_topology

PARAMS_ATTR = "tinyengine.params"
ROUNDING_ATTR = "tinyengine.rounding"  # on main: "exact" for ONNX/PyTorch graphs (see AnnotateKernelParams)
# on a one-kernel main (the BYOC codegen's view): the kernel sat where onnxruntime leaves QDQ unfused
ORT_UNFUSED_ATTR = "tinyengine.ort_unfused"
# on a one-kernel main: which ends of the kernel keep int8 data in onnxruntime's QDQ rewrite (bit 1: its
# input, bit 2: its output; see _ort_int8_sides)
ORT_INT8_SIDES_ATTR = "tinyengine.ort_int8_sides"
# on main of a graph with onnxruntime's arithmetic: "int8" (every QDQ group fused, as QLinearConv / QLinearAdd /
# QLinearAveragePool compute it: no float conv; the API's default) or "onnxruntime" (the default when absent: where
# onnxruntime on this host leaves a group unfused, its float computation, for byte-exact verification)
ARITHMETIC_ATTR = "tinyengine.arithmetic"
ARITHMETICS = ("int8", "onnxruntime")


class _Calls(dict):
    """Calls in a composite body by op name (binding order), plus var -> bound value."""

    def __init__(self, func: relax.Function):
        super().__init__()
        self.bound = {}
        for block in func.body.blocks:
            for b in block.bindings:
                self.bound[b.var] = b.value
                name = call_op_name(b.value)
                if name:
                    self.setdefault(name, []).append(b.value)

    def value(self, expr):
        """Follow var bindings to the bound expression."""
        while isinstance(expr, relax.Var) and expr in self.bound:
            expr = self.bound[expr]
        return expr


_calls = _Calls


def _qparams(call) -> tuple[float, int]:
    """(scale, zero point) of a per-tensor quantize/dequantize call."""
    return scalar(call.args[1]), int(scalar(call.args[2]))


def _act_range(calls) -> tuple[int, int]:
    """int8 clamp bounds from int8 clips after quantize, or float relu/clip before it.

    A float activation before quantize maps to q(bound) = round(bound / scale) + zp, which
    is how TFLite's CalculateActivationRangeQuantized computes the fused range.
    """
    lo, hi = -128, 127
    q = calls.get("relax.quantize", [None])[-1]
    for c in calls.get("relax.clip", []):
        a, b = float(c.args[1].value), float(c.args[2].value)
        if dtype_of(c) == "int8":
            lo, hi = max(lo, int(round(a))), min(hi, int(round(b)))
        else:
            s, zp = _qparams(q)
            # float32 division then round, as CalculateActivationRangeQuantized does
            lo = max(lo, zp + quant._round_half_away(float(np.float32(a) / np.float32(s)))) if np.isfinite(a) else lo
            hi = min(hi, zp + quant._round_half_away(float(np.float32(b) / np.float32(s)))) if np.isfinite(b) else hi
    if calls.get("relax.nn.relu"):
        lo = max(lo, _qparams(q)[1])
    return lo, hi


def _activation_deq(calls, func, index=0):
    """The dequantize of the composite's index-th parameter (an int8 activation)."""
    p = func.params[index]
    for d in calls.get("relax.dequantize", []):
        if d.args[0].same_as(p):
            return d
    raise ValueError(f"composite has no dequantize of parameter {index}")


def _weight_deqs(calls):
    """Dequantizes of int8 weight constants (possibly through a permute_dims), in body order."""
    out = []
    for d in calls.get("relax.dequantize", []):
        src = d.args[0]
        if is_constant(src) and dtype_of(src) == "int8":
            out.append(d)
        elif call_op_name(calls.value(src)) == "relax.permute_dims" and is_constant(calls.value(src).args[0]):
            out.append(d)
    return out


def _batch(n: int) -> dict:
    """``{"batch": n}`` for an NHWC kernel over n > 1 images (the emitter loops over them, the planner's
    access models repeat per image; codegen/emitter.py, planner/contracts.py); nothing for one image."""
    return {"batch": int(n)} if int(n) > 1 else {}


def _per_channel(scale_expr, n) -> np.ndarray:
    s = const_value(scale_expr).astype(np.float32).reshape(-1)
    return np.broadcast_to(s, (n,)).copy() if s.size == 1 else s


def _conv_params(func, calls, depthwise):
    conv = calls["relax.nn.conv2d"][0]
    in_deq = _activation_deq(calls, func)
    q = calls["relax.quantize"][-1]
    in_s, in_zp = _qparams(in_deq)
    out_s, out_zp = _qparams(q)
    batch, in_h, in_w, in_c = shape_of(conv.args[0])
    _, out_h, out_w, out_c = shape_of(conv)
    w_shape = shape_of(conv.args[1])
    k_h, k_w = w_shape[0], w_shape[1]
    w_deq = [d for d in _weight_deqs(calls)][0]
    w_scales = _per_channel(w_deq.args[1], out_c)
    _weight_offset(w_deq, "DEPTHWISE_CONV_2D" if depthwise else "CONV_2D")  # refuses a weight zero point
    mult, shift = quant.conv_requant_params(in_s, w_scales, out_s)
    act_min, act_max = _act_range(calls)
    pad_top, pad_left, _, _ = (int(v) for v in conv.attrs.padding)
    return {
        "in_h": in_h, "in_w": in_w, "in_c": in_c, "out_h": out_h, "out_w": out_w, "out_c": out_c,
        "k_h": k_h, "k_w": k_w,
        "stride_h": int(conv.attrs.strides[0]), "stride_w": int(conv.attrs.strides[1]),
        "dil_h": int(conv.attrs.dilation[0]), "dil_w": int(conv.attrs.dilation[1]),
        "pad_top": pad_top, "pad_left": pad_left,
        "depth_multiplier": out_c // in_c if depthwise else 1,
        "in_offset": -in_zp, "out_offset": out_zp, "act_min": act_min, "act_max": act_max,
        "mult": [int(v) for v in mult], "shift": [int(v) for v in shift],
        "macs": batch * out_h * out_w * out_c * k_h * k_w * (1 if depthwise else in_c // _groups(conv, depthwise)),
        **_batch(batch),
        **({"groups": _groups(conv, depthwise)} if _groups(conv, depthwise) > 1 else {}),
    }


def _groups(conv, depthwise: bool) -> int:
    """Groups of a grouped (not depthwise) conv: filter depth in_c / groups (TFLite, ONNX group)."""
    return 1 if depthwise else int(conv.attrs.groups)


def _fc_params(func, calls):
    mm = calls["relax.matmul"][0]
    in_deq = _activation_deq(calls, func)
    q = calls["relax.quantize"][-1]
    in_s, in_zp = _qparams(in_deq)
    out_s, out_zp = _qparams(q)
    batches, in_n = shape_of(mm.args[0])
    out_n = shape_of(mm)[-1]
    w_deq = _weight_deqs(calls)[0]
    w_scales = const_value(w_deq.args[1]).astype(np.float32).reshape(-1)
    mult, shift, per_channel = quant.fc_requant_params(in_s, w_scales, out_s)
    # LiteRT's reference FC (the correctness bar) rescales in double, not in fixed point.
    dscale, _ = quant.fc_dscale_params(in_s, w_scales, out_s)
    act_min, act_max = _act_range(calls)
    return {
        "batches": batches, "in_n": in_n, "out_n": out_n,
        "in_offset": -in_zp, "out_offset": out_zp, "act_min": act_min, "act_max": act_max,
        "per_channel": int(per_channel),
        "mult": [int(v) for v in mult], "shift": [int(v) for v in shift],
        "scale": [float(v) for v in dscale],
        "macs": batches * in_n * out_n,
        **_weight_offset(w_deq, "FULLY_CONNECTED"),
    }


def _weight_offset(w_deq, what: str) -> dict:
    """{"w_offset": -zero point} for a per-tensor weight zero point other than 0 (LiteRT's int8 FC takes one:
    sum (x + in_offset) * (w + w_offset)), {} for 0; per-channel zero points other than 0 are refused."""
    zp = np.asarray(const_value(w_deq.args[2])).reshape(-1).astype(np.int64)
    if not zp.any():
        return {}
    if zp.size > 1 and np.any(zp != zp[0]) or what != "FULLY_CONNECTED":
        raise UnsupportedOperatorError(f"{what} with weight zero points {sorted(set(zp.tolist()))[:4]} (not 0) has no kernel")
    return {"w_offset": -int(zp[0])}


def _add_params(func, calls):
    # add(x, x) fuses into a one-parameter composite
    d1, d2 = _activation_deq(calls, func, 0), _activation_deq(calls, func, min(1, len(func.params) - 1))
    q = calls["relax.quantize"][-1]
    s1, z1 = _qparams(d1)
    s2, z2 = _qparams(d2)
    so, zo = _qparams(q)
    p = dict(quant.add_params(s1, z1, s2, z2, so, zo))
    act_min, act_max = _act_range(calls)
    p.update(n=int(np.prod(shape_of(q))), act_min=act_min, act_max=act_max)
    return p


def _pool_params(func, calls, opname):
    pool = calls[opname][0]
    if str(pool.attrs.layout) != "NHWC" or bool(pool.attrs.ceil_mode):
        raise UnsupportedOperatorError(f"{opname} with layout {pool.attrs.layout}, ceil_mode={pool.attrs.ceil_mode} has no kernel")
    batch, in_h, in_w, c = shape_of(pool.args[0])
    _, out_h, out_w, _ = shape_of(pool)
    requant = 0
    if calls.get("relax.dequantize") and calls.get("relax.quantize"):
        # the TFLite-arithmetic pool kernels keep the input's quantization (SplitPoolRequantize ensures
        # it); only onnxruntime's average pool rescales (AnnotateKernelParams checks which applies)
        requant = int(_qparams(_activation_deq(calls, func)) != _qparams(calls["relax.quantize"][-1]))
    lo, hi = _act_range(calls)
    return {
        "in_h": in_h, "in_w": in_w, "c": c, "out_h": out_h, "out_w": out_w,
        "k_h": int(pool.attrs.pool_size[0]), "k_w": int(pool.attrs.pool_size[1]),
        "stride_h": int(pool.attrs.strides[0]), "stride_w": int(pool.attrs.strides[1]),
        "pad_top": int(pool.attrs.padding[0]), "pad_left": int(pool.attrs.padding[1]),
        "pad_bottom": int(pool.attrs.padding[2]), "pad_right": int(pool.attrs.padding[3]),
        "count_include_pad": int(bool(getattr(pool.attrs, "count_include_pad", False))),
        "act_min": lo, "act_max": hi, "requant": requant,
        "macs": batch * out_h * out_w * c * int(pool.attrs.pool_size[0]) * int(pool.attrs.pool_size[1]),
        **_batch(batch),
    }


def _mean_params(func, calls):
    mean = calls["relax.mean"][0]
    d = _activation_deq(calls, func)
    q = calls["relax.quantize"][-1]
    shape = shape_of(mean.args[0])
    axes = [int(a) for a in mean.attrs.axis]
    try:
        outer, reduce, inner = quant.mean_view(shape, axes)
    except ValueError as err:
        raise UnsupportedOperatorError(f"MEAN of a {list(shape)} tensor: {err}") from None
    in_s, in_zp = _qparams(d)
    out_s, out_zp = _qparams(q)
    p = dict(quant.mean_params(in_s, in_zp, out_s, out_zp, outer, reduce, inner))
    p["macs"] = outer * reduce * inner
    return p


def nearest_indices(in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> list[int]:
    """For each output index, the input index TFLite's RESIZE_NEAREST_NEIGHBOR copies, in its float32
    arithmetic: scale = in / out (align_corners: (in - 1) / (out - 1)), src = (i + 0.5 if half-pixel
    else i) * scale, floored (align_corners: rounded half away from zero), clamped to the input."""
    f32 = np.float32
    if align_corners and out_size > 1:
        scale = f32(in_size - 1) / f32(out_size - 1)
    else:
        scale = f32(in_size) / f32(out_size)
    offset = f32(0.5) if half_pixel_centers else f32(0.0)
    src = (np.arange(out_size, dtype=f32) + offset) * scale  # float32 throughout
    # std::round: half away from zero, exactly (the + 0.5 in float64 cannot round; src >= 0)
    idx = np.floor(src.astype(np.float64) + 0.5) if align_corners else np.floor(src)
    idx = np.minimum(idx.astype(np.int64), in_size - 1)
    return [int(v) for v in (np.maximum(idx, 0) if half_pixel_centers else idx)]


def relax_nearest_indices(in_size: int, out_size: int, mode: str, rounding: str) -> list[int]:
    """For each output index, the input index of Relax's nearest ``image.resize2d`` (TVM's topi
    definition, float32): the coordinate transformation, then the rounding, then a clamp."""
    f32 = np.float32
    o = np.arange(out_size, dtype=f32)
    scale = f32(in_size) / f32(out_size)
    if mode in ("half_pixel", "pytorch_half_pixel"):
        x = (o + f32(0.5)) * scale - f32(0.5)
        if mode == "pytorch_half_pixel" and out_size == 1:
            x = np.zeros_like(o)
    elif mode == "align_corners":
        x = (f32(in_size - 1) / f32(out_size - 1)) * o if out_size > 1 else np.zeros_like(o)
    elif mode == "asymmetric":
        x = scale * o
    elif mode == "tf_half_pixel_for_nn":
        x = (o + f32(0.5)) * scale
    else:
        raise UnsupportedOperatorError(f"nearest resize with coordinate mode {mode!r} has no kernel")
    rounding = rounding or ("round" if mode == "align_corners" else "floor")
    eps = f32(1e-5)
    idx = {
        "round": lambda v: np.sign(v) * np.floor(np.abs(v.astype(np.float64)) + 0.5),  # half away from zero
        "round_prefer_floor": lambda v: np.ceil(v - f32(0.5)),
        "round_prefer_ceil": lambda v: np.floor(v + f32(0.5)),
        "floor": lambda v: np.floor(v + eps),
        "ceil": lambda v: np.ceil(v - eps),
    }.get(rounding)
    if idx is None:
        raise UnsupportedOperatorError(f"nearest resize with rounding {rounding!r} has no kernel")
    return [int(v) for v in np.clip(idx(x).astype(np.int64), 0, in_size - 1)]


# TVM's TFLite importer writes RESIZE_NEAREST_NEIGHBOR's flags as these (mode, rounding) pairs; for them
# the tables follow TFLite's own float32 arithmetic, the bit-exactness reference of TFLite models.
_TFLITE_FLAGS = {("asymmetric", ""): (False, False), ("align_corners", ""): (True, False),
                 ("half_pixel", "round_prefer_ceil"): (False, True)}


def _resize_params(call) -> dict:
    a = call.attrs
    mode, rounding = str(a.coordinate_transformation_mode), str(a.rounding_method)
    n, in_h, in_w, c = shape_of(call.args[0])
    _, out_h, out_w, _ = shape_of(call)
    flags = _TFLITE_FLAGS.get((mode, rounding))
    if flags is not None:
        rows, cols = nearest_indices(in_h, out_h, *flags), nearest_indices(in_w, out_w, *flags)
    else:
        rows, cols = relax_nearest_indices(in_h, out_h, mode, rounding), relax_nearest_indices(in_w, out_w, mode, rounding)
    return {"in_h": in_h, "in_w": in_w, "c": c, "out_h": out_h, "out_w": out_w, "rows": rows, "cols": cols, **_batch(n)}


# ---- elementwise ops (SE blocks, activations): codegen/lut.py computes their parameters and tables ----
ELEMENTWISE_KINDS = ("mul", "add_bcast", "sub", "lut")
_BINARY = ("relax.multiply", "relax.add", "relax.subtract")


def _binary_call(calls):
    """The composite's binary op whose two arguments are dequantizes (not hard swish's x + 3)."""
    for name in _BINARY:
        for c in calls.get(name, []):
            if all(call_op_name(calls.value(a)) == "relax.dequantize" for a in c.args):
                return c
    return None


def _operands(func, calls, op):
    """[(dequantize, param index or None, constant or None)] of the binary op's two operands."""
    out = []
    for a in op.args:
        d = calls.value(a)
        src = d.args[0]
        idx = next((i for i, p in enumerate(func.params) if src.same_as(p)), None)
        out.append((d, idx, const_value(src).astype(np.int8) if idx is None else None))
    return out


def _binary_arith(name, q1, q2, qo, act):
    """(te_mul_params or te_add_params) dict for op name with operand / output quantizations."""
    from ..codegen import lut

    (s1, z1), (s2, z2), (so, zo) = q1, q2, qo
    if name == "relax.multiply":
        return lut.mul_params(s1, z1, s2, z2, so, zo, *act)
    p = dict(quant.add_params(s1, z1, s2, z2, so, zo))
    if name == "relax.subtract":  # sub.cc: PrepareGeneralSubOp(..., op_sign = -1)
        p["in2_mult"] = -p["in2_mult"]
    p["act_min"], p["act_max"] = act
    return p


def _elementwise_params(func, calls, kind):
    from ..codegen import lut

    q = calls["relax.quantize"][-1]
    qo = _qparams(q)
    out_shape = shape_of(q)
    n = int(np.prod(out_shape))
    op = _binary_call(calls)
    if op is not None:
        ops = _operands(func, calls, op)
        act = _act_range(calls)
        p = _binary_arith(call_op_name(op), _qparams(ops[0][0]), _qparams(ops[1][0]), qo, act)
        if kind == "lut":  # one operand is a scalar constant: the other's table
            ci = 0 if ops[0][2] is not None else 1
            const = int(ops[ci][2].reshape(-1)[0])
            if call_op_name(op) == "relax.multiply":
                table = lut.mul_const_table(p, const, const_first=ci == 0)
            else:
                table = lut.add_const_table(p, const, const_first=ci == 0)
            return {"n": n, "table": table, "lut_of": call_op_name(op).split(".")[-1] + "_const", "out_zp": qo[1]}
        try:
            loops = lut.bcast_loops(shape_of(op.args[0]), shape_of(op.args[1]), out_shape)
        except ValueError as err:
            raise UnsupportedOperatorError(f"{call_op_name(op)} of int8 tensors: {err}") from None
        p.update(loops)
        # the same loops as plain ints (the planner's access models are keyed on int params)
        p.update({f"bc_{f}{i}": int(v) for f in ("d", "s1", "s2") for i, v in enumerate(loops[f])})
        p["n"] = n
        # which kernel argument each operand is: a parameter of the call, or -1 (the constant, in Flash)
        p["in1_src"], p["in2_src"] = (-1 if i is None else i for _, i, _ in ops)
        return p
    d = _activation_deq(calls, func)
    (si, zi), (so, zo) = _qparams(d), qo
    if calls.get("relax.sigmoid"):
        if (float(np.float32(so)), zo) != (1.0 / 256, -128):
            raise UnsupportedOperatorError(f"LOGISTIC with output quantization ({so}, {zo}): LiteRT requires (1/256, -128)")
        return {"n": n, "table": lut.logistic_table(si, zi, so, zo), "lut_of": "logistic", "out_zp": zo}
    if calls.get("relax.divide") and not calls.get("relax.add"):
        raise UnsupportedOperatorError("an elementwise division has no int8 kernel")
    if calls.get("relax.divide") and _hard_swish_form(calls) == "onnx":
        raise UnsupportedOperatorError("ONNX HardSwish in TFLite arithmetic has no kernel (ONNX graphs use onnxruntime's)")
    if calls.get("relax.multiply") and not calls.get("relax.divide"):
        raise UnsupportedOperatorError("ONNX HardSigmoid in TFLite arithmetic has no kernel (ONNX graphs use onnxruntime's)")
    if calls.get("relax.divide"):
        try:
            table = lut.hard_swish_table(si, zi, so, zo)
        except ValueError as err:
            raise UnsupportedOperatorError(str(err)) from None
        return {"n": n, "table": table, "lut_of": "hard_swish", "out_zp": zo}
    c = calls["relax.clip"][0]
    lo, hi = float(c.args[1].value), float(c.args[2].value)
    return {"n": n, "table": lut.relu_x_table(si, zi, so, zo, lo, hi), "lut_of": "relu_n1_to_1", "out_zp": zo}


def _hard_swish_form(calls) -> str:
    """"tflite" for (x * clip(x + 3, 0, 6)) / 6, "onnx" for x * (clip(x + 3, 0, 6) / 6) (TVM's two importers)."""
    m = calls["relax.multiply"][0]
    return "onnx" if any(call_op_name(calls.value(a)) == "relax.divide" for a in m.args) else "tflite"


def _ort_binary_params(func, calls, kind, unfused: bool) -> dict:
    """te_binary_s8_f32's parameters: onnxruntime's unfused float Mul / Sub (DequantizeLinear tables, output
    scale), or its fused uint8 QLinearMul (ratio (float)(s_a * s_b) / s_out, zero point + 128 in float)."""
    if calls.get("relax.nn.relu") or any(dtype_of(c) == "float32" for c in calls.get("relax.clip", [])):
        raise UnsupportedOperatorError(f"tinyengine.{kind} with a fused activation has no kernel in onnxruntime's "
                                       "arithmetic yet")
    p = _elementwise_params(func, calls, kind)
    op = _binary_call(calls)
    (s1, z1), (s2, z2) = (_qparams(d) for d, _, _ in _operands(func, calls, op))
    so, zo = _qparams(calls["relax.quantize"][-1])
    f32 = np.float32
    if kind == "add_bcast":  # TE_BINARY_F32_ADD / _QLINEAR_ADD
        mode = 3 if unfused else 4
        ratio, ratio2, fixed = quant.ort_qlinearadd_params(s1, z1, s2, z2, so, zo)
    else:
        mode = 1 if kind == "sub" else (0 if unfused else 2)
        ratio, ratio2, fixed = float(f32(f32(f32(s1) * f32(s2)) / f32(so))), 0.0, 0.0
    p.update(ort_mode=mode, in1_zp=z1, in2_zp=z2, out_zp=zo, out_fscale=float(f32(so)),
             ratio=ratio, ratio2=ratio2, fixed=fixed, zp_f=float(zo + 128),
             in1_table=[float(v) for v in quant.ort_dequant_table(s1, z1)],
             in2_table=[float(v) for v in quant.ort_dequant_table(s2, z2)])
    return p


def _ort_lut_params(func, unfused: bool = False) -> dict:
    """onnxruntime's table for a unary composite (codegen/lut.py ort_unary_table): QLinearSigmoid, or the float
    HardSigmoid / HardSwish it leaves unfused; MUL / SUB: _ort_binary_params; other elementwise ops are refused
    in its arithmetic."""
    from ..codegen import lut

    calls = _calls(func)
    kind = str(func.attrs["Composite"]).split(".", 1)[1]
    if kind in ("mul", "sub", "add_bcast"):
        return _ort_binary_params(func, calls, kind, unfused)
    if kind != "lut" or _binary_call(calls) is not None or calls.get("relax.clip") and not (
            calls.get("relax.multiply") or calls.get("relax.sigmoid")):
        what = ", an elementwise op with a constant" if kind == "lut" and _binary_call(calls) is not None else ""
        raise UnsupportedOperatorError(f"tinyengine.{kind} has no kernel in onnxruntime's arithmetic yet (ONNX / "
                                       f"PyTorch graphs{what})")
    (si, zi), (so, zo) = _qparams(_activation_deq(calls, func)), _qparams(calls["relax.quantize"][-1])
    params = {"n": int(np.prod(shape_of(calls["relax.quantize"][-1])))}
    if calls.get("relax.sigmoid"):
        fma = lut.ort_fma_host()
        return {"n": params["n"], "out_zp": zo, "lut_of": "ort_sigmoid", "ort_fma": int(fma),
                "table": lut.ort_unary_table("sigmoid", si, zi, so, zo, fma=fma)}
    if calls.get("relax.divide"):
        if _hard_swish_form(calls) != "onnx":
            raise UnsupportedOperatorError("a TFLite-style hard swish in an ONNX graph has no kernel")
        return {"n": params["n"], "out_zp": zo, "lut_of": "ort_hard_swish",
                "table": lut.ort_unary_table("hard_swish", si, zi, so, zo)}
    m, a, c = calls["relax.multiply"][0], calls["relax.add"][0], calls["relax.clip"][0]
    if (float(c.args[1].value), float(c.args[2].value)) != (0.0, 1.0):
        raise UnsupportedOperatorError("HardSigmoid with a clip other than [0, 1] has no kernel")
    alpha = scalar(next(x for x in m.args if is_constant(x)))
    beta = scalar(next(x for x in a.args if is_constant(x)))
    return {"n": params["n"], "out_zp": zo, "lut_of": "ort_hard_sigmoid",
            "table": lut.ort_unary_table("hard_sigmoid", si, zi, so, zo, alpha, beta)}


def _elementwise_constants(func):
    calls = _calls(func)
    op = _binary_call(calls)
    if op is None:
        return {}
    consts = [c for _, _, c in _operands(func, calls, op) if c is not None]
    return {"operand": consts[0].reshape(-1)} if consts else {}


def describe(func: relax.Function) -> dict:
    """Kernel parameters of one composite function (see module docstring)."""
    kind = str(func.attrs["Composite"]).split(".", 1)[1]
    calls = _calls(func)
    if kind in TOPOLOGY_KINDS:  # concat, slices, softmax ...: annotate_topology.py
        return describe_topology(kind, func, calls)

    if kind in ELEMENTWISE_KINDS:
        return _elementwise_params(func, calls, kind)
    if kind in ("conv2d", "depthwise_conv2d"):
        return _conv_params(func, calls, kind == "depthwise_conv2d")
    if kind == "fully_connected":
        return _fc_params(func, calls)
    if kind == "add":
        return _add_params(func, calls)
    if kind == "avg_pool2d":
        return _pool_params(func, calls, "relax.nn.avg_pool2d")
    if kind == "max_pool2d":
        return _pool_params(func, calls, "relax.nn.max_pool2d")
    if kind == "mean":
        return _mean_params(func, calls)
    if kind == "quantize":
        s, zp = _qparams(calls["relax.quantize"][0])
        return {"n": int(np.prod(shape_of(func.params[0]))), "scale": s, "zero_point": zp}
    if kind == "dequantize":
        s, zp = _qparams(calls["relax.dequantize"][0])
        return {"n": int(np.prod(shape_of(func.params[0]))), "scale": s, "zero_point": zp}
    if kind == "requantize":
        (si, zi), (so, zo) = _qparams(calls["relax.dequantize"][0]), _qparams(calls["relax.quantize"][0])
        m, sh = quant.requantize_params(si, so)
        p = {"n": int(np.prod(shape_of(func.params[0]))), "in_zp": zi, "out_zp": zo, "mult": int(m), "shift": int(sh)}
        lo, hi = _act_range(calls)  # a standalone RELU / RELU6 / RELU_N1_TO_1: LiteRT's ReluX clamps after requantizing
        if (lo, hi) != (-128, 127):
            p.update(act_min=lo, act_max=hi)
        return p
    if kind == "pad":
        p = calls["relax.nn.pad"][0]
        pw = [int(v) for v in p.attrs.pad_width]
        shape = shape_of(p.args[0])
        if len(shape) != 4 or pw[0] or pw[1] or pw[6] or pw[7]:
            raise UnsupportedOperatorError(f"PAD {pw} of a {list(shape)} tensor (only spatial NHWC padding has a kernel)")
        return {"in_h": shape[1], "in_w": shape[2], "c": shape[3], "pad_top": pw[2], "pad_bottom": pw[3],
                "pad_left": pw[4], "pad_right": pw[5], "value": int(float(p.attrs.pad_value)), **_batch(shape[0])}
    if kind == "resize_nearest":
        return _resize_params(calls["relax.image.resize2d"][0])
    if kind == "reshape":
        return {"n": int(np.prod(shape_of(func.params[0])))}
    if kind == "log_softmax":
        shape = shape_of(func.params[0])
        return {"rows": int(np.prod(shape[:-1])), "cols": shape[-1]}
    raise UnsupportedOperatorError(f"composite {kind} has no kernel")


def weight_constants(func: relax.Function) -> dict[str, np.ndarray]:
    """Weights and bias of a conv / depthwise / FC composite, in the kernels' layouts.

    conv2d: OHWI int8; depthwise: [k_h][k_w][out_c] int8; FC: [out_n][in_n] int8; bias: int32.
    """
    kind = str(func.attrs["Composite"]).split(".", 1)[1]
    if kind in ELEMENTWISE_KINDS:
        return _elementwise_constants(func)
    if kind not in ("conv2d", "depthwise_conv2d", "fully_connected"):
        return {}
    calls = _calls(func)
    w_deq = _weight_deqs(calls)[0]
    src = calls.value(w_deq.args[0])
    w = const_value(src.args[0] if call_op_name(src) == "relax.permute_dims" else src)
    if kind == "conv2d":  # HWIO (also a one-channel depthwise filter reshaped to it) -> OHWI
        w = np.ascontiguousarray(w.reshape(shape_of(calls["relax.nn.conv2d"][0].args[1])).transpose(3, 0, 1, 2))
    elif kind == "depthwise_conv2d":  # 1HWC (TFLite) or HWC1 (HWOI, ONNX/PyTorch) -> HWC: same memory order
        k_h, k_w, out_c = shape_of(calls["relax.nn.conv2d"][0].args[1])[:3]
        w = np.ascontiguousarray(w.reshape(k_h, k_w, out_c))
    out = {"weights": w.astype(np.int8)}
    biases = [d for d in calls.get("relax.dequantize", []) if d is not w_deq and is_constant(d.args[0]) and dtype_of(d.args[0]) == "int32"]
    if biases:
        out["bias"] = const_value(biases[0].args[0]).astype(np.int32).reshape(-1)
    return out


def _ort_params(func, params, int8_sides=(False, False)) -> dict:
    """The float32 numbers onnxruntime's CPU kernels rescale with, for one composite.

    conv / depthwise / FC: ``fscale[c] = (x_scale * w_scale[c]) / y_scale`` (QLinearConv, QGemm);
    MEAN: ``fscale = x_scale / (y_scale * n)`` with ``exact = 2`` (QLinearGlobalAveragePool);
    AVG_POOL: the route onnxruntime takes (``ort_pool``, quant.ort_avg_pool_path, which needs
    ``int8_sides``: whether its input / output QuantizeLinear keeps int8 data) and its numbers;
    ADD: the two inputs' DequantizeLinear tables and the output scale (ORT's unfused float Add) and
    QLinearAdd's float32 ratios and offset (``ort_fused`` picks one);
    int8 requantize: both scales (ORT's float DequantizeLinear -> QuantizeLinear). The emitter hands them to the TE_SINGLE_ROUNDING kernels.
    """
    kind = str(func.attrs["Composite"]).split(".", 1)[1]
    calls = _calls(func)
    if kind in ("conv2d", "depthwise_conv2d", "fully_connected"):
        in_s, _ = _qparams(_activation_deq(calls, func))
        out_s, _ = _qparams(calls["relax.quantize"][-1])
        w_deq = _weight_deqs(calls)[0]
        w_scales = const_value(w_deq.args[1]).astype(np.float32).reshape(-1)
        fscale = quant.ort_conv_scale(in_s, w_scales, out_s)
        if kind != "fully_connected" and fscale.size == 1:
            fscale = np.broadcast_to(fscale, (params["out_c"],))
        return {"fscale": [float(v) for v in fscale]}
    if kind == "avg_pool2d" and calls.get("relax.dequantize"):
        # te_avg_pool_s8_f32: which of onnxruntime's computations (pool_s8_f32.c) and its numbers
        (in_s, in_z), (out_s, out_z) = _qparams(_activation_deq(calls, func)), _qparams(calls["relax.quantize"][-1])
        block = quant.ort_nchwc_block() if int8_sides[0] != int8_sides[1] else None  # a float pool's order
        path = quant.ort_avg_pool_path(params, *int8_sides, nchwc_block=block)
        out = {"ort_pool": path, "in_zp": in_z, "out_zp": out_z, "out_scale": float(np.float32(out_s)),
               # QLinearAveragePool adds the zero point in float before rounding, on uint8 data out_zp + 128
               "round_zp": out_z + (0 if int8_sides[1] else 128),
               "gap_scale": float(quant.ort_gap_scale(in_s, out_s, params["k_h"] * params["k_w"]))}
        if block is not None:
            out["ort_nchwc_block"] = block
        if path != quant.ORT_POOL_QLINEAR_GLOBAL:
            out["in_table"] = [float(v) for v in quant.ort_dequant_table(in_s, in_z)]
        return out
    if kind == "mean":
        in_s, _ = _qparams(_activation_deq(calls, func))
        out_s, _ = _qparams(calls["relax.quantize"][-1])
        return {"fscale": float(quant.ort_gap_scale(in_s, out_s, params["reduce"])), "exact": 2}
    if kind == "add":
        d1, d2 = _activation_deq(calls, func, 0), _activation_deq(calls, func, min(1, len(func.params) - 1))
        (s1, z1), (s2, z2) = _qparams(d1), _qparams(d2)
        so, zo = _qparams(calls["relax.quantize"][-1])
        r1, r2, fixed = quant.ort_qlinearadd_params(s1, z1, s2, z2, so, zo)
        return {"in1_table": [float(v) for v in quant.ort_dequant_table(s1, z1)],
                "in2_table": [float(v) for v in quant.ort_dequant_table(s2, z2)],
                "out_scale": float(np.float32(so)), "ratio1": r1, "ratio2": r2, "fixed": fixed}
    if kind == "requantize":
        (si, _), (so, _) = _qparams(calls["relax.dequantize"][0]), _qparams(calls["relax.quantize"][0])
        return {"in_fscale": float(np.float32(si)), "out_fscale": float(np.float32(so))}
    return {}


def _param_reads(func) -> list:
    """How many times the composite (itself, or the one an offloaded function wraps) reads each parameter:
    add(x, x) is one call with one argument that onnxruntime dequantizes twice (two readers)."""
    comp = None
    if isinstance(func, relax.Function):
        if func.attrs is not None and "Composite" in func.attrs:
            comp = func
        else:
            found = []
            relax.analysis.post_order_visit(func.body, lambda e: found.append(e) if isinstance(e, relax.Function)
                                            and e.attrs is not None and "Composite" in e.attrs else None)
            comp = found[0] if len(found) == 1 and len(found[0].params) == len(func.params) else None
    if comp is None:
        return None
    if str(comp.attrs["Composite"]) == "tinyengine.lut":  # one unary ONNX node (HardSwish reads x twice in Relax)
        return [1] * len(comp.params)
    counts = {p: 0 for p in comp.params}

    def visit(e):
        if isinstance(e, relax.Call):
            for a in e.args:
                if isinstance(a, relax.Var) and a in counts:
                    counts[a] += 1

    relax.analysis.post_order_visit(comp.body, visit)
    return [max(1, counts[p]) for p in comp.params]


def _main_uses(mod):
    """main's composite calls [(var, call)], how often each var is read (a kernel reading it twice counts
    twice), and the vars it returns."""
    main = mod["main"]
    uses: dict = {}
    calls = []
    for block in main.body.blocks:
        for b in block.bindings:
            v = b.value
            if isinstance(v, relax.Call) and isinstance(v.op, relax.GlobalVar):
                calls.append((b.var, v))
                reads = _param_reads(mod[v.op]) if v.op in mod.functions else None
                for i, a in enumerate(v.args):
                    if isinstance(a, relax.Var):
                        uses[a] = uses.get(a, 0) + (reads[i] if reads and i < len(reads) else 1)
            elif isinstance(v, relax.Var):
                uses[v] = uses.get(v, 0) + 1
    out = main.body.body
    outputs = [o for o in (out.fields if isinstance(out, relax.Tuple) else [out]) if isinstance(o, relax.Var)]
    for o in outputs:
        uses[o] = uses.get(o, 0) + 1
    return calls, uses, set(outputs)


def _ort_unfused(mod, main_uses=None) -> set:
    """Composites that onnxruntime's x86 CPU EP runs unfused, in float.

    Its QDQ rewrite turns int8 activations into uint8 only on a QuantizeLinear read by a single
    DequantizeLinear, and on x86 it does not fuse a QDQ group that mixes int8 and uint8 tensors. So
    a conv or add reading or writing a tensor with several readers (the input and output of a
    residual block) stays DequantizeLinear -> float op -> QuantizeLinear; the others become
    QLinearConv / QLinearAdd (measured: tests/test_ort_arith.py)."""
    calls, uses, _ = main_uses or _main_uses(mod)
    shared = {v for v, n in uses.items() if n > 1}
    return {c.op for var, c in calls if var in shared or any(a in shared for a in c.args if isinstance(a, relax.Var))}


def _ort_int8_sides(mod, main_uses=None) -> dict:
    """Composite -> (input stays int8, output stays int8) in onnxruntime's x86 QDQ rewrite.

    A QuantizeLinear becomes uint8 only when exactly one DequantizeLinear reads it: here, a main var
    read by exactly one kernel. Model inputs (no QuantizeLinear in front), tensors with several
    readers and int8 model outputs (no DequantizeLinear behind) keep int8. Whether the two ends agree
    decides whether onnxruntime fuses an average pool (quant.ort_avg_pool_path; measured:
    tests/test_ort_pool.py)."""
    calls, uses, outputs = main_uses or _main_uses(mod)
    int8 = lambda v: not isinstance(v, relax.Var) or uses.get(v, 0) != 1 or v in outputs  # noqa: E731
    return {c.op: (bool(c.args) and int8(c.args[0]), int8(var)) for var, c in calls}


def _fused_everywhere(sides: dict) -> tuple:
    """``--arithmetic int8``: (no unfused composite, int8 sides) as if onnxruntime fused every QDQ group.

    Every conv / add / mul then runs its QLinear formula on int8 data (one float32 requantization per
    output, no float conv), so the result no longer depends on onnxruntime's host. An average pool whose
    two ends onnxruntime would give different types (a float pool there) takes QLinearAveragePool's
    formula on uint8 data, the common case of a tensor with one reader."""
    return set(), {gv: (s if s[0] == s[1] else (False, False)) for gv, s in sides.items()}


def _is_pointwise(params, func) -> bool:
    kind = str(func.attrs["Composite"]).split(".", 1)[1]
    return kind == "conv2d" and is_pointwise(params)


def _ort_float_conv_params(func, params, threads: int) -> dict:
    """What the float conv kernels need (onnxruntime's unfused DequantizeLinear -> Conv -> QuantizeLinear):
    the input's DequantizeLinear table, weight scales, the dequantized bias ((float)bias * bias_scale,
    float32), the output scale, and MLAS's summation order for this shape (quant.ort_conv_schedule with
    ``threads`` intra-op threads). ``ort_general`` = 0 keeps a pointwise conv on te_conv2d_1x1_s8_f32,
    whose fixed 128-deep FMA blocks are MLAS's order only when that schedule says so."""
    calls = _calls(func)
    in_s, in_zp = _qparams(_activation_deq(calls, func))
    out_s, _ = _qparams(calls["relax.quantize"][-1])
    w_deq = _weight_deqs(calls)[0]
    out_c = shape_of(calls["relax.nn.conv2d"][0])[-1]
    p = {"in_table": [float(v) for v in quant.ort_dequant_table(in_s, in_zp)],
         "w_fscale": [float(v) for v in _per_channel(w_deq.args[1], out_c)],
         "out_fscale": float(np.float32(out_s))}
    biases = [d for d in calls.get("relax.dequantize", []) if d is not w_deq and is_constant(d.args[0]) and dtype_of(d.args[0]) == "int32"]
    if biases:
        b = const_value(biases[0].args[0]).astype(np.int32).reshape(-1)
        bs = _per_channel(biases[0].args[1], out_c)
        p["bias_f"] = [float(v) for v in (b.astype(np.float32) * bs).astype(np.float32)]
    depthwise = str(func.attrs["Composite"]) == "tinyengine.depthwise_conv2d"
    sched = quant.ort_conv_schedule(params, params["in_c"] if depthwise else 1, threads)
    p.update(sched)
    depth = params["in_c"] * params["k_h"] * params["k_w"]
    plain_1x1 = (_is_pointwise(params, func) and not any(sched["row_mode"])
                 and (depth <= 128 or all(kb == 128 for kb in sched["seg_kblock"])))
    p["ort_general"] = int(not plain_1x1)
    p["ort_threads"] = threads  # what the order above reproduces (CompiledModel.report: onnxruntime_host)
    return p


@tvm.transform.module_pass(opt_level=0, name="tinyengine.AnnotateKernelParams")
def AnnotateKernelParams(mod, _ctx):
    """Attach ``tinyengine.params`` to every tinyengine composite function.

    ``main`` carrying ``tinyengine.rounding = "exact"`` (ONNX and PyTorch graphs) selects
    onnxruntime's arithmetic instead of TFLite's double rounding: ``params["single_rounding"] = 1``
    on every kernel plus the float32 scales of ``_ort_params``. ``main``'s ``tinyengine.arithmetic``
    says which: "onnxruntime" (default) reproduces where onnxruntime leaves a QDQ group unfused (float
    convs, float adds), "int8" fuses every group (``_fused_everywhere``).
    """
    has_main = any(gv.name_hint == "main" for gv in mod.get_global_vars())
    main_attrs = mod["main"].attrs if has_main else None
    exact = main_attrs is not None and str(main_attrs.get(ROUNDING_ATTR, "")) == "exact"
    main_uses = _main_uses(mod) if exact else None
    unfused = _ort_unfused(mod, main_uses) if exact else set()
    if exact and int(main_attrs.get(ORT_UNFUSED_ATTR, 0)):
        unfused = {gv for gv, f in mod.functions.items() if gv.name_hint != "main"}
    sides = _ort_int8_sides(mod, main_uses) if exact else {}
    if exact and ORT_INT8_SIDES_ATTR in main_attrs:
        bits = int(main_attrs[ORT_INT8_SIDES_ATTR])
        sides = {gv: (bool(bits & 1), bool(bits & 2)) for gv in mod.functions if gv.name_hint != "main"}
    if exact and str(main_attrs.get(ARITHMETIC_ATTR, "onnxruntime")) == "int8":
        unfused, sides = _fused_everywhere(sides)
    updates = {}
    for gv, func in mod.functions.items():
        attrs = func.attrs or {}
        if isinstance(func, relax.Function) and str(attrs.get("Composite", "")).startswith("tinyengine."):
            try:
                updates[gv] = _annotate_one(gv, func, attrs, exact, unfused, sides)
            except UnsupportedOperatorError as err:
                _remember_refusal(err, func)
                raise
    mod = mod.clone()
    for gv, func in updates.items():
        mod[gv] = func
    return mod


_SURROUNDINGS = {"relax.dequantize", "relax.quantize", "relax.clip", "relax.astype", "relax.round", "relax.reshape",
                 "relax.permute_dims", "relax.add"}
_REFUSED = []  # the last refusal: an exception raised in a pass loses its attributes crossing TVM's FFI


def _remember_refusal(err, func) -> None:
    """Keep ``err`` with the composite's main Relax call and its shape (``relax_op`` / ``shape``, which the
    frontends map back to the model's operator or node: api._relocate) for ``take_refusal``."""
    calls = [b.value for block in func.body.blocks for b in block.bindings if call_op_name(b.value)]
    main = [c for c in calls if call_op_name(c) not in _SURROUNDINGS] or [c for c in calls if call_op_name(c) == "relax.add"]
    if main and not getattr(err, "relax_op", None):
        err.relax_op = call_op_name(main[0])
        try:
            err.shape = shape_of(main[0])
        except (TypeError, AttributeError):
            err.shape = None
        err.reason = str(err)
    _REFUSED[:] = [err]


def take_refusal():
    """The UnsupportedOperatorError AnnotateKernelParams raised last (None if none), forgotten once taken."""
    err = _REFUSED[0] if _REFUSED else None
    _REFUSED.clear()
    return err


def _annotate_one(gv, func, attrs, exact, unfused, sides):
    """The composite with its ``tinyengine.params``."""
    if exact and str(attrs["Composite"]).split(".", 1)[1] in ELEMENTWISE_KINDS:
        params = _ort_lut_params(func, gv in unfused)  # onnxruntime's arithmetic, or a clear refusal
    else:
        params = describe(func)
    if params.get("requant") and not (exact and str(attrs["Composite"]) == "tinyengine.avg_pool2d"):
        raise UnsupportedOperatorError(f"{attrs['Composite']} requantizing its output has no kernel "
                                       "(SplitPoolRequantize splits it off)")
    if not exact and params.get("count_include_pad") and any(
            params[k] for k in ("pad_top", "pad_left", "pad_bottom", "pad_right")):
        raise UnsupportedOperatorError(f"{attrs['Composite']} counting padding cells has no TFLite-arithmetic kernel")
    if not exact and any(params.get("rescale", ())):  # TFLite's int8 CONCATENATION refuses it too
        raise UnsupportedOperatorError(f"{attrs['Composite']}: an input's scale / zero point differs from the "
                                       "output's (TFLite's int8 kernel requires them equal)")
    if exact and str(attrs["Composite"]) == "tinyengine.softmax":  # te_softmax_s8 is LiteRT's algorithm
        raise UnsupportedOperatorError("Softmax of an ONNX / PyTorch graph has no kernel in onnxruntime's "
                                       "arithmetic yet (the int8 kernel reproduces TFLite's)")

    if exact:  # onnxruntime's float32 requantization (kernels built with TE_SINGLE_ROUNDING)
        params["single_rounding"] = 1
        params.update(_ort_params(func, params, sides.get(gv, (False, False))))
        if params.get("groups"):  # measured: not onnxruntime's bytes yet (tests/test_topology_ops.py)
            raise UnsupportedOperatorError(f"grouped Conv (group={params['groups']}) of an ONNX / PyTorch graph "
                                           "has no kernel yet (TFLite grouped CONV_2D has one)")
        if gv in unfused and str(attrs["Composite"]) in ("tinyengine.conv2d", "tinyengine.depthwise_conv2d"):
            params["ort_float"] = 1  # DequantizeLinear -> MLAS float conv -> QuantizeLinear
            params.update(_ort_float_conv_params(func, params, quant.ort_threads()))
        if str(attrs["Composite"]) == "tinyengine.add":  # QLinearAdd unless left unfused (float Add)
            params["ort_fused"] = int(gv not in unfused)
    return func.with_attr(PARAMS_ATTR, params)
