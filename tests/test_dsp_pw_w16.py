"""te_conv2d_1x1_s8_w16_dsp (weights widened to 16 bits at compile time, codegen/dsp_w16.py): byte-identical with
the portable 1x1 kernel (itself LiteRT-exact) on random shapes (pixel counts with every remainder mod 4, in_c up to
its 256 limit, extremes), on the host (exact C models of the DSP instructions, plain and ASan+UBSan) and under QEMU
M4 / M7 (real instructions). ``-m slow`` runs a larger sweep on M4 / M7 / M33.
"""

import numpy as np
import pytest

from tinyengine_tvm.codegen import dsp, dsp_w16

from . import dsp_harness as dh
from . import kernel_harness as kh
from .test_dsp import _requant_params, arm_driver


@pytest.fixture(scope="module")
def host_drivers(tmp_path_factory):
    d = tmp_path_factory.mktemp("dsp_w16_host")
    return dh.build_host(d, sanitize=False), dh.build_host(d, sanitize=True)


def _case(rng, port, fast):
    pixels = int(rng.integers(1, 14))
    in_c = int(rng.choice([8, 16, 24, 40, 48, 96, 120, 144, 240, 256]))
    out_c = 2 * int(rng.integers(1, 9))
    x = rng.integers(-128, 128, (pixels, in_c), dtype=np.int8)
    w = rng.integers(-128, 128, (out_c, in_c), dtype=np.int8)
    if rng.random() < 0.2:  # extremes: the widest data and weights
        x[:] = rng.choice([-128, 127])
        w[:] = rng.choice([-128, 127])
    bias = rng.integers(-(1 << 15), 1 << 15, out_c).astype(np.int32)
    in_offset, out_offset = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
    mult, shift = _requant_params(rng, w, bias, in_offset, out_offset)
    conv = dict(in_h=pixels, in_w=1, in_c=in_c, out_h=pixels, out_w=1, out_c=out_c, k_h=1, k_w=1, stride_h=1,
                stride_w=1, dil_h=1, dil_w=1, pad_top=0, pad_left=0, depth_multiplier=1, in_offset=in_offset,
                out_offset=out_offset, act_min=-128, act_max=127)
    assert dsp_w16.applies(dict(conv, out_h=dsp_w16.MIN_PIXELS))  # the kernel itself takes any pixel count
    dh.add(port, "conv_1x1", kh.struct_values("te_conv_params", conv), [x, w, bias, mult, shift], np.int8,
           (pixels, out_c))
    dh.add(fast, "pw_w16_dsp", [pixels, in_c, out_c, in_offset, out_offset, -128, 127],
           [x, dsp_w16.pack(w), dsp.rq_table_m1(mult, shift, bias, out_c)], np.int8, (pixels, out_c))


def _check(n, seed, host_drivers, tmp_path_factory, targets):
    rng = np.random.default_rng(seed)
    port, fast = kh.Batch(), kh.Batch()
    for _ in range(n):
        _case(rng, port, fast)
    dh.compare(port, fast, host_drivers, lambda t: arm_driver(tmp_path_factory, t), targets, "pw_w16")


def test_pack_lanes():
    """The packing against its definition, written out lane by lane."""
    rng = np.random.default_rng(3)
    w = rng.integers(-128, 128, (4, 8), dtype=np.int8)
    got = dsp_w16.pack(w).view(np.uint32)
    want = []
    for a, b in ((0, 1), (2, 3)):
        for g in range(2):
            for o, (l0, l1) in ((a, (0, 2)), (b, (0, 2)), (a, (1, 3)), (b, (1, 3))):
                want.append((int(w[o, 4 * g + l0]) & 0xFFFF) | ((int(w[o, 4 * g + l1]) & 0xFFFF) << 16))
    assert got.tolist() == want


def test_w16_kernel_matches_portable(host_drivers, tmp_path_factory):
    _check(40, 41, host_drivers, tmp_path_factory, ["cortex-m4", "cortex-m7"])


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_w16_kernel_matches_portable_sweep(seed, host_drivers, tmp_path_factory):
    _check(200, 600 + seed, host_drivers, tmp_path_factory, ["cortex-m4", "cortex-m7", "cortex-m33"])
