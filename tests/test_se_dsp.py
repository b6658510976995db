"""The Armv7E-M kernels of SE blocks (mean_s8_dsp.c, mul_s8_gate_dsp.c) against the portable ones.

Random shapes, quantizations and data (extremes included) for the squeeze (MEAN over H*W, sums
flushed every 256 pixels) and the excitation (MUL by a per-channel gate), with parameters the
compiler would accept (codegen/dsp.py mean_fast_ok / mul_fast_ok); run three ways: on the host
through exact C models of the DSP instructions (plain and ASan+UBSan) and under QEMU on Cortex-M4
and M7 with the real instructions, byte for byte (dsp_harness.compare). Whole SE models on QEMU are in
tests/test_se_model.py.
"""

import numpy as np
import pytest

from tinyengine_tvm.codegen import dsp, lut, quant

from . import dsp_harness as dh
from . import kernel_harness as kh
from .mcu_tools import require_arm_tools


@pytest.fixture(scope="module")
def host_drivers(tmp_path_factory):
    d = tmp_path_factory.mktemp("se_dsp_host")
    return dh.build_host(d, sanitize=False), dh.build_host(d, sanitize=True)


_ARM = {}


def arm_driver(tmp_path_factory, target):
    require_arm_tools()
    if target not in _ARM:
        _ARM[target] = dh.build_arm(tmp_path_factory.mktemp("se_dsp_arm"), target)
    return _ARM[target]


def _data(rng, n):
    x = rng.integers(-128, 128, size=n, dtype=np.int8)
    extreme = rng.random(n) < 0.15
    x[extreme] = rng.choice(np.array([-128, 127], np.int8), size=int(extreme.sum()))
    return x


def mul_case(rng, port, fast):
    for _ in range(50):
        s1, s2 = np.exp(rng.uniform(np.log(0.005), np.log(0.2), size=2))
        so = s1 * s2 * np.exp(rng.uniform(np.log(20), np.log(400)))
        z1, z2, zo = (int(v) for v in rng.integers(-128, 128, size=3))
        lo, hi = (-128, 127) if rng.random() < 0.7 else (int(rng.integers(-128, 0)), int(rng.integers(0, 128)))
        p = lut.mul_params(s1, z1, s2, z2, so, zo, lo, hi)
        if dsp.mul_fast_ok(p):
            break
    else:
        raise AssertionError("no MUL parameters the DSP kernel accepts")
    pix, c = int(rng.integers(1, 70)), int(rng.integers(1, 40))
    q = [p[k] for k in ("in1_offset", "in2_offset", "out_offset", "out_mult", "out_shift", "act_min", "act_max")]
    bufs = [_data(rng, pix * c), _data(rng, c)]
    dh.add(port, "mul_gate", q + [pix, c], bufs, np.int8, (pix * c,))
    dh.add(fast, "mul_gate_dsp", q + [pix, c], bufs, np.int8, (pix * c,))


def mean_case(rng, port, fast):
    outer = int(rng.integers(1, 3))
    n = int(rng.choice([1, 3, 16, 49, 255, 256, 257, 600]))
    inner = int(rng.integers(1, 40))
    s_in = float(np.exp(rng.uniform(np.log(0.01), np.log(0.2))))
    s_out = s_in * float(np.exp(rng.uniform(-1.0, 1.0)))
    zi, zo = (int(v) for v in rng.integers(-128, 128, size=2))
    p = quant.mean_params(s_in, zi, s_out, zo, outer, n, inner)
    rq_fast = int(dsp.mean_fast_ok(p))
    q = [p[k] for k in ("outer", "reduce", "inner", "in_zp", "out_zp", "mult", "shift", "exact")]
    buf = [_data(rng, outer * n * inner)]
    dh.add(port, "mean_se", q + [0], buf, np.int8, (outer * inner,))
    dh.add(fast, "mean_se_dsp", q + [rq_fast], buf, np.int8, (outer * inner,))


CASES = {"mul_gate": mul_case, "mean": mean_case}


def _check(kind, n, seed, host_drivers, tmp_path_factory, targets, chunk_bytes=400_000):
    """n random cases, compared in batches small enough for the QEMU driver's 1 MB input buffer."""
    rng = np.random.default_rng(seed)
    port, fast = kh.Batch(), kh.Batch()
    for i in range(n):
        CASES[kind](rng, port, fast)
        if i == n - 1 or len(fast.serialize()) > chunk_bytes:
            dh.compare(port, fast, host_drivers, lambda t: arm_driver(tmp_path_factory, t), targets, kind)
            port, fast = kh.Batch(), kh.Batch()


@pytest.mark.parametrize("kind", sorted(CASES))
def test_se_dsp_kernel_matches_portable(kind, host_drivers, tmp_path_factory):
    _check(kind, 40, seed=7, host_drivers=host_drivers, tmp_path_factory=tmp_path_factory,
           targets=["cortex-m4", "cortex-m7"])


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(CASES))
@pytest.mark.parametrize("seed", range(4))
def test_se_dsp_kernel_matches_portable_sweep(kind, seed, host_drivers, tmp_path_factory):
    _check(kind, 300, seed=100 + seed, host_drivers=host_drivers, tmp_path_factory=tmp_path_factory,
           targets=["cortex-m4", "cortex-m7"])


def test_mean_fast_requant_is_used_for_se_shapes():
    """The fast requantization applies to the SE squeeze's usual shapes (else the DSP MEAN pays te_requantize
    per channel): a 7x7 and a 16x16 map with the input's own quantization."""
    for n in (49, 256):
        assert dsp.mean_fast_ok(quant.mean_params(0.05, -3, 0.05, -3, 1, n, 96))
