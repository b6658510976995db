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
    from tvm.relax.frontend.torch import from_exported_program

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
        mod = from_exported_program(ep, keep_params_as_input=False)
    except Exception as err:
        msg = [ln for ln in str(err).strip().splitlines() if ln.strip()]
        raise TinyEngineError(f"TVM's PyTorch importer failed on {type(module).__name__}: {msg[-1] if msg else type(err).__name__}") from None
    inputs = [TensorInfo(f"input_{i}", tuple(int(d) for d in x.shape), "float32") for i, x in enumerate(xs)]
    return mark_nchw(mod), inputs
