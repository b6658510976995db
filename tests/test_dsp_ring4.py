"""te_depthwise_conv2d_s8_ring4_k<K>s<S>_dsp (group of 4 channels over a ring of widened padded rows):
byte-identical with the portable depthwise kernel (itself LiteRT-exact) on random shapes, on the host (exact C
models of the DSP instructions, plain and ASan+UBSan) and under QEMU M4 / M7 (real instructions); and its
in-place check (dsp_ring4.safe) accepts only placements where the kernel's order gives the right bytes (the real
kernel run in one buffer at every offset, overlapping ones included). ``-m slow`` runs a larger sweep.
"""

import numpy as np
import pytest

from tinyengine_tvm.codegen import dsp, dsp_ring4

from . import dsp_harness as dh
from . import kernel_harness as kh
from .test_dsp import _requant_params, _window, arm_driver


@pytest.fixture(scope="module")
def host_drivers(tmp_path_factory):
    d = tmp_path_factory.mktemp("dsp_ring4_host")
    return dh.build_host(d, sanitize=False), dh.build_host(d, sanitize=True)


def _case(rng, small=True):
    while True:
        k, s = int(rng.choice(dsp_ring4.KS)), int(rng.choice([1, 2]))
        in_h = int(rng.integers(1, 12))
        in_w = int(rng.integers(1, 12)) if small else int(rng.integers(20, 45))
        c = 4 * int(rng.integers(1, 4))
        out_h, pad_top = _window(rng, in_h, k, s)
        out_w, pad_left = _window(rng, in_w, k, s)
        if rng.random() < 0.15:  # asymmetric / oversized padding
            pad_left = int(rng.integers(0, k))
            out_w = (in_w + pad_left + int(rng.integers(0, k)) - k) // s + 1
        p = dict(in_h=in_h, in_w=in_w, in_c=c, out_h=out_h, out_w=out_w, k_h=k, k_w=k, stride_h=s, stride_w=s,
                 pad_top=pad_top, pad_left=pad_left, act_min=-128, act_max=127)
        if out_h >= 1 and out_w >= 1 and dsp_ring4.applies(p):
            break
    x = rng.integers(-128, 128, (in_h, in_w, c), dtype=np.int8)
    w = rng.integers(-128, 128, (k, k, c), dtype=np.int8)
    if rng.random() < 0.2:  # extremes: the widest data and weights
        x[:] = rng.choice([-128, 127])
        w[:] = rng.choice([-128, 127])
    bias = rng.integers(-(1 << 15), 1 << 15, c).astype(np.int32)
    in_offset, out_offset = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
    w2d = np.ascontiguousarray(w.reshape(k * k, c).T)
    mult, shift = _requant_params(rng, w2d, bias, in_offset, out_offset)
    conv = dict(p, out_c=c, dil_h=1, dil_w=1, depth_multiplier=1, in_offset=in_offset, out_offset=out_offset)
    dwp = [in_h, in_w, c, out_h, out_w, k, k, s, s, pad_top, pad_left, dsp.dw_pad_right(conv), in_offset,
           out_offset, -128, 127]
    return conv, dwp, x, w, bias, mult, shift


def _check(n, seed, host_drivers, tmp_path_factory, targets):
    rng = np.random.default_rng(seed)
    port, fast = kh.Batch(), kh.Batch()
    for i in range(n):
        conv, dwp, x, w, bias, mult, shift = _case(rng, small=i % 4 != 3)
        c = conv["in_c"]
        shape = (conv["out_h"], conv["out_w"], c)
        dh.add(port, "dwconv", kh.struct_values("te_conv_params", conv), [x, w, bias, mult, shift], np.int8, shape)
        dh.add(fast, "dw_ring4_dsp", dwp, [x, w, dsp.rq_table(mult, shift, bias, c)], np.int8, shape)
    dh.compare(port, fast, host_drivers, lambda t: arm_driver(tmp_path_factory, t), targets, "dw_ring4")


def test_ring4_kernel_matches_portable(host_drivers, tmp_path_factory):
    _check(40, 31, host_drivers, tmp_path_factory, ["cortex-m4", "cortex-m7"])


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_ring4_kernel_matches_portable_sweep(seed, host_drivers, tmp_path_factory):
    _check(200, 500 + seed, host_drivers, tmp_path_factory, ["cortex-m4", "cortex-m7", "cortex-m33"])


def test_ring4_in_place_only_where_the_check_allows(host_drivers, tmp_path_factory):
    """Input and output in one buffer at every offset (step: the channel count): where dsp_ring4.safe accepts,
    the real kernel gives the portable kernel's bytes (host under ASan, and QEMU M7); the check must accept
    some overlapping placements and reject others (so it is neither vacuous nor all-rejecting)."""
    rng = np.random.default_rng(19)
    port, shared = kh.Batch(), kh.Batch()
    accepted_overlap = rejected = 0
    for _ in range(10):
        conv, dwp, x, w, bias, mult, shift = _case(rng)
        c, in_bytes = conv["in_c"], x.size
        shape = (conv["out_h"], conv["out_w"], c)
        out_bytes = int(np.prod(shape))
        rq = dsp.rq_table(mult, shift, bias, c)
        for delta in range(-out_bytes, in_bytes + 1, c):
            lo = min(0, delta)
            size = max(in_bytes, delta + out_bytes) - lo
            if not dsp_ring4.safe(conv, -lo, delta - lo):
                rejected += 1
                continue
            accepted_overlap += int(-out_bytes < delta < in_bytes)
            dh.add(port, "dwconv", kh.struct_values("te_conv_params", conv), [x, w, bias, mult, shift], np.int8,
                   shape)
            dh.add(shared, "dw_ring4_shared", dwp + [-lo, delta - lo, size], [x, w, rq], np.int8, shape)
    assert accepted_overlap > 10 and rejected > 10, (accepted_overlap, rejected)
    dh.compare(port, shared, host_drivers[1:], lambda t: arm_driver(tmp_path_factory, t), ["cortex-m7"],
               "dw_ring4 in place")
