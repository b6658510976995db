"""Build real TFLite flatbuffer models from Python, for tests.

The models are written with the ``tflite`` package's generated flatbuffer
builder functions (``tflite.ModelStart``, ``tflite.TensorAddShape`` ...) and a
``flatbuffers.Builder``; the result is an ordinary ``.tflite`` file (schema
version 3, file identifier ``TFL3``) that LiteRT, TVM's TFLite frontend and
our own frontend load like a converter-made model.

Two layers:

* :class:`ModelBuilder` -- a small graph builder: declare tensors (inputs,
  constants, intermediates), add builtin operators by their TFLite name with
  keyword options, mark outputs, call :meth:`ModelBuilder.finish`.
* single-operator model factories (:func:`conv2d_model`,
  :func:`fully_connected_model`, :func:`add_model`, :func:`pool_model`,
  :func:`mean_model`, :func:`pad_model` ...) with random int8 weights and
  quantization parameters chosen so the outputs use a good part of the int8
  range.  They return a :class:`TFLiteModel`: a ``bytes`` subclass whose
  ``.info`` attribute (a :class:`ModelInfo`) holds the weights, bias and
  quantization parameters that were used.

Example::

    mb = ModelBuilder()
    x = mb.input("x", (1, 8, 8, 3), scale=0.05, zero_point=-2)
    w = mb.const("w", np.ones((4, 3, 3, 3), np.int8), scale=[0.01] * 4, zero_point=0)
    b = mb.const("b", np.zeros(4, np.int32), scale=choose_bias_scale(0.05, [0.01] * 4))
    y = mb.tensor("y", (1, 8, 8, 4), scale=0.1, zero_point=0)
    mb.op("CONV_2D", [x, w, b], [y], padding="SAME", fused_activation="RELU")
    mb.output(y)
    model_bytes = mb.finish()
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Sequence

import flatbuffers
import numpy as np
import tflite
from tflite.ActivationFunctionType import ActivationFunctionType
from tflite.BuiltinOperator import BuiltinOperator
from tflite.BuiltinOptions import BuiltinOptions
from tflite.Padding import Padding
from tflite.TensorType import TensorType

__all__ = [
    "ModelBuilder",
    "ModelInfo",
    "TFLiteModel",
    "TENSOR_TYPES",
    "builtin_code",
    "choose_bias_scale",
    "quantize",
    "dequantize",
    "conv_output_size",
    "random_int8",
    "conv2d_model",
    "fully_connected_model",
    "add_model",
    "binary_model",
    "pool_model",
    "mean_model",
    "pad_model",
    "unary_model",
    "binary_const_model",
]

SCHEMA_VERSION = 3
FILE_IDENTIFIER = b"TFL3"
_BUFFER_ALIGNMENT = 16

# numpy dtype name -> TFLite TensorType
TENSOR_TYPES: dict[str, int] = {
    "float32": TensorType.FLOAT32,
    "float16": TensorType.FLOAT16,
    "float64": TensorType.FLOAT64,
    "int32": TensorType.INT32,
    "uint8": TensorType.UINT8,
    "int64": TensorType.INT64,
    "bool": TensorType.BOOL,
    "int16": TensorType.INT16,
    "int8": TensorType.INT8,
    "uint16": TensorType.UINT16,
    "uint32": TensorType.UINT32,
    "uint64": TensorType.UINT64,
}

_ACTIVATIONS = {
    "NONE": ActivationFunctionType.NONE,
    "RELU": ActivationFunctionType.RELU,
    "RELU_N1_TO_1": ActivationFunctionType.RELU_N1_TO_1,
    "RELU6": ActivationFunctionType.RELU6,
    "TANH": ActivationFunctionType.TANH,
    "SIGN_BIT": ActivationFunctionType.SIGN_BIT,
}

_PADDINGS = {"SAME": Padding.SAME, "VALID": Padding.VALID}


def builtin_code(opname: str) -> int:
    """The ``BuiltinOperator`` code of a TFLite builtin name such as ``"CONV_2D"``."""
    code = getattr(BuiltinOperator, opname.upper(), None)
    if not isinstance(code, int):
        raise ValueError(f"unknown TFLite builtin operator {opname!r}")
    return code


# --------------------------------------------------------------------------------------
# Builtin options
#
# Each entry: opname -> (options table name, [(kwarg, schema field, kind, default)]).
# kinds: "int", "bool", "float", "padding", "act", "ivec" (int32 vector).
# Operators not listed here are written without options (BuiltinOptions.NONE),
# which is what the converter does for RELU, RELU6, TANH, LOGISTIC ...
# --------------------------------------------------------------------------------------

_ACT = ("fused_activation", "FusedActivationFunction", "act", "NONE")
_OPTION_SPECS: dict[str, tuple[str, list[tuple[str, str, str, Any]]]] = {
    "CONV_2D": ("Conv2DOptions", [
        ("padding", "Padding", "padding", "SAME"),
        ("stride_w", "StrideW", "int", 1),
        ("stride_h", "StrideH", "int", 1),
        _ACT,
        ("dilation_w", "DilationWFactor", "int", 1),
        ("dilation_h", "DilationHFactor", "int", 1),
    ]),
    "DEPTHWISE_CONV_2D": ("DepthwiseConv2DOptions", [
        ("padding", "Padding", "padding", "SAME"),
        ("stride_w", "StrideW", "int", 1),
        ("stride_h", "StrideH", "int", 1),
        ("depth_multiplier", "DepthMultiplier", "int", 1),
        _ACT,
        ("dilation_w", "DilationWFactor", "int", 1),
        ("dilation_h", "DilationHFactor", "int", 1),
    ]),
    "FULLY_CONNECTED": ("FullyConnectedOptions", [
        _ACT,
        ("keep_num_dims", "KeepNumDims", "bool", False),
    ]),
    "ADD": ("AddOptions", [_ACT]),
    "SUB": ("SubOptions", [_ACT]),
    "MUL": ("MulOptions", [_ACT]),
    "DIV": ("DivOptions", [_ACT]),
    "AVERAGE_POOL_2D": ("Pool2DOptions", [
        ("padding", "Padding", "padding", "VALID"),
        ("stride_w", "StrideW", "int", 1),
        ("stride_h", "StrideH", "int", 1),
        ("filter_w", "FilterWidth", "int", 1),
        ("filter_h", "FilterHeight", "int", 1),
        _ACT,
    ]),
    "MEAN": ("ReducerOptions", [("keep_dims", "KeepDims", "bool", False)]),
    "SUM": ("ReducerOptions", [("keep_dims", "KeepDims", "bool", False)]),
    "REDUCE_MAX": ("ReducerOptions", [("keep_dims", "KeepDims", "bool", False)]),
    "REDUCE_MIN": ("ReducerOptions", [("keep_dims", "KeepDims", "bool", False)]),
    "REDUCE_PROD": ("ReducerOptions", [("keep_dims", "KeepDims", "bool", False)]),
    "PAD": ("PadOptions", []),
    "PADV2": ("PadV2Options", []),
    "RESHAPE": ("ReshapeOptions", [("new_shape", "NewShape", "ivec", None)]),
    "TRANSPOSE": ("TransposeOptions", []),
    "RESIZE_NEAREST_NEIGHBOR": ("ResizeNearestNeighborOptions", [
        ("align_corners", "AlignCorners", "bool", False),
        ("half_pixel_centers", "HalfPixelCenters", "bool", False),
    ]),
    "QUANTIZE": ("QuantizeOptions", []),
    "DEQUANTIZE": ("DequantizeOptions", []),
    "LOG_SOFTMAX": ("LogSoftmaxOptions", []),
    "SOFTMAX": ("SoftmaxOptions", [("beta", "Beta", "float", 1.0)]),
    "CONCATENATION": ("ConcatenationOptions", [("axis", "Axis", "int", 0), _ACT]),
    "SQUEEZE": ("SqueezeOptions", [("squeeze_dims", "SqueezeDims", "ivec", None)]),
    "LEAKY_RELU": ("LeakyReluOptions", [("alpha", "Alpha", "float", 0.2)]),
    "HARD_SWISH": ("HardSwishOptions", []),
}
_OPTION_SPECS.update({  # detection heads / topology
    "SPLIT": ("SplitOptions", [("num_splits", "NumSplits", "int", 2)]),
    "SPLIT_V": ("SplitVOptions", [("num_splits", "NumSplits", "int", 2)]),
    "STRIDED_SLICE": ("StridedSliceOptions", [
        ("begin_mask", "BeginMask", "int", 0), ("end_mask", "EndMask", "int", 0),
        ("ellipsis_mask", "EllipsisMask", "int", 0), ("new_axis_mask", "NewAxisMask", "int", 0),
        ("shrink_axis_mask", "ShrinkAxisMask", "int", 0)]),
    "EXPAND_DIMS": ("ExpandDimsOptions", []),
})
_OPTION_SPECS["MAX_POOL_2D"] = ("Pool2DOptions", _OPTION_SPECS["AVERAGE_POOL_2D"][1])
_OPTION_SPECS["L2_POOL_2D"] = ("Pool2DOptions", _OPTION_SPECS["AVERAGE_POOL_2D"][1])

# Operators whose int32 "shape-like" second input can be given as a keyword:
# op(..., paddings=[[0,0],[1,1],[1,1],[0,0]]) appends a const int32 tensor.
_CONST_INPUT_KWARGS: dict[str, tuple[str, ...]] = {
    "PAD": ("paddings",),
    "PADV2": ("paddings",),
    "MIRROR_PAD": ("paddings",),
    "MEAN": ("axis", "axes"),
    "SUM": ("axis", "axes"),
    "REDUCE_MAX": ("axis", "axes"),
    "REDUCE_MIN": ("axis", "axes"),
    "REDUCE_PROD": ("axis", "axes"),
    "RESHAPE": ("shape",),
    "TRANSPOSE": ("perm",),
    "RESIZE_NEAREST_NEIGHBOR": ("size",),
    "EXPAND_DIMS": ("axis",),
}

# Operator versions the TFLite converter would write for int8 models (the
# runtime looks up kernels by (code, version), so these must be registered
# versions; every builtin kernel registers version 1).
_INT8_VERSIONS = {
    "CONV_2D": 3,
    "DEPTHWISE_CONV_2D": 3,
    "FULLY_CONNECTED": 4,
    "ADD": 2,
    "SUB": 2,
    "MUL": 2,
    "AVERAGE_POOL_2D": 2,
    "MAX_POOL_2D": 2,
    "MEAN": 2,
    "PAD": 2,
    "TRANSPOSE": 2,
    "RESIZE_NEAREST_NEIGHBOR": 3,  # int8 with half_pixel_centers
    "QUANTIZE": 2,
    "DEQUANTIZE": 2,
    "LOG_SOFTMAX": 2,
    "SOFTMAX": 2,
    "RELU": 2,
    "RELU6": 2,
    "CONCATENATION": 2,
    "TANH": 2,
    "LOGISTIC": 2,
    "SPLIT": 2,
    "SPLIT_V": 2,
    "STRIDED_SLICE": 2,
    "HARD_SWISH": 1,
    "RELU_N1_TO_1": 1,
}


# --------------------------------------------------------------------------------------
# Quantization helpers
# --------------------------------------------------------------------------------------

def choose_bias_scale(input_scale, weight_scales) -> np.ndarray:
    """TFLite's bias scale: ``input_scale * weight_scale`` (per channel), as float32.

    The product is computed from the float32 values that are stored in the
    model, exactly as the TFLite runtime checks it.
    """
    ws = np.atleast_1d(np.asarray(weight_scales, dtype=np.float32))
    return (np.float32(input_scale) * ws).astype(np.float32)


def quantize(x, scale, zero_point, dtype="int8") -> np.ndarray:
    """Affine quantization with round-half-away-from-zero and saturation (TFLite style)."""
    info = np.iinfo(np.dtype(dtype))
    q = np.asarray(x, dtype=np.float64) / np.float64(np.float32(scale))
    q = np.sign(q) * np.floor(np.abs(q) + 0.5) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q, scale, zero_point) -> np.ndarray:
    """``scale * (q - zero_point)`` in float64 (scale broadcast against the last axis if a vector)."""
    return (np.asarray(q, dtype=np.float64) - np.asarray(zero_point, dtype=np.float64)) * \
        np.asarray(scale, dtype=np.float32).astype(np.float64)


def conv_output_size(in_size: int, kernel: int, stride: int, padding: str, dilation: int = 1) -> int:
    """Output length of a conv/pool along one axis, TFLite SAME/VALID rules."""
    eff = (kernel - 1) * dilation + 1
    if padding.upper() == "SAME":
        return (in_size + stride - 1) // stride
    if padding.upper() == "VALID":
        return (in_size - eff + stride) // stride
    raise ValueError(f"padding must be 'SAME' or 'VALID', got {padding!r}")


def random_int8(shape, rng: np.random.Generator, low: int = -128, high: int = 127) -> np.ndarray:
    """Uniform random int8 array in [low, high]."""
    return rng.integers(low, high + 1, size=shape, dtype=np.int64).astype(np.int8)


# --------------------------------------------------------------------------------------
# The builder
# --------------------------------------------------------------------------------------

@dataclasses.dataclass
class _Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str
    buffer: int
    scale: np.ndarray | None = None
    zero_point: np.ndarray | None = None
    quantized_dimension: int = 0
    shape_signature: tuple[int, ...] | None = None  # -1 = dynamic dimension (TFLite's shape_signature)


@dataclasses.dataclass
class _Op:
    opname: str
    code: int
    version: int
    inputs: list[int]
    outputs: list[int]
    options: dict[str, Any]


def _dtype_name(dtype) -> str:
    name = np.dtype(dtype).name
    if name not in TENSOR_TYPES:
        raise ValueError(f"unsupported tensor dtype {name!r}")
    return name


class ModelBuilder:
    """Incrementally build a single-subgraph TFLite model.

    Tensor-creating methods return the tensor's index in the subgraph, which is
    what :meth:`op` and :meth:`output` take.  Tensor names must be unique.
    """

    def __init__(self, description: str = "tinyengine_tvm.testing.tflite_builder"):
        self.description = description
        self._tensors: list[_Tensor] = []
        self._names: set[str] = set()
        self._buffers: list[bytes] = [b""]  # buffer 0: the empty sentinel
        self._ops: list[_Op] = []
        self._inputs: list[int] = []
        self._outputs: list[int] = []

    # ----------------------------------------------------------------- tensors
    def _add_tensor(self, name, shape, dtype, buffer, scale, zero_point, quantized_dimension) -> int:
        name = str(name)
        if name in self._names:
            raise ValueError(f"duplicate tensor name {name!r}")
        shape = tuple(int(d) for d in shape)
        dtype = _dtype_name(dtype)
        t = _Tensor(name, shape, dtype, buffer)
        if scale is not None:
            t.scale = np.atleast_1d(np.asarray(scale, dtype=np.float32)).ravel()
            zp = 0 if zero_point is None else zero_point
            zp = np.atleast_1d(np.asarray(zp, dtype=np.int64)).ravel()
            if zp.size == 1 and t.scale.size > 1:
                zp = np.full(t.scale.size, zp[0], dtype=np.int64)
            if zp.size != t.scale.size:
                raise ValueError(f"{name}: {t.scale.size} scales but {zp.size} zero points")
            if t.scale.size > 1:
                if not 0 <= quantized_dimension < len(shape):
                    raise ValueError(f"{name}: quantized_dimension {quantized_dimension} out of range")
                if shape[quantized_dimension] != t.scale.size:
                    raise ValueError(
                        f"{name}: {t.scale.size} per-channel scales but dimension "
                        f"{quantized_dimension} has size {shape[quantized_dimension]}")
            t.zero_point = zp
            t.quantized_dimension = int(quantized_dimension)
        elif zero_point is not None:
            raise ValueError(f"{name}: zero_point given without scale")
        self._names.add(name)
        self._tensors.append(t)
        return len(self._tensors) - 1

    def _unique_name(self, base: str) -> str:
        name, k = base, 1
        while name in self._names:
            name = f"{base}_{k}"
            k += 1
        return name

    def input(self, name, shape, dtype="int8", scale=None, zero_point=None, shape_signature=None) -> int:
        """A graph input (no buffer data); registered as a subgraph input, in call order.
        ``shape_signature`` (e.g. (-1, 96, 96, 3)) marks dimensions as dynamic, as TFLite's converter does."""
        idx = self._add_tensor(name, shape, dtype, 0, scale, zero_point, 0)
        if shape_signature is not None:
            self._tensors[idx].shape_signature = tuple(int(d) for d in shape_signature)
        self._inputs.append(idx)
        return idx

    def tensor(self, name, shape, dtype="int8", scale=None, zero_point=None,
               quantized_dimension=0) -> int:
        """An intermediate or output tensor (no buffer data)."""
        return self._add_tensor(name, shape, dtype, 0, scale, zero_point, quantized_dimension)

    def const(self, name, array, scale=None, zero_point=None, quantized_dimension=0) -> int:
        """A constant tensor backed by a buffer holding ``array`` (dtype kept as given).

        ``scale`` may be a float (per-tensor) or a 1-D array (per-channel along
        ``quantized_dimension``); ``zero_point`` an int or an array (an int is
        broadcast to all channels).
        """
        arr = np.ascontiguousarray(np.asarray(array))
        _dtype_name(arr.dtype)
        self._buffers.append(arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes())
        return self._add_tensor(name, arr.shape, arr.dtype, len(self._buffers) - 1,
                                scale, zero_point, quantized_dimension)

    def const_int32(self, name, values) -> int:
        """An int32 constant (shapes, axes, paddings, permutations)."""
        return self.const(name, np.asarray(values, dtype=np.int32))

    def output(self, tensor_index) -> None:
        """Register an existing tensor as a subgraph output (in call order)."""
        self._check_index(tensor_index)
        self._outputs.append(int(tensor_index))

    # --------------------------------------------------------------- queries
    def tensor_shape(self, index) -> tuple[int, ...]:
        return self._tensors[index].shape

    def tensor_dtype(self, index) -> str:
        return self._tensors[index].dtype

    def tensor_quant(self, index) -> tuple[np.ndarray, np.ndarray] | None:
        t = self._tensors[index]
        return None if t.scale is None else (t.scale.copy(), t.zero_point.copy())

    def _check_index(self, i):
        if not isinstance(i, (int, np.integer)) or not 0 <= int(i) < len(self._tensors):
            raise IndexError(f"no tensor with index {i!r}")

    # ------------------------------------------------------------- operators
    def op(self, opname: str, inputs: Sequence[int], outputs: Sequence[int], **options) -> None:
        """Append a builtin operator.

        ``opname`` is the TFLite builtin name.  ``inputs`` may contain ``-1``
        (an omitted optional input, e.g. no bias).  Options by operator:

        * CONV_2D / DEPTHWISE_CONV_2D: ``padding`` ("SAME"/"VALID"), ``stride_h``,
          ``stride_w``, ``dilation_h``, ``dilation_w``, ``fused_activation``
          ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"), ``depth_multiplier`` (depthwise)
        * AVERAGE_POOL_2D / MAX_POOL_2D: ``padding``, ``stride_h``, ``stride_w``,
          ``filter_h``, ``filter_w``, ``fused_activation``
        * FULLY_CONNECTED: ``fused_activation``, ``keep_num_dims``
        * ADD / SUB / MUL: ``fused_activation``
        * MEAN (and SUM, REDUCE_*): ``keep_dims``; ``axis=[...]`` appends the int32 axis tensor
        * PAD: ``paddings=[[b, a], ...]`` appends the int32 paddings tensor
        * RESHAPE: ``new_shape=[...]`` sets the option *and* appends the int32 shape
          tensor (``shape=[...]`` appends only the tensor)
        * TRANSPOSE: ``perm=[...]`` appends the int32 permutation tensor
        * CONCATENATION: ``axis``, ``fused_activation``; SOFTMAX: ``beta``
        * any op: ``version`` overrides the operator-code version.

        ``activation`` is accepted as an alias of ``fused_activation``.
        """
        opname = opname.upper()
        code = builtin_code(opname)
        inputs = [int(i) for i in inputs]
        outputs = [int(o) for o in outputs]
        for i in inputs:
            if i != -1:
                self._check_index(i)
        for o in outputs:
            self._check_index(o)
        options = dict(options)
        if "activation" in options:
            if "fused_activation" in options:
                raise TypeError("give either activation or fused_activation, not both")
            options["fused_activation"] = options.pop("activation")
        version = options.pop("version", None)

        # keyword-given constant inputs (paddings, axis, shape, perm)
        for kw in _CONST_INPUT_KWARGS.get(opname, ()):
            if kw in options:
                values = options.pop(kw)
                inputs.append(self.const_int32(self._unique_name(f"{opname.lower()}_{len(self._ops)}/{kw}"), values))
        if opname == "RESHAPE" and options.get("new_shape") is not None and len(inputs) == 1:
            new_shape = [int(v) for v in options["new_shape"]]
            inputs.append(self.const_int32(self._unique_name(f"reshape_{len(self._ops)}/shape"), new_shape))

        spec = _OPTION_SPECS.get(opname)
        allowed = {s[0] for s in spec[1]} if spec else set()
        unknown = set(options) - allowed
        if unknown:
            raise TypeError(f"{opname}: unknown option(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
        if spec:
            for kw, _field, kind, _default in spec[1]:
                if kw in options:
                    if kind == "padding" and str(options[kw]).upper() not in _PADDINGS:
                        raise ValueError(f"{opname}: padding must be SAME or VALID, got {options[kw]!r}")
                    if kind == "act" and str(options[kw]).upper() not in _ACTIVATIONS:
                        raise ValueError(f"{opname}: unknown fused activation {options[kw]!r}")

        if version is None:
            version = self._default_version(opname, inputs, outputs, options)
        self._ops.append(_Op(opname, code, int(version), inputs, outputs, options))

    def _default_version(self, opname, inputs, outputs, options) -> int:
        dtypes = {self._tensors[i].dtype for i in list(inputs) + list(outputs) if i >= 0}
        if "int8" in dtypes and opname in _INT8_VERSIONS:
            return _INT8_VERSIONS[opname]
        if opname == "DEPTHWISE_CONV_2D" and (options.get("dilation_h", 1) != 1 or options.get("dilation_w", 1) != 1):
            return 2
        return 1

    # ---------------------------------------------------------- serialization
    def finish(self) -> bytes:
        """Serialize to a ``.tflite`` flatbuffer (schema v3, identifier ``TFL3``)."""
        if not self._outputs:
            raise ValueError("model has no outputs; call output() first")
        b = flatbuffers.Builder(1024)

        # buffers
        buffer_offsets = []
        for data in self._buffers:
            data_off = self._byte_vector(b, data) if data else None
            tflite.BufferStart(b)
            if data_off is not None:
                tflite.BufferAddData(b, data_off)
            buffer_offsets.append(tflite.BufferEnd(b))

        # tensors
        tensor_offsets = [self._write_tensor(b, t) for t in self._tensors]

        # operator codes (one per distinct (code, version))
        code_keys: list[tuple[int, int]] = []
        for op in self._ops:
            if (op.code, op.version) not in code_keys:
                code_keys.append((op.code, op.version))
        opcode_offsets = []
        for code, version in code_keys:
            tflite.OperatorCodeStart(b)
            tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
            tflite.OperatorCodeAddBuiltinCode(b, code)
            tflite.OperatorCodeAddVersion(b, version)
            opcode_offsets.append(tflite.OperatorCodeEnd(b))

        # operators
        op_offsets = []
        for op in self._ops:
            opt_type, opt_off = self._write_options(b, op)
            ins = self._int32_vector(b, op.inputs)
            outs = self._int32_vector(b, op.outputs)
            tflite.OperatorStart(b)
            tflite.OperatorAddOpcodeIndex(b, code_keys.index((op.code, op.version)))
            tflite.OperatorAddInputs(b, ins)
            tflite.OperatorAddOutputs(b, outs)
            if opt_off is not None:
                tflite.OperatorAddBuiltinOptionsType(b, opt_type)
                tflite.OperatorAddBuiltinOptions(b, opt_off)
            op_offsets.append(tflite.OperatorEnd(b))

        # subgraph
        tensors_vec = self._offset_vector(b, tflite.SubGraphStartTensorsVector, tensor_offsets)
        inputs_vec = self._int32_vector(b, self._inputs)
        outputs_vec = self._int32_vector(b, self._outputs)
        ops_vec = self._offset_vector(b, tflite.SubGraphStartOperatorsVector, op_offsets)
        sg_name = b.CreateString("main")
        tflite.SubGraphStart(b)
        tflite.SubGraphAddTensors(b, tensors_vec)
        tflite.SubGraphAddInputs(b, inputs_vec)
        tflite.SubGraphAddOutputs(b, outputs_vec)
        tflite.SubGraphAddOperators(b, ops_vec)
        tflite.SubGraphAddName(b, sg_name)
        subgraph = tflite.SubGraphEnd(b)

        # model
        codes_vec = self._offset_vector(b, tflite.ModelStartOperatorCodesVector, opcode_offsets)
        subgraphs_vec = self._offset_vector(b, tflite.ModelStartSubgraphsVector, [subgraph])
        buffers_vec = self._offset_vector(b, tflite.ModelStartBuffersVector, buffer_offsets)
        desc = b.CreateString(self.description)
        tflite.ModelStart(b)
        tflite.ModelAddVersion(b, SCHEMA_VERSION)
        tflite.ModelAddOperatorCodes(b, codes_vec)
        tflite.ModelAddSubgraphs(b, subgraphs_vec)
        tflite.ModelAddDescription(b, desc)
        tflite.ModelAddBuffers(b, buffers_vec)
        model = tflite.ModelEnd(b)
        b.Finish(model, file_identifier=FILE_IDENTIFIER)
        return bytes(b.Output())

    # flatbuffer helpers
    @staticmethod
    def _byte_vector(b: flatbuffers.Builder, data: bytes) -> int:
        # Constant data is read in place by the runtime: align it like the converter does.
        n = len(data)
        b.StartVector(1, n, _BUFFER_ALIGNMENT)
        b.head = b.head - n
        b.Bytes[b.head:b.head + n] = data
        return b.EndVector()

    @staticmethod
    def _int32_vector(b: flatbuffers.Builder, values) -> int:
        return b.CreateNumpyVector(np.asarray(list(values), dtype=np.int32).reshape(-1))

    @staticmethod
    def _offset_vector(b: flatbuffers.Builder, start_fn, offsets) -> int:
        start_fn(b, len(offsets))
        for off in reversed(offsets):
            b.PrependUOffsetTRelative(off)
        return b.EndVector()

    def _write_tensor(self, b: flatbuffers.Builder, t: _Tensor) -> int:
        name = b.CreateString(t.name)
        shape = self._int32_vector(b, t.shape)
        sig = self._int32_vector(b, t.shape_signature) if t.shape_signature is not None else None
        quant = None
        if t.scale is not None:
            scale_vec = b.CreateNumpyVector(t.scale.astype(np.float32))
            zp_vec = b.CreateNumpyVector(t.zero_point.astype(np.int64))
            tflite.QuantizationParametersStart(b)
            tflite.QuantizationParametersAddScale(b, scale_vec)
            tflite.QuantizationParametersAddZeroPoint(b, zp_vec)
            tflite.QuantizationParametersAddQuantizedDimension(b, t.quantized_dimension)
            quant = tflite.QuantizationParametersEnd(b)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, shape)
        if sig is not None:
            tflite.TensorAddShapeSignature(b, sig)
        tflite.TensorAddType(b, TENSOR_TYPES[t.dtype])
        tflite.TensorAddBuffer(b, t.buffer)
        tflite.TensorAddName(b, name)
        if quant is not None:
            tflite.TensorAddQuantization(b, quant)
        return tflite.TensorEnd(b)

    def _write_options(self, b: flatbuffers.Builder, op: _Op) -> tuple[int, int | None]:
        spec = _OPTION_SPECS.get(op.opname)
        if spec is None:
            return BuiltinOptions.NONE, None
        table, fields = spec
        vectors = {}
        for kw, field, kind, _default in fields:
            if kind == "ivec" and op.options.get(kw) is not None:
                vectors[kw] = self._int32_vector(b, [int(v) for v in op.options[kw]])
        getattr(tflite, f"{table}Start")(b)
        for kw, field, kind, default in fields:
            value = op.options.get(kw, default)
            if value is None:
                continue
            if kind == "ivec":
                value = vectors[kw]
            elif kind == "padding":
                value = _PADDINGS[str(value).upper()]
            elif kind == "act":
                value = _ACTIVATIONS[str(value).upper()]
            elif kind == "bool":
                value = bool(value)
            elif kind == "float":
                value = float(value)
            else:
                value = int(value)
            getattr(tflite, f"{table}Add{field}")(b, value)
        return getattr(BuiltinOptions, table), getattr(tflite, f"{table}End")(b)


# --------------------------------------------------------------------------------------
# Single-operator model factories
# --------------------------------------------------------------------------------------

class TFLiteModel(bytes):
    """The bytes of a ``.tflite`` model, plus ``.info`` describing how it was made."""

    info: "ModelInfo"

    def __new__(cls, data: bytes, info: "ModelInfo"):
        obj = super().__new__(cls, data)
        obj.info = info
        return obj

    def __reduce__(self):
        return (TFLiteModel, (bytes(self), self.info))


@dataclasses.dataclass
class ModelInfo:
    """What a single-op factory built: shapes, quantization, weights, options."""

    op: str
    input_shapes: list[tuple[int, ...]]
    output_shape: tuple[int, ...]
    input_quant: list[tuple[float, int]]
    output_quant: tuple[float, int]
    weights: np.ndarray | None = None          # int8, TFLite layout (OHWI / 1HWC / (out, in))
    weight_scales: np.ndarray | None = None    # float32, one per output channel (or one)
    bias: np.ndarray | None = None             # int32
    bias_scales: np.ndarray | None = None      # float32
    options: dict[str, Any] = dataclasses.field(default_factory=dict)


_DEFAULT_IN_QUANT = (0.05, -3)


def _auto_out_quant(sigma: float, activation: str) -> tuple[float, int]:
    """Output (scale, zero_point) covering about +-3 sigma of the real output."""
    activation = activation.upper()
    sigma = max(float(sigma), 1e-6)
    if activation == "RELU":
        return float(np.float32(3 * sigma / 255)), -128
    if activation == "RELU6":
        return float(np.float32(min(3 * sigma, 6.0) / 255)), -128
    if activation == "RELU_N1_TO_1":
        return float(np.float32(2 * min(3 * sigma, 1.0) / 255)), 0
    return float(np.float32(6 * sigma / 255)), 0


def _weight_sigma(in_quant, weights_int: np.ndarray, weight_scales: np.ndarray, fan_in: int) -> float:
    """Rough std of a conv/FC output for uniform random int8 inputs."""
    in_scale, in_zp = in_quant
    lo, hi = -128 - in_zp, 127 - in_zp  # uniform inputs: E[(q - zp)^2] = (lo^2 + lo*hi + hi^2) / 3
    q_in_std = math.sqrt((lo * lo + lo * hi + hi * hi) / 3)
    w_std = float(np.sqrt(np.mean(weights_int.astype(np.float64) ** 2)))
    return in_scale * float(np.median(weight_scales)) * math.sqrt(fan_in) * q_in_std * w_std


def _act_name(activation) -> str:
    a = str(activation).upper()
    if a not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}")
    return a


def conv2d_model(in_shape, out_c=None, kernel=(3, 3), stride=(1, 1), padding="SAME",
                 dilation=(1, 1), activation="NONE", depthwise=False, depth_multiplier=1,
                 per_channel=True, seed=0, in_quant=_DEFAULT_IN_QUANT, out_quant=None,
                 use_bias=True, weights=None, bias=None, weight_scales=None) -> TFLiteModel:
    """A one-operator int8 CONV_2D (or DEPTHWISE_CONV_2D) model, NHWC.

    ``in_shape`` is (N, H, W, C).  For depthwise, ``out_c`` defaults to
    ``C * depth_multiplier`` (and must equal it).  Weights are random int8 in
    [-127, 127] (symmetric, zero point 0), per-channel scales random in
    [0.002, 0.01] (or one scale if ``per_channel=False``), bias random int32
    with ``|b| < 2**14``.  ``out_quant=None`` picks an output scale so the
    result spans most of the int8 range.  ``weights`` / ``bias`` /
    ``weight_scales`` override the random ones.
    """
    rng = np.random.default_rng(seed)
    n, h, w, c = (int(d) for d in in_shape)
    kh, kw = (int(k) for k in kernel)
    sh, sw = (int(s) for s in stride)
    dh, dw = (int(d) for d in dilation)
    act = _act_name(activation)
    if depthwise:
        if out_c is None:
            out_c = c * depth_multiplier
        if out_c != c * depth_multiplier:
            raise ValueError(f"depthwise: out_c ({out_c}) must be in_c * depth_multiplier ({c * depth_multiplier})")
        w_shape = (1, kh, kw, out_c)
        qdim = 3
        fan_in = kh * kw
    else:
        if out_c is None:
            raise ValueError("conv2d_model: out_c is required for a normal convolution")
        w_shape = (out_c, kh, kw, c)
        qdim = 0
        fan_in = kh * kw * c
    w_int = random_int8(w_shape, rng, -127, 127) if weights is None else np.asarray(weights, np.int8)
    if w_int.shape != w_shape:
        raise ValueError(f"weights must have shape {w_shape}, got {w_int.shape}")
    if weight_scales is None:
        n_scales = out_c if per_channel else 1
        weight_scales = rng.uniform(0.002, 0.01, size=n_scales)
    w_scales = np.atleast_1d(np.asarray(weight_scales, dtype=np.float32))
    in_scale, in_zp = float(np.float32(in_quant[0])), int(in_quant[1])
    b_scales = choose_bias_scale(in_scale, w_scales)
    if use_bias:
        b_int = rng.integers(-(2 ** 14) + 1, 2 ** 14, size=out_c).astype(np.int32) if bias is None \
            else np.asarray(bias, np.int32)
    else:
        b_int = None
    oh = conv_output_size(h, kh, sh, padding, dh)
    ow = conv_output_size(w, kw, sw, padding, dw)
    out_shape = (n, oh, ow, out_c)
    if out_quant is None:
        out_quant = _auto_out_quant(_weight_sigma((in_scale, in_zp), w_int, w_scales, fan_in), act)
    out_scale, out_zp = float(np.float32(out_quant[0])), int(out_quant[1])

    opname = "DEPTHWISE_CONV_2D" if depthwise else "CONV_2D"
    mb = ModelBuilder()
    x = mb.input("input", in_shape, "int8", in_scale, in_zp)
    wt = mb.const("weights", w_int, scale=w_scales, zero_point=0, quantized_dimension=qdim)
    bt = -1
    if b_int is not None:
        bt = mb.const("bias", b_int, scale=b_scales if w_scales.size > 1 else b_scales[0],
                      zero_point=0, quantized_dimension=0)
    y = mb.tensor("output", out_shape, "int8", out_scale, out_zp)
    options = dict(padding=padding.upper(), stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw,
                   fused_activation=act)
    if depthwise:
        options["depth_multiplier"] = int(depth_multiplier)
    mb.op(opname, [x, wt, bt], [y], **options)
    mb.output(y)
    info = ModelInfo(opname, [tuple(int(d) for d in in_shape)], out_shape, [(in_scale, in_zp)],
                     (out_scale, out_zp), w_int, w_scales, b_int, b_scales, options)
    return TFLiteModel(mb.finish(), info)


def fully_connected_model(in_shape, out_features, activation="NONE", per_channel=False, seed=0,
                          in_quant=_DEFAULT_IN_QUANT, out_quant=None, use_bias=True,
                          keep_num_dims=False, weights=None, bias=None,
                          weight_scales=None) -> TFLiteModel:
    """A one-operator int8 FULLY_CONNECTED model.

    ``in_shape`` is (batch, in_features) (or any shape whose last axis is
    the feature axis); weights have TFLite layout (out_features, in_features).
    Per-tensor weight scale by default (``per_channel=True`` for per-channel).
    """
    rng = np.random.default_rng(seed)
    if isinstance(in_shape, (int, np.integer)):
        in_shape = (1, int(in_shape))
    in_shape = tuple(int(d) for d in in_shape)
    k = in_shape[-1]
    act = _act_name(activation)
    w_shape = (int(out_features), k)
    w_int = random_int8(w_shape, rng, -127, 127) if weights is None else np.asarray(weights, np.int8)
    if w_int.shape != w_shape:
        raise ValueError(f"weights must have shape {w_shape}, got {w_int.shape}")
    if weight_scales is None:
        weight_scales = rng.uniform(0.002, 0.01, size=out_features if per_channel else 1)
    w_scales = np.atleast_1d(np.asarray(weight_scales, dtype=np.float32))
    in_scale, in_zp = float(np.float32(in_quant[0])), int(in_quant[1])
    b_scales = choose_bias_scale(in_scale, w_scales)
    b_int = None
    if use_bias:
        b_int = rng.integers(-(2 ** 14) + 1, 2 ** 14, size=out_features).astype(np.int32) if bias is None \
            else np.asarray(bias, np.int32)
    if keep_num_dims:
        out_shape = in_shape[:-1] + (int(out_features),)
    else:
        out_shape = (int(np.prod(in_shape[:-1])), int(out_features))
    if out_quant is None:
        out_quant = _auto_out_quant(_weight_sigma((in_scale, in_zp), w_int, w_scales, k), act)
    out_scale, out_zp = float(np.float32(out_quant[0])), int(out_quant[1])

    mb = ModelBuilder()
    x = mb.input("input", in_shape, "int8", in_scale, in_zp)
    wt = mb.const("weights", w_int, scale=w_scales if w_scales.size > 1 else w_scales[0], zero_point=0)
    bt = -1
    if b_int is not None:
        bt = mb.const("bias", b_int, scale=b_scales if b_scales.size > 1 else b_scales[0], zero_point=0)
    y = mb.tensor("output", out_shape, "int8", out_scale, out_zp)
    options = dict(fused_activation=act, keep_num_dims=bool(keep_num_dims))
    mb.op("FULLY_CONNECTED", [x, wt, bt], [y], **options)
    mb.output(y)
    info = ModelInfo("FULLY_CONNECTED", [in_shape], out_shape, [(in_scale, in_zp)], (out_scale, out_zp),
                     w_int, w_scales, b_int, b_scales, options)
    return TFLiteModel(mb.finish(), info)


def binary_model(opname, shape_a, shape_b=None, activation="NONE", a_quant=(0.05, -3),
                 b_quant=(0.03, 7), out_quant=None) -> TFLiteModel:
    """A one-operator int8 ADD / SUB / MUL model with two graph inputs (broadcast allowed).

    ``out_quant=None`` picks a scale covering the full range of the result.
    """
    opname = opname.upper()
    act = _act_name(activation)
    shape_a = tuple(int(d) for d in shape_a)
    shape_b = shape_a if shape_b is None else tuple(int(d) for d in shape_b)
    out_shape = tuple(int(d) for d in np.broadcast_shapes(shape_a, shape_b))
    a_scale, a_zp = float(np.float32(a_quant[0])), int(a_quant[1])
    b_scale, b_zp = float(np.float32(b_quant[0])), int(b_quant[1])
    if out_quant is None:
        ra = a_scale * max(127 - a_zp, a_zp + 128)
        rb = b_scale * max(127 - b_zp, b_zp + 128)
        rng_ = ra * rb if opname == "MUL" else ra + rb
        if act in ("RELU", "RELU6"):
            hi = min(rng_, 6.0) if act == "RELU6" else rng_
            out_quant = (hi / 255, -128)
        else:
            out_quant = (2 * rng_ / 255, 0)
    out_scale, out_zp = float(np.float32(out_quant[0])), int(out_quant[1])
    mb = ModelBuilder()
    a = mb.input("input_a", shape_a, "int8", a_scale, a_zp)
    b = mb.input("input_b", shape_b, "int8", b_scale, b_zp)
    y = mb.tensor("output", out_shape, "int8", out_scale, out_zp)
    mb.op(opname, [a, b], [y], fused_activation=act)
    mb.output(y)
    info = ModelInfo(opname, [shape_a, shape_b], out_shape, [(a_scale, a_zp), (b_scale, b_zp)],
                     (out_scale, out_zp), options=dict(fused_activation=act))
    return TFLiteModel(mb.finish(), info)


def add_model(shape_a, shape_b=None, activation="NONE", a_quant=(0.05, -3), b_quant=(0.03, 7),
              out_quant=None) -> TFLiteModel:
    """A one-operator int8 ADD model; see :func:`binary_model`."""
    return binary_model("ADD", shape_a, shape_b, activation, a_quant, b_quant, out_quant)


def pool_model(kind, in_shape, filter=(2, 2), stride=(2, 2), padding="VALID", activation="NONE",
               in_quant=_DEFAULT_IN_QUANT, out_quant=None) -> TFLiteModel:
    """A one-operator int8 AVERAGE_POOL_2D (``kind="AVG"``) or MAX_POOL_2D (``"MAX"``) model.

    TFLite's int8 pooling kernels require the output quantization to equal the
    input's, which is the default.
    """
    kind = kind.upper()
    opname = {"AVG": "AVERAGE_POOL_2D", "AVERAGE": "AVERAGE_POOL_2D", "MAX": "MAX_POOL_2D"}.get(kind)
    if opname is None:
        raise ValueError(f"kind must be 'AVG' or 'MAX', got {kind!r}")
    act = _act_name(activation)
    n, h, w, c = (int(d) for d in in_shape)
    fh, fw = (int(f) for f in filter)
    sh, sw = (int(s) for s in stride)
    out_shape = (n, conv_output_size(h, fh, sh, padding), conv_output_size(w, fw, sw, padding), c)
    in_scale, in_zp = float(np.float32(in_quant[0])), int(in_quant[1])
    out_scale, out_zp = (in_scale, in_zp) if out_quant is None else (float(np.float32(out_quant[0])), int(out_quant[1]))
    mb = ModelBuilder()
    x = mb.input("input", (n, h, w, c), "int8", in_scale, in_zp)
    y = mb.tensor("output", out_shape, "int8", out_scale, out_zp)
    options = dict(padding=padding.upper(), stride_h=sh, stride_w=sw, filter_h=fh, filter_w=fw,
                   fused_activation=act)
    mb.op(opname, [x], [y], **options)
    mb.output(y)
    info = ModelInfo(opname, [(n, h, w, c)], out_shape, [(in_scale, in_zp)], (out_scale, out_zp),
                     options=options)
    return TFLiteModel(mb.finish(), info)


def mean_model(in_shape, axes=(1, 2), keep_dims=True, in_quant=_DEFAULT_IN_QUANT,
               out_quant=None) -> TFLiteModel:
    """A one-operator int8 MEAN model reducing ``axes`` (int32 const axis input)."""
    in_shape = tuple(int(d) for d in in_shape)
    axes = [int(a) % len(in_shape) for a in np.atleast_1d(axes)]
    if keep_dims:
        out_shape = tuple(1 if i in axes else d for i, d in enumerate(in_shape))
    else:
        out_shape = tuple(d for i, d in enumerate(in_shape) if i not in axes)
    in_scale, in_zp = float(np.float32(in_quant[0])), int(in_quant[1])
    out_scale, out_zp = (in_scale, in_zp) if out_quant is None else (float(np.float32(out_quant[0])), int(out_quant[1]))
    mb = ModelBuilder()
    x = mb.input("input", in_shape, "int8", in_scale, in_zp)
    y = mb.tensor("output", out_shape, "int8", out_scale, out_zp)
    mb.op("MEAN", [x], [y], axis=axes, keep_dims=bool(keep_dims))
    mb.output(y)
    info = ModelInfo("MEAN", [in_shape], out_shape, [(in_scale, in_zp)], (out_scale, out_zp),
                     options=dict(axis=axes, keep_dims=bool(keep_dims)))
    return TFLiteModel(mb.finish(), info)


def pad_model(in_shape, paddings=((0, 0), (1, 1), (1, 1), (0, 0)), in_quant=_DEFAULT_IN_QUANT,
              dtype="int8") -> TFLiteModel:
    """A one-operator PAD model (int8 pads with the zero point, i.e. real 0)."""
    in_shape = tuple(int(d) for d in in_shape)
    pads = np.asarray(paddings, dtype=np.int32).reshape(len(in_shape), 2)
    out_shape = tuple(int(d + p[0] + p[1]) for d, p in zip(in_shape, pads))
    quant = (None, None)
    if np.dtype(dtype) == np.int8:
        quant = (float(np.float32(in_quant[0])), int(in_quant[1]))
    mb = ModelBuilder()
    x = mb.input("input", in_shape, dtype, *quant)
    y = mb.tensor("output", out_shape, dtype, *quant)
    mb.op("PAD", [x], [y], paddings=pads)
    mb.output(y)
    info = ModelInfo("PAD", [in_shape], out_shape, [quant], quant, options=dict(paddings=pads.tolist()))
    return TFLiteModel(mb.finish(), info)


# --------------------------------------------------------------------------------------
# Multi-layer detection model (FPN): several outputs, upsampling + ADD, zero-copy concat
# --------------------------------------------------------------------------------------

class _Net:
    """Chains int8 layers on a ModelBuilder with random weights and output scales that keep the
    int8 range in use (the conv2d_model heuristic, per layer)."""

    def __init__(self, mb: ModelBuilder, rng: np.random.Generator):
        self.mb, self.rng, self.n = mb, rng, 0

    def _name(self, kind):
        self.n += 1
        return f"{kind}{self.n}"

    def quant(self, t):
        s, z = self.mb.tensor_quant(t)
        return float(s[0]), int(z[0])

    def conv(self, x, out_c, k=1, stride=1, depthwise=False, act="RELU6", out_quant=None):
        mb, rng = self.mb, self.rng
        n, h, w, c = mb.tensor_shape(x)
        in_q = self.quant(x)
        name = self._name("dw" if depthwise else "conv")
        if depthwise:
            out_c, w_shape, qdim, fan_in = c, (1, k, k, c), 3, k * k
        else:
            w_shape, qdim, fan_in = (out_c, k, k, c), 0, k * k * c
        w_int = random_int8(w_shape, rng, -127, 127)
        w_scales = rng.uniform(0.002, 0.01, size=out_c).astype(np.float32)
        wt = mb.const(f"{name}/w", w_int, scale=w_scales, zero_point=0, quantized_dimension=qdim)
        b_scales = choose_bias_scale(in_q[0], w_scales)
        bt = mb.const(f"{name}/b", rng.integers(-2000, 2000, size=out_c).astype(np.int32), scale=b_scales,
                      zero_point=0)
        if out_quant is None:
            out_quant = _auto_out_quant(_weight_sigma(in_q, w_int, w_scales, fan_in) * 0.6, act)
        oh, ow = -(-h // stride), -(-w // stride)
        y = mb.tensor(name, (n, oh, ow, out_c), "int8", *out_quant)
        opts = dict(padding="SAME", stride_h=stride, stride_w=stride, fused_activation=act)
        if depthwise:
            opts["depth_multiplier"] = 1
        mb.op("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", [x, wt, bt], [y], **opts)
        return y

    def out_quant_of(self, x, out_c, k=1, act="RELU6"):
        """The output quantization self.conv would choose (to share one scale among concat inputs)."""
        c = self.mb.tensor_shape(x)[3]
        sigma = _weight_sigma(self.quant(x), np.full((1, 1), 73, np.int8), np.array([0.006]), k * k * c)
        return _auto_out_quant(sigma * 0.6, act)

    def upsample2(self, x):
        n, h, w, c = self.mb.tensor_shape(x)
        y = self.mb.tensor(self._name("up"), (n, 2 * h, 2 * w, c), "int8", *self.quant(x))
        self.mb.op("RESIZE_NEAREST_NEIGHBOR", [x], [y], size=[2 * h, 2 * w])
        return y

    def add(self, a, b):
        sa, sb = self.quant(a)[0], self.quant(b)[0]
        y = self.mb.tensor(self._name("add"), self.mb.tensor_shape(a), "int8", float(np.float32(sa + sb)), 0)
        self.mb.op("ADD", [a, b], [y])
        return y

    def concat(self, xs, axis=3):
        shapes = [self.mb.tensor_shape(x) for x in xs]
        shape = list(shapes[0])
        shape[axis] = sum(s[axis] for s in shapes)
        y = self.mb.tensor(self._name("cat"), tuple(shape), "int8", *self.quant(xs[0]))
        self.mb.op("CONCATENATION", xs, [y], axis=axis)
        return y


def fpn_detection_model(size: int = 128, width: int = 16, anchors: int = 3, classes: int = 1,
                        seed: int = 0) -> TFLiteModel:
    """A person-detection FPN, int8: a MobileNet-style backbone (strided 3x3 conv, depthwise + pointwise
    blocks) giving C3 / C4 / C5 at strides 8 / 16 / 32, a top-down neck (1x1 laterals, nearest 2x
    upsampling + ADD), and one head per level: concat(depthwise 3x3 -> pointwise, pointwise) along
    channels (every concat input is written in place) -> 1x1 conv to anchors * (5 + classes) channels.
    Three outputs (strides 4, 8, 16 of the input). size=128, width=16: 19.5 M MACs."""
    rng = np.random.default_rng(seed)
    mb = ModelBuilder()
    net = _Net(mb, rng)
    x = mb.input("image", (1, size, size, 3), "int8", 0.0078125, 0)
    w = width
    t = net.conv(x, w, k=3, stride=2)                        # /2
    t = net.conv(net.conv(t, 0, k=3, depthwise=True), w + w // 2)
    feats = []
    for c_out, blocks in ((2 * w, 2), (4 * w, 2), (8 * w, 2)):  # strides 4, 8, 16
        t = net.conv(net.conv(t, 0, k=3, stride=2, depthwise=True), c_out)
        for _ in range(blocks - 1):
            t = net.conv(net.conv(t, 0, k=3, depthwise=True), c_out)
        feats.append(t)
    c3, c4, c5 = feats
    ch = 4 * w
    p5 = net.conv(c5, ch, act="NONE")
    p4 = net.add(net.upsample2(p5), net.conv(c4, ch, act="NONE"))
    p3 = net.add(net.upsample2(p4), net.conv(c3, ch, act="NONE"))
    outs = []
    for p in (p3, p4, p5):
        q = net.out_quant_of(p, 2 * w)
        a = net.conv(net.conv(p, 0, k=3, depthwise=True), 2 * w, out_quant=q)
        b = net.conv(p, w, out_quant=q)
        f = net.concat([a, b])
        outs.append(net.conv(f, anchors * (5 + classes), act="NONE"))
    for o in outs:
        mb.output(o)
    info = ModelInfo("FPN", [(1, size, size, 3)], mb.tensor_shape(outs[0]), [(0.0078125, 0)],
                     net.quant(outs[0]), options=dict(size=size, width=width, anchors=anchors, classes=classes))
    return TFLiteModel(mb.finish(), info)


def unary_model(opname, shape, in_quant=(0.05, -3), out_quant=None) -> TFLiteModel:
    """A one-operator int8 LOGISTIC / HARD_SWISH / RELU_N1_TO_1 / RELU / RELU6 / TANH model.

    ``out_quant=None``: LOGISTIC's required (1/256, -128), else a scale covering the result's range."""
    opname = opname.upper()
    shape = tuple(int(d) for d in shape)
    in_scale, in_zp = float(np.float32(in_quant[0])), int(in_quant[1])
    if out_quant is None:
        hi = in_scale * (127 - in_zp)
        out_quant = {"LOGISTIC": (1.0 / 256, -128), "RELU_N1_TO_1": (1.0 / 127, 0), "TANH": (1.0 / 128, 0),
                     "HARD_SWISH": (max(hi, 0.5) / 255, -128 + int(round(0.375 / (max(hi, 0.5) / 255))))}.get(
                         opname, (max(hi, 1e-3) / 255, -128))
    out_scale, out_zp = float(np.float32(out_quant[0])), int(out_quant[1])
    mb = ModelBuilder()
    x = mb.input("input", shape, "int8", in_scale, in_zp)
    y = mb.tensor("output", shape, "int8", out_scale, out_zp)
    mb.op(opname, [x], [y])
    mb.output(y)
    info = ModelInfo(opname, [shape], shape, [(in_scale, in_zp)], (out_scale, out_zp))
    return TFLiteModel(mb.finish(), info)


def binary_const_model(opname, shape, const, const_quant=(0.02, 0), in_quant=(0.05, -3), out_quant=None,
                       activation="NONE", const_first=False) -> TFLiteModel:
    """A one-operator int8 ADD / SUB / MUL of the graph input with an int8 constant (any broadcastable
    shape: a scalar [1], a per-channel [C], a [1,1,1,C] ...); ``const_first`` makes it the first operand."""
    opname = opname.upper()
    act = _act_name(activation)
    shape = tuple(int(d) for d in shape)
    const = np.asarray(const, np.int8)
    out_shape = tuple(int(d) for d in np.broadcast_shapes(shape, const.shape))
    a_scale, a_zp = float(np.float32(in_quant[0])), int(in_quant[1])
    c_scale, c_zp = float(np.float32(const_quant[0])), int(const_quant[1])
    if out_quant is None:
        ra, rc = a_scale * max(127 - a_zp, a_zp + 128), c_scale * max(127 - c_zp, c_zp + 128)
        rng_ = ra * rc if opname == "MUL" else ra + rc
        out_quant = (2 * rng_ / 255, 0)
    out_scale, out_zp = float(np.float32(out_quant[0])), int(out_quant[1])
    mb = ModelBuilder()
    x = mb.input("input", shape, "int8", a_scale, a_zp)
    c = mb.const("operand", const, scale=c_scale, zero_point=c_zp)
    y = mb.tensor("output", out_shape, "int8", out_scale, out_zp)
    mb.op(opname, [c, x] if const_first else [x, c], [y], fused_activation=act)
    mb.output(y)
    info = ModelInfo(opname, [shape], out_shape, [(a_scale, a_zp), (c_scale, c_zp)], (out_scale, out_zp),
                     options=dict(fused_activation=act))
    return TFLiteModel(mb.finish(), info)
