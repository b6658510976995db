"""Post-training quantization of float models to TFLite's int8 scheme (see ``ptq``).

``quantize(mod, calibration, method="minmax"|"percentile"|"mse")`` returns the quantized
Relax module and a ``QuantizationReport`` (float vs int8 agreement on the calibration set).
"""

from .calibrate import activation_qparams, weight_qparams
from .ptq import QuantizationReport, float_canonicalize, quantize

__all__ = ["QuantizationReport", "activation_qparams", "float_canonicalize", "quantize", "weight_qparams"]
