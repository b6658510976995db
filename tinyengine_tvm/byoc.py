"""BYOC bridge: run tinyengine's generated C kernels inside a normal TVM program (Relax VM on the host).

``partition_for_tinyengine(mod)`` runs the canonicalization passes and groups every
quantized op chain into a ``tinyengine.<kernel>`` composite wrapped in a function with
``Codegen = "tinyengine"``. ``relax.transform.RunCodegen()`` then calls the codegen
registered here as ``relax.ext.tinyengine``: each offloaded function becomes a one-kernel
KernelGraph, planned and emitted by the same C emitter as a standalone project, plus a
wrapper ``__tvm_ffi_<symbol>`` with tvm-ffi's C calling convention (tensors in, output
tensor last; destination-passing style). The kernel library goes into one more source
module. TVM compiles these C sources with g++ when the library is exported, so every
exported symbol is ``extern "C"``::

    mod = partition_for_tinyengine(mod)
    mod = relax.transform.RunCodegen()(mod)
    ex = tvm.compile(mod, target="llvm")
    ex.export_library("lib.so"); vm = relax.VirtualMachine(tvm.runtime.load_module("lib.so"), tvm.cpu())

``import tinyengine_tvm.byoc`` registers the codegen.
"""

from __future__ import annotations

import os
import re
import tempfile

import tvm
from tvm import relax

CODEGEN = "tinyengine"

_WRAPPER = r'''
/* tvm-ffi C calling convention: TVMFFIAny {int32 type_index; uint32 pad; 8-byte value}; a tensor is a
 * DLTensor* (type 7) or a Tensor object (type 70) whose DLTensor follows the 24-byte object header. */
typedef struct { int32_t type_index; uint32_t pad; union { int64_t v_int64; void* v_ptr; char* v_obj; } v; } te_ffi_any;
static void* te_ffi_data(const te_ffi_any* a) {
  char* t = a->type_index == 7 ? (char*)a->v.v_ptr : a->v.v_obj + 24;
  return (char*)(*(void**)t) + *(uint64_t*)(t + 40); /* data + byte_offset */
}
'''


def partition_for_tinyengine(mod: tvm.IRModule, arithmetic=None) -> tvm.IRModule:
    """Canonicalize and offload every kernel pattern to the ``tinyengine`` codegen (see module docstring).

    ``arithmetic`` (ONNX / PyTorch graphs): "int8" (None: the default) or "onnxruntime", as ``te.build``'s."""
    from .api import _with_arithmetic
    from .relay_passes import FoldPadIntoConv, SinkTransposeThroughMean, UnshareDequantize, canonicalize
    from .relay_passes.annotate import (ARITHMETIC_ATTR, ORT_INT8_SIDES_ATTR, ORT_UNFUSED_ATTR, ROUNDING_ATTR, _fused_everywhere,
                                        _main_uses, _ort_int8_sides, _ort_unfused)
    from .relay_passes.partition import KERNEL_PATTERNS

    mod = _with_arithmetic(mod, arithmetic, "<module>")

    seq = tvm.transform.Sequential([
        canonicalize(), FoldPadIntoConv, SinkTransposeThroughMean, UnshareDequantize,
        relax.transform.FuseOpsByPattern(KERNEL_PATTERNS, bind_constants=True, annotate_codegen=True),
    ])
    out = seq(mod)
    rounding = (mod["main"].attrs or {}).get(ROUNDING_ATTR) if "main" in [g.name_hint for g in mod.get_global_vars()] else None
    if rounding is not None:  # the codegen sees only the offloaded functions: carry the model's rounding mode
        # and, for onnxruntime arithmetic, which kernels touch a tensor with several readers (a whole-graph
        # fact that decides onnxruntime's float path, invisible from one kernel)
        exact = str(rounding) == "exact"
        main_uses = _main_uses(out) if exact else None
        unfused = _ort_unfused(out, main_uses) if exact else set()
        sides = _ort_int8_sides(out, main_uses) if exact else {}
        if exact and str((mod["main"].attrs or {}).get(ARITHMETIC_ATTR, "onnxruntime")) == "int8":
            unfused, sides = _fused_everywhere(sides)
        out = out.clone()
        for gv, f in list(out.functions.items()):
            if isinstance(f, relax.Function) and f.attrs is not None and str(f.attrs.get("Codegen", "")) == CODEGEN:
                f = f.with_attr(ROUNDING_ATTR, str(rounding))
                if exact:  # which ends keep int8 data (decides onnxruntime's average pool)
                    s_in, s_out = sides.get(gv, (False, False))
                    f = f.with_attr(ORT_INT8_SIDES_ATTR, int(s_in) | 2 * int(s_out))
                out[gv] = f.with_attr(ORT_UNFUSED_ATTR, 1) if gv in unfused else f
    return out


def _composite_of(func):
    found = []

    def visit(e):
        if isinstance(e, relax.Function) and e.attrs is not None and "Composite" in e.attrs:
            found.append(e)

    relax.analysis.post_order_visit(func.body, visit)
    if len(found) != 1:
        raise ValueError(f"expected one composite in an offloaded function, found {len(found)}")
    return found[0]


def _one_kernel_module(func):
    """main(params) = composite(params), annotated: what kernel_graph.extract reads."""
    from .relay_passes.annotate import ORT_INT8_SIDES_ATTR, ORT_UNFUSED_ATTR, ROUNDING_ATTR, AnnotateKernelParams

    comp = _composite_of(func)
    bb = relax.BlockBuilder()
    gv = bb.add_func(comp, "te_kernel")
    params = [relax.Var(f"in{i}", p.ty) for i, p in enumerate(comp.params)]
    attrs = {}
    if func.attrs is not None and ROUNDING_ATTR in func.attrs:
        attrs[ROUNDING_ATTR] = str(func.attrs[ROUNDING_ATTR])
    if func.attrs is not None and ORT_UNFUSED_ATTR in func.attrs:
        attrs[ORT_UNFUSED_ATTR] = 1
    if func.attrs is not None and ORT_INT8_SIDES_ATTR in func.attrs:
        attrs[ORT_INT8_SIDES_ATTR] = int(func.attrs[ORT_INT8_SIDES_ATTR])
    with bb.function("main", params, attrs=attrs or None):
        with bb.dataflow():
            out = bb.emit_output(relax.Call(gv, params))
        bb.emit_func_output(out)
    return AnnotateKernelParams(bb.get())


def _strip_local_includes(text: str) -> str:
    return re.sub(r'^\s*#include\s+"[^"]+"\s*$', "", text, flags=re.M)


def _function_source(sym: str, func, kernel_files: dict, single_rounding: list) -> str:
    from .codegen.emitter import emit
    from .kernel_graph import extract
    from .planner import plan as make_plan

    graph = extract(_one_kernel_module(func))
    plan = make_plan(graph)
    with tempfile.TemporaryDirectory() as d:
        emit(graph, plan, d, name=sym)
        kdir = os.path.join(d, "kernels")
        for f in sorted(os.listdir(kdir)):
            with open(os.path.join(kdir, f)) as fh:
                kernel_files.setdefault(f, fh.read())
        parts = {}
        for f in (f"{sym}.h", f"{sym}_weights.h", f"{sym}.c"):
            with open(os.path.join(d, f)) as fh:
                parts[f] = _strip_local_includes(fh.read())
    if any(op.params.get("single_rounding") for op in graph.ops):
        single_rounding.append(sym)
    n_in, n_out = len(graph.inputs), len(graph.outputs)
    from .codegen.emitter import _C_TYPES

    ctypes = [f"(const {_C_TYPES[graph.tensors[t].dtype]}*)" for t in graph.inputs] + \
             [f"({_C_TYPES[graph.tensors[t].dtype]}*)" for t in graph.outputs]
    args = ", ".join([f"{c}te_ffi_data(&args[{i}])" for i, c in enumerate(ctypes)])
    wrapper = (f'int __tvm_ffi_{sym}(void* self, const te_ffi_any* args, int32_t num_args, te_ffi_any* result) {{\n'
               f'  (void)self;\n  if (num_args != {n_in + n_out}) return -1;\n'
               f'  if ({sym}_run({args}) != 0) return -1;\n  result->type_index = 0; /* None */\n  return 0;\n}}\n')
    return "\n".join(["#include <stddef.h>", "#include <stdint.h>", "#include <string.h>", "KERNEL_HEADER",
                      '#ifdef __cplusplus\nextern "C" {\n#endif', parts[f"{sym}.h"], parts[f"{sym}_weights.h"],
                      parts[f"{sym}.c"], _WRAPPER, wrapper, "#ifdef __cplusplus\n}\n#endif\n"])


def _c_source_module(code: str, symbols: list):
    return tvm.get_global_func("runtime.CSourceModuleCreate")(code, "c", symbols, [])


@tvm.register_global_func("relax.ext." + CODEGEN, override=True)
def tinyengine_codegen(functions, options, constant_names):  # noqa: ARG001  (TVM's codegen signature)
    """RunCodegen hook: one C source module per offloaded function, plus one with the kernel library."""
    kernel_files: dict = {}
    single: list = []
    sources = []
    for f in functions:
        sym = str(f.attrs["global_symbol"])
        sources.append((sym, _function_source(sym, f, kernel_files, single)))
    header = _strip_local_includes(kernel_files.pop("tinyengine_kernels.h", ""))
    header = header.replace("#ifndef TINYENGINE_KERNELS_H_", "#ifndef TINYENGINE_KERNELS_H_", 1)
    mods = [_c_source_module(code.replace("KERNEL_HEADER", header), [sym]) for sym, code in sources]
    prefix = ["#include <stddef.h>", "#include <stdint.h>", "#include <string.h>", "#include <math.h>"]
    if single:  # graphs from ONNX/PyTorch: one-rounding requantization
        prefix.append("#define TE_SINGLE_ROUNDING 1")
    tag = sources[0][0] if sources else "none"
    for name, text in sorted(kernel_files.items()):
        if not name.endswith(".c"):
            continue
        # one translation unit per kernel file (their static helpers share names); VMLink wants every
        # module to export a symbol, so each also gets a no-op one
        sym = f"tinyengine_{re.sub(r'[^0-9A-Za-z_]', '_', name[:-2])}_{tag}"
        code = "\n".join(prefix + [header, _strip_local_includes(text),
                                    '#ifdef __cplusplus\nextern "C" {\n#endif', _WRAPPER,
                                    f"int __tvm_ffi_{sym}(void* s, const te_ffi_any* a, int32_t n, te_ffi_any* r) "
                                    "{ (void)s; (void)a; (void)n; r->type_index = 0; return 0; }",
                                    "#ifdef __cplusplus\n}\n#endif\n"])
        mods.append(_c_source_module(code, [sym]))
    return mods
