"""Post-training quantization calibrated in onnxruntime (``calibration_engine="onnxruntime"``).

The PTQ observes its tensors in onnxruntime's float execution of the same network (the ONNX
model itself, or torch's ONNX export of a module), where onnxruntime's ``quantize_static``
observes them. The references are onnxruntime's own: the quantization parameters in the QDQ
model quantize_static writes on the same calibration inputs, and that model's outputs run in
onnxruntime.
"""

from __future__ import annotations

import numpy as np
import pytest

from . import needs

torch = needs.module("torch")
onnx = needs.module("onnx")
needs.module("onnxruntime")

import tinyengine_tvm as te  # noqa: E402
from tinyengine_tvm.errors import TinyEngineError  # noqa: E402
from tinyengine_tvm.testing import onnx_models as om  # noqa: E402
from tinyengine_tvm.testing import torch_models as tm  # noqa: E402


def _square_net():
    """The small net on 16x16 with 8 channels: an 8x8x8 map, shaped alike in NCHW and NHWC."""
    return tm.small_net(channels=8, resolution=16, seed=3)


def _ort_activation_qparams(qdq):
    """{(scale, zero point)} of every per-tensor QuantizeLinear in onnxruntime's QDQ model."""
    from onnx import numpy_helper

    inits = {t.name: numpy_helper.to_array(t) for t in qdq.graph.initializer}
    return {(float(inits[n.input[1]]), int(inits[n.input[2]])) for n in qdq.graph.node
            if n.op_type == "QuantizeLinear" and inits[n.input[1]].size == 1}


def _lsb_diff(qdq, cm, xs):
    s, _ = om.output_qparams(qdq)
    ref = np.concatenate([om.ort_run(qdq, [x])[0] for x in xs])
    ours = [cm.run([np.ascontiguousarray(x.transpose(0, 2, 3, 1))])[0] for x in xs]
    ours = np.concatenate([o.transpose(0, 3, 1, 2) if o.ndim == 4 else o for o in ours])  # NHWC maps out
    return np.abs(np.round(ours / s) - np.round(ref / s))


def test_torch_module_calibrated_in_onnxruntime_gives_quantize_static_parameters_and_bytes():
    net = _square_net()
    calib = tm.images(12, 16, seed=5)
    cm = te.compile(net, calibration=calib, calibration_engine="onnxruntime", arithmetic="onnxruntime")
    assert cm.quantization_report.engine == "onnxruntime" and "in onnxruntime" in str(cm.quantization_report)
    qdq = om.ort_quantize(tm.to_onnx(net, calib[0]), calib, per_channel=True)
    ours = set(cm.quantization_report.per_tensor.values())
    theirs = _ort_activation_qparams(qdq)
    assert ours <= theirs, sorted(ours - theirs)  # every scale and zero point quantize_static's own, to the bit
    d = _lsb_diff(qdq, cm, tm.images(20, 16, seed=6))
    assert d.max() == 0, ((d == 0).mean(), d.max())


def test_float_onnx_calibrated_in_onnxruntime_gives_quantize_static_bytes():
    rng = np.random.default_rng(7)
    cal = [rng.uniform(-1, 1, (1, 3, 16, 16)).astype(np.float32) for _ in range(12)]
    xs = [rng.uniform(-1, 1, (1, 3, 16, 16)).astype(np.float32) for _ in range(20)]
    f = om.small_cnn()
    cm = te.compile(f, calibration=cal, calibration_engine="onnxruntime", arithmetic="onnxruntime")
    qdq = om.ort_quantize(f, cal, per_channel=True)
    assert set(cm.quantization_report.per_tensor.values()) <= _ort_activation_qparams(qdq)
    d = _lsb_diff(qdq, cm, xs)
    assert d.max() == 0, ((d == 0).mean(), d.max())


def test_cli_calibration_engine(tmp_path, capsys):
    import json

    from tinyengine_tvm import cli

    rng = np.random.default_rng(8)
    onnx.save(om.small_cnn(), str(tmp_path / "f.onnx"))
    np.savez(tmp_path / "calib.npz", x=rng.uniform(-1, 1, (6, 3, 16, 16)).astype(np.float32))
    capsys.readouterr()
    assert cli.main(["compile", str(tmp_path / "f.onnx"), "-o", str(tmp_path / "out"), "--calibration",
                     str(tmp_path / "calib.npz"), "--calibration-engine", "onnxruntime", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "in onnxruntime" in rep["quantization"]


def test_onnxruntime_calibration_errors():
    from tinyengine_tvm.frontend.torch import from_torch
    from tinyengine_tvm.quantize import quantize

    net = _square_net()
    calib = tm.images(2, 16, seed=9)
    with pytest.raises(TinyEngineError, match="unknown calibration engine 'tflite'.*tvm, onnxruntime"):
        te.compile(net, calibration=calib, calibration_engine="tflite")
    # an ONNX model of another network: its tensors cannot be found there
    mod, _ = from_torch(net, [calib[0]])
    with pytest.raises(TinyEngineError, match=r"no tensor of the ONNX model matches .*same network"):
        quantize(mod, calib, input_layout="NCHW", onnx_model=om.small_cnn())


def test_activation_equal_to_its_input_on_the_first_inputs_is_still_told_apart():
    """Conv -> Relu where no value is negative on the first calibration inputs: there the Relu output
    equals the conv output, and only later inputs tell them apart. The PTQ's tensor (the conv with its
    ReLU fused) must be observed at the Relu's output, as quantize_static's range for it is."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(11)
    w = rng.uniform(0.05, 0.3, (4, 3, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"])]
    g = helper.make_graph(nodes, "conv_relu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
                          [om._init("w", w), om._init("b", np.full(4, 0.05))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    cal = [rng.uniform(0, 1, (1, 3, 8, 8)).astype(np.float32) for _ in range(4)]
    cal += [rng.uniform(-1, 1, (1, 3, 8, 8)).astype(np.float32) for _ in range(4)]
    cm = te.compile(m, calibration=cal, calibration_engine="onnxruntime", arithmetic="onnxruntime")
    qdq = om.ort_quantize(m, cal, per_channel=True)
    assert set(cm.quantization_report.per_tensor.values()) <= _ort_activation_qparams(qdq)
    d = _lsb_diff(qdq, cm, [rng.uniform(-1, 1, (1, 3, 8, 8)).astype(np.float32) for _ in range(5)])
    assert d.max() == 0, ((d == 0).mean(), d.max())


def test_resnet_style_net_both_engines():
    """A ResNet-style net (padded 7x7 stem, padded max pool, residual blocks with downsampling): calibrated
    in onnxruntime it gives quantize_static's bytes; calibrated in TVM (the default) every output is within
    1 LSB of them (measured on 64x64 inputs: 90.5% identical, top-1 the same on 20 of 20)."""
    net = tm.small_resnet(resolution=32)
    calib, xs = tm.images(8, 32, seed=1), tm.images(10, 32, seed=2)
    qdq = om.ort_quantize(tm.to_onnx(net, calib[0]), calib, per_channel=True)
    for engine, exact in (("onnxruntime", True), ("tvm", False)):
        cm = te.compile(net, calibration=calib, calibration_engine=engine, arithmetic="onnxruntime")
        d = _lsb_diff(qdq, cm, xs)
        assert d.max() <= (0 if exact else 1), (engine, (d == 0).mean(), d.max())
