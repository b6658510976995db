"""SE MobileNetV2-style models (tinyengine_tvm.testing.se_mobilenet: MEAN -> 1x1 conv -> ReLU -> 1x1 conv ->
hard sigmoid as ADD + MUL by constants, or LOGISTIC -> MUL of the gate over the map) compiled end to end and
compared byte for byte with LiteRT's reference kernels: on the host (also under ASan/UBSan) and under QEMU on
Cortex-M4 / M7, where MEAN and MUL take their DSP kernels. The acceptance-size model (>= 15 M MACs) is slow.
"""

import numpy as np
import pytest

import tinyengine_tvm as te
from tinyengine_tvm.testing.reference import run_litert
from tinyengine_tvm.testing.se_mobilenet import se_mobilenetv2_model

from .mcu_tools import require_arm_tools

SMALL = [(1, 16, 1, 1, False), (6, 24, 2, 2, True), (6, 32, 2, 2, True), (6, 64, 1, 2, True)]


def _inputs(cm, n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(-128, 128, size=cm.inputs[0].shape, dtype=np.int8) for _ in range(n)]


def _exact(cm, model, xs, **kw):
    for x in xs:
        out = cm.run([x], **kw)[0]
        np.testing.assert_array_equal(out, run_litert(model, [x])[0])


@pytest.fixture(scope="module")
def small_models():
    return {gate: se_mobilenetv2_model(resolution=40, width=0.5, gate=gate, stages=SMALL, seed=3, calibration=2)
            for gate in ("hard_sigmoid", "logistic")}


@pytest.mark.parametrize("gate", ["hard_sigmoid", "logistic"])
def test_small_se_model_on_host(small_models, gate):
    m = small_models[gate]
    cm = te.compile(m)
    ops = cm.report()["op_counts"]
    assert ops["mul"] == 5 and ops["mean"] == 6  # five gates, five squeezes and the head's pooling
    _exact(cm, m, _inputs(cm, 2))
    _exact(cm, m, _inputs(cm, 1, seed=1), sanitize=True)


@pytest.mark.parametrize("target", [pytest.param("cortex-m4", marks=pytest.mark.slow), "cortex-m7"])
def test_small_se_model_on_qemu(small_models, target, tmp_path):
    require_arm_tools()
    m = small_models["hard_sigmoid"]
    cm = te.compile(m, target=target)
    x = _inputs(cm, 1)[0]
    outs, _ = cm.measure([x])
    np.testing.assert_array_equal(outs[0], run_litert(m, [x])[0])
    cm.export(str(tmp_path / "p"))
    src = (tmp_path / "p" / "model.c").read_text()
    assert "te_mul_s8_gate_dsp(" in src and "te_mean_s8_dsp(" in src  # the DSP kernels ran


@pytest.mark.slow
@pytest.mark.parametrize("target", ["host", "cortex-m4", "cortex-m7"])
def test_acceptance_se_mobilenetv2(target):
    """The benchmark's model (scripts/bench_se_mcu.py): SE MobileNetV2 0.5 / 128, about 30 M MACs."""
    m = se_mobilenetv2_model(resolution=128, width=0.5)
    cm = te.compile(m, target=target)
    assert cm.graph.macs >= 15_000_000
    xs = _inputs(cm, 2)
    if target == "host":
        _exact(cm, m, xs)
        return
    require_arm_tools()
    outs, meas = cm.measure([xs[0]], profile=True)
    np.testing.assert_array_equal(outs[0], run_litert(m, [xs[0]])[0])
    assert meas["layers"]  # per-kernel counts; the MEAN + MUL share is reported by scripts/bench_se_mcu.py
