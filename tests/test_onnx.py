"""ONNX frontend: QDQ int8 models quantized by onnxruntime compile to C and agree with onnxruntime.

The reference is onnxruntime itself running the QDQ model (it fuses QDQ groups into its own
int8 kernels: QLinearConv, QLinearAdd, QLinearGlobalAveragePool, QGemm ...). Agreement is
measured in LSB of the output's quantization step. Graphs from ONNX/PyTorch are built with
onnxruntime's arithmetic (``TE_SINGLE_ROUNDING``; op by op in tests/test_ort_arith.py), not
TFLite's, because they differ:

* conv / FC requantization: TFLite's fixed-point multiplier rounds twice
  (SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT), which differs from
  onnxruntime's one rounding on up to 20 % of outputs when the shift is -1 or -2; onnxruntime
  multiplies the int32 accumulator, as a float, by a float32 scale (x_scale * w_scale) / y_scale
  and rounds half to even, so the kernels do exactly that;
* input QuantizeLinear: ties away from zero (TFLite) vs half to even (onnxruntime);
* MEAN: TFLite's folded-multiplier double rounding would differ on ~15 % of a global
  average pool's outputs; onnxruntime's QLinearGlobalAveragePool scales by the float32
  x_scale / (y_scale * n);
* where onnxruntime (x86) leaves a QDQ group unfused (a tensor with several readers keeps int8
  activations, which it does not fuse), it computes in float: Add and Conv (here: the 3x3 conv and
  the depthwise conv around the residual add) reproduce that bit for bit, the conv in MLAS's
  summation order (tests/test_ort_float_conv.py).

Measured on the small CNN here: every output equal to onnxruntime's (per-channel and per-tensor).
"""

from __future__ import annotations

import numpy as np
import pytest

from . import needs

import tinyengine_tvm as te
from tinyengine_tvm.errors import TinyEngineError, UnsupportedOperatorError
from tinyengine_tvm.frontend.onnx import from_onnx
from tinyengine_tvm.testing import onnx_models as om

onnx = needs.module("onnx")
needs.module("onnxruntime")


def _nhwc(x):
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def _agreement(qdq, cm, xs):
    s, _ = om.output_qparams(qdq)
    refs = [om.ort_run(qdq, [x])[0] for x in xs]
    ours = [cm.run([_nhwc(x)])[0] for x in xs]
    d = np.abs(np.round(np.concatenate(refs) / s) - np.round(np.concatenate(ours) / s))
    top1 = np.mean([np.argmax(a) == np.argmax(b) for a, b in zip(refs, ours)])
    return d, top1


@pytest.fixture(scope="module")
def small_cnn_data():
    rng = np.random.default_rng(0)
    cal = [rng.uniform(-1, 1, (1, 3, 16, 16)).astype(np.float32) for _ in range(16)]
    xs = [rng.uniform(-1, 1, (1, 3, 16, 16)).astype(np.float32) for _ in range(25)]
    return om.small_cnn(), cal, xs


@pytest.mark.parametrize("per_channel", [True, False], ids=["per_channel", "per_tensor"])
def test_qdq_small_cnn_matches_onnxruntime(small_cnn_data, per_channel):
    f, cal, xs = small_cnn_data
    q = om.ort_quantize(f, cal, per_channel=per_channel)
    cm = te.compile(q, arithmetic="onnxruntime")
    assert cm.report()["op_counts"] == {"quantize": 1, "conv2d": 2, "depthwise_conv2d": 1, "add": 1, "max_pool2d": 1,
                                        "mean": 1, "reshape": 1, "fully_connected": 1, "dequantize": 1}
    assert tuple(cm.inputs[0].shape) == (1, 16, 16, 3)  # NHWC
    d, top1 = _agreement(q, cm, xs)
    # the same bytes as onnxruntime's, the two convs it runs unfused in float here included
    assert d.max() == 0, (d.max(), (d == 0).mean())
    assert top1 == 1.0


def test_qdq_conv_layers_match_onnxruntime():
    """The conv layers alone (4-D NHWC output): every output byte equal to onnxruntime's."""
    from onnx import TensorProto, helper

    f = om.small_cnn()
    g = f.graph
    keep = [n for n in g.node if n.op_type not in ("GlobalAveragePool", "Flatten", "Gemm")]
    del g.node[:]
    g.node.extend(keep)
    del g.output[:]
    g.output.extend([helper.make_tensor_value_info("c3", TensorProto.FLOAT, [1, 12, 4, 4])])
    rng = np.random.default_rng(1)
    cal = [rng.uniform(-1, 1, (1, 3, 16, 16)).astype(np.float32) for _ in range(8)]
    q = om.ort_quantize(f, cal)
    cm = te.compile(q, arithmetic="onnxruntime")
    s, _ = om.output_qparams(q)
    for _ in range(5):
        x = rng.uniform(-1, 1, (1, 3, 16, 16)).astype(np.float32)
        ref = om.ort_run(q, [x])[0].transpose(0, 2, 3, 1)
        ours = cm.run([_nhwc(x)])[0]
        assert ours.shape == (1, 4, 4, 12)
        assert ours.tobytes() == ref.tobytes(), np.abs(np.round(ref / s) - np.round(ours / s)).max()


def test_qdq_global_average_pool_rounds_like_onnxruntime():
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("GlobalAveragePool", ["x"], ["y"])], "gap",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 7, 7])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 1, 1])])
    f = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    rng = np.random.default_rng(2)
    cal = [rng.uniform(-1, 3, (1, 16, 7, 7)).astype(np.float32) for _ in range(4)]
    q = om.ort_quantize(f, cal, per_channel=False)
    cm = te.compile(q, arithmetic="onnxruntime")
    s, _ = om.output_qparams(q)
    for _ in range(10):
        x = rng.uniform(-1, 3, (1, 16, 7, 7)).astype(np.float32)
        ref = om.ort_run(q, [x])[0].reshape(-1)
        ours = cm.run([_nhwc(x)])[0].reshape(-1)
        assert ours.tobytes() == ref.tobytes(), np.abs(np.round(ref / s) - np.round(ours / s)).max()


# ---------------------------------------------------------------------------------------- errors


def _model(nodes, inputs, outputs, inits=()):
    from onnx import helper

    return helper.make_model(helper.make_graph(nodes, "m", inputs, outputs, list(inits)),
                             opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def test_qoperator_model_is_rejected_with_advice():
    from onnx import TensorProto, helper

    vi = helper.make_tensor_value_info
    m = _model([helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["y"], name="conv0")],
               [vi("x", TensorProto.INT8, [1, 3, 8, 8])], [vi("y", TensorProto.INT8, [1, 4, 8, 8])])
    with pytest.raises(UnsupportedOperatorError, match=r"QOperator.*QLinearConv.*conv0.*QuantFormat\.QDQ"):
        te.compile(m)


def test_unsupported_operator_named_with_location():
    from onnx import TensorProto, helper

    vi = helper.make_tensor_value_info
    m = _model([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Softsign", ["r"], ["y"], name="odd")],
               [vi("x", TensorProto.FLOAT, [1, 4])], [vi("y", TensorProto.FLOAT, [1, 4])])
    with pytest.raises(UnsupportedOperatorError, match=r"Softsign \(node #1 'odd', output 'y'\)"):
        from_onnx(m)


def test_dynamic_shape_needs_input_shapes():
    f = om.small_cnn()
    f.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    with pytest.raises(TinyEngineError, match=r"input 'x' has a dynamic shape \['batch', 3, 16, 16\].*input-shape"):
        from_onnx(f)
    m = from_onnx(f, input_shapes={"x": (1, 3, 16, 16)})
    assert m.inputs[0].shape == (1, 3, 16, 16) and not m.quantized


def test_non_4d_image_input_rejected():
    f = om.small_cnn()
    dims = f.graph.input[0].type.tensor_type.shape.dim
    del dims[0]
    with pytest.raises(TinyEngineError, match=r"input 'x' of shape \[3, 16, 16\] feeds Conv .*4-D"):
        from_onnx(f)


def test_corrupt_and_missing_files(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 3)
    with pytest.raises(TinyEngineError, match="bad.onnx"):
        te.compile(str(bad))
    with pytest.raises(TinyEngineError, match="not found"):
        te.compile(str(tmp_path / "missing.onnx"))


def test_float_model_without_calibration_is_rejected():
    with pytest.raises(TinyEngineError, match="float model.*calibration"):
        te.compile(om.small_cnn())


def test_cli_compiles_onnx_qdq_and_float_with_calibration(tmp_path, small_cnn_data, capsys):
    from tinyengine_tvm import cli

    f, cal, _ = small_cnn_data
    q = om.ort_quantize(f, cal)
    onnx.save(q, str(tmp_path / "q.onnx"))
    assert cli.main(["compile", str(tmp_path / "q.onnx"), "-o", str(tmp_path / "out_q")]) == 0
    assert (tmp_path / "out_q" / "model.c").exists()
    f.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"  # open batch dimension
    onnx.save(f, str(tmp_path / "f.onnx"))
    np.savez(tmp_path / "calib.npz", x=np.concatenate(cal[:8]))  # one stacked [N, 3, 16, 16] array
    capsys.readouterr()
    rc = cli.main(["compile", str(tmp_path / "f.onnx"), "-o", str(tmp_path / "out_f"), "--calibration",
                   str(tmp_path / "calib.npz"), "--input-shape", "x:1,3,16,16", "--json"])
    assert rc == 0
    import json

    rep = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "top-1 agreement" in rep["quantization"] and rep["inputs"][0]["shape"] == [1, 16, 16, 3]
    assert cli.main(["compile", str(tmp_path / "f.onnx"), "-o", str(tmp_path / "out_g")]) == 1
    assert "dynamic shape" in capsys.readouterr().err
    assert cli.main(["compile", str(tmp_path / "f.onnx"), "-o", str(tmp_path / "out_h"), "--input-shape", "x:1,3,16,16"]) == 1
    assert "calibration" in capsys.readouterr().err
