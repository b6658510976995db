"""From a trained PyTorch network to a measured program: PTQ, compile, run, measure.

TinyNAS's networks have no other int8 reference to reproduce (no onnxruntime model a user
compares against), so they are compiled in TFLite's int8 arithmetic: the quantizer's scales,
then the double-rounding fixed-point requantization of the TFLite kernels, which the DSP
kernels run fastest. (ONNX / PyTorch models given to ``te.compile`` keep onnxruntime's
arithmetic, the reference their users check against.)
"""

from __future__ import annotations

import numpy as np


def compile_network(net, calibration, target: str = "host", sram=None, flash=None, patch: str = "off"):
    """Our PTQ of ``net`` on ``calibration`` (NCHW float arrays), compiled for ``target`` (``patch`` as in
    ``te.compile``; TinyNAS predicts the same mode)."""
    from ..api import build
    from ..frontend import load
    from ..relay_passes.annotate import ROUNDING_ATTR

    net = net.eval()
    mod, label, names, qreport = load.to_relax(net, [np.asarray(c, np.float32) for c in calibration])
    mod["main"] = mod["main"].without_attr(ROUNDING_ATTR)   # TFLite's int8 arithmetic (module docstring)
    cm = build(mod, target, source=type(net).__name__, sram=sram, flash=flash, patch=patch)
    cm.quantization_report = qreport
    return cm


def int8_accuracy(cm, images_nchw: np.ndarray, labels: np.ndarray, limit: int | None = None) -> float:
    """Top-1 accuracy of the compiled program on the host (images NCHW float, fed NHWC as compiled)."""
    n = len(labels) if limit is None else min(limit, len(labels))
    correct = 0
    for i in range(n):
        x = np.ascontiguousarray(images_nchw[i:i + 1].transpose(0, 2, 3, 1)).astype(np.float32)
        y = cm.run([x])[0]
        correct += int(np.argmax(y.reshape(-1)) == int(labels[i]))
    return correct / max(1, n)
