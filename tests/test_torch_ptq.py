"""PyTorch frontend + post-training quantization, compared with onnxruntime and with the float model.

A small float nn.Module (conv + BN + ReLU6, depthwise + BN + ReLU, 1x1 project, residual add,
max pool, global average pool, linear) goes torch.export -> Relax -> PTQ -> C. The reference
is the same module exported to ONNX, quantized by onnxruntime ``quantize_static`` (QDQ,
per-channel, MinMax) on the same calibration images and run in onnxruntime. Graphs from
PyTorch/ONNX compute with onnxruntime's int8 arithmetic (``TE_SINGLE_ROUNDING``, tests/test_ort_arith.py).
The MobileNetV2 acceptance run is ``-m slow`` (and scripts/mobilenetv2_torch_vs_ort.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from . import needs

torch = needs.module("torch")
needs.module("onnxruntime")

import tinyengine_tvm as te  # noqa: E402
from tinyengine_tvm.errors import TinyEngineError, UnsupportedOperatorError  # noqa: E402
from tinyengine_tvm.testing import onnx_models as om  # noqa: E402
from tinyengine_tvm.testing import torch_models as tm  # noqa: E402


@pytest.fixture(scope="module")
def compiled_net():
    net = tm.small_net()
    calib = tm.images(16, 24, seed=1)
    cm = te.compile(net, calibration=calib, arithmetic="onnxruntime")
    return net, calib, cm


def test_torch_ptq_matches_onnxruntime_and_float(compiled_net):
    net, calib, cm = compiled_net
    assert cm.report()["op_counts"] == {"quantize": 1, "conv2d": 2, "depthwise_conv2d": 1, "add": 1, "max_pool2d": 1,
                                        "mean": 1, "reshape": 1, "fully_connected": 1, "dequantize": 1}
    rep = cm.quantization_report
    assert rep.samples == 16 and rep.top1_agreement >= 0.8 and rep.max_abs_error < 0.5, str(rep)
    qdq = om.ort_quantize(tm.to_onnx(net, calib[0]), calib, per_channel=True)
    s, _ = om.output_qparams(qdq)
    xs = tm.images(20, 24, seed=2)
    ours = [cm.run([np.ascontiguousarray(x.transpose(0, 2, 3, 1))])[0] for x in xs]
    ref = [om.ort_run(qdq, [x])[0] for x in xs]
    flt = [tm.run_torch(net, x) for x in xs]
    d = np.abs(np.round(np.concatenate(ours) / s) - np.round(np.concatenate(ref) / s))
    # measured: all 200 values equal to onnxruntime's (margin for ties and float32 scales)
    assert d.max() <= 1 and (d == 0).mean() >= 0.97, (d.max(), (d <= 1).mean(), (d == 0).mean())
    assert np.mean([np.argmax(a) == np.argmax(b) for a, b in zip(ours, ref)]) >= 0.95
    assert np.mean([np.argmax(a) == np.argmax(b) for a, b in zip(ours, flt)]) >= 0.8
    assert np.abs(np.concatenate(ours) - np.concatenate(flt)).max() < 0.5


@pytest.mark.parametrize("method", ["percentile", "mse"])
def test_other_calibration_methods(method):
    from tinyengine_tvm.frontend.torch import from_torch
    from tinyengine_tvm.quantize import quantize

    net = tm.small_net()
    calib = tm.images(6, 24, seed=3)
    mod, _ = from_torch(net, [calib[0]])
    qmod, rep = quantize(mod, calib, method=method, input_layout="NCHW")
    assert rep.method == method and rep.top1_agreement >= 0.5
    cm = te.build(qmod, arithmetic="onnxruntime")
    out = cm.run([np.ascontiguousarray(calib[0].transpose(0, 2, 3, 1))])[0]
    assert out.shape == (1, 10) and np.isfinite(out).all()


def test_torch_errors():
    from torch import nn

    class Odd(nn.Module):
        def forward(self, x):
            return torch.sigmoid(x)

    with pytest.raises(UnsupportedOperatorError, match=r"sigmoid.*no int8 kernel"):
        te.compile(Odd(), calibration=[np.zeros((1, 3, 4, 4), np.float32)])
    with pytest.raises(TinyEngineError, match="needs calibration data"):
        te.compile(tm.small_net())


@pytest.mark.slow
@pytest.mark.claims
def test_mobilenet_v2_acceptance():
    """Issue 3 acceptance: MobileNetV2 0.35/96 torch -> C vs the same model quantized by onnxruntime.

    Measured (scripts/mobilenetv2_torch_vs_ort.py, 32 calibration / 100 eval images): see the
    closing note of issue 3. The int8 arithmetic is onnxruntime's: its own QDQ model compiled by us
    gives its bytes (``ort_qdq_compiled``). Calibrated in onnxruntime (``calibration_engine=
    "onnxruntime"``), our PTQ gives quantize_static's parameters and so its bytes; the thresholds are
    the issue's. Calibrated in TVM (the default) the scales differ from quantize_static's by
    1e-7..4e-6 relative (another float summation order), which this random-weight network amplifies
    as it amplifies a one-ulp change of one of onnxruntime's own scales (``ort_vs_ort_one_scale_one_ulp``):
    that run is reported, and held only to the same top-1 agreement with the float model as onnxruntime's.
    """
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "mobilenetv2_torch_vs_ort.py"
    spec = importlib.util.spec_from_file_location("mbv2", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    r = mod.compare(n_calib=32, n_inputs=100)
    print(r)
    ort_cal = r["onnxruntime_calibration"]
    assert ort_cal["within_1_lsb"] >= 0.99 and ort_cal["top1"] >= 0.98, ort_cal
    assert r["ort_qdq_compiled"]["exact"] == 1.0, r["ort_qdq_compiled"]
    assert r["top1_ours_vs_float"] >= r["top1_ort_vs_float"] - 0.05, r
