"""A classic PyTorch CNN (LeNet-5 style) through torch.export -> PTQ -> C.

What it exercises beyond the MobileNet-style nets: ``nn.Conv2d`` with its default bias
followed by ``BatchNorm2d`` (FoldConvBiasIntoBatchnorm), max and average pooling, and
``torch.flatten`` of an NCHW feature map with spatial extent before ``nn.Linear``
(FoldFlattenTransposeIntoDense). References: the same model quantized by onnxruntime's
``quantize_static`` (QDQ, per-channel) and run in onnxruntime, and the float model.
"""

from __future__ import annotations

import numpy as np
import pytest

from . import needs

import tinyengine_tvm as te

torch = needs.module("torch")

from tinyengine_tvm.testing import onnx_models as om  # noqa: E402
from tinyengine_tvm.testing import torch_models as tm  # noqa: E402


def _lenet():
    from torch import nn

    class LeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Sequential(nn.Conv2d(1, 6, 5), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2))
            self.c2 = nn.Sequential(nn.Conv2d(6, 16, 5), nn.ReLU(), nn.AvgPool2d(2))
            self.fc = nn.Sequential(nn.Linear(16 * 5 * 5, 32), nn.ReLU(), nn.Linear(32, 10))

        def forward(self, x):
            return self.fc(torch.flatten(self.c2(self.c1(x)), 1))

    torch.manual_seed(0)
    net = LeNet()
    nn.init.uniform_(net.c1[1].weight, 0.5, 1.5)
    nn.init.uniform_(net.c1[1].bias, -0.2, 0.2)
    return tm.calibrate_bn(net, resolution=32, channels=1)


def _gray(n, seed):
    rng = np.random.default_rng(seed)
    return [rng.uniform(0, 1, (1, 1, 32, 32)).astype(np.float32) for _ in range(n)]


def test_lenet_with_conv_bias_bn_and_nchw_flatten():
    net = _lenet()
    calib = _gray(16, 1)
    cm = te.compile(net, calibration=calib, patch="off", arithmetic="onnxruntime")  # op kinds as layers (no line-buffer stage)
    counts = cm.report()["op_counts"]
    assert "batch_norm" not in str(counts) and counts["conv2d"] == 2 and counts["fully_connected"] == 2, counts
    assert counts["max_pool2d"] == 1 and counts["avg_pool2d"] == 1, counts
    qdq = om.ort_quantize(tm.to_onnx(net, calib[0]), calib, per_channel=True)
    s, _ = om.output_qparams(qdq)
    xs = _gray(30, 2)
    ours = np.concatenate([cm.run([np.ascontiguousarray(x.transpose(0, 2, 3, 1))])[0] for x in xs])
    ref = np.concatenate([om.ort_run(qdq, [x])[0] for x in xs])
    flt = np.concatenate([tm.run_torch(net, x) for x in xs])
    d = np.abs(np.round(ours / s) - np.round(ref / s))
    # the 2x2 average pool takes onnxruntime's QLinearAveragePool route (pool_s8_f32.c, tests/test_ort_pool.py)
    assert d.max() == 0, (d.max(), (d == 0).mean())
    assert (ours.argmax(1) == ref.argmax(1)).mean() >= 0.95
    assert (ours.argmax(1) == flt.argmax(1)).mean() >= 0.9
    assert np.abs(ours - flt).max() < 0.1 * np.abs(flt).max()


def test_errors_name_the_torch_module():
    """An op without an int8 kernel is reported at its place in the user's module, not as a Relax var."""
    from torch import nn

    from tinyengine_tvm.errors import UnsupportedOperatorError

    class Gate(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 6, 3), nn.BatchNorm2d(6), nn.ReLU())
            self.gate = nn.Sigmoid()
            self.head = nn.Linear(6, 4)

        def forward(self, x):
            h = self.gate(self.body(x))
            return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(h, 1), 1))

    class Grouped(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Conv2d(4, 4, 1), nn.Conv2d(4, 6, 3, groups=2)])

        def forward(self, x):
            return torch.relu(self.blocks[1](self.blocks[0](x)))

    with pytest.raises(UnsupportedOperatorError,
                       match=r"sigmoid at torch module 'gate' \(Sigmoid, aten\.sigmoid\.default\) has no int8 kernel"):
        te.compile(Gate(), calibration=[np.zeros((1, 3, 8, 8), np.float32)])
    with pytest.raises(UnsupportedOperatorError,
                       match=r"grouped conv2d \(groups=2\) at torch module 'blocks\.1' \(Conv2d, aten\.convolution"):
        te.compile(Grouped(), calibration=[np.zeros((1, 4, 8, 8), np.float32)])


def test_relu_after_pooling_as_in_the_pytorch_tutorial():
    """F.relu(F.max_pool2d(conv(x), 2)): a standalone ReLU (own output range, requantized to it) and,
    in onnxruntime's QDQ form of the same model, pools whose output is quantized with the ReLU's
    parameters. Both paths give onnxruntime's bytes."""
    import torch.nn.functional as F
    from torch import nn

    class LeNetF(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 10)

        def forward(self, x):
            x = F.relu(F.max_pool2d(self.conv1(x), 2))
            x = F.relu(F.avg_pool2d(self.conv2(x), 2))
            return self.fc1(torch.flatten(x, 1))

    torch.manual_seed(0)
    net = LeNetF().eval()
    calib, xs = _gray(16, 1), _gray(20, 2)
    cm = te.compile(net, calibration=calib, arithmetic="onnxruntime")
    # each ReLU joins its pool, quantized with the ReLU's own range as onnxruntime does: the average pool
    # rescales itself (QLinearAveragePool arithmetic), the max pool is split into pool + requantize
    assert cm.report()["op_counts"]["requantize"] == 1
    qdq = om.ort_quantize(tm.to_onnx(net, calib[0]), calib)
    cq = te.compile(qdq, arithmetic="onnxruntime")
    s, _ = om.output_qparams(qdq)
    nhwc = [np.ascontiguousarray(x.transpose(0, 2, 3, 1)) for x in xs]
    ours = np.concatenate([cm.run([x])[0] for x in nhwc])
    from_qdq = np.concatenate([cq.run([x])[0] for x in nhwc])
    ref = np.concatenate([om.ort_run(qdq, [x])[0] for x in xs])
    # the same int8 outputs (dequantized with float32 vs float64 scales): our PTQ picks onnxruntime's scales
    np.testing.assert_array_equal(np.round(ours / s), np.round(from_qdq / s))
    d = np.abs(np.round(ours / s) - np.round(ref / s))
    assert d.max() == 0, (d.max(), (d == 0).mean())  # measured: all 200 values identical
