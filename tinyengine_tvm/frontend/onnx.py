"""ONNX frontend: a .onnx file (QDQ int8 or float) in, a Relax IRModule out.

Built on ``tvm.relax.frontend.onnx.from_onnx``. Around it:

* checks that turn bad input into one-line errors before TVM sees it: a missing or
  corrupt file, operators with no kernel (named, with node index and output), dynamic
  input shapes without ``input_shapes``, non-4-D image inputs;
* **QOperator models are rejected** (``QLinearConv``, ``QLinearMatMul``, ``QGemm``,
  ``QLinearAdd``, ``QLinearGlobalAveragePool``, ``ConvInteger``, ...): TVM 0.27 cannot
  import them, and the QDQ format carries the same information in a form the Relax
  importer and our kernel patterns understand. The error says how to re-export
  (``quantize_static(..., quant_format=QuantFormat.QDQ)``) or to give the float model
  with calibration data instead;
* QDQ models come out as ``quantize``/``dequantize`` around float NCHW ops; the
  ``tinyengine.pipeline`` canonicalization (``CanonicalizeClip``, ``ConvertToNHWC``,
  ``FoldConstantLayout``, ``RemoveIdentityRequantize``) maps them onto the same kernel
  graph as TFLite models;
* float models are returned as float Relax for post-training quantization
  (``tinyengine_tvm.quantize``).

Image inputs of the compiled model are NHWC (``(N, H, W, C)``), like TFLite's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ._files import read_bytes
from ..errors import TinyEngineError, UnsupportedOperatorError
from .tflite import TensorInfo

QOPERATOR_OPS = frozenset({
    "QLinearConv", "QLinearMatMul", "QGemm", "QLinearAdd", "QLinearMul", "QLinearGlobalAveragePool",
    "QLinearAveragePool", "QLinearConcat", "QLinearSigmoid", "QLinearLeakyRelu", "QLinearSoftmax",
    "QLinearReduceMean", "QLinearWhere", "ConvInteger", "MatMulInteger", "DynamicQuantizeLinear",
    "QAttention", "QEmbedLayerNormalization",
})

# ONNX ops that canonicalize onto a kernel (or vanish: shape-only / inference no-ops).
SUPPORTED_OPS = frozenset({
    "QuantizeLinear", "DequantizeLinear", "Conv", "Gemm", "MatMul", "Add", "Relu", "Clip", "MaxPool",
    "AveragePool", "GlobalAveragePool", "ReduceMean", "Flatten", "Reshape", "Squeeze", "Unsqueeze",
    "BatchNormalization", "Identity", "Constant", "Dropout", "LogSoftmax", "Resize", "Upsample",
}) | {"Concat"}  # detection heads / topology (relay_passes/layout_nhwc.py: concat of NHWC maps)
# SE blocks, as onnxruntime computes them (codegen/lut.py ort_unary_table, kernels/binary_s8_f32.c)
SUPPORTED_OPS = SUPPORTED_OPS | frozenset({"Sigmoid", "HardSigmoid", "HardSwish", "Mul", "Sub"})
# element moves between a DequantizeLinear and a QuantizeLinear of the same parameters (int8 slice / transpose
# kernels; relay_passes/layout_nhwc.py moves their axes, simplify_qdq.py drops the identity pair)
SUPPORTED_OPS = SUPPORTED_OPS | frozenset({"Split", "Slice", "Transpose"})

_ONNX_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 10: "float16"}


@dataclass
class OnnxModel:
    """An imported ONNX model: the Relax module and what the compiler needs to know about it."""

    mod: object            # tvm.IRModule (float NCHW ops, with or without quantize/dequantize)
    inputs: list           # TensorInfo, in the model's own (NCHW) shapes
    outputs: list          # TensorInfo
    quantized: bool        # True for a QDQ model, False for a float model (needs calibration)
    label: str
    located: list = None   # per node: (index, op type, output, [(Relax op, shape)]) for error messages (tflite.locate)


def read_model(model):
    """Parse a .onnx path, bytes or onnx.ModelProto; return (ModelProto, label)."""
    import onnx

    if isinstance(model, onnx.ModelProto):
        return model, "<onnx model>"
    buf, label = read_bytes(model)
    try:
        m = onnx.load_from_string(buf)
    except Exception as err:
        raise TinyEngineError(f"{label}: corrupt ONNX model ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from None
    if len(m.graph.node) == 0:
        raise TinyEngineError(f"{label}: not an ONNX model (no graph nodes); corrupt or wrong file type")
    return m, label


def _node_where(i, node) -> str:
    name = f" '{node.name}'" if node.name else ""
    out = node.output[0] if node.output else "?"
    return f"node #{i}{name}, output '{out}'"


def check_supported(m, label: str = "<model>") -> None:
    """Reject QOperator models and operators with no kernel, naming each one and where it is."""
    qops = [(i, n) for i, n in enumerate(m.graph.node) if n.op_type in QOPERATOR_OPS]
    if qops:
        i, n = qops[0]
        kinds = sorted({n.op_type for _, n in qops})
        raise UnsupportedOperatorError(
            f"{label}: QOperator-format model ({', '.join(kinds)}; first at {_node_where(i, n)}) is not supported: "
            "re-quantize in QDQ format (onnxruntime.quantization.quantize_static(..., quant_format=QuantFormat.QDQ)) "
            "or compile the float model with calibration data")
    bad = [f"{n.op_type} ({_node_where(i, n)})" for i, n in enumerate(m.graph.node)
           if n.op_type not in SUPPORTED_OPS or n.domain not in ("", "ai.onnx")]
    if bad:
        raise UnsupportedOperatorError(f"{label}: unsupported operator{'s' if len(bad) > 1 else ''}: " + "; ".join(bad))


def _graph_inputs(m):
    inits = {t.name for t in m.graph.initializer}
    return [v for v in m.graph.input if v.name not in inits]


def _dims(value_info):
    dims = []
    for d in value_info.type.tensor_type.shape.dim:
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(int(d.dim_value))
        else:
            dims.append(d.dim_param or "?")
    return dims


def model_io(m, input_shapes=None, label="<model>"):
    """(inputs, outputs) as TensorInfo; input shapes resolved with input_shapes (name -> shape)."""
    input_shapes = dict(input_shapes or {})
    ins = []
    for v in _graph_inputs(m):
        dims = _dims(v)
        if v.name in input_shapes:
            shape = tuple(int(d) for d in input_shapes.pop(v.name))
            if len(shape) != len(dims) or any(isinstance(d, int) and d != s for d, s in zip(dims, shape)):
                raise TinyEngineError(f"{label}: input_shapes gives {list(shape)} for input '{v.name}' whose shape is {dims}")
        elif any(not isinstance(d, int) for d in dims):
            raise TinyEngineError(
                f"{label}: input '{v.name}' has a dynamic shape {dims}; give a static shape "
                f"(input_shapes={{'{v.name}': (1, ...)}}, CLI: --input-shape {v.name}:1,...)")
        else:
            shape = tuple(dims)
        ins.append(TensorInfo(v.name, shape, _ONNX_DTYPES.get(v.type.tensor_type.elem_type, "?")))
    if input_shapes:
        raise TinyEngineError(f"{label}: input_shapes names unknown input(s) {sorted(input_shapes)}; inputs are {[t.name for t in ins]}")
    outs = [TensorInfo(v.name, tuple(d if isinstance(d, int) else -1 for d in _dims(v)),
                       _ONNX_DTYPES.get(v.type.tensor_type.elem_type, "?")) for v in m.graph.output]
    return ins, outs


def _check_image_inputs(m, inputs, label):
    """An input that feeds a Conv/pool must be a 4-D NCHW image."""
    spatial = {"Conv", "MaxPool", "AveragePool", "GlobalAveragePool"}
    consumers = {}
    for n in m.graph.node:
        for x in n.input:
            consumers.setdefault(x, []).append(n)
    # follow QuantizeLinear/DequantizeLinear from the input to its first real consumer
    for t in inputs:
        frontier, seen = [t.name], set()
        while frontier:
            name = frontier.pop()
            for n in consumers.get(name, []):
                if id(n) in seen:
                    continue
                seen.add(id(n))
                if n.op_type in ("QuantizeLinear", "DequantizeLinear", "Identity"):
                    frontier.extend(n.output)
                elif n.op_type in spatial and len(t.shape) != 4:
                    raise TinyEngineError(
                        f"{label}: input '{t.name}' of shape {list(t.shape)} feeds {n.op_type} ({n.name or n.output[0]}), "
                        "which needs a 4-D (N, C, H, W) image input")


def mark_nchw(mod):
    """Tag main as an NCHW graph (ConvertToNHWC converts its 4-D inputs even if it holds no conv) whose
    MEAN rounds once, as onnxruntime's does (``tinyengine.rounding = "exact"``)."""
    from ..relay_passes.annotate import ROUNDING_ATTR
    from ..relay_passes.layout_nhwc import LAYOUT_ATTR

    mod = mod.clone()
    mod["main"] = mod["main"].with_attr(LAYOUT_ATTR, "NCHW").with_attr(ROUNDING_ATTR, "exact")
    return mod


def is_quantized(m) -> bool:
    return any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in m.graph.node)


def from_onnx(model, input_shapes=None) -> OnnxModel:
    """Import an ONNX model (path, bytes or ModelProto) into Relax; see the module docstring."""
    from tvm.relax.frontend.onnx import from_onnx as tvm_from_onnx

    m, label = read_model(model)
    check_supported(m, label)
    inputs, outputs = model_io(m, input_shapes, label)
    _check_image_inputs(m, inputs, label)
    for t in inputs:
        if t.dtype != "float32":
            raise TinyEngineError(f"{label}: input '{t.name}' has dtype {t.dtype}; only float32 model inputs are supported")
    located = []
    try:
        with _recording(m, located):
            mod = tvm_from_onnx(m, shape_dict={t.name: list(t.shape) for t in inputs}, keep_params_in_input=False)
    except Exception as err:
        msg = [ln for ln in str(err).strip().splitlines() if ln.strip()]
        raise TinyEngineError(f"{label}: TVM's ONNX importer failed: {msg[-1] if msg else type(err).__name__}") from None
    mod = mark_nchw(mod)
    return OnnxModel(mod, inputs, outputs, is_quantized(m), os.path.basename(label) if label[0] != "<" else label, located)


class _recording:
    """While TVM's importer runs: record the (Relax op, shape) of the calls each node's conversion makes
    (``_convert_operator`` runs once per node, in graph order, If excepted), so a call no kernel takes can
    be named as its ONNX node (tflite.locate)."""

    def __init__(self, m, located):
        self.nodes = [n for n in m.graph.node if n.op_type != "If"]
        self.located, self.seen = located, set()

    def __enter__(self):
        from tvm.relax.frontend.onnx import onnx_frontend

        from .tflite import _new_calls

        self.cls, self.orig = onnx_frontend.ONNXGraphImporter, onnx_frontend.ONNXGraphImporter._convert_operator
        orig, rec = self.orig, self

        def convert(gp, op_name, *args, **kwargs):
            ret = orig(gp, op_name, *args, **kwargs)
            i = len(rec.located)
            node = rec.nodes[i] if i < len(rec.nodes) else None
            try:
                calls = _new_calls(ret, rec.seen, gp.bb)
            except Exception:  # a record is a courtesy for error messages, never a reason to fail
                calls = []
            rec.located.append((i, op_name, (node.name or node.output[0]) if node is not None else "?", calls))
            return ret

        self.cls._convert_operator = convert
        return self

    def __exit__(self, *exc):
        self.cls._convert_operator = self.orig
        return False
