"""TFLite int8 frontend: a .tflite file in, a Relax IRModule (quantize/dequantize around float ops) out.

Built on TVM's Relax TFLite frontend. Two things are added around it:

* checks that turn bad input into one-line errors before TVM sees it: a missing or
  corrupt file, and operators this compiler has no kernel for (named, with the
  operator index and the tensor it writes);
* a converter subclass that accepts quantized PAD and TRANSPOSE, which the stock
  converter refuses although its QDQ lowering handles them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._files import read_bytes
from ..errors import TinyEngineError, UnsupportedOperatorError

# TFLite builtins the kernel graph can express. TRANSPOSE is accepted only where a
# pass can sink it into a following reduction (checked again when partitioning).
SUPPORTED_OPS = frozenset(
    {
        "QUANTIZE",
        "DEQUANTIZE",
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "FULLY_CONNECTED",
        "ADD",
        "AVERAGE_POOL_2D",
        "MAX_POOL_2D",
        "MEAN",
        "PAD",
        "RESHAPE",
        "RESIZE_NEAREST_NEIGHBOR",
        "TRANSPOSE",
        "LOG_SOFTMAX",
        # elementwise (SE blocks, activations): relay_passes/partition.py _elementwise_patterns
        "MUL",
        "SUB",
        "LOGISTIC",
        "HARD_SWISH",
        "RELU_N1_TO_1",
    }
)


@dataclass(frozen=True)
class TensorInfo:
    """Name, shape, dtype and (per-tensor) quantization of a model input or output."""

    name: str
    shape: tuple
    dtype: str
    scale: float | None = None
    zero_point: int | None = None


_TFLITE_DTYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 7: "int16", 9: "int8"}


def _builtin_names():
    import tflite

    return {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}


def read_model(model) -> tuple:
    """Parse a .tflite path or bytes; return (tflite.Model, raw bytes, source label)."""
    import tflite

    buf, label = read_bytes(model)
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise TinyEngineError(f"{label}: not a TFLite flatbuffer (missing 'TFL3' identifier); corrupt or wrong file type")
    try:
        m = tflite.Model.GetRootAsModel(buf, 0)
        if m.SubgraphsLength() < 1:
            raise ValueError("no subgraph")
        sg = m.Subgraphs(0)
        for i in range(sg.OperatorsLength()):
            op = sg.Operators(i)
            m.OperatorCodes(op.OpcodeIndex())
            op.InputsAsNumpy(), op.OutputsAsNumpy()
    except TinyEngineError:
        raise
    except Exception as err:  # flatbuffers raises assorted errors on truncated data
        raise TinyEngineError(f"{label}: corrupt TFLite model ({type(err).__name__}: {err})") from None
    return m, buf, label


def _tensor_info(sg, idx) -> TensorInfo:
    t = sg.Tensors(idx)
    name = t.Name().decode() if t.Name() else f"tensor_{idx}"
    q = t.Quantization()
    scale = zp = None
    if q is not None and q.ScaleLength() > 0:
        scale = float(q.ScaleAsNumpy()[0])
        zp = int(q.ZeroPointAsNumpy()[0]) if q.ZeroPointLength() > 0 else 0
    return TensorInfo(name, tuple(int(d) for d in t.ShapeAsNumpy()), _TFLITE_DTYPES.get(t.Type(), f"type{t.Type()}"), scale, zp)


def model_io(m) -> tuple[list[TensorInfo], list[TensorInfo]]:
    """Inputs and outputs of subgraph 0, as TensorInfo."""
    sg = m.Subgraphs(0)
    return [_tensor_info(sg, i) for i in sg.InputsAsNumpy()], [_tensor_info(sg, i) for i in sg.OutputsAsNumpy()]


def check_supported(m, label: str = "<model>") -> None:
    """Raise UnsupportedOperatorError naming every operator with no kernel, and where it is."""
    names = _builtin_names()
    sg = m.Subgraphs(0)
    if m.SubgraphsLength() > 1:
        raise UnsupportedOperatorError(f"{label}: models with {m.SubgraphsLength()} subgraphs (control flow) are not supported")
    bad = []
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        oc = m.OperatorCodes(op.OpcodeIndex())
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        name = names.get(code, f"builtin_{code}")
        if code == 32:  # CUSTOM
            name = f"CUSTOM({oc.CustomCode().decode() if oc.CustomCode() else '?'})"
        if name not in SUPPORTED_OPS:
            outs = op.OutputsAsNumpy()
            where = sg.Tensors(outs[0]).Name().decode() if len(outs) else "?"
            bad.append(f"{name} (operator #{i}, output '{where}')")
    if bad:
        raise UnsupportedOperatorError(f"{label}: unsupported operator{'s' if len(bad) > 1 else ''}: " + "; ".join(bad))


def _converter_class():
    from tvm.relax.frontend.tflite import tflite_frontend

    base = tflite_frontend.OperatorConverter

    class TinyEngineOperatorConverter(base):
        """Stock converter plus quantized PAD, TRANSPOSE and RESIZE_NEAREST_NEIGHBOR: the stock
        conversions of these only move int8 values (no arithmetic), so they are exact as they are."""

        _SUPPORTED_QUANTIZED_OPS = frozenset(base._SUPPORTED_QUANTIZED_OPS) | {"PAD", "TRANSPOSE", "RESIZE_NEAREST_NEIGHBOR"}

    return TinyEngineOperatorConverter


def from_tflite(model):
    """Import a TFLite model (path or bytes) into a Relax IRModule.

    Returns (mod, inputs, outputs) where inputs/outputs are TensorInfo lists.
    """
    from tvm.relax.frontend.tflite import from_tflite as tvm_from_tflite

    m, _, label = read_model(model)
    check_supported(m, label)
    inputs, outputs = model_io(m)
    for t in inputs:
        if any(d <= 0 for d in t.shape):
            raise TinyEngineError(f"{label}: input '{t.name}' has a dynamic shape {list(t.shape)}; give a static shape")
    try:
        mod = tvm_from_tflite(
            m,
            shape_dict={t.name: t.shape for t in inputs},
            dtype_dict={t.name: t.dtype for t in inputs},
            op_converter=_converter_class(),
        )
    except Exception as err:
        msg = str(err).strip().splitlines()
        raise TinyEngineError(f"{label}: TVM's TFLite importer failed: {msg[-1] if msg else type(err).__name__}") from None
    return mod, inputs, outputs
