"""PartitionKernels: group each quantized op chain into a composite function ``tinyengine.<kernel>``.

The TFLite and QDQ frontends express an int8 layer as
``dequantize -> float op (+ bias add) -> quantize (-> clip)``. This pass matches those
chains with ``relax.dpl`` patterns and lets ``FuseOpsByPattern`` lift each into a
function carrying ``Composite = "tinyengine.<kernel>"``, so ``main`` becomes a
sequence of kernel calls with int8 tensors between them (the "kernel graph").
The composite keeps its original float body, so ``relax.build`` still runs the
module as a reference.

Patterns (in priority order, longest first):

==============================  ==================================================================
``tinyengine.conv2d``           deq(x) -> conv2d(groups=1, deq(W) or reshape(deq(W[1,H,W,M]))) [+ deq(b)] -> quantize [-> clip]
``tinyengine.depthwise_conv2d`` same with groups == input channels, W (reshaped) in HWOI
``tinyengine.fully_connected``  deq(x) -> matmul(deq(permute(W))) [+ deq(b)] -> quantize [-> clip]
``tinyengine.add``              add(deq(a), deq(b)) [-> relu | float clip] -> quantize [-> clip]
``tinyengine.avg_pool2d``       deq(x) -> avg_pool2d -> quantize [-> clip], or astype(int32) -> avg_pool2d -> astype(int8)
``tinyengine.max_pool2d``       deq(x) -> max_pool2d -> quantize [-> clip]   (or max_pool2d on int8)
``tinyengine.mean``             deq(x) -> mean -> quantize
``tinyengine.requantize``       quantize(deq(x))  (int8 -> int8 with new parameters), also with a standalone
                               relu / clip in between whose bounds the output's int8 range implies
``tinyengine.quantize``         quantize(x: float32)
``tinyengine.dequantize``       deq(x) (int8 -> float32, at the graph output)
``tinyengine.pad``              pad(x: int8) (a pad that FoldPadIntoConv could not fold)
``tinyengine.reshape``          reshape(x: int8)
``tinyengine.resize_nearest``   image.resize2d(x: int8, method="nearest_neighbor", NHWC), or deq -> it -> quantize
                               with the same scale and zero point at both ends (ONNX QDQ)
``tinyengine.log_softmax``      log_softmax(x: float32)
``tinyengine.concat``           concat((deq(x1), ..., deq(xn))) -> quantize [-> clip]   (2 <= n <= 16)
``tinyengine.softmax``          deq(x) -> softmax(axis=-1) -> quantize
``tinyengine.pad_channels``     pad(x: int8) along channels / batch (spatial pads: tinyengine.pad)
``tinyengine.transpose``        permute_dims(x: int8) that no pass folded (a TRANSPOSE kernel)
``tinyengine.slice``            strided_slice(x: int8)   (also every output of a split, LowerSplitToSlices)
``tinyengine.reshape``          also squeeze / expand_dims of int8

``tinyengine.lut``              an int8 -> int8 function of one tensor, as a 256-entry table: deq -> sigmoid /
                               hard-swish / clip(-1, 1) -> quantize, or ADD / SUB / MUL with a scalar constant
``tinyengine.mul``              multiply(deq(a), deq(b)) [-> relu | clip] -> quantize, NHWC broadcasting, b may be constant
``tinyengine.add_bcast``        add of two operands of different shapes, or of a constant (te_add_s8 arithmetic)
``tinyengine.sub``              subtract(deq(a), deq(b)) [-> relu | clip] -> quantize, broadcasting allowed
==============================  ==================================================================
"""

from __future__ import annotations

import math

import numpy as np
from tvm import relax
from tvm.relax.dpl import is_const, is_op, wildcard
from tvm.relax.transform import FusionPattern

from ._util import call_op_name, const_value, dtype_of, is_constant


def _deq(x=None):
    x = wildcard() if x is None else x
    return is_op("relax.dequantize")(x, is_const(), is_const())


def _const_deq():
    return is_op("relax.dequantize")(is_const(), is_const(), is_const())


def _tail(body, annotations, with_clip):
    """body [+ deq(bias)] -> quantize [-> clip]; returns list of (pattern, annotations)."""
    q = is_op("relax.quantize")(body, is_const(), is_const())
    ann = dict(annotations, quantize=q)
    if with_clip:
        c = is_op("relax.clip")(q, wildcard(), wildcard())
        return c, dict(ann, clip=c, root=c)
    return q, dict(ann, root=q)


def _biased(op_pattern, annotations, with_bias):
    if not with_bias:
        return op_pattern, annotations
    bias = _const_deq()
    add = is_op("relax.add")(op_pattern, bias)
    return add, dict(annotations, bias=bias)


def _int8_input(ctx, key="input") -> bool:
    return dtype_of(ctx.annotated_expr[key]) == "int8"


def _conv_check(depthwise: bool):
    def check(ctx) -> bool:
        conv = ctx.annotated_expr["op"]
        if str(conv.attrs.data_layout) != "NHWC" or not _int8_input(ctx):
            return False
        groups = int(conv.attrs.groups)
        in_c = int(conv.args[0].ty.shape[3])
        if depthwise:
            return groups == in_c and groups > 1 and str(conv.attrs.kernel_layout) == "HWOI"
        out_c = int(conv.ty.shape[3])
        grouped = 1 < groups < in_c and in_c % groups == 0 and out_c % groups == 0  # te_conv2d_s8's groups
        if not (groups == 1 or grouped) or str(conv.attrs.kernel_layout) != "HWIO":
            return False
        # TFLite's one-channel depthwise conv (depth multiplier M) is a plain conv over reshape(deq(W[1,H,W,M])):
        # the reshape keeps memory order and the output-channel axis last, where the scales are
        w = ctx.annotated_expr["weight"]
        w_shape, hwio = [int(d) for d in w.ty.shape], [int(d) for d in conv.args[1].ty.shape]
        per_tensor = int(np.prod([int(d) for d in w.args[1].ty.shape])) == 1
        return w_shape == hwio or (w_shape[-1] == hwio[-1] and (per_tensor or int(w.attrs.axis) in (-1, len(w_shape) - 1)))

    return check


def _patterns() -> list[FusionPattern]:
    pats: list[FusionPattern] = []

    def add_variants(name, make, check):
        for with_bias in (True, False):
            for with_clip in (True, False):
                op, ann = make()
                body, ann = _biased(op, ann, with_bias)
                root, ann = _tail(body, ann, with_clip)
                pats.append(FusionPattern(name, root, ann, check))

    def conv(depthwise):
        def make():
            x = wildcard()
            w = _const_deq()
            # depthwise: TFLite writes reshape(deq(W[1,H,W,O])); ONNX/PyTorch after FoldConstantLayout deq(W[H,W,O,1])
            # conv: reshape(deq(W[1,H,W,M])) for TFLite's one-channel depthwise conv
            weight = is_op("relax.reshape")(w, wildcard()) | w
            op = is_op("relax.nn.conv2d")(_deq(x), weight)
            return op, {"input": x, "weight": w, "op": op}

        return make

    add_variants("tinyengine.conv2d", conv(False), _conv_check(False))
    add_variants("tinyengine.depthwise_conv2d", conv(True), _conv_check(True))

    def fc():
        x = wildcard()
        w = is_op("relax.dequantize")(is_op("relax.permute_dims")(is_const()), is_const(), is_const())
        op = is_op("relax.matmul")(_deq(x), w)
        return op, {"input": x, "weight": w, "op": op}

    add_variants("tinyengine.fully_connected", fc, lambda ctx: _int8_input(ctx) and len(ctx.annotated_expr["input"].ty.shape) == 2)

    def binary_add():
        a, b = wildcard(), wildcard()
        op = is_op("relax.add")(_deq(a), _deq(b))
        return op, {"input": a, "input2": b, "op": op}

    def unary(opname):
        def make():
            x = wildcard()
            op = is_op(opname)(_deq(x))
            return op, {"input": x, "op": op}

        return make

    def int8_binary(ctx):
        return _int8_input(ctx) and _int8_input(ctx, "input2") and (
            [int(d) for d in ctx.annotated_expr["input"].ty.shape] == [int(d) for d in ctx.annotated_expr["input2"].ty.shape]
        )

    # ADD with a fused activation: the TFLite importer applies it in float before quantize.
    for act in ("relax.nn.relu", "relax.clip"):
        op, ann = binary_add()
        a = is_op(act)(op) if act == "relax.nn.relu" else is_op(act)(op, wildcard(), wildcard())
        root, ann = _tail(a, dict(ann, float_act=a), False)
        pats.append(FusionPattern("tinyengine.add", root, ann, int8_binary))

    for name, make, check in (
        ("tinyengine.add", binary_add, int8_binary),
        ("tinyengine.avg_pool2d", unary("relax.nn.avg_pool2d"), _int8_input),
        ("tinyengine.max_pool2d", unary("relax.nn.max_pool2d"), _int8_input),
    ):
        for with_clip in (True, False):
            op, ann = make()
            root, ann = _tail(op, ann, with_clip)
            pats.append(FusionPattern(name, root, ann, check))

    op, ann = unary("relax.mean")()
    root, ann = _tail(op, ann, False)
    pats.append(FusionPattern("tinyengine.mean", root, ann, _int8_input))

    # int8 average pool as the TFLite importer writes it: astype(int32) -> avg_pool2d -> astype(int8).
    for with_clip in (True, False):
        x = wildcard()
        op = is_op("relax.nn.avg_pool2d")(is_op("relax.astype")(x))
        cast = is_op("relax.astype")(op)
        root = is_op("relax.clip")(cast, wildcard(), wildcard()) if with_clip else cast
        ann = {"input": x, "op": op, "root": root}
        if with_clip:
            ann["clip"] = root
        pats.append(FusionPattern("tinyengine.avg_pool2d", root, ann, _int8_input))

    # int8 max pool applied directly to int8 data (no dequantize around it), optionally clipped.
    for with_clip in (True, False):
        x = wildcard()
        op = is_op("relax.nn.max_pool2d")(x)
        root = is_op("relax.clip")(op, wildcard(), wildcard()) if with_clip else op
        ann = {"input": x, "op": op, "root": root}
        if with_clip:
            ann["clip"] = root
        pats.append(FusionPattern("tinyengine.max_pool2d", root, ann, _int8_input))

    pats += _topology_patterns()  # before the quantize / dequantize patterns, which would claim their ends

    # before the quantize / requantize patterns, which would claim its closing quantize
    def nearest_nhwc(ctx) -> bool:
        rs = ctx.annotated_expr["op"]
        return _int8_input(ctx) and str(rs.attrs.method) == "nearest_neighbor" and str(rs.attrs.layout) == "NHWC"

    def same_qparams(ctx) -> bool:
        """deq -> resize -> quantize (ONNX QDQ) is a plain int8 copy only if both ends share scale and zero point."""
        d, q = ctx.annotated_expr["deq"], ctx.annotated_expr["quantize"]
        same = all(np.array_equal(const_value(d.args[i]), const_value(q.args[i])) for i in (1, 2))
        return nearest_nhwc(ctx) and same

    x = wildcard()
    rs = is_op("relax.image.resize2d")(x, wildcard())
    pats.append(FusionPattern("tinyengine.resize_nearest", rs, {"input": x, "op": rs, "root": rs}, nearest_nhwc))
    x = wildcard()
    d = _deq(x)
    rs = is_op("relax.image.resize2d")(d, wildcard())
    root, ann = _tail(rs, {"input": x, "deq": d, "op": rs}, False)
    pats.append(FusionPattern("tinyengine.resize_nearest", root, ann, same_qparams))

    x = wildcard()
    q = is_op("relax.quantize")(_deq(x), is_const(), is_const())
    pats.append(FusionPattern("tinyengine.requantize", q, {"input": x, "quantize": q, "root": q}, _int8_input))

    def bounds_implied(ctx) -> bool:
        """A standalone clip / relu between deq and quantize is the requantization alone when the output's
        int8 range lies inside the clip (the saturation then is the clamp): e.g. relu with zero point -128."""
        a, q = ctx.annotated_expr["act"], ctx.annotated_expr["quantize"]
        lo, hi = (0.0, math.inf) if call_op_name(a) == "relax.nn.relu" else (float(a.args[1].value), float(a.args[2].value))
        s, z = float(const_value(q.args[1]).reshape(-1)[0]), int(const_value(q.args[2]).reshape(-1)[0])
        return _int8_input(ctx) and const_value(q.args[1]).size == 1 and (-128 - z) * s >= lo and (127 - z) * s <= hi

    x = wildcard()
    act = is_op("relax.clip")(_deq(x), wildcard(), wildcard()) | is_op("relax.nn.relu")(_deq(x))
    q = is_op("relax.quantize")(act, is_const(), is_const())
    pats.append(FusionPattern("tinyengine.requantize", q, {"input": x, "act": act, "quantize": q, "root": q}, bounds_implied))

    def per_tensor_int8(ctx) -> bool:
        """Any other standalone relu / clip (TFLite RELU, RELU6, RELU_N1_TO_1): requantize, then clamp to the
        activation's int8 range (annotate: act_min / act_max)."""
        return _int8_input(ctx) and const_value(ctx.annotated_expr["quantize"].args[1]).size == 1

    x = wildcard()
    act = is_op("relax.clip")(_deq(x), wildcard(), wildcard()) | is_op("relax.nn.relu")(_deq(x))
    q = is_op("relax.quantize")(act, is_const(), is_const())
    pats.append(FusionPattern("tinyengine.requantize", q, {"input": x, "act": act, "quantize": q, "root": q}, per_tensor_int8))

    x = wildcard()
    q = is_op("relax.quantize")(x, is_const(), is_const())
    pats.append(
        FusionPattern("tinyengine.quantize", q, {"input": x, "quantize": q, "root": q}, lambda ctx: dtype_of(ctx.annotated_expr["input"]) == "float32")
    )

    x = wildcard()
    d = _deq(x)
    pats.append(FusionPattern("tinyengine.dequantize", d, {"input": x, "op": d, "root": d}, _int8_input))


    for name, opname, dtype in (
        ("tinyengine.pad", "relax.nn.pad", "int8"),
        ("tinyengine.reshape", "relax.reshape", "int8"),
        ("tinyengine.log_softmax", "relax.nn.log_softmax", "float32"),
    ):
        x = wildcard()
        op = is_op(opname)(x) if opname != "relax.reshape" else is_op(opname)(x, wildcard())
        pats.append(
            FusionPattern(name, op, {"input": x, "op": op, "root": op}, (lambda dt: lambda ctx: dtype_of(ctx.annotated_expr["input"]) == dt)(dtype))
        )
    return pats


MAX_CONCAT_INPUTS = 16


def _topology_patterns() -> list[FusionPattern]:
    """Patterns of the detection-head / topology ops (concat, ...), kept in one block."""
    from tvm.relax.dpl import is_tuple

    pats = []
    for with_clip in (False, True):
        for n in range(2, MAX_CONCAT_INPUTS + 1):
            xs = [wildcard() for _ in range(n)]
            op = is_op("relax.concat")(is_tuple([_deq(x) for x in xs]))
            ann = {"op": op, "input": xs[0]}
            ann.update({f"input{i}": x for i, x in enumerate(xs)})
            root, ann = _tail(op, ann, with_clip)
            pats.append(FusionPattern("tinyengine.concat", root, ann,
                                      (lambda k: lambda ctx: all(_int8_input(ctx, f"input{i}") for i in range(k)))(n)))
    x = wildcard()
    op = is_op("relax.nn.softmax")(_deq(x))
    root, ann = _tail(op, {"input": x, "op": op}, False)
    pats.append(FusionPattern("tinyengine.softmax", root, ann, _int8_input))
    def pads_channels(ctx) -> bool:
        pw = [int(v) for v in ctx.annotated_expr["op"].attrs.pad_width]
        return _int8_input(ctx) and str(ctx.annotated_expr["op"].attrs.pad_mode) == "constant" and (
            len(pw) != 8 or any(pw[i] for i in (0, 1, 6, 7)))

    x = wildcard()
    op = is_op("relax.nn.pad")(x)
    pats.append(FusionPattern("tinyengine.pad_channels", op, {"input": x, "op": op, "root": op}, pads_channels))
    x = wildcard()
    op = is_op("relax.permute_dims")(x)
    pats.append(FusionPattern("tinyengine.transpose", op, {"input": x, "op": op, "root": op}, _int8_input))
    for name, opname in (("tinyengine.slice", "relax.strided_slice"), ("tinyengine.reshape", "relax.squeeze"),
                         ("tinyengine.reshape", "relax.expand_dims")):
        x = wildcard()
        op = is_op(opname)(x) if opname != "relax.strided_slice" else is_op(opname)(x, wildcard(), wildcard(), wildcard())
        ops_ = [op] + ([is_op(opname)(x, wildcard(), wildcard(), wildcard(), wildcard())] if opname == "relax.strided_slice" else [])
        for o in ops_:
            pats.append(FusionPattern(name, o, {"input": x, "op": o, "root": o}, _int8_input))
    return pats


KERNEL_PATTERNS = _patterns()


# ---- elementwise ops of SE blocks and activations (codegen/lut.py, *_s8.c): tried before the others ----
_BINARY_OPS = {"relax.multiply": "mul", "relax.add": "add_bcast", "relax.subtract": "sub"}


def _operand_facts(ctx):
    """(is constant, shape) of the two operands, or None when one is not int8."""
    out = []
    for key in ("input", "input2"):
        e = ctx.annotated_expr[key]
        if dtype_of(e) != "int8":
            return None
        out.append((is_constant(e), tuple(int(d) for d in e.ty.shape)))
    return out


def _elementwise_check(kind):
    def check(ctx) -> bool:
        facts = _operand_facts(ctx)
        if facts is None or (facts[0][0] and facts[1][0]):
            return False
        scalar_const = any(c and int(np.prod(s)) == 1 for c, s in facts)
        if kind == "lut":
            return scalar_const
        if scalar_const:
            return False
        if kind == "add_bcast" and not facts[0][0] and not facts[1][0] and facts[0][1] == facts[1][1]:
            return False  # same-shaped ADD of two tensors: tinyengine.add (and its DSP kernels)
        return len(facts[0][1]) <= 4 and len(facts[1][1]) <= 4
    return check


def _elementwise_patterns() -> list[FusionPattern]:
    pats: list[FusionPattern] = []
    for opname, kind in _BINARY_OPS.items():
        for name in ("tinyengine.lut", f"tinyengine.{kind}"):
            for act in (None, "relax.nn.relu", "relax.clip"):
                for with_clip in (True, False):
                    a, b = wildcard(), wildcard()
                    op = is_op(opname)(_deq(a), _deq(b))
                    ann = {"input": a, "input2": b, "op": op}
                    body = op
                    if act == "relax.nn.relu":
                        body = is_op(act)(op)
                    elif act == "relax.clip":
                        body = is_op(act)(op, wildcard(), wildcard())
                    root, ann = _tail(body, ann, with_clip)
                    check = _elementwise_check("lut" if name == "tinyengine.lut" else kind)
                    pats.append(FusionPattern(name, root, ann, check))

    x = wildcard()
    root, ann = _tail(is_op("relax.sigmoid")(_deq(x)), {"input": x}, False)
    pats.append(FusionPattern("tinyengine.lut", root, ann, _int8_input))
    # hard swish as TVM's TFLite importer writes it: x * clip(x + 3, 0, 6) / 6 (the dequantize may be unshared)
    x = wildcard()
    relu6 = is_op("relax.clip")(is_op("relax.add")(_deq(x), is_const()), wildcard(), wildcard())
    hs = is_op("relax.divide")(is_op("relax.multiply")(_deq(x), relu6), is_const())
    root, ann = _tail(hs, {"input": x}, False)
    pats.append(FusionPattern("tinyengine.lut", root, ann, _int8_input))

    # ONNX HardSigmoid: clip(alpha * x + beta, 0, 1); ONNX HardSwish: x * (clip(x + 3, 0, 6) / 6) (TVM's importer)
    x = wildcard()
    hsig = is_op("relax.clip")(is_op("relax.add")(is_op("relax.multiply")(is_const(), _deq(x)), is_const()),
                               wildcard(), wildcard())
    root, ann = _tail(hsig, {"input": x}, False)
    pats.append(FusionPattern("tinyengine.lut", root, ann, _int8_input))
    x = wildcard()
    gate = is_op("relax.divide")(is_op("relax.clip")(is_op("relax.add")(_deq(x), is_const()), wildcard(), wildcard()),
                                 is_const())
    root, ann = _tail(is_op("relax.multiply")(_deq(x), gate), {"input": x}, False)
    pats.append(FusionPattern("tinyengine.lut", root, ann, _int8_input))

    def relu_n1_to_1(ctx) -> bool:
        c = ctx.annotated_expr["act"]
        return _int8_input(ctx) and (float(c.args[1].value), float(c.args[2].value)) == (-1.0, 1.0)

    x = wildcard()
    act = is_op("relax.clip")(_deq(x), wildcard(), wildcard())
    root, ann = _tail(act, {"input": x, "act": act}, False)
    pats.append(FusionPattern("tinyengine.lut", root, ann, relu_n1_to_1))
    return pats


KERNEL_PATTERNS = _elementwise_patterns() + _patterns()


def PartitionKernels() -> "tvm.transform.Pass":  # noqa: F821  (pass factory, TVM naming)
    """Group every quantized op chain into a ``tinyengine.<kernel>`` composite function."""
    return relax.transform.FuseOpsByPattern(KERNEL_PATTERNS, bind_constants=True, annotate_codegen=False)
