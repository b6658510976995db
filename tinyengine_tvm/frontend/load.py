"""Model sources other than TFLite for ``tinyengine_tvm.compile``: ONNX (QDQ or float) and PyTorch.

``handles(model)`` says whether this module takes the model (a ``.onnx`` path, ONNX
bytes or ``onnx.ModelProto``, a ``torch.nn.Module``); ``to_relax`` returns a quantized
Relax module ready for ``build``:

* a QDQ ONNX model is imported as it is (its own quantization);
* a float ONNX model or a PyTorch module needs ``calibration`` (an iterable of inputs in
  the model's own layout, NCHW for images; or a ``.npz`` file / a directory of ``.npy``
  files) and goes through ``tinyengine_tvm.quantize``; the ``QuantizationReport`` is
  returned with it.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import TinyEngineError


def handles(model) -> bool:
    from .torch import is_torch_module

    if is_torch_module(model):
        return True
    if type(model).__name__ == "ModelProto" and type(model).__module__.startswith("onnx"):
        return True
    if isinstance(model, (str, os.PathLike)):
        return os.fspath(model).lower().endswith(".onnx")
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model[4:8]) != b"TFL3"
    return False


def load_calibration(data):
    """Calibration data from a .npz file (one array per key, or one stacked array), a directory of
    .npy/.npz files, or an iterable of arrays / lists of arrays. Returns a list of samples."""
    if data is None:
        return None
    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        if os.path.isdir(path):
            files = sorted(f for f in os.listdir(path) if f.endswith((".npy", ".npz")))
            if not files:
                raise TinyEngineError(f"calibration directory {path} holds no .npy/.npz files")
            out = []
            for f in files:
                out.extend(load_calibration(os.path.join(path, f)) if f.endswith(".npz") else [np.load(os.path.join(path, f))])
            return out
        if not os.path.isfile(path):
            raise TinyEngineError(f"calibration data not found: {path}")
        try:
            z = np.load(path, allow_pickle=False)
        except Exception as err:
            raise TinyEngineError(f"cannot read calibration data {path}: {err}") from None
        if isinstance(z, np.ndarray):
            return [a[None] if a.ndim >= 1 else a for a in z] if z.ndim >= 2 else [z]
        arrays = [z[k] for k in z.files]
        if len(arrays) == 1 and arrays[0].ndim >= 2:  # one stacked array: [samples, ...] -> [1, ...] each
            return [a[None] for a in arrays[0]]
        return arrays
    return list(data)


def _first_arrays(samples):
    s = samples[0]
    if isinstance(s, dict):
        return list(s.values())
    if isinstance(s, (list, tuple)):
        return list(s)
    return [s]


ENGINES = ("tvm", "onnxruntime")


def to_relax(model, calibration=None, input_shapes=None, calibration_method="minmax", percentile=99.99,
             calibration_engine="tvm", with_locator=False):
    """(quantized Relax module, label, input names, QuantizationReport or None); see module docstring.

    ``calibration_engine``: where the float model runs to observe ranges: ``"tvm"`` (TVM's llvm
    build) or ``"onnxruntime"`` (the ONNX model, or torch's ONNX export of the module, in
    onnxruntime: quantize_static's ranges to the last bit)."""
    from . import onnx as onnx_frontend
    from .torch import from_torch, is_torch_module, to_onnx

    if calibration_engine not in ENGINES:
        raise TinyEngineError(f"unknown calibration engine '{calibration_engine}'; choose one of {', '.join(ENGINES)}")
    res = _to_relax(model, calibration, input_shapes, calibration_method, percentile, calibration_engine)
    return res if with_locator else res[:4]


def _to_relax(model, calibration, input_shapes, calibration_method, percentile, calibration_engine):
    """to_relax plus, last, the ONNX importer's per-node record (None for PyTorch modules)."""
    from . import onnx as onnx_frontend
    from .torch import from_torch, is_torch_module, to_onnx

    samples = load_calibration(calibration)
    onnx_model = None
    located = None
    if is_torch_module(model):
        if samples is None:
            raise TinyEngineError(f"{type(model).__name__}: a float PyTorch model needs calibration data for post-training quantization")
        mod, inputs = from_torch(model, _first_arrays(samples))
        label = type(model).__name__
        if calibration_engine == "onnxruntime":
            onnx_model = to_onnx(model, _first_arrays(samples))
    else:
        m = onnx_frontend.from_onnx(model, input_shapes=input_shapes)
        mod, inputs, label, located = m.mod, m.inputs, m.label, m.located
        if m.quantized:
            return mod, label, [t.name for t in inputs], None, located
        if samples is None:
            raise TinyEngineError(f"{label}: float model: give calibration data (calibration=..., CLI --calibration DATA.npz|DIR) "
                                  "for post-training quantization, or a QDQ-quantized model")
        if calibration_engine == "onnxruntime":
            onnx_model = onnx_frontend.read_model(model)[0]
    from ..quantize import quantize

    qmod, report = quantize(mod, samples, method=calibration_method, percentile=percentile, input_layout="NCHW",
                            onnx_model=onnx_model)
    return qmod, label, [t.name for t in inputs], report, located
