"""ConvertToNHWC: rewrite an NCHW graph (ONNX, PyTorch) into the NHWC layout the kernels use.

ONNX and PyTorch graphs are NCHW with OIHW weights; the int8 kernels (like TFLite's)
are NHWC with HWIO (conv) or HWOI (depthwise) weights. ``relax.transform.ConvertLayout``
converts conv2d and pools but knows no layout rule for ``quantize``/``dequantize`` and
leaves ``permute_dims`` pairs around them and around ``clip``; this pass instead walks
``main`` once, in binding order, and keeps for every 4-D tensor an NHWC twin:

* ``conv2d`` (NCHW/OIHW) becomes ``conv2d`` NHWC with ``permute_dims(W, [2, 3, 1, 0])``
  (HWIO), or for a depthwise conv ``reshape(permute_dims(W, [1, 2, 3, 0]), (H, W, O, 1))``
  with kernel layout HWOI (the form the TFLite importer writes); pools switch layout;
* ``quantize``/``dequantize`` keep their scales and move their channel ``axis``;
  element-wise ops (``add``, ``clip``, ``relu``, ...) take NHWC operands, and a constant
  or constant-derived operand is wrapped in ``permute_dims`` (``FoldConstantLayout``
  folds it into the constant afterwards);
* ``image.resize2d`` switches layout (its size argument is (H, W) in both); ``concat`` of 4-D maps
  moves its axis;
* reductions (``mean``, ...) get their axes remapped; a ``reshape`` of a tensor whose
  non-unit dimensions keep their order (e.g. ``(1, C, 1, 1) -> (1, C)``) reads the NHWC
  twin directly;
* 4-D parameters and 4-D results of ``main`` become NHWC (the compiled model's image
  input is ``(N, H, W, C)``);
* any other op gets its operands back in NCHW through ``permute_dims`` (left for the
  kernel-graph check to report if it has no kernel).

Functions without an NCHW ``conv2d``/pool, and without the attribute
``tinyengine.layout = "NCHW"`` (set by the ONNX and PyTorch frontends), are returned
unchanged, so the pass is a no-op on TFLite-imported graphs.
"""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax

from ._util import call_op_name, is_constant

TO_NHWC = [0, 2, 3, 1]
TO_NCHW = [0, 3, 1, 2]
_AXIS = {0: 0, 1: 3, 2: 1, 3: 2}  # NCHW axis -> NHWC axis

_ELEMENTWISE = {
    "relax.add", "relax.subtract", "relax.multiply", "relax.divide", "relax.maximum", "relax.minimum",
    "relax.clip", "relax.nn.relu", "relax.astype", "relax.where", "relax.sigmoid", "relax.tanh",
    "relax.nn.silu", "relax.round", "relax.floor", "relax.negative", "relax.abs", "relax.power",
}
_POOLS = {"relax.nn.max_pool2d", "relax.nn.avg_pool2d"}
_REDUCTIONS = {"relax.mean", "relax.sum", "relax.max", "relax.min"}
_MOVES = {"relax.permute_dims", "relax.strided_slice", "relax.split"}  # element moves with an axis (ONNX Transpose, Slice, Split)


def _spanned(new, old):
    """new carrying old's span: frontends record source locations there (PyTorch: the module path)."""
    span = getattr(old, "span", None)
    if span is None or not isinstance(new, relax.Call):
        return new
    return relax.Call(new.op, new.args, new.attrs, new.ty_args, span=span)


def _rank(expr) -> int:
    ty = expr.ty
    return int(ty.ndim) if isinstance(ty, relax.TensorType) else -1


def _shape(expr):
    return [int(d) for d in expr.ty.shape]


# Bindings the pass adds get their own name, so each converted binding keeps its var's name
# (the PyTorch frontend's source locations are keyed by it).
_AUX = "layout"

LAYOUT_ATTR = "tinyengine.layout"  # frontends mark NCHW graphs with it (a graph may hold no conv at all)


def _needs_conversion(func: relax.Function) -> bool:
    if func.attrs is not None and str(func.attrs.get(LAYOUT_ATTR, "")) == "NCHW":
        return True
    for block in func.body.blocks:
        for b in block.bindings:
            name = call_op_name(b.value)
            if name == "relax.nn.conv2d" and str(b.value.attrs.data_layout) == "NCHW":
                return True
            if name in _POOLS and str(b.value.attrs.layout) == "NCHW":
                return True
    return False


class _Converter:
    def __init__(self, bb: relax.BlockBuilder):
        self.bb = bb
        self.orig = {}  # var -> expr in the original (NCHW) layout
        self.nhwc = {}  # var -> expr in NHWC (4-D tensors only)
        self.result_var = None  # the var main returns (its tuple keeps 4-D results in NHWC)
        self.nhwc_tuple = {}  # var of a split's tuple -> the split of the NHWC twin

    # -- operand access -------------------------------------------------------------
    def get_orig(self, e):
        if isinstance(e, relax.Var):
            if e in self.orig:
                return self.orig[e]
            if e in self.nhwc_tuple:  # a split's tuple used whole: its parts back in NCHW
                t = self.nhwc_tuple[e]
                parts = [self.bb.emit(relax.op.permute_dims(relax.TupleGetItem(t, i), TO_NCHW), name_hint=_AUX)
                         for i in range(len(t.ty.fields))]
                self.orig[e] = self.bb.emit(relax.Tuple(parts), name_hint=_AUX)
                return self.orig[e]
            if e in self.nhwc:
                self.orig[e] = self.bb.emit(relax.op.permute_dims(self.nhwc[e], TO_NCHW), name_hint=_AUX)
                return self.orig[e]
            return e
        if isinstance(e, relax.Tuple):
            return relax.Tuple([self.get_orig(f) for f in e.fields])
        return e

    def get_nhwc(self, e):
        """e as an NHWC 4-D tensor (constants and lower-rank operands are broadcast to 4-D first)."""
        if isinstance(e, relax.Var) and e in self.nhwc:
            return self.nhwc[e]
        if is_constant(e):
            v = e.value.numpy()
            v = v.reshape((1,) * (4 - v.ndim) + v.shape).transpose(TO_NHWC)
            return relax.const(np.ascontiguousarray(v), str(e.ty.dtype))
        o = self.get_orig(e)
        r = _rank(o)
        if r < 4:
            o = self.bb.emit(relax.op.reshape(o, [1] * (4 - r) + _shape(o)), name_hint=_AUX)
        t = self.bb.emit(relax.op.permute_dims(o, TO_NHWC), name_hint=_AUX)
        if isinstance(e, relax.Var):
            self.nhwc[e] = t
        return t

    def has_nhwc(self, e) -> bool:
        return isinstance(e, relax.Var) and e in self.nhwc

    # -- one binding ----------------------------------------------------------------
    def convert(self, var, value):
        name = call_op_name(value)
        out = None
        if name == "relax.nn.conv2d" and str(value.attrs.data_layout) == "NCHW" and str(value.attrs.kernel_layout) == "OIHW" \
                and str(value.attrs.out_layout) == "NCHW":
            out = self._conv(value)
        elif name in _POOLS and str(value.attrs.layout) == "NCHW" and self._is4d(value.args[0]):
            out = self._pool(value)
        elif name == "relax.image.resize2d" and str(value.attrs.layout) == "NCHW" and self.has_nhwc(value.args[0]):
            a = value.attrs
            out = relax.op.image.resize2d(
                self.nhwc[value.args[0]], value.args[1], roi=[float(v) for v in a.roi], layout="NHWC", method=str(a.method),
                coordinate_transformation_mode=str(a.coordinate_transformation_mode),
                rounding_method=str(a.rounding_method), cubic_alpha=float(a.cubic_alpha), cubic_exclude=int(a.cubic_exclude),
                extrapolation_value=float(a.extrapolation_value),
                out_dtype=None if a.out_dtype is None else str(a.out_dtype))
        elif name in ("relax.quantize", "relax.dequantize") and self.has_nhwc(value.args[0]):
            a = value.attrs
            fn = relax.op.quantize if name == "relax.quantize" else relax.op.dequantize
            out = fn(self.nhwc[value.args[0]], value.args[1], value.args[2], axis=_AXIS[int(a.axis) % 4], out_dtype=str(a.out_dtype))
        elif name in _ELEMENTWISE and _rank(var) == 4 and any(self.has_nhwc(a) for a in value.args):
            args = [self.get_nhwc(a) if (isinstance(a, relax.Var) or is_constant(a)) and _rank(a) >= 0 else a for a in value.args]
            out = relax.Call(value.op, args, value.attrs, value.ty_args)
        elif name in _REDUCTIONS and self.has_nhwc(value.args[0]) and value.attrs.axis is not None:
            return self._reduce(var, value)
        elif name == "relax.concat" and isinstance(value.args[0], relax.Tuple) and value.args[0].fields and all(
                self.has_nhwc(f) for f in value.args[0].fields):  # concat of 4-D maps: the axis moves
            out = relax.op.concat([self.nhwc[f] for f in value.args[0].fields], axis=_AXIS[int(value.attrs.axis) % 4])
        elif name in ("relax.nn.softmax", "relax.nn.log_softmax") and _rank(var) == 4 and self.has_nhwc(value.args[0]):
            fn = relax.op.nn.softmax if name == "relax.nn.softmax" else relax.op.nn.log_softmax
            out = fn(self.nhwc[value.args[0]], axis=_AXIS[int(value.attrs.axis) % 4])
        elif name in _MOVES and _rank(value.args[0]) == 4 and self.has_nhwc(value.args[0]):
            out = self._move(var, value)
            if out is None:
                return
        elif isinstance(value, relax.TupleGetItem) and isinstance(value.tuple_value, relax.Var) \
                and value.tuple_value in self.nhwc_tuple:  # one part of a split in NHWC
            self.nhwc[var] = self.bb.emit(relax.TupleGetItem(self.nhwc_tuple[value.tuple_value], value.index),
                                          name_hint=str(var.name))
            return
        elif name == "relax.reshape" and self.has_nhwc(value.args[0]) and self._order_kept(value.args[0]):
            self.orig[var] = self.bb.emit(relax.op.reshape(self.nhwc[value.args[0]], value.args[1]), name_hint=str(var.name))
            return
        if out is not None:
            self.nhwc[var] = self.bb.emit(_spanned(out, value), name_hint=str(var.name))
            return
        if isinstance(value, relax.Tuple) and var.same_as(self.result_var):  # the returned tuple: 4-D results in NHWC
            fields = [self.nhwc[f] if isinstance(f, relax.Var) and f in self.nhwc else self.get_orig(f) for f in value.fields]
            self.orig[var] = self.bb.emit(relax.Tuple(fields), name_hint=str(var.name))
            return
        self.orig[var] = self.bb.emit(_spanned(self._with_orig_args(value), value), name_hint=str(var.name))

    def _with_orig_args(self, value):
        if isinstance(value, relax.Call):
            return relax.Call(value.op, [self.get_orig(a) for a in value.args], value.attrs, value.ty_args)
        if isinstance(value, relax.Tuple):
            return relax.Tuple([self.get_orig(f) for f in value.fields])
        if isinstance(value, relax.TupleGetItem):
            return relax.TupleGetItem(self.get_orig(value.tuple_value), value.index)
        return self.get_orig(value)

    def _move(self, var, value):
        """permute_dims / strided_slice / split of a 4-D map on its NHWC twin (ONNX Transpose, Slice, Split): the
        same elements, so the int8 kernels (transpose, slice) take them. Returns the call, or None when done."""
        x = self.nhwc[value.args[0]]
        name = call_op_name(value)
        if name == "relax.permute_dims":
            p = [3, 2, 1, 0] if value.attrs.axes is None else [int(a) % 4 for a in value.attrs.axes]
            q = [_AXIS[p[TO_NHWC[i]]] for i in range(4)]  # the same transpose, NHWC twin to NHWC twin
            if q == [0, 1, 2, 3]:
                self.nhwc[var] = x  # a transpose the layout change already made (e.g. NCHW -> NHWC at an output)
                return None
            return relax.op.permute_dims(x, q)
        if name == "relax.strided_slice":
            vals = [[int(v.value) for v in a.fields] for a in value.args[1:]]
            axes, begin, end = vals[:3]
            strides = vals[3] if len(vals) > 3 else None
            return relax.op.strided_slice(x, axes=[_AXIS[a % 4] for a in axes], begin=begin, end=end, strides=strides,
                                          assume_inbound=bool(value.attrs.assume_inbound))
        sec = value.attrs.indices_or_sections  # relax.split
        sec = int(sec) if not hasattr(sec, "__len__") else [int(v) for v in sec]
        self.nhwc_tuple[var] = self.bb.emit(relax.op.split(x, sec, axis=_AXIS[int(value.attrs.axis) % 4]),
                                            name_hint=str(var.name))
        return None

    def _is4d(self, e) -> bool:
        return _rank(e) == 4

    def _order_kept(self, e) -> bool:
        """True if NCHW and NHWC list e's non-unit dimensions in the same order (a reshape reads either)."""
        shape = _shape(e)
        nchw = [i for i in range(4) if shape[i] != 1]
        nhwc = [i for i in TO_NHWC if shape[i] != 1]
        return nchw == nhwc

    def _conv(self, c):
        a = c.attrs
        x = self.get_nhwc(c.args[0])
        w = self.get_orig(c.args[1])
        o, i, kh, kw = _shape(c.args[1])
        in_c = _shape(c.args[0])[1]
        groups = int(a.groups)
        if groups == in_c and i == 1 and groups > 1:
            t = self.bb.emit(relax.op.permute_dims(w, [1, 2, 3, 0]), name_hint=_AUX)  # (1, H, W, O), as TFLite stores it
            weight, layout = self.bb.emit(relax.op.reshape(t, [kh, kw, o, 1]), name_hint=_AUX), "HWOI"
        else:  # plain, or grouped (no int8 kernel: converted anyway, so the error names the conv itself)
            weight, layout = self.bb.emit(relax.op.permute_dims(w, [2, 3, 1, 0]), name_hint=_AUX), "HWIO"
        return relax.op.nn.conv2d(
            x, weight, strides=[int(v) for v in a.strides], padding=[int(v) for v in a.padding],
            dilation=[int(v) for v in a.dilation], groups=groups, data_layout="NHWC", kernel_layout=layout,
            out_layout="NHWC", out_dtype=a.out_dtype,
        )

    def _pool(self, p):
        a = p.attrs
        fn = relax.op.nn.max_pool2d if call_op_name(p) == "relax.nn.max_pool2d" else relax.op.nn.avg_pool2d
        return fn(self.get_nhwc(p.args[0]), pool_size=[int(v) for v in a.pool_size], strides=[int(v) for v in a.strides],
                  padding=[int(v) for v in a.padding], dilation=[int(v) for v in a.dilation], ceil_mode=bool(a.ceil_mode),
                  count_include_pad=bool(a.count_include_pad), layout="NHWC", out_layout="NHWC")

    def _reduce(self, var, value):
        axes = sorted({int(x) % 4 for x in value.attrs.axis})
        keep = bool(value.attrs.keepdims)
        new_axes = sorted(_AXIS[x] for x in axes)
        fn = {"relax.mean": relax.op.mean, "relax.sum": relax.op.sum, "relax.max": relax.op.max, "relax.min": relax.op.min}[call_op_name(value)]
        call = _spanned(fn(self.nhwc[value.args[0]], axis=new_axes, keepdims=keep), value)
        if keep:
            self.nhwc[var] = self.bb.emit(call, name_hint=str(var.name))
            return
        kept_orig = [d for d in range(4) if d not in axes]
        kept_nhwc = [d for d in TO_NHWC if d not in axes]
        r = self.bb.emit(call, name_hint=str(var.name))
        if kept_orig != kept_nhwc:
            r = self.bb.emit(relax.op.permute_dims(r, [kept_nhwc.index(d) for d in kept_orig]), name_hint=_AUX)
        self.orig[var] = r


def _convert(func: relax.Function) -> relax.Function:
    if not _needs_conversion(func):
        return func
    bb = relax.BlockBuilder()
    conv = _Converter(bb)
    conv.result_var = func.body.body if isinstance(func.body.body, relax.Var) else None
    params = []
    for p in func.params:
        if _rank(p) == 4:
            n, c, h, w = _shape(p)
            np_ = relax.Var(str(p.name), relax.TensorType([n, h, w, c], str(p.ty.dtype)))
            conv.nhwc[p] = np_
            params.append(np_)
        else:
            params.append(p)
    attrs = dict(func.attrs) if func.attrs else None
    if attrs and LAYOUT_ATTR in attrs:
        attrs[LAYOUT_ATTR] = "NHWC"
    with bb.function("main", params, attrs=attrs):
        with bb.dataflow():
            for block in func.body.blocks:
                for b in block.bindings:
                    if isinstance(b, relax.VarBinding):
                        conv.convert(b.var, b.value)
                    else:
                        raise ValueError("ConvertToNHWC: match_cast bindings are not supported")
            body = func.body.body
            if isinstance(body, relax.Tuple):
                res = relax.Tuple([conv.nhwc.get(f, None) or conv.get_orig(f) for f in body.fields])
            else:
                res = conv.nhwc.get(body, None) if isinstance(body, relax.Var) else None
                res = res if res is not None else conv.get_orig(body)
            out = bb.emit_output(res)
        bb.emit_func_output(out)
    # drop the alias binding emit_output made (the last converted value becomes the output var)
    return relax.transform.CanonicalizeBindings()(bb.get())["main"]


@tvm.transform.module_pass(opt_level=0, name="tinyengine.ConvertToNHWC")
def ConvertToNHWC(mod, _ctx):
    """Convert NCHW conv/pool graphs (ONNX, PyTorch) to NHWC, quantize/dequantize included."""
    if "main" not in [gv.name_hint for gv in mod.get_global_vars()]:
        return mod
    func = mod["main"]
    new = _convert(func)
    if new.same_as(func):
        return mod
    mod = mod.clone()
    mod["main"] = new
    return mod


ConvertToNHWC.__doc__ = __doc__
