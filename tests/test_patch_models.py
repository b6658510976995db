"""--patch auto on whole networks against independent references: MobileNetV2 at 224x224 (MCUNetV2's case,
testing.synth_nets.mobilenetv2, random int8 weights) vs LiteRT BUILTIN_REF, and a QDQ ONNX CNN (onnxruntime's
arithmetic) vs onnxruntime. The peak SRAM figures are planner outputs (deterministic), the instruction ratio a
QEMU count (deterministic, -icount): the 224 cases are slow (a compile and 224x224 runs each).
"""

from __future__ import annotations

import numpy as np
import pytest

import tinyengine_tvm as te

from . import needs


def _mobilenetv2(width, tmp_path):
    from tinyengine_tvm.testing.synth_nets import mobilenetv2

    path = str(tmp_path / f"mobilenetv2_{width}_224.tflite")
    with open(path, "wb") as f:
        f.write(mobilenetv2(224, width))
    x = np.random.default_rng(5).uniform(-1, 1, (1, 224, 224, 3)).astype(np.float32)
    return path, x


@pytest.mark.slow
def test_mobilenetv2_035_224_auto_fits_176k_and_is_exact(tmp_path):
    """Width 0.35: the int8 image (150,528 B, quantized into the arena) plus everything else <= 176,000 B."""
    from tinyengine_tvm.testing.reference import run_litert

    path, x = _mobilenetv2(0.35, tmp_path)
    cm = te.compile(path, max_overhead=0.05)
    rep = cm.report()
    assert rep["schedule"] and rep["peak_sram_bytes"] <= 176_000, rep["peak_sram_bytes"]
    assert rep["macs"] == te.compile(path, patch="off").report()["macs"]
    assert cm.run([x])[0].tobytes() == run_litert(path, [x])[0].tobytes()


@pytest.mark.slow
def test_mobilenetv2_10_224_auto_is_exact(tmp_path):
    """Width 1.0 (its 176,128 B goal is not reached: see README): whatever the search picks stays exact."""
    from tinyengine_tvm.testing.reference import run_litert

    path, x = _mobilenetv2(1.0, tmp_path)
    cm = te.compile(path, max_overhead=0.05)
    assert cm.report()["schedule"]
    assert cm.run([x])[0].tobytes() == run_litert(path, [x])[0].tobytes()


@pytest.mark.slow
@pytest.mark.claims
def test_mobilenetv2_035_224_auto_on_cortex_m7_within_5_percent(tmp_path):
    from tinyengine_tvm.testing.reference import run_litert

    from .mcu_tools import require_arm_tools

    require_arm_tools()
    path, x = _mobilenetv2(0.35, tmp_path)
    ref = run_litert(path, [x])[0]
    on = te.compile(path, target="cortex-m7", max_overhead=0.05)
    off = te.compile(path, target="cortex-m7", patch="off")
    (y_on,), m_on = on.measure([x])
    (y_off,), m_off = off.measure([x])
    assert y_on.tobytes() == ref.tobytes() == y_off.tobytes()
    assert on.report()["peak_sram_bytes"] <= 176_000
    assert m_on["instructions"] <= 1.05 * m_off["instructions"]


def _qdq_cnn(seed=3, hw=48):
    """QDQ: conv 3x3 (3 -> 16) -> depthwise 3x3 -> conv 1x1 (16 -> 8) -> depthwise 3x3 / 2 -> conv 1x1 (8 -> 16),
    no activations, every tensor its own Q/DQ pair: onnxruntime fuses each conv into a QLinearConv."""
    from tinyengine_tvm.testing.qdq_graph import QDQGraph, conv_out_scale

    b = QDQGraph(seed)
    x, _, _ = b.qdq("x", 0.008, 3)
    s, c = 0.008, 3
    for cout, k, groups, stride, zp in ((16, 3, 1, 1, -5), (16, 3, 16, 1, 4), (8, 1, 1, 1, -2), (8, 3, 8, 2, 6),
                                        (16, 1, 1, 1, 1)):
        y = b.conv(x, c, cout, k, s, groups=groups, stride=stride)
        s2 = conv_out_scale(s, k * k * c // groups)
        x, _, _ = b.qdq(y, s2, zp)
        s, c = s2, cout
    return b.model(x, [1, 3, hw, hw], [1, 16, hw // 2, hw // 2])


def test_qdq_onnx_auto_schedule_matches_onnxruntime():
    """An ONNX model through --patch auto (onnxruntime's arithmetic: QLinearConv rounding) gives onnxruntime's
    float outputs exactly, as the layer-by-layer build does."""
    needs.module("onnx")
    needs.module("onnxruntime")
    from tinyengine_tvm.testing import onnx_models as om

    m = _qdq_cnn()
    sess, opt = om.ort_optimized(m)
    assert [n.op_type for n in opt.graph.node].count("QLinearConv") == 5
    x = np.random.default_rng(1).uniform(-1, 1, (1, 3, 48, 48)).astype(np.float32)
    ref = sess.run(None, {"x": x})[0]
    auto, off = te.compile(m, max_overhead=0.5), te.compile(m, patch="off")  # a small net: a generous budget
    assert auto.report()["schedule"] and auto.report()["peak_sram_bytes"] < off.report()["peak_sram_bytes"]
    xn = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    for cm in (auto, off):
        np.testing.assert_array_equal(cm.run([xn])[0].transpose(0, 3, 1, 2), ref)


@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m33"])
def test_qdq_onnx_auto_schedule_on_cortex_m(target):
    """The same stages under QEMU on M4 (DSP kernels per band) and M33: onnxruntime's outputs exactly."""
    needs.module("onnx")
    needs.module("onnxruntime")
    from tinyengine_tvm.testing import onnx_models as om

    from .mcu_tools import require_arm_tools

    require_arm_tools()
    m = _qdq_cnn()
    x = np.random.default_rng(2).uniform(-1, 1, (1, 3, 48, 48)).astype(np.float32)
    ref = om.ort_run(m, [x])[0]
    cm = te.compile(m, target=target, max_overhead=0.5)
    assert cm.report()["schedule"]
    (y,), _ = cm.measure([np.ascontiguousarray(x.transpose(0, 2, 3, 1))])
    np.testing.assert_array_equal(y.transpose(0, 3, 1, 2), ref)


def test_lookahead_finds_two_stage_schedule_single_moves_miss(tmp_path, monkeypatch):
    """MobileNetV2 1.0 at 96x96: every single stage over the first block either ends at a wide tensor (its readers
    peak higher) or holds wide windows; one move of lookahead (first stage ending at the 24x24x24 block output,
    then the next block streamed) lowers the peak the greedy alone stops at. Exact vs LiteRT."""
    from tinyengine_tvm.patch import expand, schedule, search
    from tinyengine_tvm.planner import plan
    from tinyengine_tvm.testing.reference import run_litert
    from tinyengine_tvm.testing.synth_nets import mobilenetv2

    path = str(tmp_path / "mobilenetv2_96.tflite")
    with open(path, "wb") as f:
        f.write(mobilenetv2(96, 1.0, classes=10))
    ahead = te.compile(path)
    monkeypatch.setattr(search, "LOOKAHEAD", 0)
    greedy = schedule(expand(ahead.graph), "auto")  # the same search without lookahead, planned alike
    assert len(ahead.report()["schedule"]) > len(greedy.schedule)
    assert ahead.report()["peak_sram_bytes"] < plan(greedy).peak_sram_bytes  # (a float input: no external image)
    x = np.random.default_rng(4).uniform(-1, 1, (1, 96, 96, 3)).astype(np.float32)
    assert ahead.run([x])[0].tobytes() == run_litert(path, [x])[0].tobytes()
