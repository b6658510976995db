"""The kernel graph: the one data structure the planner and the C emitter read.

``extract(mod)`` walks ``main`` of a partitioned, annotated Relax module (every
binding a call to a ``tinyengine.<kernel>`` composite) and returns a
``KernelGraph``: tensors with shapes, dtypes and quantization, and kernel ops in
execution order with their integer parameters and constant data (weights in
kernel layout, bias, per-channel multipliers and shifts). Anything left in
``main`` that is not a kernel call is reported as an unsupported operator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import tvm
from tvm import relax

from .errors import TinyEngineError, UnsupportedOperatorError
from .relay_passes.annotate import PARAMS_ATTR, weight_constants

_DTYPE_BYTES = {"int8": 1, "uint8": 1, "int16": 2, "int32": 4, "float32": 4}


@lru_cache(maxsize=65536)
def _cached_nbytes(shape: tuple, dtype: str) -> int:
    return math.prod(int(d) for d in shape) * _DTYPE_BYTES[dtype]


def _nbytes(shape, dtype) -> int:
    try:
        return _cached_nbytes(shape, dtype)
    except TypeError:  # an unhashable shape (a list)
        return math.prod(int(d) for d in shape) * _DTYPE_BYTES[dtype]


@dataclass
class Tensor:
    name: str
    shape: tuple
    dtype: str
    scale: float | None = None
    zero_point: int | None = None

    @property
    def nbytes(self) -> int:
        return _nbytes(self.shape, self.dtype)  # hot in the planner, the stage search and TinyNAS


@dataclass
class KernelOp:
    name: str            # unique and C-identifier safe, e.g. "op3_conv2d"
    kernel: str          # composite kind: conv2d, depthwise_conv2d, fully_connected, add, ...
    inputs: list         # tensor names
    output: str          # tensor name
    params: dict         # ints / int lists from AnnotateKernelParams
    constants: dict = field(default_factory=dict)  # weights, bias (numpy)
    stage: object = None  # kernel "stream_stage": the patch.stream.StreamStage it runs (ops inside, schedule)

    @property
    def macs(self) -> int:
        return int(self.params.get("macs", 0))

    @property
    def weight_bytes(self) -> int:
        if self.stage is not None:  # a stream stage holds its layers' weights
            return sum(op.weight_bytes for op in self.stage.ops)
        return sum(int(a.nbytes) for a in self.constants.values())


@dataclass
class KernelGraph:
    tensors: dict        # name -> Tensor
    ops: list            # KernelOp, in execution order
    inputs: list         # tensor names
    outputs: list        # tensor names
    views: dict = field(default_factory=dict)  # tensor -> concat_views.View: a slice written in place into a concat
    schedule: list = field(default_factory=list)  # patch-based / line-buffer stages chosen (patch.describe)

    @property
    def macs(self) -> int:
        return sum(op.macs for op in self.ops)

    @property
    def weight_bytes(self) -> int:
        return sum(op.weight_bytes for op in self.ops)

    def producer(self, tensor: str):
        for op in self.ops:
            if op.output == tensor:
                return op
        return None


def _tensor_of(var: relax.Expr, name: str) -> Tensor:
    ty = var.ty
    if not isinstance(ty, relax.TensorType) or ty.shape is None:
        raise TinyEngineError(f"tensor {name} has no static tensor type ({ty}); dynamic shapes are not supported")
    try:
        shape = tuple(int(d) for d in ty.shape)
    except TypeError:
        raise TinyEngineError(f"tensor {name} has a dynamic shape {ty.shape}; give a static input shape") from None
    dtype = str(ty.dtype)
    if dtype not in _DTYPE_BYTES:
        raise TinyEngineError(f"tensor {name} has unsupported dtype {dtype}")
    return Tensor(name, shape, dtype)


def _static_shape(var):
    ty = getattr(var, "ty", None)
    try:
        return tuple(int(d) for d in ty.shape) if isinstance(ty, relax.TensorType) and ty.shape is not None else None
    except TypeError:
        return None


def _var_name(var) -> str:
    for attr in ("name_hint", "name"):
        try:
            return str(getattr(var, attr))
        except AttributeError:
            continue
    return "?"


def _describe_binding(value) -> str:
    if isinstance(value, relax.Call):
        op = value.op
        return op.name if isinstance(op, tvm.ir.Op) else _var_name(op)
    return type(value).__name__


def extract(mod: tvm.IRModule, input_names=None) -> KernelGraph:
    """Build the KernelGraph of ``mod['main']`` (see module docstring)."""
    main = mod["main"]
    tensors: dict[str, Tensor] = {}
    names: dict = {}  # relax var -> tensor name
    inputs = []
    for i, p in enumerate(main.params):
        name = f"input_{i}"
        tensors[name] = _tensor_of(p, name)
        names[p] = name
        inputs.append(name)
    ops: list[KernelOp] = []
    bindings, stages = _expand_stages(mod, [b for block in main.body.blocks for b in block.bindings])
    tuples: dict = {}  # relax var bound to a tuple of tensors (a multi-output model's result) -> its fields
    for b in bindings:
        v = b.value
        if isinstance(v, relax.Var) and v in names:  # plain alias (e.g. the dataflow output)
            names[b.var] = names[v]
            continue
        if isinstance(v, relax.Var) and v in tuples:
            tuples[b.var] = tuples[v]
            continue
        if isinstance(v, relax.Tuple) and all(isinstance(f, relax.Var) and f in names for f in v.fields):
            tuples[b.var] = list(v.fields)  # the outputs, bound inside the dataflow block
            continue
        if not (isinstance(v, relax.Call) and isinstance(v.op, relax.GlobalVar)):
            err = UnsupportedOperatorError(
                f"operator {_describe_binding(v)} (bound to '{_var_name(b.var)}' in main) has no tinyengine kernel"
            )
            err.relax_op, err.shape = _describe_binding(v), _static_shape(b.var)  # frontends map these to their model
            raise err
        func = mod[v.op]
        kind = str((func.attrs or {}).get("Composite", ""))
        if not kind.startswith("tinyengine."):
            raise UnsupportedOperatorError(f"function {_var_name(v.op)} (bound to '{_var_name(b.var)}') is not a tinyengine kernel")
        kernel = kind.split(".", 1)[1]
        for a in v.args:
            if not (isinstance(a, relax.Var) and a in names):
                raise UnsupportedOperatorError(f"kernel {kernel} at '{_var_name(b.var)}' takes a non-tensor argument {a}")
        idx = len(ops)
        out_name = f"t{idx}_{kernel}"
        out = _tensor_of(b.var, out_name)
        params = {k: _plain(v2) for k, v2 in dict(func.attrs[PARAMS_ATTR]).items()}
        _set_output_quant(out, kernel, params)
        tensors[out_name] = out
        names[b.var] = out_name
        ops.append(KernelOp(f"op{idx}_{kernel}", kernel, [names[a] for a in v.args], out_name, params, weight_constants(func)))
    body = main.body.body
    if isinstance(body, relax.Var) and body in tuples:
        outs = tuples[body]
    else:
        outs = list(body.fields) if isinstance(body, relax.Tuple) else [body]
    outputs = []
    for o in outs:
        if not (isinstance(o, relax.Var) and o in names):
            raise TinyEngineError(f"model output {o} is not a tensor produced by a kernel")
        outputs.append(names[o])
    graph = KernelGraph(tensors, ops, inputs, outputs)
    from .concat_views import assign_views

    assign_views(graph)  # zero-copy concatenation: producers write straight into their slice
    if stages:  # scheduled stage functions (relay_passes.patch_stages) become stream_stage ops
        from .patch import apply

        graph = apply(graph, stages)
    return graph


class _Binding:
    def __init__(self, var, value):
        self.var, self.value = var, value


def _expand_stages(mod, bindings):
    """main's bindings with every call of a scheduled stage function (relay_passes.patch_stages) replaced by the
    function's own bindings (its parameters aliased to the call's arguments, the call's variable to its result),
    and the stages as (first kernel, last kernel, band | (p, q)) in extract's kernel numbering."""
    out, stages, k = [], [], 0
    for b in bindings:
        v = b.value
        attrs = {}
        if isinstance(v, relax.Call) and isinstance(v.op, relax.GlobalVar):
            attrs = mod[v.op].attrs or {}
        if "tinyengine.stage" not in attrs:
            if isinstance(v, relax.Call) and isinstance(v.op, relax.GlobalVar):
                k += 1
            out.append(b)
            continue
        fn = mod[v.op]
        out += [_Binding(p, a) for p, a in zip(fn.params, v.args)]
        inner = [ib for blk in fn.body.blocks for ib in blk.bindings]
        out += inner
        out.append(_Binding(b.var, fn.body.body))
        grid = tuple(int(g) for g in attrs["tinyengine.grid"])
        how = grid if str(attrs["tinyengine.stage"]) == "patches" else int(attrs["tinyengine.band_rows"])
        stages.append((k, k + len(inner) - 1, how))
        k += len(inner)
    return out, stages


def _plain(value):
    """An attr value as a plain Python int / float / str / list of ints."""
    if isinstance(value, (int, float, str)):
        return value
    try:
        items = list(value)
    except TypeError:
        return value
    return [x if isinstance(x, float) else int(x) for x in items]


def _set_output_quant(t: Tensor, kernel: str, p: dict) -> None:
    if t.dtype != "int8":
        return
    if "out_offset" in p:
        t.zero_point = int(p["out_offset"])
    elif "out_zp" in p:
        t.zero_point = int(p["out_zp"])
    elif "zero_point" in p:
        t.zero_point = int(p["zero_point"])
    if kernel == "quantize":
        t.scale = float(p["scale"])
