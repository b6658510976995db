"""RESIZE_NEAREST_NEIGHBOR (int8, NHWC): the whole compiler against LiteRT's reference kernel.

Single-op models built with tinyengine_tvm.testing.tflite_builder, every combination of TFLite's
flags, integer and fractional factors, up and down; outputs compared byte for byte, on the host
(-O2 and ASan/UBSan). The index tables are the compiler's, the reference is LiteRT's own kernel.
"""

import numpy as np
import pytest

from . import needs

import tinyengine_tvm as te
from tinyengine_tvm.testing import tflite_builder as tb
from tinyengine_tvm.testing.reference import run_litert


def _resize_model(in_hw, out_hw, c, align_corners=False, half_pixel_centers=False):
    mb = tb.ModelBuilder()
    x = mb.input("x", (1, *in_hw, c), scale=0.05, zero_point=-3)
    y = mb.tensor("y", (1, *out_hw, c), scale=0.05, zero_point=-3)
    mb.op("RESIZE_NEAREST_NEIGHBOR", [x], [y], size=list(out_hw), align_corners=align_corners,
          half_pixel_centers=half_pixel_centers)
    mb.output(y)
    return mb.finish()


CASES = [  # in (h, w), out (h, w), channels
    ((4, 5), (8, 10), 3),     # x2, the FPN / U-Net case
    ((3, 3), (9, 12), 8),     # x3 / x4
    ((3, 4), (7, 5), 1),      # fractional factors
    ((8, 8), (3, 5), 4),      # downsampling
    ((1, 1), (4, 4), 16),     # broadcast a pixel
]
FLAGS = [(False, False), (True, False), (False, True)]


@pytest.mark.parametrize("flags", FLAGS, ids=["asymmetric", "align_corners", "half_pixel"])
@pytest.mark.parametrize("case", CASES, ids=[f"{a[0]}x{a[1]}to{b[0]}x{b[1]}c{c}" for a, b, c in CASES])
def test_resize_nearest_matches_litert(case, flags):
    (in_hw, out_hw, c), (ac, hp) = case, flags
    model = _resize_model(in_hw, out_hw, c, ac, hp)
    cm = te.compile(bytes(model))
    assert cm.report()["op_counts"] == {"resize_nearest": 1}
    rng = np.random.default_rng(sum(in_hw) * 7 + c)
    for sanitize in (False, True):
        x = rng.integers(-128, 128, size=(1, *in_hw, c), dtype=np.int8)
        ours = cm.run([x], sanitize=sanitize)[0]
        ref = run_litert(bytes(model), [x])[0]
        assert ours.dtype == ref.dtype and ours.shape == ref.shape
        np.testing.assert_array_equal(ours, ref)


TORCH_CASES = [  # (in h, w), Upsample kwargs
    ((3, 4), dict(scale_factor=2, mode="nearest")),
    ((3, 4), dict(size=(7, 5), mode="nearest")),
    ((5, 5), dict(size=(3, 8), mode="nearest")),
]


@pytest.mark.parametrize("in_hw,kw", TORCH_CASES, ids=["x2", "to7x5", "to3x8"])
def test_torch_upsample_matches_tvm_and_torch(in_hw, kw):
    """PyTorch nn.Upsample -> PTQ -> C. References: TVM's own llvm build of the same quantized Relax
    module (its topi resize), and for an integer factor torch itself on the quantized input."""
    torch = needs.module("torch")
    import tvm
    from tvm import relax

    from tinyengine_tvm.frontend.torch import from_torch
    from tinyengine_tvm.quantize import quantize

    net = torch.nn.Upsample(**kw).eval()
    rng = np.random.default_rng(5)
    calib = [rng.uniform(-1, 1, (1, 6, *in_hw)).astype(np.float32) for _ in range(4)]
    mod, _ = from_torch(net, [calib[0]])
    qmod, _ = quantize(mod, calib, input_layout="NCHW")
    cm = te.build(qmod)
    assert cm.report()["op_counts"] == {"quantize": 1, "resize_nearest": 1, "dequantize": 1}
    vm = relax.VirtualMachine(tvm.compile(qmod, target="llvm"), tvm.cpu())
    for x in calib[:2]:
        nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        ours = cm.run([nhwc])[0]
        ref = vm["main"](tvm.runtime.tensor(nhwc)).numpy()
        np.testing.assert_array_equal(ours, ref)
        if "scale_factor" in kw:  # torch on the int8 grid values: a pure gather, so exact
            q = next(op.params for op in cm.graph.ops if op.kernel == "quantize")
            s, zp = q["scale"], q["zero_point"]  # random inputs: no rounding ties, so np.round is safe
            grid = ((np.clip(np.round(x / s) + zp, -128, 127) - zp) * s).astype(np.float32)
            want = net(torch.from_numpy(grid)).numpy().transpose(0, 2, 3, 1)
            np.testing.assert_allclose(ours, want, rtol=0, atol=1e-6)


def _onnx_upsampling_net(seed=0):
    """Float ONNX: conv3x3 + Relu -> Resize(nearest, x2) -> conv1x1."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    init = lambda n, a: numpy_helper.from_array(np.asarray(a, np.float32), n)  # noqa: E731
    inits = [init("w1", rng.normal(0, 0.3, (8, 3, 3, 3))), init("b1", rng.normal(0, 0.1, 8)),
             init("scales", [1, 1, 2, 2]), init("w2", rng.normal(0, 0.3, (4, 8, 1, 1))), init("b2", rng.normal(0, 0.1, 4))]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Resize", ["r1", "", "scales"], ["u"], mode="nearest"),
             helper.make_node("Conv", ["u", "w2", "b2"], ["y"], kernel_shape=[1, 1])]
    g = helper.make_graph(nodes, "up", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 5, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 10, 12])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(m)
    return m


def test_onnx_qdq_resize_matches_onnxruntime():
    """ORT-quantized QDQ: DequantizeLinear -> Resize -> QuantizeLinear with one scale at both ends is an int8 copy."""
    from tinyengine_tvm.testing import onnx_models as om

    rng = np.random.default_rng(3)
    calib = [rng.uniform(-1, 1, (1, 3, 5, 6)).astype(np.float32) for _ in range(8)]
    q = om.ort_quantize(_onnx_upsampling_net(), calib)
    cm = te.compile(q, arithmetic="onnxruntime")
    assert cm.report()["op_counts"]["resize_nearest"] == 1
    s, _ = om.output_qparams(q)
    for x in calib[:4]:
        ours = cm.run([np.ascontiguousarray(x.transpose(0, 2, 3, 1))])[0]
        ref = om.ort_run(q, [x])[0].transpose(0, 2, 3, 1)
        assert ours.tobytes() == ref.tobytes(), np.abs(np.round(ours / s) - np.round(ref / s)).max()
