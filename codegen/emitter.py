"""C emitter: KernelGraph + MemoryPlan -> a self-contained C99 project.

Files written:

* ``model.h``: the API (``model_run``), I/O shapes, dtypes and quantization, arena size;
* ``model.c``: one static arena, kernel calls in order with arena offsets, parameter structs;
* ``model_weights.h``: weights, bias, multipliers and shifts as ``const`` arrays (Flash);
* ``kernels/``: the portable kernels the model uses and ``tinyengine_kernels.h``;
* ``host_main.c``: a host harness (raw inputs from a file, raw outputs to a file);
* ``Makefile``.

No heap, no TVM runtime; libc use is limited to ``<stdint.h>``/``<string.h>``
(and ``<math.h>`` when a float LOG_SOFTMAX is in the graph).
"""

from __future__ import annotations

import os
import shutil
from importlib import resources

import numpy as np

from . import quant
from ..planner.contracts import is_pointwise
from .emit_topology import TOPOLOGY_EMITTERS, TOPOLOGY_SOURCES

_C_TYPES = {"int8": "int8_t", "int32": "int32_t", "float32": "float", "uint8": "uint8_t", "int16": "int16_t"}
_BYTES = {"int8": 1, "int32": 4, "float32": 4, "uint8": 1, "int16": 2}

# kernel kind -> (C source files it needs)
_KERNEL_SOURCES = {
    "conv2d": ["conv2d_s8.c", "conv2d_1x1_s8.c"],
    "depthwise_conv2d": ["depthwise_conv2d_s8.c", "depthwise_conv2d_s8_inplace.c"],
    "fully_connected": ["fully_connected_s8.c"],
    "add": ["add_s8.c"],
    "avg_pool2d": ["pool_s8.c"],
    "max_pool2d": ["pool_s8.c"],
    "mean": ["mean_s8.c"],
    "pad": ["pad_s8.c"],
    "resize_nearest": ["resize_nearest_s8.c"],
    "quantize": ["quantize.c"],
    "dequantize": ["quantize.c"],
    "requantize": ["quantize.c"],
    "log_softmax": ["log_softmax_f32.c"],
    "reshape": [],
    **TOPOLOGY_SOURCES,  # detection heads / topology: codegen/emit_topology.py

    "mul": ["mul_s8.c"],
    "add_bcast": ["add_bcast_s8.c"],
    "sub": ["add_bcast_s8.c"],
    "lut": ["lut_s8.c"],
}
_COMMON_SOURCES = ["te_requantize.c"]
_HEADER = "tinyengine_kernels.h"

_STRUCT_FIELDS = {
    "te_conv_params": ["in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w", "stride_h", "stride_w",
                       "dil_h", "dil_w", "pad_top", "pad_left", "depth_multiplier", "in_offset", "out_offset",
                       "act_min", "act_max", "out_stride", "groups"],
    "te_fc_params": ["batches", "in_n", "out_n", "in_offset", "out_offset", "act_min", "act_max", "per_channel",
                     "w_offset"],
    "te_add_params": ["n", "in1_offset", "in2_offset", "in1_mult", "in1_shift", "in2_mult", "in2_shift",
                      "left_shift", "out_mult", "out_shift", "out_offset", "act_min", "act_max"],
    "te_pool_params": ["in_h", "in_w", "c", "out_h", "out_w", "k_h", "k_w", "stride_h", "stride_w",
                       "pad_top", "pad_left", "act_min", "act_max"],
    "te_mean_params": ["outer", "reduce", "inner", "in_zp", "out_zp", "mult", "shift", "exact"],
    "te_pad_params": ["in_h", "in_w", "c", "pad_top", "pad_bottom", "pad_left", "pad_right", "value"],
    "te_resize_params": ["in_h", "in_w", "c", "out_h", "out_w"],
    "te_mul_params": ["in1_offset", "in2_offset", "out_offset", "out_mult", "out_shift", "act_min", "act_max"],
}


def kernel_dir() -> str:
    return str(resources.files("tinyengine_tvm.codegen") / "kernels")


def _c_array(ctype: str, name: str, values: np.ndarray, per_line: int = 24) -> str:
    flat = np.asarray(values).reshape(-1)
    if flat.size == 0:
        return f"static const {ctype} {name}[1] = {{0}};\n"
    items = [str(int(v)) for v in flat]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    body = ",\n  ".join(lines)
    return f"static const {ctype} {name}[{flat.size}] = {{\n  {body}\n}};\n"


_OPTIONAL_FIELDS = {"out_stride", "groups", "w_offset"}  # absent: 0, the kernel's default (contiguous output)


def _struct(ctype: str, name: str, params: dict) -> str:
    fields = ", ".join(f".{f} = {int(params[f])}" for f in _STRUCT_FIELDS[ctype]
                       if f in params or f not in _OPTIONAL_FIELDS)
    return f"static const {ctype} {name} = {{{fields}}};\n"


def _c_double(x: float) -> str:
    return repr(float(x))


def _c_float(x: float) -> str:
    """A float32 value as an exact C99 hexadecimal float constant."""
    return float(np.float32(x)).hex() + "f"


class _Emitter:
    def __init__(self, graph, plan, name="model"):
        self.g, self.p, self.name = graph, plan, name
        self.weights: list[str] = []
        self.params: list[str] = []
        self.body: list[str] = []
        self.specialize = None           # (emitter, op) -> (call, sources) | None, per target
        self.extra_sources: list[str] = []
        self.libm = False                # a kernel calls <math.h> (fmaf: onnxruntime's float conv / QLinearAdd)
        self.batched: dict = {}          # tensor -> elements per image, while emitting an op over a batch
        self.ptr_override: dict = {}     # tensor -> pointer text (a stream stage's band calls, codegen/stream.py)
        self.sink = None                 # call text -> None: takes the calls instead of body (stream stages)
        self._const_names: dict = {}     # (ctype, bytes) -> name: one Flash copy of equal constant arrays

    def _ptr(self, tensor: str, const: bool = False) -> str:
        if tensor in self.ptr_override:
            return self.ptr_override[tensor]
        t = self.g.tensors[tensor]
        ctype = _C_TYPES[t.dtype]
        root = self.p.roots[tensor]
        if root in self.g.inputs:
            return f"input_{self.g.inputs.index(root)}"
        if tensor in self.g.outputs:
            return f"output_{self.g.outputs.index(tensor)}"
        if root in self.g.outputs:
            inside = getattr(self.p, "view_offsets", {}).get(tensor, 0)  # a concat slice of an output
            return f"(output_{self.g.outputs.index(root)} + {inside})" if inside else f"output_{self.g.outputs.index(root)}"
        off = self.p.offsets[tensor]
        return f"({'const ' if const else ''}{ctype}*)(arena.bytes + {off})"

    def ptr(self, tensor: str, const: bool = False) -> str:
        """The C pointer to tensor; inside a batch loop (``batched``), to image ``te_b`` of it."""
        base = self._ptr(tensor, const)
        per = self.batched.get(tensor)
        return base if per is None else f"({base} + te_b * {per})"

    def batch_loop(self, op, call: str) -> str:
        """An NHWC kernel over a batch (params["batch"] = N > 1): its per-image call, N times, each image's
        input and output at their own offsets (ptr). The planner models the same per-image order."""
        n = int(op.params.get("batch", 1))
        return call if n <= 1 else f"for (int te_b = 0; te_b < {n}; ++te_b) {{\n    {call}\n  }}"

    def _batch_views(self, op) -> dict:
        n = int(op.params.get("batch", 1))
        if n <= 1:
            return {}
        return {t: self.g.tensors[t].nbytes // _BYTES[self.g.tensors[t].dtype] // n for t in (op.inputs[0], op.output)}

    def const(self, ctype, name, values):
        key = (ctype, np.asarray(values).astype(np.int64).tobytes())
        if key in self._const_names:  # a stream stage's band variants share their layer's weights
            return self._const_names[key]
        self._const_names[key] = name
        self.weights.append(_c_array(ctype, name, values))
        return name

    def emit_op(self, op):
        self.batched = self._batch_views(op)
        try:
            self._emit_op(op)
        finally:
            self.batched = {}

    def _emit_op(self, op):
        k, p, n = op.kernel, op.params, op.name
        if k in TOPOLOGY_EMITTERS:  # concat, slices, softmax ...
            shape = "x".join(str(d) for d in self.g.tensors[op.output].shape)
            self.body.append(f"  /* {n}: -> {shape} */\n  TE_PROFILE_MARK({self.g.ops.index(op)});\n"
                             f"  {TOPOLOGY_EMITTERS[k](self, op)}")
            return
        if k == "stream_stage":  # line-buffer stage: its band calls (codegen/stream.py)
            from .stream import emit_stage

            return emit_stage(self, op)
        special = self.specialize(self, op) if self.specialize is not None else None
        if special is not None:  # a target-specific kernel (codegen/dsp.py), proven byte-identical
            self.extra_sources += [f for f in special[1] if f not in self.extra_sources]
            if self.sink is not None:
                return self.sink(special[0])
            shape = "x".join(str(d) for d in self.g.tensors[op.output].shape)
            self.body.append(f"  /* {n}: -> {shape} */\n  TE_PROFILE_MARK({self.g.ops.index(op)});\n  "
                             f"{self.batch_loop(op, special[0])}")
            return
        ins = [self.ptr(t, const=True) for t in op.inputs]
        out = self.ptr(op.output)
        call = None
        ort = bool(p.get("single_rounding"))  # onnxruntime arithmetic: float32 scales (quant.ort_*)
        if k in ("conv2d", "depthwise_conv2d"):
            self.params.append(_struct("te_conv_params", f"{n}_p", p))
            w = self.const("int8_t", f"{n}_w", op.constants["weights"])
            b = self.const("int32_t", f"{n}_b", op.constants["bias"]) if "bias" in op.constants else "NULL"
            if ort and p.get("ort_float") and "in_table" in p:  # onnxruntime's unfused float conv
                return self.append_call(op, self.ort_float_conv(op, w))
            m, s = self.requant_tables(n, p)
            if k == "depthwise_conv2d":
                fn = "te_depthwise_conv2d_s8"
            elif is_pointwise(p) and not p.get("groups"):
                fn = "te_conv2d_1x1_s8"
            else:
                fn = "te_conv2d_s8"
            call = f"{fn}(&{n}_p, {ins[0]}, {w}, {b}, {m}, {s}, {out});"
        elif k == "fully_connected":
            self.params.append(_struct("te_fc_params", f"{n}_p", p))
            w = self.const("int8_t", f"{n}_w", op.constants["weights"])
            b = self.const("int32_t", f"{n}_b", op.constants["bias"]) if "bias" in op.constants else "NULL"
            if ort:  # QGemm: the fixed-point kernel's te_requantize is the float32 one in this build
                m, s = self.requant_tables(n, p)
                call = f"te_fully_connected_s8(&{n}_p, {ins[0]}, {w}, {b}, {m}, {s}, {out});"
                return self.append_call(op, call)
            # LiteRT's reference FC rescales in double; match it bit for bit.
            scales = ", ".join(_c_double(v) for v in p["scale"])
            self.weights.append(f"static const double {n}_scale[{len(p['scale'])}] = {{{scales}}};\n")
            call = f"te_fully_connected_s8_dscale(&{n}_p, {ins[0]}, {w}, {b}, {n}_scale, {out});"
        elif k == "add" and ort:
            if "add_s8_f32.c" not in self.extra_sources:
                self.extra_sources.append("add_s8_f32.c")
            call = f"te_add_s8_f32({self.ort_add_args(op)});"
        elif k == "add":
            self.params.append(_struct("te_add_params", f"{n}_p", p))
            call = f"te_add_s8(&{n}_p, {ins[0]}, {ins[-1]}, {out});"  # add(x, x) has one input
        elif k == "avg_pool2d" and ort and "ort_pool" in p:  # onnxruntime's average pool (pool_s8_f32.c)
            self.params.append(_struct("te_pool_params", f"{n}_p", p))
            self.params.append(f"static const te_pool_ort_params {n}_o = {{.path = {int(p['ort_pool'])}, "
                               f".count_include_pad = {int(p['count_include_pad'])}, .in_zp = {int(p['in_zp'])}, "
                               f".out_zp = {int(p['out_zp'])}, .round_zp = {int(p['round_zp'])}, "
                               f".out_scale = {_c_float(p['out_scale'])}, .gap_scale = {_c_float(p['gap_scale'])}}};\n")
            tab = self.float_const(f"{n}_in_tab", p["in_table"]) if "in_table" in p else "NULL"
            if "pool_s8_f32.c" not in self.extra_sources:
                self.extra_sources.append("pool_s8_f32.c")
            call = f"te_avg_pool_s8_f32(&{n}_p, &{n}_o, {ins[0]}, {tab}, {out});"
        elif k in ("avg_pool2d", "max_pool2d"):
            self.params.append(_struct("te_pool_params", f"{n}_p", p))
            fn = "te_avg_pool_s8" if k == "avg_pool2d" else "te_max_pool_s8"
            call = f"{fn}(&{n}_p, {ins[0]}, {out});"
        elif k == "mean":
            if ort:
                p = dict(p, mult=int(quant.f32_bits([p["fscale"]])[0]), shift=0)
            self.params.append(_struct("te_mean_params", f"{n}_p", p))
            call = f"te_mean_s8(&{n}_p, {ins[0]}, {out});"
        elif k == "pad":
            self.params.append(_struct("te_pad_params", f"{n}_p", p))
            call = f"te_pad_s8(&{n}_p, {ins[0]}, {out});"
        elif k == "resize_nearest":
            self.params.append(_struct("te_resize_params", f"{n}_p", p))
            rows = self.const("int16_t", f"{n}_rows", p["rows"])
            cols = self.const("int16_t", f"{n}_cols", p["cols"])
            call = f"te_resize_nearest_s8(&{n}_p, {rows}, {cols}, {ins[0]}, {out});"
        elif k == "quantize":
            call = f"te_quantize_f32_s8({p['n']}, {ins[0]}, {out}, {_c_double(p['scale'])}, {p['zero_point']});"
        elif k == "dequantize":
            call = f"te_dequantize_s8_f32({p['n']}, {ins[0]}, {out}, {_c_double(p['scale'])}, {p['zero_point']});"
        elif k == "requantize":
            if ort:  # te_requantize_s8's TE_SINGLE_ROUNDING build reads the two float32 scales' bits
                mult, shift = (int(v) for v in quant.f32_bits([p["in_fscale"], p["out_fscale"]]))
            else:
                mult, shift = p["mult"], p["shift"]
            call = f"te_requantize_s8({p['n']}, {ins[0]}, {out}, {p['in_zp']}, {p['out_zp']}, {mult}, {shift});"
            if "act_min" in p:  # standalone RELU / RELU6: clamp the requantized output (clamp_s8.c)
                if "clamp_s8.c" not in self.extra_sources:
                    self.extra_sources.append("clamp_s8.c")
                call += f" te_clamp_s8({p['n']}, {out}, {int(p['act_min'])}, {int(p['act_max'])});"
        elif k == "log_softmax":
            call = f"te_log_softmax_f32({p['rows']}, {p['cols']}, {ins[0]}, {out});"
        elif k == "reshape":
            if self.p.roots[op.output] == self.p.roots[op.inputs[0]]:
                call = None  # a view: same storage
                self.body.append(f"  /* {n}: reshape is a view of {op.inputs[0]} */")
                return
            nbytes = self.g.tensors[op.output].nbytes
            call = f"memcpy({out}, {ins[0]}, {nbytes});"
        elif k in ("mul", "add_bcast", "sub", "lut"):
            call = self.elementwise_call(op)
        else:
            raise NotImplementedError(f"no C emitter for kernel {k}")
        self.append_call(op, call)

    def ort_add_args(self, op) -> str:
        """te_add_s8_f32's arguments (its te_add_f32_params and tables emitted; needs libm)."""
        p, n = op.params, op.name
        fused = int(p.get("ort_fused", 0))
        self.params.append(f"static const te_add_f32_params {n}_p = {{.n = {int(p['n'])}, .out_zp = {int(p['out_offset'])}, "
                           f".act_min = {int(p['act_min'])}, .act_max = {int(p['act_max'])}, "
                           f".out_scale = {_c_float(p['out_scale'])}, .fused = {fused}, "
                           f".ratio1 = {_c_float(p['ratio1'])}, .ratio2 = {_c_float(p['ratio2'])}, "
                           f".fixed = {_c_float(p['fixed'])}}};\n")
        t1 = "NULL" if fused else self.float_const(f"{n}_in1_tab", p["in1_table"])
        t2 = "NULL" if fused else self.float_const(f"{n}_in2_tab", p["in2_table"])
        self.libm = True
        ins = [self.ptr(t, const=True) for t in op.inputs]
        return f"&{n}_p, {ins[0]}, {ins[-1]}, {t1}, {t2}, {self.ptr(op.output)}"

    def ort_float_conv(self, op, w: str) -> str:
        """The call of onnxruntime's unfused float conv (DequantizeLinear -> MLAS conv -> QuantizeLinear):
        te_conv2d_1x1_s8_f32 for a pointwise conv MLAS sums in 128-deep FMA blocks, else
        te_conv2d_s8_f32 / te_depthwise_conv2d_s8_f32 with MLAS's order for the shape (params from
        annotate._ort_float_conv_params)."""
        p, n = op.params, op.name
        self.libm = True
        general = bool(p["ort_general"])  # 0 only for a pointwise conv MLAS sums in 128-deep blocks
        src = "conv2d_s8_f32.c" if general else "conv2d_1x1_s8_f32.c"
        if src not in self.extra_sources:
            self.extra_sources.append(src)
        tab = self.float_const(f"{n}_in_tab", p["in_table"])
        ws = self.float_const(f"{n}_wscale", p["w_fscale"])
        bf = self.float_const(f"{n}_bias_f", p["bias_f"]) if "bias_f" in p else "NULL"
        ins = self.ptr(op.inputs[0], const=True)
        out = self.ptr(op.output)
        if not general:
            return f"te_conv2d_1x1_s8_f32(&{n}_p, {ins}, {w}, {tab}, {ws}, {bf}, {_c_float(p['out_fscale'])}, {out});"
        ends = ", ".join(str(int(v)) for v in p["seg_end"])
        kbs = ", ".join(str(int(v)) for v in p["seg_kblock"])
        self.params.append(f"static const te_conv_f32_params {n}_f = {{.seg_end = {{{ends}}}, .seg_kblock = {{{kbs}}}, "
                           f".out_scale = {_c_float(p['out_fscale'])}}};\n")
        rm = self.const("int8_t", f"{n}_row_mode", p["row_mode"]) if any(p["row_mode"]) else "NULL"
        fn = "te_depthwise_conv2d_s8_f32" if op.kernel == "depthwise_conv2d" else "te_conv2d_s8_f32"
        return f"{fn}(&{n}_p, &{n}_f, {ins}, {w}, {tab}, {ws}, {bf}, {rm}, {out});"

    def elementwise_call(self, op) -> str:
        """te_lut_s8 (table in Flash), or te_mul_s8 / te_add_bcast_s8 with their broadcast loops; a constant
        operand (``in*_src`` = -1) is passed from Flash."""
        p, n = op.params, op.name
        out = self.ptr(op.output)
        if op.kernel == "lut":
            tab = self.const("int8_t", f"{n}_table", p["table"])
            return f"te_lut_s8({int(p['n'])}, {self.ptr(op.inputs[0], const=True)}, {out}, {tab});"
        srcs = []
        for key in ("in1_src", "in2_src"):
            i = int(p[key])
            srcs.append(self.const("int8_t", f"{n}_operand", op.constants["operand"]) if i < 0
                        else self.ptr(op.inputs[i], const=True))
        loops = ", ".join(f".{f} = {{{', '.join(str(int(v)) for v in p[f])}}}" for f in ("d", "s1", "s2"))
        self.params.append(f"static const te_bcast_params {n}_b = {{{loops}}};\n")
        if p.get("single_rounding"):  # onnxruntime's Mul / Sub (binary_s8_f32.c)
            if "binary_s8_f32.c" not in self.extra_sources:
                self.extra_sources.append("binary_s8_f32.c")
            self.params.append(f"static const te_binary_f32_params {n}_p = {{.mode = {int(p['ort_mode'])}, "
                               f".in1_zp = {int(p['in1_zp'])}, .in2_zp = {int(p['in2_zp'])}, .out_zp = {int(p['out_zp'])}, "
                               f".act_min = {int(p['act_min'])}, .act_max = {int(p['act_max'])}, "
                               f".out_scale = {_c_float(p['out_fscale'])}, .ratio = {_c_float(p['ratio'])}, "
                               f".zp_f = {_c_float(p['zp_f'])}, .ratio2 = {_c_float(p.get('ratio2', 0.0))}, "
                               f".fixed = {_c_float(p.get('fixed', 0.0))}}};\n")
            self.libm = True  # fmaf (fused QLinearAdd)
            t1, t2 = self.float_const(f"{n}_tab1", p["in1_table"]), self.float_const(f"{n}_tab2", p["in2_table"])
            return f"te_binary_s8_f32(&{n}_p, &{n}_b, {srcs[0]}, {srcs[1]}, {t1}, {t2}, {out});"
        if op.kernel == "mul":
            self.params.append(_struct("te_mul_params", f"{n}_p", p))
            return f"te_mul_s8(&{n}_p, &{n}_b, {srcs[0]}, {srcs[1]}, {out});"
        self.params.append(_struct("te_add_params", f"{n}_p", p))
        return f"te_add_bcast_s8(&{n}_p, &{n}_b, {srcs[0]}, {srcs[1]}, {out});"

    def append_call(self, op, call: str) -> None:
        if self.sink is not None:
            return self.sink(call)
        call = self.batch_loop(op, self.planned_call(op.name, call))
        shape = "x".join(str(d) for d in self.g.tensors[op.output].shape)
        self.body.append(f"  /* {op.name}: -> {shape} */\n  TE_PROFILE_MARK({self.g.ops.index(op)});\n  {call}")

    def requant_tables(self, n: str, p: dict) -> tuple[str, str]:
        """The (mult, shift) arrays a conv / FC kernel passes to te_requantize: TFLite's fixed-point pairs,
        or, for onnxruntime arithmetic (TE_SINGLE_ROUNDING build), the float32 scales' bits and zeros."""
        if p.get("single_rounding"):
            bits = quant.f32_bits(p["fscale"])
            return self.const("int32_t", f"{n}_mult", bits), self.const("int32_t", f"{n}_shift", np.zeros_like(bits))
        return self.const("int32_t", f"{n}_mult", p["mult"]), self.const("int32_t", f"{n}_shift", p["shift"])

    def float_const(self, name: str, values) -> str:
        flat = [_c_float(v) for v in np.asarray(values, dtype=np.float32).reshape(-1)]
        body = ",\n  ".join(", ".join(flat[i : i + 8]) for i in range(0, len(flat), 8))
        self.weights.append(f"static const float {name}[{len(flat)}] = {{\n  {body}\n}};\n")
        return name

    def planned_call(self, n: str, call: str) -> str:
        """Honour the plan: the kernel whose overlap contract / scratch it assumed, scratch as last argument."""
        assumed = getattr(self.p, "kernel_fns", {}).get(n)
        emitted = call.split("(")[0]
        if assumed and assumed.startswith(emitted + "_"):  # the plan picked a variant (same args + scratch)
            call = assumed + call[len(emitted):]
        if assumed and not call.startswith(assumed + "("):
            raise RuntimeError(f"{n}: the memory plan assumed {assumed}'s overlap/scratch contract but the emitter "
                               f"calls {call.split('(')[0]}; register its contract in planner/contracts.py")
        off = getattr(self.p, "scratch_offsets", {}).get(n)
        if off is not None:
            call = f"{call[:-2]}, (int8_t*)(arena.bytes + {off}));"
        return call

    def output_copies(self) -> list:
        """Outputs no kernel writes into their own buffer: a tensor returned twice (its later slots get a
        copy of the first) or a graph input returned as is."""
        lines = []
        for i, t in enumerate(self.g.outputs):
            first = self.g.outputs.index(t)
            if first != i or self.p.roots.get(t, t) in self.g.inputs:
                src = f"output_{first}" if first != i else self.ptr(t, const=True)
                lines.append(f"  memcpy(output_{i}, {src}, {self.g.tensors[t].nbytes});  /* output {i} is {t} */")
        return lines

    def signature(self) -> str:
        args = []
        for i, t in enumerate(self.g.inputs):
            args.append(f"const {_C_TYPES[self.g.tensors[t].dtype]}* input_{i}")
        for i, t in enumerate(self.g.outputs):
            args.append(f"{_C_TYPES[self.g.tensors[t].dtype]}* output_{i}")
        return f"int {self.name}_run({', '.join(args)})"


def kernel_sources(graph) -> list[str]:
    files = list(_COMMON_SOURCES)
    ops = [o for op in graph.ops for o in (op.stage.ops if op.kernel == "stream_stage" else [op])]
    for op in ops:
        for f in _KERNEL_SOURCES[op.kernel]:
            if f not in files:
                files.append(f)
    return files


def emit(graph, plan, out_dir: str, io_info=None, name: str = "model", target=None, tuning=None,
         chosen: dict | None = None) -> dict:
    """Write the C project for (graph, plan) into out_dir; return a dict of written paths.

    ``target`` (codegen.targets.Target): on DSP cores, layers get the kernel variants of codegen/variants.py
    (default configuration, or ``tuning``: {"layers": {op name: {"variant": ..., knobs}}, "files": {kernel
    file: "O3"}}, applied where exact). ``chosen`` receives {op name: configuration emitted}."""
    e = _Emitter(graph, plan, name)
    e.target, e.tuning, e.chosen = target, tuning, (chosen if chosen is not None else {})
    single_rounding = any(op.params.get("single_rounding") for op in graph.ops)  # ONNX/PyTorch graphs
    if target is not None and getattr(target, "dsp", False):  # the registry picks (onnxruntime layers too)
        from .variants import specialize  # Helium targets: its MVE variants rank first (codegen/mve.py)

        e.specialize = specialize
    for op in (plan.ops(graph) if hasattr(plan, "ops") else graph.ops):  # the planner's operator order
        e.emit_op(op)
    os.makedirs(os.path.join(out_dir, "kernels"), exist_ok=True)
    sources = kernel_sources(graph) + e.extra_sources
    dsp_header = ["te_dsp.h"] if any(f.endswith("_dsp.c") for f in sources) else []
    dsp_header += ["te_mve.h"] if any(f.endswith("_mve.c") for f in sources) else []
    for f in sources + [_HEADER] + dsp_header:
        shutil.copyfile(os.path.join(kernel_dir(), f), os.path.join(out_dir, "kernels", f))
    for fname, level in sorted(((tuning or {}).get("files") or {}).items()):  # tuned per-file optimisation level
        from .variants import DEFAULT_OPT, OPT_LEVELS

        path = os.path.join(out_dir, "kernels", fname)
        if level != DEFAULT_OPT and level in OPT_LEVELS and os.path.isfile(path):
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(f'#pragma GCC optimize ("{level}") /* tuned: autotune_logs */\n' + text)
    if single_rounding:  # onnxruntime's float32 requantization instead of gemmlowp's fixed point
        for fname in sources:
            path = os.path.join(out_dir, "kernels", fname)
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write("#define TE_SINGLE_ROUNDING 1 /* set by the emitter: graph from ONNX / PyTorch */\n" + text)
    guard = f"{name.upper()}_H_"
    up = name.upper()
    h = [f"/* {name}.h: generated by tinyengine-tvm. */", f"#ifndef {guard}", f"#define {guard}", "",
         "#include <stdint.h>", "", "#ifdef __cplusplus", 'extern "C" {', "#endif", "",
         f"#define {up}_ARENA_BYTES {plan.arena_bytes}",
         f"#define {up}_NUM_INPUTS {len(graph.inputs)}", f"#define {up}_NUM_OUTPUTS {len(graph.outputs)}",
         "/* 4-D inputs and outputs are NHWC (row-major [N][H][W][C]), also for a model compiled from ONNX or",
         " * PyTorch, whose NCHW arrays must be transposed to NHWC before model_run (and its outputs back). */"]
    for kind, names in (("INPUT", graph.inputs), ("OUTPUT", graph.outputs)):
        for i, t in enumerate(names):
            ten = graph.tensors[t]
            h.append(f"/* {kind.lower()} {i}: {ten.dtype} {list(ten.shape)} */")
            h.append(f"#define {up}_{kind}_{i}_SIZE {int(np.prod(ten.shape))}")
            h.append(f"#define {up}_{kind}_{i}_BYTES {ten.nbytes}")
            if ten.scale is not None:
                h.append(f"#define {up}_{kind}_{i}_SCALE {_c_double(ten.scale)}")
                h.append(f"#define {up}_{kind}_{i}_ZERO_POINT {ten.zero_point}")
    h += ["", "/* Runs one inference. Returns 0 on success. Not re-entrant (one static arena). */",
          e.signature() + ";", "", "#ifdef __cplusplus", "}", "#endif", "", f"#endif /* {guard} */", ""]
    c = [f"/* {name}.c: generated by tinyengine-tvm: {len(graph.ops)} kernels, {graph.macs} MACs, "
         f"arena {plan.arena_bytes} bytes. */",
         "#include <stddef.h>", "#include <stdint.h>", "#include <string.h>", "",
         f'#include "{name}.h"', '#include "kernels/tinyengine_kernels.h"', f'#include "{name}_weights.h"', "",
         ]
    if plan.arena_bytes > 0:
        c += ["/* One static arena holds every intermediate tensor; offsets come from the memory planner. */",
              f"static union {{ int64_t align; int8_t bytes[{plan.arena_bytes}]; }} arena;", ""]
    c += ["/* Per-kernel timing hook: the measuring firmware builds with -DTE_PROFILE and defines it. */",
          "#ifdef TE_PROFILE", "void te_profile_mark(int32_t step);", "#define TE_PROFILE_MARK(step) te_profile_mark(step)",
          "#else", "#define TE_PROFILE_MARK(step) ((void)0)", "#endif", ""]
    c += e.params
    c += ["", e.signature() + " {"]
    c += e.body
    c += e.output_copies()
    c += [f"  TE_PROFILE_MARK({len(graph.ops)});", "  return 0;", "}", ""]
    w = [f"/* {name}_weights.h: constant data (Flash), generated by tinyengine-tvm. */",
         f"#ifndef {up}_WEIGHTS_H_", f"#define {up}_WEIGHTS_H_", "#include <stdint.h>", ""] + e.weights + ["#endif", ""]
    files = {
        f"{name}.h": "\n".join(h),
        f"{name}.c": "\n".join(c),
        f"{name}_weights.h": "\n".join(w),
        "host_main.c": _host_main(graph, name),
        "Makefile": _makefile(name, sources, e.libm or any(op.kernel == "log_softmax" for op in graph.ops)),
    }
    written = {}
    for fname, text in files.items():
        path = os.path.join(out_dir, fname)
        with open(path, "w") as f:
            f.write(text)
        written[fname] = path
    return written


def _host_main(graph, name: str) -> str:
    up = name.upper()
    lines = [f"/* host_main.c: host harness for {name}; generated by tinyengine-tvm.",
             " * usage: ./model INPUT.bin OUTPUT.bin [REPEAT]",
             " * INPUT.bin holds the raw bytes of every input in order; OUTPUT.bin receives every output. */",
             "#include <stdio.h>", "#include <stdlib.h>", f'#include "{name}.h"', ""]
    for i, t in enumerate(graph.inputs):
        lines.append(f"static {_C_TYPES[graph.tensors[t].dtype]} in{i}[{up}_INPUT_{i}_SIZE];")
    for i, t in enumerate(graph.outputs):
        lines.append(f"static {_C_TYPES[graph.tensors[t].dtype]} out{i}[{up}_OUTPUT_{i}_SIZE];")
    lines += ["", "int main(int argc, char** argv) {",
              "  if (argc < 3) { fprintf(stderr, \"usage: %s INPUT.bin OUTPUT.bin [REPEAT]\\n\", argv[0]); return 2; }",
              "  FILE* fi = fopen(argv[1], \"rb\");",
              "  if (!fi) { fprintf(stderr, \"cannot open %s\\n\", argv[1]); return 2; }"]
    for i, _ in enumerate(graph.inputs):
        lines.append(f"  if (fread(in{i}, 1, {up}_INPUT_{i}_BYTES, fi) != {up}_INPUT_{i}_BYTES) "
                     f"{{ fprintf(stderr, \"short input {i}\\n\"); fclose(fi); return 2; }}")
    args = ", ".join([f"in{i}" for i in range(len(graph.inputs))] + [f"out{i}" for i in range(len(graph.outputs))])
    lines += ["  fclose(fi);", "  int repeat = argc > 3 ? atoi(argv[3]) : 1;",
              "  for (int r = 0; r < repeat; ++r) {",
              f"    if ({name}_run({args}) != 0) {{ fprintf(stderr, \"{name}_run failed\\n\"); return 1; }}",
              "  }",
              "  FILE* fo = fopen(argv[2], \"wb\");",
              "  if (!fo) { fprintf(stderr, \"cannot open %s\\n\", argv[2]); return 2; }"]
    for i, _ in enumerate(graph.outputs):
        lines.append(f"  fwrite(out{i}, 1, {up}_OUTPUT_{i}_BYTES, fo);")
    lines += ["  fclose(fo);", "  return 0;", "}", ""]
    return "\n".join(lines)


def _makefile(name: str, sources: list[str], needs_libm: bool) -> str:
    srcs = " ".join([f"{name}.c"] + [f"kernels/{s}" for s in sources])
    return (
        "# Generated by tinyengine-tvm. `make` builds the host harness.\n"
        "CC ?= gcc\n"
        "CFLAGS ?= -std=c99 -O2 -Wall -Wextra -Werror\n"
        f"SRCS = {srcs}\n"
        f"LDLIBS = {'-lm' if needs_libm else ''}\n\n"
        f"{name}: $(SRCS) host_main.c {name}.h {name}_weights.h\n"
        f"\t$(CC) $(CFLAGS) -I. -o $@ $(SRCS) host_main.c $(LDLIBS)\n\n"
        f"clean:\n\trm -f {name}\n"
    )
