"""Post-training quantization of a float Relax model to TFLite's int8 scheme.

``quantize(mod, calibration)`` takes a float Relax module (from the ONNX or PyTorch
frontend, NCHW or NHWC) and returns the quantized module in the form the TFLite
importer writes, so the kernel patterns take it as they take a ``.tflite`` model:

1. float canonicalization: batch norm folded into the preceding conv, through its bias
   (``FoldConvBiasIntoBatchnorm``, ``FoldBatchnormToConv2D``), bindings canonicalized and dead code removed, clip
   spellings unified (``CanonicalizeClip``: ReLU6 / Clip become ``R.clip``), NHWC layout
   (``ConvertToNHWC``), constants folded, an NCHW flatten before a dense layer turned into
   an NHWC one (``FoldFlattenTransposeIntoDense``);
2. grouping: every conv2d / matmul with its bias add and a following ReLU/ReLU6/clip
   (fused before calibration, so the range observed is the activation's output), every
   residual add (with its activation), pools, means, reshapes and nearest resizes;
3. calibration (``calibrate.collect``): ranges of the model input and of every group
   output on the user's data (min/max, percentile or MSE), observed in TVM's float build
   or, given the network as ONNX too, in onnxruntime's (``ort_observer``);
4. rewrite: per-tensor asymmetric int8 activations, per-output-channel symmetric int8
   weights (scale = max|w| / 127), int32 bias with scale ``s_in * s_w``; max/avg pool,
   reshape and nearest resize keep their input's parameters (TFLite requires it); activations become int8
   ``clip`` bounds after ``quantize``; float outputs come from a final ``dequantize``.

``QuantizationReport`` compares the float model with the quantized one (run on TVM's
VM) on the calibration inputs: top-1 agreement and max / mean absolute error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import TinyEngineError, UnsupportedOperatorError
from . import calibrate


@dataclass
class QuantizationReport:
    """Float vs int8 on the calibration set (the int8 model run as TVM's QDQ reference)."""

    samples: int
    top1_agreement: float
    max_abs_error: float
    mean_abs_error: float
    method: str
    tensors: int
    per_tensor: dict = field(default_factory=dict, repr=False)  # name -> (scale, zero point)
    engine: str = "tvm"  # where the float model ran for calibration: "tvm" or "onnxruntime"

    def __str__(self):
        return (f"PTQ ({self.method} in {self.engine}, {self.samples} calibration inputs, {self.tensors} quantized tensors): "
                f"top-1 agreement {self.top1_agreement:.1%}, max |float - int8| {self.max_abs_error:.4g}, "
                f"mean {self.mean_abs_error:.4g}")


def float_canonicalize(mod):
    """Step 1: BN folding, clip canonicalization, NHWC layout, constant folding (float graph)."""
    import tvm
    from tvm import relax

    from ..relay_passes import CanonicalizeClip, ConvertToNHWC, FoldConvBiasIntoBatchnorm, FoldFlattenTransposeIntoDense
    from ..relay_passes.fold_float_constants import FoldFloatConstants

    seq = tvm.transform.Sequential([
        FoldConvBiasIntoBatchnorm,  # conv(bias=True) + BN: FoldBatchnormToConv2D needs conv -> BN directly
        relax.transform.FoldBatchnormToConv2D(),
        relax.transform.DecomposeOpsForInference(),  # batch norms not after a conv
        relax.transform.CanonicalizeBindings(),
        relax.transform.DeadCodeElimination(),
        CanonicalizeClip,
        ConvertToNHWC,
        FoldFloatConstants,  # numpy; relax.transform.FoldConstant compiles a kernel per weight (~100 s on MobileNetV2)
        FoldFlattenTransposeIntoDense,  # flatten(NCHW) -> linear: renumber the weight rows instead
        relax.transform.CanonicalizeBindings(),
        relax.transform.DeadCodeElimination(),
        relax.transform.ToNonDataflow(),
    ])
    try:
        return seq(mod)
    except TinyEngineError:
        raise
    except Exception as err:
        lines = [ln for ln in str(err).strip().splitlines() if ln.strip()]
        raise TinyEngineError(f"float model canonicalization failed: {lines[-1] if lines else type(err).__name__}") from None


# ----------------------------------------------------------------------------------- grouping


@dataclass
class _Group:
    kind: str                 # conv2d, depthwise_conv2d, matmul, add, max_pool2d, avg_pool2d, mean, reshape,
                              # resize_nearest, activation (a standalone clip / relu)
    anchor: object            # the anchor call
    inputs: list              # tensor vars (float graph) the group reads
    out: object               # the var whose value is the group's output
    weight: object = None     # numpy float weight (conv: HWIO / depthwise: HWO1 / matmul: [K, N])
    bias: object = None       # numpy float bias (per output channel) or None
    act: tuple | None = None  # (lo, hi) float clamp, or None
    shares_input_qparams: bool = False


def _is_const(e) -> bool:
    import tvm

    return isinstance(e, tvm.ir.expr.GenericConst)


def _op(e):
    import tvm
    from tvm import relax

    return e.op.name if isinstance(e, relax.Call) and isinstance(e.op, tvm.ir.Op) else None


def _where(binding) -> str:
    """Where a binding's value came from: its span's source (the PyTorch frontend records the torch
    module path there) or else the Relax var it is bound to."""
    span = getattr(binding.value, "span", None)
    source = getattr(getattr(span, "source_name", None), "name", "") if span is not None else ""
    if source:
        return str(source)
    return f"'{binding.var.name}'" if hasattr(binding.var, "name") else "?"


def _group(func) -> list[_Group]:
    from tvm import relax

    bindings = [b for block in func.body.blocks for b in block.bindings]
    value = {b.var: b.value for b in bindings}
    uses: dict = {}
    for b in bindings:
        for a in _args(b.value):
            if isinstance(a, relax.Var):
                uses[a] = uses.get(a, 0) + 1
    for f in _outputs(func)[0]:
        if isinstance(f, relax.Var):
            uses[f] = uses.get(f, 0) + 1

    consumed, found = set(), []

    def single_use_next(var, pred):
        """The binding that consumes var, if var has exactly one use and pred(binding value) holds."""
        if uses.get(var, 0) != 1:
            return None
        for b in bindings:
            if any(a.same_as(var) for a in _args(b.value)) and pred(b.value):
                return b
        return None

    def absorb_bias_act(g, allow_bias):
        if allow_bias:
            nb = single_use_next(g.out, lambda v: _op(v) == "relax.add" and any(_is_const(a) for a in v.args))
            if nb is not None:
                c = [a for a in nb.value.args if _is_const(a)][0]
                b = c.value.numpy().astype(np.float32).reshape(-1)
                n_out = int(g.out.ty.shape[-1])
                if b.size in (1, n_out):
                    g.bias = np.broadcast_to(b, (n_out,)).copy()
                    consumed.add(nb.var)
                    g.out = nb.var
        na = single_use_next(g.out, lambda v: _op(v) in ("relax.clip", "relax.nn.relu", "relax.nn.relu6"))
        if na is not None:
            v = na.value
            if _op(v) == "relax.clip":
                g.act = (float(v.args[1].value), float(v.args[2].value))
            elif _op(v) == "relax.nn.relu6":
                g.act = (0.0, 6.0)
            else:
                g.act = (0.0, math.inf)
            consumed.add(na.var)
            g.out = na.var

    for b in bindings:
        if b.var in consumed:
            continue
        v, op = b.value, _op(b.value)
        if op == "relax.nn.conv2d":
            a = v.attrs
            if str(a.data_layout) != "NHWC" or not _is_const(v.args[1]):
                raise UnsupportedOperatorError(f"conv2d at {_where(b)}: needs an NHWC conv with constant weights")
            w = v.args[1].value.numpy().astype(np.float32)
            in_c = int(v.args[0].ty.shape[3])
            n_groups = int(a.groups)
            if n_groups == 1 and str(a.kernel_layout) == "HWIO":
                kind = "conv2d"
            elif n_groups == in_c and n_groups > 1 and str(a.kernel_layout) == "HWOI" and w.shape[3] == 1:
                kind = "depthwise_conv2d"
            else:
                raise UnsupportedOperatorError(f"grouped conv2d (groups={n_groups}) at {_where(b)} has no kernel")
            g = _Group(kind, v, [v.args[0]], b.var, weight=w)
            absorb_bias_act(g, True)
        elif op == "relax.matmul":
            if not _is_const(v.args[1]) or len(v.args[0].ty.shape) != 2:
                raise UnsupportedOperatorError(f"matmul at {_where(b)}: only [batch, in] x constant [in, out] has a kernel")
            g = _Group("matmul", v, [v.args[0]], b.var, weight=v.args[1].value.numpy().astype(np.float32))
            absorb_bias_act(g, True)
        elif op == "relax.add" and all(isinstance(x, relax.Var) for x in v.args):
            g = _Group("add", v, list(v.args), b.var)
            absorb_bias_act(g, False)
        elif op in ("relax.nn.max_pool2d", "relax.nn.avg_pool2d"):
            g = _Group(op.split(".")[-1], v, [v.args[0]], b.var, shares_input_qparams=True)
            absorb_bias_act(g, False)
            if g.act is not None:  # pool -> relu: quantized with the activation's own range, as onnxruntime does
                g.shares_input_qparams = False
        elif op == "relax.mean":
            g = _Group("mean", v, [v.args[0]], b.var)
        elif op == "relax.image.resize2d" and str(v.attrs.method) == "nearest_neighbor":
            g = _Group("resize_nearest", v, [v.args[0]], b.var, shares_input_qparams=True)
        elif op in ("relax.reshape", "relax.flatten", "relax.squeeze", "relax.expand_dims"):
            g = _Group("reshape", v, [v.args[0]], b.var, shares_input_qparams=True)
        elif op in ("relax.clip", "relax.nn.relu", "relax.nn.relu6"):
            # standalone (after a reshape, mean, resize or at the input): its own output range, as
            # TFLite's RELU and onnxruntime give it; the requantization to it saturates at the bounds
            lo_hi = {"relax.nn.relu": (0.0, math.inf), "relax.nn.relu6": (0.0, 6.0)}.get(op)
            act = lo_hi or (float(v.args[1].value), float(v.args[2].value))
            g = _Group("activation", v, [v.args[0]], b.var, act=act)
        elif isinstance(v, relax.Tuple) and b.var.same_as(_body_var(func)):
            continue  # the returned tuple of outputs (resolved by _outputs)
        elif isinstance(v, relax.Var):
            raise UnsupportedOperatorError(f"alias binding at {_where(b)} (canonicalization left it)")
        else:
            name = op or type(v).__name__
            raise UnsupportedOperatorError(f"operator {name} at {_where(b)} has no int8 kernel")
        found.append(g)
    return found


def _body_var(func):
    from tvm import relax

    body = func.body.body
    return body if isinstance(body, relax.Var) else None


def _outputs(func):
    """(output vars, returned as a tuple?) of main, looking through a bound output tuple."""
    from tvm import relax

    body = func.body.body
    if isinstance(body, relax.Var):
        for block in func.body.blocks:
            for b in block.bindings:
                if b.var.same_as(body) and isinstance(b.value, relax.Tuple):
                    return list(b.value.fields), True
        return [body], False
    if isinstance(body, relax.Tuple):
        return list(body.fields), True
    return [body], False


def _args(v):
    from tvm import relax

    if isinstance(v, relax.Call):
        return list(v.args)
    if isinstance(v, relax.Tuple):
        return list(v.fields)
    if isinstance(v, relax.TupleGetItem):
        return [v.tuple_value]
    return [v] if isinstance(v, relax.Var) else []


# ------------------------------------------------------------------------------------ rewrite


def _emit_quantized(func, groups, qp):
    """Build the TFLite-form quantized main. qp: float var -> (scale, zp)."""
    from tvm import relax

    bb = relax.BlockBuilder()
    zero = relax.const(0, "int32")

    def sc(s):
        return relax.const(np.float32(s))

    def zc(z):
        return relax.const(int(z), "int32")

    params = [relax.Var(str(p.name), p.ty) for p in func.params]
    q = {}  # float var -> int8 var

    def deq(v):
        s, z = qp[v]
        return bb.emit(relax.op.dequantize(q[v], sc(s), zc(z), axis=0))

    def quant(expr, v):
        s, z = qp[v]
        return bb.emit(relax.op.quantize(expr, sc(s), zc(z), axis=0, out_dtype="int8"))

    def act_clip(qv, g):
        if g.act is None:
            return qv
        s, z = qp[g.out]
        lo, hi = g.act
        from ..codegen.quant import _round_half_away

        qlo = -128 if not math.isfinite(lo) else max(-128, z + _round_half_away(float(np.float32(lo) / np.float32(s))))
        qhi = 127 if not math.isfinite(hi) else min(127, z + _round_half_away(float(np.float32(hi) / np.float32(s))))
        if (qlo, qhi) == (-128, 127):
            return qv
        return bb.emit(relax.op.clip(qv, float(qlo), float(qhi)))

    from ..relay_passes.annotate import ROUNDING_ATTR

    with bb.function("main", params, attrs={ROUNDING_ATTR: "exact"}):
        with bb.dataflow():
            for p, np_ in zip(func.params, params):
                if str(p.ty.dtype) != "float32":
                    raise TinyEngineError(f"input '{p.name}' has dtype {p.ty.dtype}; float models take float32 inputs")
                q[p] = quant(np_, p)
            for g in groups:
                x = g.inputs[0]
                if g.kind in ("conv2d", "depthwise_conv2d", "matmul"):
                    s_in = np.float32(qp[x][0])
                    d = deq(x)
                    if g.kind == "matmul":
                        wq, ws = calibrate.weight_qparams(g.weight, axis=1)  # [K, N], channel = N
                        wt = bb.emit(relax.op.permute_dims(relax.const(np.ascontiguousarray(wq.T)), [1, 0]))
                        w = bb.emit(relax.op.dequantize(wt, relax.const(ws), zero, axis=1))
                        y = bb.emit(relax.op.matmul(d, w))
                    else:
                        a = g.anchor.attrs
                        if g.kind == "conv2d":
                            wq, ws = calibrate.weight_qparams(g.weight, axis=3)  # HWIO
                            w = bb.emit(relax.op.dequantize(relax.const(wq), relax.const(ws), zero, axis=3))
                        else:
                            kh, kw, o, _ = g.weight.shape
                            wq, ws = calibrate.weight_qparams(g.weight.reshape(1, kh, kw, o), axis=3)
                            w0 = bb.emit(relax.op.dequantize(relax.const(wq), relax.const(ws), zero, axis=3))
                            w = bb.emit(relax.op.reshape(w0, [kh, kw, o, 1]))
                        y = bb.emit(relax.op.nn.conv2d(
                            d, w, strides=[int(v) for v in a.strides], padding=[int(v) for v in a.padding],
                            dilation=[int(v) for v in a.dilation], groups=int(a.groups), data_layout="NHWC",
                            kernel_layout=str(a.kernel_layout), out_layout="NHWC"))
                    if g.bias is not None:
                        bs = (s_in * ws.astype(np.float32)).astype(np.float32)
                        bq = np.round(g.bias.astype(np.float64) / bs.astype(np.float64))
                        bq = np.clip(bq, -(2 ** 31), 2 ** 31 - 1).astype(np.int32)
                        b = bb.emit(relax.op.dequantize(relax.const(bq), relax.const(bs), zero, axis=0))
                        y = bb.emit(relax.op.add(y, b))
                    q[g.out] = act_clip(quant(y, g.out), g)
                elif g.kind == "add":
                    y = bb.emit(relax.op.add(deq(g.inputs[0]), deq(g.inputs[1])))
                    q[g.out] = act_clip(quant(y, g.out), g)
                elif g.kind in ("max_pool2d", "avg_pool2d", "mean"):
                    a = g.anchor
                    y = bb.emit(relax.Call(a.op, [deq(x)], a.attrs, a.ty_args))
                    q[g.out] = act_clip(quant(y, g.out), g)  # the clip, if any bound is not implied by the range
                elif g.kind == "activation":
                    lo, hi = g.act
                    y = bb.emit(relax.op.clip(deq(x), lo, hi))
                    q[g.out] = quant(y, g.out)
                elif g.kind == "reshape":
                    shape = [int(v) for v in g.out.ty.shape]
                    q[g.out] = bb.emit(relax.op.reshape(q[x], shape))
                elif g.kind == "resize_nearest":  # copies int8 values: on the int8 tensor, as TFLite's importer writes it
                    a = g.anchor
                    q[g.out] = bb.emit(relax.Call(a.op, [q[x], *a.args[1:]], a.attrs, a.ty_args))
            fields, as_tuple = _outputs(func)
            outs = []
            for f in fields:
                if f not in q:
                    raise TinyEngineError(f"model output {f} is not produced by a quantized layer")
                s, z = qp[f]
                outs.append(bb.emit_output(relax.op.dequantize(q[f], sc(s), zc(z), axis=0)))
        # a one-element output tuple (torch.export) becomes a plain output
        bb.emit_func_output(relax.Tuple(outs) if as_tuple and len(outs) > 1 else outs[0])
    return bb.get()


def _resolve_qparams(func, groups, ranges):
    """float var -> (scale, zp): calibrated for the inputs and group outputs, inherited where shared."""
    qp = {}
    for p in func.params:
        qp[p] = calibrate.activation_qparams(*ranges[p])
    for g in groups:
        if g.shares_input_qparams:
            qp[g.out] = qp[g.inputs[0]]
        else:
            qp[g.out] = calibrate.activation_qparams(*ranges[g.out])
    return qp


def _as_list_inputs(data, n_inputs):
    """Calibration data -> list of per-sample input lists."""
    out = []
    for item in data:
        if isinstance(item, dict):
            item = list(item.values())
        elif isinstance(item, np.ndarray) or not isinstance(item, (list, tuple)):
            item = [item]
        arrs = [np.ascontiguousarray(np.asarray(a, np.float32)) for a in item]
        if len(arrs) != n_inputs:
            raise TinyEngineError(f"calibration sample has {len(arrs)} input(s); the model takes {n_inputs}")
        out.append(arrs)
    if not out:
        raise TinyEngineError("calibration data is empty; give at least one input")
    return out


def quantize(mod, calibration, method: str = "minmax", percentile: float = 99.99, input_layout: str = "NHWC",
             onnx_model=None):
    """Quantize a float Relax module (see module docstring). Returns (quantized IRModule, QuantizationReport).

    ``calibration``: an iterable of inputs, each an array (one-input models), a list of
    arrays or a dict. Arrays are in the compiled model's layout (``input_layout="NHWC"``,
    the default) or in the float model's own NCHW layout (``input_layout="NCHW"``).
    ``onnx_model``: the same network as a float ``onnx.ModelProto`` (NCHW images): ranges are then
    observed in onnxruntime's float execution of it, as onnxruntime's ``quantize_static`` observes
    them, instead of in TVM's (``ort_observer``).
    """
    import tvm

    if method not in calibrate.METHODS:
        raise TinyEngineError(f"unknown calibration method '{method}'; choose one of {', '.join(calibrate.METHODS)}")
    fmod = float_canonicalize(mod)
    func = fmod["main"]
    samples = _as_list_inputs(calibration, len(func.params))
    native = samples
    for i, (p, a) in enumerate(zip(func.params, samples[0])):
        want = tuple(int(d) for d in p.ty.shape)
        if input_layout.upper() == "NCHW" and a.ndim == 4:
            samples = [[x.transpose(0, 2, 3, 1) if j == i else x for j, x in enumerate(s)] for s in samples]
            a = samples[0][i]
        if tuple(a.shape) != want:
            raise TinyEngineError(f"calibration input {i} has shape {list(a.shape)}; the model takes {list(want)} (NHWC)")
    groups = _group(func)
    tensors = list(func.params) + [g.out for g in groups if not g.shares_input_qparams]
    if onnx_model is not None and native is samples:  # NHWC calibration data: ONNX image inputs are NCHW
        native = [[x.transpose(0, 3, 1, 2) if x.ndim == 4 else x for x in s] for s in samples]
    obs = calibrate.collect(fmod, tensors, samples, onnx_model=onnx_model, onnx_inputs=native)
    ranges = {t: o.range(method, percentile) for t, o in zip(tensors, obs)}
    qp = _resolve_qparams(func, groups, ranges)
    qmod = _emit_quantized(func, groups, qp)
    report = _report(fmod, qmod, samples, method, len(qp))
    report.engine = "tvm" if onnx_model is None else "onnxruntime"
    report.per_tensor = {str(v.name): p for v, p in qp.items()}
    return qmod, report


def _report(fmod, qmod, samples, method, n_tensors):
    import tvm
    from tvm import relax

    def runner(m):
        vm = relax.VirtualMachine(tvm.compile(m, target="llvm"), tvm.cpu())

        def run(inputs):
            r = vm["main"](*[tvm.runtime.tensor(a) for a in inputs])
            if hasattr(r, "numpy"):
                return r.numpy()
            return r[0].numpy()

        return run

    f_run, q_run = runner(fmod), runner(qmod)
    agree, max_err, sum_err, count = 0, 0.0, 0.0, 0
    for s in samples:
        f, qv = f_run(s), q_run(s)
        agree += int(np.argmax(f.reshape(f.shape[0], -1), axis=1)[0] == np.argmax(qv.reshape(qv.shape[0], -1), axis=1)[0])
        e = np.abs(f.astype(np.float64) - qv.astype(np.float64))
        max_err = max(max_err, float(e.max()))
        sum_err += float(e.sum())
        count += e.size
    return QuantizationReport(len(samples), agree / len(samples), max_err, sum_err / max(count, 1), method, n_tensors)
