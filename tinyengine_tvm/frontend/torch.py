"""PyTorch frontend: a float ``torch.nn.Module`` in, a float Relax IRModule out (then post-training quantization).

``torch.export.export`` traces the module in eval mode on example inputs (static
shapes), and ``tvm.relax.frontend.torch.from_exported_program`` imports the program
with its weights as constants. The result is a float NCHW graph (conv, batch norm,
ReLU/ReLU6 as ``clip``, residual add, pooling, linear) tagged for ``ConvertToNHWC``;
``tinyengine_tvm.quantize`` folds batch norm, fuses activations, calibrates and
quantizes it. torch is imported only when this module is used.
"""

from __future__ import annotations

import numpy as np

from ..errors import TinyEngineError
from .tflite import TensorInfo


def is_torch_module(obj) -> bool:
    """True for a torch.nn.Module, checked without importing torch."""
    return any(c.__module__.startswith("torch.nn") and c.__name__ == "Module" for c in type(obj).__mro__)


def from_torch(module, example_inputs):
    """Export and import ``module`` on ``example_inputs`` (arrays or tensors, NCHW); returns (mod, inputs)."""
    import torch

    from .onnx import mark_nchw

    if not is_torch_module(module):
        raise TinyEngineError(f"expected a torch.nn.Module, got {type(module).__name__}")
    if example_inputs is None:
        raise TinyEngineError("a PyTorch model needs an example input (or calibration data) to fix its input shape")
    xs = [x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(np.asarray(x, np.float32)))
          for x in example_inputs]
    module = module.eval()
    try:
        with torch.no_grad():
            ep = torch.export.export(module, tuple(xs))
    except Exception as err:
        msg = [ln for ln in str(err).strip().splitlines() if ln.strip()]
        raise TinyEngineError(f"torch.export failed on {type(module).__name__}: {msg[0] if msg else type(err).__name__}") from None
    try:
        mod, where = _import(ep, type(module).__name__)
    except Exception as err:
        msg = [ln for ln in str(err).strip().splitlines() if ln.strip()]
        raise TinyEngineError(f"TVM's PyTorch importer failed on {type(module).__name__}: {msg[-1] if msg else type(err).__name__}") from None
    if where:
        mod = _with_spans(mod, where)
    inputs = [TensorInfo(f"input_{i}", tuple(int(d) for d in x.shape), "float32") for i, x in enumerate(xs)]
    return mark_nchw(mod), inputs


def _import(ep, top: str):
    """Import ep as from_exported_program does, and map each bound Relax var to the torch module
    (and aten op) it came from, so errors can name a place in the user's model, not a Relax var."""
    from tvm.relax.frontend.torch import exported_program_translator as ept

    importer_cls = getattr(ept, "ExportedProgramImporter", None)
    if importer_cls is None:  # a TVM without the importer class: no source locations
        return ept.from_exported_program(ep, keep_params_as_input=False), {}
    ep = ep.run_decompositions()  # what from_exported_program does by default
    importer = importer_cls()
    mod = importer.from_exported_program(ep, False, False, False, None)
    where = {}
    for node, value in importer.env.items():
        if node.op != "call_function" or not hasattr(value, "name"):
            continue
        stack = node.meta.get("nn_module_stack") or {}
        path, cls = list(stack.values())[-1] if stack else ("", top)
        cls = str(cls).rsplit(".", 1)[-1]
        place = f"torch module '{path}' ({cls}, " if path else f"{cls}.forward ("
        where.setdefault(value, f"{place}{node.target})")
    return mod, where


def _with_spans(mod, where: dict):
    """main with each call bound to a var in ``where`` carrying that location as its span.

    A span, unlike a var name, survives the passes before quantization (they keep unchanged calls,
    and var names are neither unique nor stable across them), so the PTQ's errors can say where in
    the torch module an op without a kernel came from (``tinyengine_tvm.quantize.ptq._where``).
    """
    import tvm
    from tvm import relax

    func = mod["main"]
    # The importer emits a node's helper bindings (a bias reshape, ...) just before the var it maps
    # the node to: each untagged binding belongs to the next tagged one.
    loc_of, cur = {}, None
    for b in reversed([b for block in func.body.blocks for b in block.bindings]):
        cur = where.get(b.var, cur)
        loc_of[b.var] = cur
    blocks = []
    for block in func.body.blocks:
        bindings = []
        for b in block.bindings:
            loc, v = loc_of.get(b.var), b.value
            if loc is not None and isinstance(v, relax.Call) and isinstance(b, relax.VarBinding):
                span = tvm.ir.Span(tvm.ir.SourceName(loc), 0, 0, 0, 0)
                b = relax.VarBinding(b.var, relax.Call(v.op, v.args, v.attrs, v.ty_args, span=span, ret_ty=v.ty))
            bindings.append(b)
        blocks.append(relax.DataflowBlock(bindings) if isinstance(block, relax.DataflowBlock) else relax.BindingBlock(bindings))
    new = relax.Function(func.params, relax.SeqExpr(blocks, func.body.body), func.ret_ty, func.is_pure, func.attrs)
    mod = mod.clone()
    mod["main"] = new
    return mod


def to_onnx(module, example_inputs):
    """The module exported by torch's TorchScript ONNX exporter (eval mode, batch norm folded into the
    convs), as onnxruntime's quantization tutorials export it; an ``onnx.ModelProto``."""
    import io
    import warnings

    import onnx
    import torch

    xs = tuple(torch.from_numpy(np.ascontiguousarray(np.asarray(x, np.float32))) for x in example_inputs)
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings():  # the TorchScript exporter is deprecated; it is the one quantize_static's docs use
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(module.eval(), xs, buf, dynamo=False, opset_version=13,
                              input_names=[f"input_{i}" for i in range(len(xs))])
    except Exception as err:
        msg = [ln for ln in str(err).strip().splitlines() if ln.strip()]
        raise TinyEngineError(f"torch.onnx.export failed on {type(module).__name__} (needed for onnxruntime calibration): "
                              f"{msg[0] if msg else type(err).__name__}") from None
    return onnx.load_from_string(buf.getvalue())
