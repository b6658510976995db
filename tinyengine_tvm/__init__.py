"""tinyengine-tvm: a deep-learning compiler for microcontrollers, as an Apache TVM plugin.

``compile(model, target)`` turns a model (a .tflite or .onnx file, an ONNX ModelProto, a
float ``torch.nn.Module`` with calibration data, or a quantized Relax IRModule) into a
``CompiledModel`` whose ``export(dir)`` writes a self-contained C99 project; ``build(mod,
target)`` takes a Relax module, ``pipeline(target)`` is the pass pipeline as one
``tvm.transform.Sequential`` and ``tinyengine_tvm.quantize`` the post-training quantizer.
Imports are lazy so that the CLI starts without importing TVM.
"""

__version__ = "0.1.0"

__all__ = ["compile", "build", "CompiledModel", "TinyEngineError", "pipeline", "cost_model"]


def __getattr__(name):
    if name in ("compile", "build", "CompiledModel"):
        from . import api

        return getattr(api, name)
    if name == "TinyEngineError":
        from .errors import TinyEngineError

        return TinyEngineError
    if name == "cost_model":  # the XGBoost cost model of a target (tuner/cost_model.py; needs xgboost-cpu)
        from .tuner.cost_model import cost_model

        return cost_model
    if name == "pipeline":
        from .relay_passes import pipeline

        return pipeline
    if name == "relay_passes":
        import importlib

        return importlib.import_module(".relay_passes", __name__)
    raise AttributeError(f"module 'tinyengine_tvm' has no attribute {name!r}")
