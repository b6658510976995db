"""Acceptance: the 3-output FPN person-detection model (19.5 M MACs; nearest upsampling + ADD, zero-copy
channel concat heads) is bit-exact with LiteRT's reference kernels on the host and under QEMU (M4, M7).
Slow (a realistic model): `pytest -m slow tests/test_fpn.py`; numbers: scripts/bench_fpn_mcu.py."""

import numpy as np
import pytest

import tinyengine_tvm as te
from tinyengine_tvm.testing import tflite_builder as tb
from tinyengine_tvm.testing.reference import run_litert

from .mcu_tools import require_arm_tools

_MODEL = {}


def _model():
    if "m" not in _MODEL:
        _MODEL["m"] = bytes(tb.fpn_detection_model())
    return _MODEL["m"]


def _exact(cm, seed):
    x = np.random.default_rng(seed).integers(-128, 128, size=cm.inputs[0].shape, dtype=np.int8)
    ours, ref = cm.run([x]), run_litert(_model(), [x])
    assert len(ours) == len(ref) == 3
    for o, r in zip(ours, ref):
        np.testing.assert_array_equal(o, r)
    return ours


@pytest.mark.slow
def test_fpn_host_exact_and_zero_copy():
    cm = te.compile(_model())
    assert cm.graph.macs >= 15_000_000 and len(cm.graph.outputs) == 3
    assert cm.report()["op_counts"]["concat"] == 3 and len(cm.graph.views) == 6  # every concat input in place
    for seed in (0, 1):
        outs = _exact(cm, seed)
    assert all(np.unique(o).size > 32 for o in outs)  # the outputs use the int8 range, not a constant


@pytest.mark.slow
@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m7"])
def test_fpn_on_qemu_exact(target):
    require_arm_tools()
    cm = te.compile(_model(), target=target)
    _exact(cm, 2)
    m = cm.last_measurement
    assert m["arena_bytes"] == cm.plan.arena_bytes and m["instructions"] > 0
