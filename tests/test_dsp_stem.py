"""te_conv2d_s8_k3s2c3_dsp (RGB stem 3x3 stride 2 without the window gather, codegen/dsp_stem.py): byte-identical
with the portable conv (itself LiteRT-exact) on random shapes (odd and even widths, every padding), on the host
(exact C models, plain and ASan+UBSan) and under QEMU M4 / M7; and its order check (dsp_stem.safe) accepts only
placements where a Python model of the kernel's order gives the right bytes.
"""

import numpy as np
import pytest

from tinyengine_tvm.codegen import dsp, dsp_stem

from . import dsp_harness as dh
from . import kernel_harness as kh
from .test_dsp import _requant_params, _window, arm_driver


@pytest.fixture(scope="module")
def host_drivers(tmp_path_factory):
    d = tmp_path_factory.mktemp("dsp_stem_host")
    return dh.build_host(d, sanitize=False), dh.build_host(d, sanitize=True)


def _case(rng, port, fast):
    while True:
        in_h, in_w = int(rng.integers(1, 20)), int(rng.integers(1, 60))
        out_h, pad_top = _window(rng, in_h, 3, 2)
        out_w, pad_left = _window(rng, in_w, 3, 2)
        out_c = 2 * int(rng.integers(1, 9))
        p = dict(in_h=in_h, in_w=in_w, in_c=3, out_h=out_h, out_w=out_w, out_c=out_c, k_h=3, k_w=3, stride_h=2,
                 stride_w=2, dil_h=1, dil_w=1, pad_top=pad_top, pad_left=pad_left, depth_multiplier=1,
                 act_min=-128, act_max=127)
        if out_h >= 1 and out_w >= 1 and dsp_stem.applies(p):
            break
    x = rng.integers(-128, 128, (in_h, in_w, 3), dtype=np.int8)
    w = rng.integers(-128, 128, (out_c, 3, 3, 3), dtype=np.int8)
    if rng.random() < 0.2:
        x[:] = rng.choice([-128, 127])
        w[:] = rng.choice([-128, 127])
    bias = rng.integers(-(1 << 15), 1 << 15, out_c).astype(np.int32)
    in_offset, out_offset = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
    mult, shift = _requant_params(rng, w.reshape(out_c, -1), bias, in_offset, out_offset)
    conv = dict(p, in_offset=in_offset, out_offset=out_offset)
    vals = kh.struct_values("te_conv_params", conv)
    dh.add(port, "conv", vals, [x, w, bias, mult, shift], np.int8, (out_h, out_w, out_c))
    dh.add(fast, "conv_stem_dsp", vals, [x, dsp_stem.pack(w), dsp.rq_table_m1(mult, shift, bias, out_c)], np.int8,
           (out_h, out_w, out_c))


def _check(n, seed, host_drivers, tmp_path_factory, targets):
    rng = np.random.default_rng(seed)
    port, fast = kh.Batch(), kh.Batch()
    for _ in range(n):
        _case(rng, port, fast)
    dh.compare(port, fast, host_drivers, lambda t: arm_driver(tmp_path_factory, t), targets, "conv_stem")


def test_stem_kernel_matches_portable(host_drivers, tmp_path_factory):
    _check(30, 51, host_drivers, tmp_path_factory, ["cortex-m4", "cortex-m7"])


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_stem_kernel_matches_portable_sweep(seed, host_drivers, tmp_path_factory):
    _check(150, 700 + seed, host_drivers, tmp_path_factory, ["cortex-m4", "cortex-m7", "cortex-m33"])


def _order_run(mem, p, in_off, out_off):
    """Python model of the kernel's memory order (a mixing function instead of the arithmetic)."""
    in_h, in_w, out_h, out_w, out_c = (p[k] for k in ("in_h", "in_w", "out_h", "out_w", "out_c"))
    rows, nxt = {}, 0
    for oy in range(out_h):
        for pr in range(max(nxt, 2 * oy), 2 * oy + 3):
            iy = pr - p["pad_top"]
            rows[pr] = (mem[in_off + iy * in_w * 3: in_off + (iy + 1) * in_w * 3].copy() if 0 <= iy < in_h
                        else np.zeros(in_w * 3, np.int64))
        nxt = 2 * oy + 3
        for ox in range(out_w):
            for oc in range(out_c):
                acc = sum(int(rows[2 * oy + ky][(2 * ox + kx - p["pad_left"]) * 3 + ic]) * (ky * 9 + kx * 3 + ic + oc)
                          for ky in range(3) for kx in range(3) for ic in range(3)
                          if 0 <= 2 * ox + kx - p["pad_left"] < in_w)
                mem[out_off + (oy * out_w + ox) * out_c + oc] = (acc * 2654435761) % 251


def test_stem_order_check_accepts_only_correct_placements():
    rng = np.random.default_rng(5)
    accepted = rejected = 0
    for _ in range(12):
        in_h, in_w = int(rng.integers(3, 8)), int(rng.integers(3, 8))
        out_h, pad_top = _window(rng, in_h, 3, 2)
        out_w, pad_left = _window(rng, in_w, 3, 2)
        if out_h < 1 or out_w < 1:
            continue
        p = dict(in_h=in_h, in_w=in_w, out_h=out_h, out_w=out_w, out_c=int(rng.choice([2, 4, 8])), pad_top=pad_top,
                 pad_left=pad_left)
        in_bytes, out_bytes = in_h * in_w * 3, out_h * out_w * p["out_c"]
        x = rng.integers(0, 256, in_bytes)
        ref = np.zeros(in_bytes + out_bytes, np.int64)
        ref[:in_bytes] = x
        _order_run(ref, p, 0, in_bytes)
        expected = ref[in_bytes:].copy()
        for delta in range(-out_bytes, in_bytes + 1, 3):
            lo = min(0, delta)
            mem = np.zeros(max(in_bytes, delta + out_bytes) - lo, np.int64)
            mem[-lo: -lo + in_bytes] = x
            ok = dsp_stem.safe(p, -lo, delta - lo)
            _order_run(mem, p, -lo, delta - lo)
            if ok:
                assert np.array_equal(mem[delta - lo: delta - lo + out_bytes], expected), (p, delta)
                accepted += 1
            else:
                rejected += 1
    assert accepted > 20 and rejected > 20, (accepted, rejected)
