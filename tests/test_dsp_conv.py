"""DSP kernels for the non-depthwise layers (quantize, add, first conv, small pointwise):
byte-identical with the portable kernels, on the host (exact C models, plain and ASan+UBSan)
and under QEMU with the real instructions. A small sample runs by default, ``-m slow`` sweeps."""

import numpy as np
import pytest

from tinyengine_tvm.codegen import dsp, quant

from . import dsp_harness as dh
from . import kernel_harness as kh
from .mcu_tools import require_arm_tools

TARGETS = ["cortex-m4", "cortex-m7"]
SLOW_TARGETS = ["cortex-m4", "cortex-m7", "cortex-m33"]


@pytest.fixture(scope="module")
def host_drivers(tmp_path_factory):
    d = tmp_path_factory.mktemp("dsp_conv_host")
    return dh.build_host(d, sanitize=False), dh.build_host(d, sanitize=True)


_ARM = {}


def arm_driver(tmp_path_factory, target):
    require_arm_tools()
    if target not in _ARM:
        _ARM[target] = dh.build_arm(tmp_path_factory.mktemp("dsp_conv_arm"), target)
    return _ARM[target]


def _check(port, fast, host_drivers, tmp_path_factory, targets, what):
    dh.compare(port, fast, host_drivers, lambda t: arm_driver(tmp_path_factory, t), targets, what)


# ---------------------------------------------------------------------------------------------
# ADD as one linear form


def _add_params(rng):
    s1, s2, so = (float(np.exp(rng.uniform(np.log(0.005), np.log(0.2)))) for _ in range(3))
    zp1, zp2, zpo = (int(rng.integers(-128, 128)) for _ in range(3))
    act = str(rng.choice(["NONE", "RELU", "RELU6"]))
    return quant.add_params(s1, zp1, s2, zp2, so, zpo, act, n=0)


def test_add_exact_table_matches_quant_module():
    rng = np.random.default_rng(3)
    for _ in range(5):
        p = _add_params(rng)
        t = dsp.add_exact_table(p)
        for x1, x2 in rng.integers(-128, 128, (40, 2)):
            v = []
            for x, k in ((x1, "in1"), (x2, "in2")):
                v.append(quant.multiply_by_quantized_multiplier((int(x) + p[f"{k}_offset"]) << 20, p[f"{k}_mult"],
                                                                p[f"{k}_shift"]))
            r = quant.multiply_by_quantized_multiplier(v[0] + v[1], p["out_mult"], p["out_shift"]) + p["out_offset"]
            assert t[x1 + 128, x2 + 128] == min(max(r, p["act_min"]), p["act_max"])


def _add_lin_cases(rng, n_cases, every_pair):
    port, fast, found = kh.Batch(), kh.Batch(), 0
    tries = 0
    while found < n_cases:
        tries += 1
        p = _add_params(rng)
        lin = dsp.add_linear(p)
        if lin is None:
            continue
        found += 1
        if every_pair:  # all 65,536 pairs, in both operand orders of the buffers
            g = np.arange(-128, 128, dtype=np.int8)
            x1, x2 = np.repeat(g, 256), np.tile(g, 256)
        else:
            n = int(rng.integers(1, 300))
            x1, x2 = rng.integers(-128, 128, (2, n), dtype=np.int8)
        p["n"] = x1.size
        dh.add(port, "add", kh.struct_values("te_add_params", p), [x1, x2], np.int8, (x1.size,))
        a, b, c, sh = lin
        dh.add(fast, "add_lin_dsp", [x1.size, a, b, c, sh, p["act_min"], p["act_max"]], [x1, x2], np.int8,
               (x1.size,))
    assert tries < 3 * n_cases, "the linear ADD form should exist for most parameters"
    return port, fast


def test_add_linear_every_pair(host_drivers, tmp_path_factory):
    port, fast = _add_lin_cases(np.random.default_rng(7), 3, every_pair=True)
    _check(port, fast, host_drivers, tmp_path_factory, TARGETS, "add_lin")


def test_add_linear_random(host_drivers, tmp_path_factory):
    port, fast = _add_lin_cases(np.random.default_rng(8), 30, every_pair=False)
    _check(port, fast, host_drivers, tmp_path_factory, TARGETS, "add_lin")


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_add_linear_every_pair_sweep(seed, host_drivers, tmp_path_factory):
    # three parameter sets per run: the QEMU driver takes at most 1 MB of cases
    port, fast = _add_lin_cases(np.random.default_rng(100 + seed), 3, every_pair=True)
    _check(port, fast, host_drivers, tmp_path_factory, SLOW_TARGETS, "add_lin")


# ---------------------------------------------------------------------------------------------
# QUANTIZE (VCVTA on FPv5)


def _quant_case(rng, port, fast):
    scale = float(np.float32(np.exp(rng.uniform(np.log(1e-4), np.log(1.0)))))
    zp = int(rng.integers(-128, 128))
    n = int(rng.integers(1, 400))
    x = (rng.uniform(-300, 300, n) * scale).astype(np.float32)
    k = np.arange(-300, 301, dtype=np.float32)
    ties = (k + np.float32(0.5)) * np.float32(scale)                      # x / scale lands on or near k + 1/2
    near = np.concatenate([np.nextafter(ties, np.float32(np.inf)), np.nextafter(ties, -np.float32(np.inf))])
    special = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45, 3e38, -3e38,
                        4096 * scale, -4096 * scale, 4095.5 * scale, -4095.5 * scale, 2.0 ** 31 * scale,
                        -(2.0 ** 31) * scale], np.float32)
    x = np.concatenate([x, ties, near, special]).astype(np.float32)
    x = x[rng.permutation(x.size)]
    buf = [np.array([scale], np.float64), x]
    dh.add(port, "quant", [x.size, zp], buf, np.int8, (x.size,))
    dh.add(fast, "quant_dsp", [x.size, zp], buf, np.int8, (x.size,))


def test_quantize_ties_and_specials(host_drivers, tmp_path_factory):
    rng = np.random.default_rng(21)
    port, fast = kh.Batch(), kh.Batch()
    for _ in range(12):
        _quant_case(rng, port, fast)
    _check(port, fast, host_drivers, tmp_path_factory, TARGETS + ["cortex-m33"], "quantize")


# ---------------------------------------------------------------------------------------------
# pointwise conv, small in_c (unrolled, SMMLAR requantization)


def _requant_params(rng, w2d, bias, in_offset, out_offset, max_tries=40):
    """Per-channel (mult, shift) from random scales, shrunk until the fast path's proof holds; some
    channels get the extreme shifts real models have (a near-dead channel: right ~ 20 .. 24)."""
    bounds = dsp.acc_bounds(w2d, bias, in_offset)
    mults, shifts = [], []
    for bd in bounds:
        tiny = rng.random() < 0.15
        lo, hi = (1e-8, 1e-6) if tiny else (1e-4, 0.05)
        real = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        for _ in range(max_tries):
            m, s = quant.quantize_multiplier(real)
            if dsp.fast_requant_ok(int(bd), m, s, out_offset):
                break
            real = real * 2 if tiny else real / 4  # a tiny multiplier fails on its rounding constant
        mults.append(m)
        shifts.append(s)
    return np.array(mults, np.int32), np.array(shifts, np.int32)


def _pw_small_case(rng, port, fast, small=True):
    pixels = int(rng.integers(1, 9))
    in_c = int(rng.choice(dsp.PW_SMALL_IN_C)) if small else int(rng.choice([4, 28, 32, 48, 96, 144, 512]))
    out_c = 2 * int(rng.integers(1, 8)) if small else int(rng.integers(1, 14))
    x = rng.integers(-128, 128, (pixels, in_c), dtype=np.int8)
    if rng.random() < 0.2:
        x[:] = rng.choice([-128, 127])
    w = rng.integers(-128, 128, (out_c, in_c), dtype=np.int8)
    if rng.random() < 0.2:
        w[:] = rng.choice([-128, 127])
    bias = rng.integers(-(1 << 15), 1 << 15, out_c).astype(np.int32)
    in_offset, out_offset = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
    mult, shift = _requant_params(rng, w, bias, in_offset, out_offset)
    conv = dict(in_h=pixels, in_w=1, in_c=in_c, out_h=pixels, out_w=1, out_c=out_c, k_h=1, k_w=1, stride_h=1,
                stride_w=1, dil_h=1, dil_w=1, pad_top=0, pad_left=0, depth_multiplier=1, in_offset=in_offset,
                out_offset=out_offset, act_min=-128, act_max=127, shift=shift)
    assert dsp.pw_small_ok(conv) == small
    assert all(dsp.fast_requant_ok(int(b), int(m), int(s), out_offset)
               for b, m, s in zip(dsp.acc_bounds(w, bias, in_offset), mult, shift))
    del conv["shift"]
    dh.add(port, "conv_1x1", kh.struct_values("te_conv_params", conv), [x, w, bias, mult, shift], np.int8,
           (pixels, out_c))
    dh.add(fast, "pw_small_dsp" if small else "pw_nc_dsp", [pixels, in_c, out_c, in_offset, out_offset, -128, 127],
           [x, dsp.as_words(dsp.pack_pointwise(w)), dsp.rq_table_m1(mult, shift, bias, out_c)], np.int8,
           (pixels, out_c))


def _cases(fn, n, seed):
    rng = np.random.default_rng(seed)
    port, fast = kh.Batch(), kh.Batch()
    for _ in range(n):
        fn(rng, port, fast)
    return port, fast


def test_pointwise_small_in_c(host_drivers, tmp_path_factory):
    port, fast = _cases(_pw_small_case, 40, 31)
    _check(port, fast, host_drivers, tmp_path_factory, TARGETS, "pw_small")


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_pointwise_small_in_c_sweep(seed, host_drivers, tmp_path_factory):
    port, fast = _cases(_pw_small_case, 200, 300 + seed)
    _check(port, fast, host_drivers, tmp_path_factory, SLOW_TARGETS, "pw_small")


def _pw_nc_case(rng, port, fast):
    _pw_small_case(rng, port, fast, small=False)


def test_pointwise_no_clamp_copy(host_drivers, tmp_path_factory):
    port, fast = _cases(_pw_nc_case, 30, 51)
    _check(port, fast, host_drivers, tmp_path_factory, TARGETS, "pw_nc")


def _pw_block_case(rng, port, fast):
    """te_conv2d_1x1_s8_dsp / _nc_dsp with pixel blocks of 4 and a remainder of 0 .. 3 (a self-paired last
    pixel), odd and even out_c, in_c on both sides of the 4-pixel limit (256), with and without a clamp."""
    pixels = int(rng.integers(1, 14))
    in_c = int(rng.choice([4, 8, 40, 48, 96, 120, 144, 240, 252, 256, 260, 288, 480, 512]))
    out_c = int(rng.integers(1, 14))
    x = rng.integers(-128, 128, (pixels, in_c), dtype=np.int8)
    if rng.random() < 0.2:
        x[:] = rng.choice([-128, 127])
    w = rng.integers(-128, 128, (out_c, in_c), dtype=np.int8)
    if rng.random() < 0.2:
        w[:] = rng.choice([-128, 127])
    bias = rng.integers(-(1 << 15), 1 << 15, out_c).astype(np.int32)
    in_offset, out_offset = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
    mult, shift = _requant_params(rng, w, bias, in_offset, out_offset)
    if rng.random() < 0.5:
        act_min, act_max = -128, 127
    else:
        act_min = max(-128, out_offset)
        act_max = int(rng.integers(act_min, 128))
    conv = dict(in_h=pixels, in_w=1, in_c=in_c, out_h=pixels, out_w=1, out_c=out_c, k_h=1, k_w=1, stride_h=1,
                stride_w=1, dil_h=1, dil_w=1, pad_top=0, pad_left=0, depth_multiplier=1, in_offset=in_offset,
                out_offset=out_offset, act_min=act_min, act_max=act_max)
    dh.add(port, "conv_1x1", kh.struct_values("te_conv_params", conv), [x, w, bias, mult, shift], np.int8,
           (pixels, out_c))
    fn = "pw_nc_dsp" if act_min == -128 and act_max == 127 and rng.random() < 0.5 else "pw_dsp"
    dh.add(fast, fn, [pixels, in_c, out_c, in_offset, out_offset, act_min, act_max],
           [x, dsp.as_words(dsp.pack_pointwise(w)), dsp.rq_table_m1(mult, shift, bias, out_c)], np.int8,
           (pixels, out_c))


def test_pointwise_pixel_blocks(host_drivers, tmp_path_factory):
    port, fast = _cases(_pw_block_case, 40, 71)
    _check(port, fast, host_drivers, tmp_path_factory, TARGETS, "pw_blocks")


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_pointwise_pixel_blocks_sweep(seed, host_drivers, tmp_path_factory):
    port, fast = _cases(_pw_block_case, 200, 700 + seed)
    _check(port, fast, host_drivers, tmp_path_factory, SLOW_TARGETS, "pw_blocks")


def test_pointwise_small_requires_even_out_c_and_no_clamp():
    p = dict(in_c=8, out_c=6, act_min=-128, act_max=127)
    assert dsp.pw_small_ok(p)
    assert not dsp.pw_small_ok({**p, "act_min": 0})
    assert not dsp.pw_small_ok({**p, "in_c": 32})
    assert not dsp.pw_small_ok({**p, "out_c": 7})


# ---------------------------------------------------------------------------------------------
# general conv with a compile-time column length (first layers)


def _window(rng, size, k, stride):
    if rng.random() < 0.5:  # VALID
        return (size - k) // stride + 1, 0
    out = -(-size // stride)  # SAME
    return out, max((out - 1) * stride + k - size, 0) // 2


def _conv_kw_case(rng, port, fast):
    while True:
        k_h, span = dsp.CONV_KS[int(rng.integers(len(dsp.CONV_KS)))]
        k_w = int(rng.choice([d for d in range(1, span + 1) if span % d == 0]))
        in_c = span // k_w
        s_h, s_w = int(rng.integers(1, 3)), int(rng.integers(1, 3))
        in_h, in_w = int(rng.integers(1, 12)), int(rng.integers(1, 12))
        out_h, pad_top = _window(rng, in_h, k_h, s_h)
        out_w, pad_left = _window(rng, in_w, k_w, s_w)
        p = dict(k_h=k_h, k_w=k_w, in_c=in_c)
        if out_h >= 1 and out_w >= 1 and dsp.conv_kw(p) is not None:
            break
    out_c = 2 * int(rng.integers(1, 6))
    x = rng.integers(-128, 128, (in_h, in_w, in_c), dtype=np.int8)
    if rng.random() < 0.2:
        x[:] = rng.choice([-128, 127])
    w = rng.integers(-128, 128, (out_c, k_h, k_w, in_c), dtype=np.int8)
    bias = rng.integers(-(1 << 15), 1 << 15, out_c).astype(np.int32)
    in_offset, out_offset = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
    mult, shift = _requant_params(rng, w.reshape(out_c, -1), bias, in_offset, out_offset)
    act_min, act_max = -128, 127
    conv = dict(in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c, k_h=k_h, k_w=k_w,
                stride_h=s_h, stride_w=s_w, dil_h=1, dil_w=1, pad_top=pad_top, pad_left=pad_left,
                depth_multiplier=1, in_offset=in_offset, out_offset=out_offset, act_min=act_min, act_max=act_max)
    params = kh.struct_values("te_conv_params", conv)
    kw = dsp.conv_kw(conv)
    dh.add(port, "conv", params, [x, w, bias, mult, shift], np.int8, (out_h, out_w, out_c))
    dh.add(fast, "conv_kw_dsp", params, [x, dsp.pack_conv_kw(w, conv, kw), dsp.rq_table_m1(mult, shift, bias, out_c)],
           np.int8, (out_h, out_w, out_c))


def test_conv_lane_order_covers_every_weight_once():
    for k_h, k_w, in_c in [(3, 3, 3), (1, 1, 1), (5, 5, 1), (3, 3, 4), (2, 3, 5)]:
        lanes = [x for x in dsp.conv_lane_order(dict(k_h=k_h, k_w=k_w, in_c=in_c)) if x is not None]
        assert sorted(lanes) == [(ky, b) for ky in range(k_h) for b in range(k_w * in_c)]
    assert dsp.conv_kw(dict(k_h=3, k_w=3, in_c=3)) == 14      # vww's first layer: 12 main words + 2 tail
    assert dsp.conv_kw(dict(k_h=5, k_w=5, in_c=2)) == 26      # 20 main words + 5 tail, even
    assert dsp.conv_kw(dict(k_h=7, k_w=7, in_c=3)) is None     # no entry point
    assert dsp.conv_kw(dict(k_h=3, k_w=3, in_c=3, act_min=0, act_max=127)) is None  # clamps: te_conv2d_s8_dsp


def test_conv_kw(host_drivers, tmp_path_factory):
    port, fast = _cases(_conv_kw_case, 40, 41)
    _check(port, fast, host_drivers, tmp_path_factory, TARGETS, "conv_kw")


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_conv_kw_sweep(seed, host_drivers, tmp_path_factory):
    port, fast = _cases(_conv_kw_case, 200, 400 + seed)
    _check(port, fast, host_drivers, tmp_path_factory, SLOW_TARGETS, "conv_kw")
