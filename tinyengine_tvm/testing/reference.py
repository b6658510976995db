"""Reference execution of TFLite models with LiteRT's reference kernels.

The TFLite *reference* kernels (``OpResolverType.BUILTIN_REF``) are the
correctness bar for the compiler: a compiled int8 model must reproduce them
(bit-exactly where the kernel library claims it).  ``ai-edge-litert`` is a
test-only dependency and is imported lazily.
"""

from __future__ import annotations

import os
from typing import NamedTuple, Sequence

import numpy as np

__all__ = ["IOTensor", "run_litert", "model_io_details", "make_interpreter"]

_LITERT_MISSING = (
    "running TFLite reference models needs the LiteRT interpreter; "
    "install it with `pip install ai-edge-litert` (or `pip install tinyengine-tvm[test]`)"
)


class IOTensor(NamedTuple):
    """One model input or output.

    ``quantization`` is ``(scale, zero_point)``; ``(0.0, 0)`` when the tensor
    is not quantized (LiteRT's convention).  ``index`` is the tensor's index
    in subgraph 0.
    """

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    quantization: tuple[float, int]
    index: int

    @property
    def scale(self) -> float:
        return self.quantization[0]

    @property
    def zero_point(self) -> int:
        return self.quantization[1]


def _model_bytes(model) -> bytes:
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model)
    if isinstance(model, (str, os.PathLike)):
        with open(model, "rb") as f:
            return f.read()
    raise TypeError(f"model must be bytes or a path to a .tflite file, not {type(model).__name__}")


def make_interpreter(model, num_threads: int = 1):
    """An allocated ``ai_edge_litert`` Interpreter using the TFLite reference kernels."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(_LITERT_MISSING) from err
    interp = Interpreter(
        model_content=_model_bytes(model),
        experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
        num_threads=num_threads,
    )
    interp.allocate_tensors()
    return interp


def run_litert(model, inputs: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    """Run ``model`` (bytes or a path) with LiteRT's reference kernels.

    ``inputs`` holds one array per model input, in the model's input order (a
    single array is accepted for a single-input model).  Each array must have
    the input's dtype and shape exactly (no implicit casting or quantization).
    Returns copies of all outputs, in the model's output order.
    """
    interp = make_interpreter(model)
    details = interp.get_input_details()
    if isinstance(inputs, np.ndarray):
        inputs = [inputs]
    inputs = list(inputs)
    if len(inputs) != len(details):
        raise ValueError(f"model has {len(details)} input(s), got {len(inputs)}")
    for arr, d in zip(inputs, details):
        arr = np.asarray(arr)
        if arr.dtype != d["dtype"]:
            raise TypeError(f"input {d['name']!r}: expected dtype {np.dtype(d['dtype']).name}, "
                            f"got {arr.dtype.name}")
        if tuple(arr.shape) != tuple(d["shape"]):
            raise ValueError(f"input {d['name']!r}: expected shape {tuple(d['shape'])}, "
                             f"got {tuple(arr.shape)}")
        interp.set_tensor(d["index"], np.ascontiguousarray(arr))
    interp.invoke()
    return [np.array(interp.get_tensor(d["index"]), copy=True) for d in interp.get_output_details()]


_NP_TYPES = {
    0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 6: np.bool_,
    7: np.int16, 8: np.complex64, 9: np.int8, 10: np.float64, 11: np.complex128,
    12: np.uint64, 15: np.uint32, 16: np.uint16,
}


def model_io_details(model) -> tuple[list[IOTensor], list[IOTensor]]:
    """``(inputs, outputs)`` of subgraph 0, each a list of :class:`IOTensor`.

    Read from the flatbuffer with the ``tflite`` package, so it also works for
    models whose operators LiteRT cannot run.
    """
    import tflite

    buf = _model_bytes(model)
    m = tflite.Model.GetRootAsModel(buf, 0)
    sg = m.Subgraphs(0)

    def describe(idx: int) -> IOTensor:
        t = sg.Tensors(int(idx))
        name = t.Name().decode("utf-8") if t.Name() is not None else ""
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        ttype = t.Type()
        if ttype not in _NP_TYPES:
            raise ValueError(f"tensor {name!r}: unsupported TFLite type {ttype}")
        quant = (0.0, 0)
        q = t.Quantization()
        if q is not None and q.ScaleLength() > 0:
            zp = int(q.ZeroPoint(0)) if q.ZeroPointLength() > 0 else 0
            quant = (float(q.Scale(0)), zp)
        return IOTensor(name, shape, np.dtype(_NP_TYPES[ttype]), quant, int(idx))

    inputs = [describe(i) for i in sg.InputsAsNumpy()] if sg.InputsLength() else []
    outputs = [describe(i) for i in sg.OutputsAsNumpy()] if sg.OutputsLength() else []
    return inputs, outputs
