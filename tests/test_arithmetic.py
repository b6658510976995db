"""``--arithmetic int8|onnxruntime`` for ONNX / PyTorch graphs.

``int8`` (the default) runs every QDQ group as an int8 kernel with onnxruntime's fused formula
(QLinearConv / QLinearAdd ...); ``onnxruntime`` reproduces onnxruntime's bytes on this host, float convs
where it leaves a group unfused. References, both onnxruntime: the model itself (where onnxruntime fuses
every group, both modes must equal it byte for byte; elsewhere int8 stays within 1 LSB), and the same model
with uint8 activations (testing.onnx_models.uint8_activations: the same values, nothing left to mix int8
and uint8, so onnxruntime fuses every group), which int8 mode must equal byte for byte. On Cortex-M7 / M4
(QEMU) the FPU kernels of onnxruntime's float paths (conv2d_1x1_s8_f32_fpu.c, add_s8_f32_fpu.c) keep its
bytes."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from . import needs
from .mcu_tools import require_arm_tools

import tinyengine_tvm as te
from tinyengine_tvm.errors import TinyEngineError

onnx = needs.module("onnx")
needs.module("onnxruntime")

from onnx import numpy_helper  # noqa: E402

from tinyengine_tvm.testing import onnx_models as om  # noqa: E402

from .test_ort_float_conv import THREADS, residual_net  # noqa: E402

f32 = np.float32


def _out_q(model):
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    dq = [nd for nd in model.graph.node if nd.output[0] == model.graph.output[0].name][0]
    return f32(inits[dq.input[1]]), int(inits[dq.input[2]])


def _inputs(model, n, seed):
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.4, 1.4, shape).astype(f32) for _ in range(n)]


def _q(model, ys):
    """The int8 bytes behind the float outputs of the model's last DequantizeLinear."""
    s, zp = _out_q(model)
    return np.concatenate([np.rint(np.asarray(y).reshape(-1) / s) + zp for y in ys]).astype(np.int32)


def _ours(cm, xs):
    """Outputs in the model's NCHW layout (the compiled program's 4-D I/O is NHWC)."""
    ys = [cm.run([np.ascontiguousarray(x.transpose(0, 2, 3, 1))])[0] for x in xs]
    return [y.transpose(0, 3, 1, 2) if y.ndim == 4 else y for y in ys]


def _ort(model, xs):
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), om.session_options(THREADS), providers=["CPUExecutionProvider"])
    return [sess.run(None, {sess.get_inputs()[0].name: x})[0] for x in xs]


def _float_ops(model):
    _, opt = om.ort_optimized(model, THREADS)
    return [n.op_type for n in opt.graph.node if n.op_type in ("Conv", "Add")]


def test_uint8_reference_fuses_every_group():
    """The reference of int8 mode: onnxruntime runs the uint8-activation model with QLinear kernels only, and its
    dequantized outputs equal the int8 model's where that one is fused too."""
    m = residual_net(seed=1, c=16, hw=6)
    assert _float_ops(m) == ["Conv", "Conv", "Add", "Add"]  # the int8 model: all four groups unfused (shared tensors)
    assert _float_ops(om.uint8_activations(m)) == []


@pytest.mark.parametrize("kw", [dict(seed=1, c=32, hw=10), dict(seed=2, c=24, hw=9, depthwise=True),
                                dict(seed=3, c=20, hw=8, k=5, per_channel=False), dict(seed=7, c=144, hw=6, k=1)],
                         ids=["conv3x3", "depthwise3x3", "conv5x5_per_tensor", "pointwise144"])
def test_int8_mode_is_onnxruntime_fused_arithmetic(kw, monkeypatch):
    """Residual graphs onnxruntime leaves unfused: int8 mode (the default) has no float conv, equals onnxruntime's
    fused kernels (the uint8-activation model) byte for byte and the int8 model's own output within 1 LSB."""
    monkeypatch.setenv("TINYENGINE_ORT_THREADS", str(THREADS))
    m = residual_net(**kw)
    xs = _inputs(m, 3, kw["seed"])
    cm = te.compile(m)
    assert cm.report()["arithmetic"] == "int8"
    assert not any(op.params.get("ort_float") for op in cm.graph.ops)
    assert not any(op.kernel == "add" and not op.params.get("ort_fused") for op in cm.graph.ops)
    ours = _q(m, _ours(cm, xs))
    np.testing.assert_array_equal(ours, _q(m, _ort(om.uint8_activations(m), xs)))
    d = np.abs(ours - _q(m, _ort(m, xs)))
    assert d.max() <= 1, d.max()
    # and the onnxruntime mode keeps onnxruntime's own bytes (its float convs)
    cmo = te.compile(m, arithmetic="onnxruntime")
    assert cmo.report()["arithmetic"] == "onnxruntime" and any(op.params.get("ort_float") for op in cmo.graph.ops)
    np.testing.assert_array_equal(_q(m, _ours(cmo, xs)), _q(m, _ort(m, xs)))


def _chain(seed, c=16, hw=8):
    """x -> conv 3x3 -> conv 1x1 -> depthwise 3x3: no tensor with two readers."""
    from tinyengine_tvm.testing.qdq_graph import QDQGraph, conv_out_scale

    b = QDQGraph(seed)
    in_s = 0.011
    x, _, _ = b.qdq("x", in_s, -4)
    s1 = conv_out_scale(in_s, 9 * c)
    t, _, _ = b.qdq(b.conv(x, c, c, 3, in_s), s1, 3)
    s2 = conv_out_scale(s1, c)
    u, _, _ = b.qdq(b.conv(t, c, 2 * c, 1, s1), s2, -2)
    s3 = conv_out_scale(s2, 9)
    y, _, _ = b.qdq(b.conv(u, 2 * c, 2 * c, 3, s2, groups=2 * c), s3, 1)
    return b.model(y, [1, c, hw, hw], [1, 2 * c, hw, hw])


def test_both_modes_equal_onnxruntime_where_it_fuses_everything(monkeypatch):
    """A plain chain (no tensor with two readers): onnxruntime fuses every group, and both modes give its bytes."""
    monkeypatch.setenv("TINYENGINE_ORT_THREADS", str(THREADS))
    m = _chain(11)
    assert _float_ops(m) == []
    xs = _inputs(m, 3, 11)
    ref = _q(m, _ort(m, xs))
    for mode in ("int8", "onnxruntime"):
        np.testing.assert_array_equal(_q(m, _ours(te.compile(m, arithmetic=mode), xs)), ref)


def test_int8_mode_concat_of_convs_written_in_place():
    """ONNX Concat of two convs reading one tensor (unfused in onnxruntime, so its mode copies): in int8 mode the
    convs write their channel slices in place (concat views) and the bytes are onnxruntime's fused kernels'."""
    from tinyengine_tvm.testing.qdq_graph import QDQGraph, conv_out_scale

    g = QDQGraph(seed=3)
    xd, _, _ = g.qdq("x", 0.05, 3)
    s = conv_out_scale(0.05, 72)
    a, _, _ = g.qdq(g.conv(xd, 8, 4, 3, 0.05), s, 1)
    b, _, _ = g.qdq(g.conv(xd, 8, 6, 1, 0.05), s, 1)
    y, _, _ = g.qdq(g.op("Concat", [a, b], axis=1), s, 1)
    m = g.model(y, (1, 8, 6, 6))
    cm = te.compile(m)
    assert cm.graph.views
    xs = [np.random.default_rng(i).uniform(-3, 3, (1, 8, 6, 6)).astype(f32) for i in range(3)]
    for o, r in zip(_ours(cm, xs), _ort(om.uint8_activations(m), xs)):
        np.testing.assert_array_equal(o, r)


def test_arithmetic_errors():
    cal = [np.zeros((1, 3, 16, 16), f32)]
    q = om.ort_quantize(om.small_cnn(), cal)
    with pytest.raises(TinyEngineError, match="unknown arithmetic 'fast'; choose one of int8, onnxruntime"):
        te.compile(q, arithmetic="fast")
    from .conftest import model_path

    with pytest.raises(TinyEngineError, match="arithmetic 'onnxruntime' applies to ONNX / PyTorch models"):
        te.compile(model_path("lenet_mnist.tflite"), arithmetic="onnxruntime")
    assert te.compile(model_path("lenet_mnist.tflite"), arithmetic="int8").report()["arithmetic"] == "tflite"


def test_cli_arithmetic(tmp_path, capsys):
    """--arithmetic on `compile` (the CLI's main, in process: the same parser and error handling as the command)."""
    from tinyengine_tvm.cli import main

    m = residual_net(seed=1, c=8, hw=5)
    path = tmp_path / "res.onnx"
    onnx.save(m, str(path))
    assert main(["compile", str(path), "-o", str(tmp_path / "ort"), "--arithmetic", "onnxruntime", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["arithmetic"] == "onnxruntime"
    from .conftest import model_path

    assert main(["compile", model_path("lenet_mnist.tflite"), "-o", str(tmp_path / "t"), "--arithmetic", "onnxruntime"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("tinyengine-tvm: error: ") and "\n" not in err and "applies to ONNX / PyTorch models" in err, err
    assert not (tmp_path / "t").exists()


def test_fpu_kernels_equal_portable_under_sanitizers(tmp_path):
    """tests/fpu_ort_driver.c on the host (ASan + UBSan; te_dsp.h's C models): te_conv2d_1x1_s8_f32_fpu against
    te_conv2d_s8_f32 (row mode 0) on 400 random pointwise convs (depth 1..300, depth blocks 1..1024 per pixel
    segment), float sums and bytes, and te_add_s8_f32_fpu against te_add_s8_f32 on 200 random adds: 0 differ.
    (With the depth blocks ignored, one chain per output, 15,308 of the 32,516 float sums differ.)"""
    import subprocess
    from pathlib import Path

    from .kernel_harness import KERNEL_DIR, SANITIZE_FLAGS, WARN_FLAGS

    srcs = [KERNEL_DIR / f for f in ("conv2d_s8_f32.c", "conv2d_1x1_s8_f32_fpu.c", "add_s8_f32.c", "add_s8_f32_fpu.c",
                                     "te_requantize.c")]
    exe = tmp_path / "fpu_ort_driver"
    subprocess.run(["gcc", *WARN_FLAGS, *SANITIZE_FLAGS, "-DTE_SINGLE_ROUNDING=1", "-DTE_CONV_F32_PROBE=1", "-I",
                    str(KERNEL_DIR), str(Path(__file__).with_name("fpu_ort_driver.c")), *map(str, srcs), "-o", str(exe),
                    "-lm"], check=True, capture_output=True)
    cases, outs, bad, sums, fbad = map(int, subprocess.run([str(exe)], check=True, capture_output=True,
                                                           text=True).stdout.split())
    assert cases == 600 and outs > 50_000 and sums > 30_000
    assert (bad, fbad) == (0, 0)


@pytest.mark.parametrize("kw,target", [(dict(seed=7, c=144, hw=6, k=1), "cortex-m7"),
                                       (dict(seed=8, c=136, hw=12, k=1), "cortex-m4")],
                         ids=["one_depth_block_m7", "128_deep_blocks_m4"])
def test_fpu_float_kernels_on_cortex_m(kw, target, monkeypatch, tmp_path):
    """onnxruntime mode on Cortex-M7 / M4 (QEMU): the float pointwise convs (MLAS depth blocks: one chain over 144, or
    128 + 8 for the thread segments of more than 64 pixels) and float adds take the FPU kernels, and the bytes
    under QEMU are onnxruntime's; int8 mode there equals onnxruntime's fused kernels."""
    require_arm_tools()
    monkeypatch.setenv("TINYENGINE_ORT_THREADS", str(THREADS))
    m = residual_net(**kw)
    xs = _inputs(m, 2, kw["seed"])
    ref, ref8 = _q(m, _ort(m, xs)), _q(m, _ort(om.uint8_activations(m), xs))
    cm = te.compile(m, target=target, arithmetic="onnxruntime")
    d = str(tmp_path / target)
    cm.export(d)
    with open(os.path.join(d, "model.c")) as f:
        src = f.read()
    assert src.count("te_conv2d_1x1_s8_f32_fpu(") == 2 and src.count("te_add_s8_f32_fpu(") == 2, target
    np.testing.assert_array_equal(_q(m, _ours(cm, xs)), ref)
    np.testing.assert_array_equal(_q(m, _ours(te.compile(m, target=target), xs)), ref8)


@pytest.mark.slow
def test_pytorch_module_int8_mode():
    """A PyTorch ResNet block stack through our PTQ (calibrated in onnxruntime: quantize_static's parameters): int8
    mode by default, no float conv, the bytes of onnxruntime's fused kernels on quantize_static's model."""
    needs.module("torch")
    from tinyengine_tvm.testing import torch_models as tm

    net = tm.small_resnet(resolution=16, classes=10, seed=0)
    calib = tm.images(8, 16, seed=5)
    cm = te.compile(net, calibration=calib, calibration_engine="onnxruntime")
    assert cm.report()["arithmetic"] == "int8" and not any(op.params.get("ort_float") for op in cm.graph.ops)
    qdq = om.ort_quantize(tm.to_onnx(net, calib[0]), calib, per_channel=True)
    assert "Conv" in _float_ops(qdq)  # onnxruntime leaves the residual convs unfused
    xs = tm.images(5, 16, seed=6)
    s, _ = om.output_qparams(qdq)
    ours = np.concatenate([o.reshape(-1) for o in _ours(cm, xs)])
    ref = np.concatenate([r.reshape(-1) for r in _ort(om.uint8_activations(qdq), xs)])
    np.testing.assert_array_equal(np.round(ours / s), np.round(ref / s))


@pytest.mark.slow
@pytest.mark.claims
def test_mobilenet_v2_figures_on_cortex_m7():
    """Issue 14's acceptance, measured by scripts/bench_ort_mcu.py: onnxruntime's QDQ MobileNetV2 0.35/96 on M7
    in int8 mode <= 25 M instructions with top-1 agreement >= 98 % over 100 inputs, and <= 50 M in onnxruntime
    mode with onnxruntime's bytes on all 100; layer by layer (the benchmark's default ``--patch off``, as the
    README's vww figures)."""
    require_arm_tools()
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("bench_ort_mcu", Path(__file__).resolve().parents[1] / "scripts" / "bench_ort_mcu.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    r = {row["arithmetic"]: row for row in bench.bench(["cortex-m7"], 100)["rows"]}
    assert r["int8"]["instructions"] <= 25_000_000 and r["int8"]["float_convs"] == 0, r["int8"]
    assert r["int8"]["top1_vs_onnxruntime"] >= 0.98 and r["int8"]["outputs_within_1_lsb"] >= 0.99, r["int8"]
    assert r["onnxruntime"]["instructions"] <= 50_000_000, r["onnxruntime"]
    assert r["onnxruntime"]["identical_inputs"] == 100, r["onnxruntime"]
