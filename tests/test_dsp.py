"""Armv7E-M DSP kernels: byte-identical with the portable kernels (themselves LiteRT-exact).

Each DSP kernel runs on random shapes and data three ways: on the host through exact C models of
the DSP instructions (plain and ASan+UBSan), and under QEMU on Cortex-M4 and M7 with the real
instructions. The fast SMMULR requantization is checked against TFLite's arithmetic on every
accumulator value near its bound (exhaustively for small bounds). A small random sample runs by
default; ``-m slow`` runs the full sweep.
"""

import numpy as np
import pytest

from tinyengine_tvm.codegen import dsp, quant

from . import dsp_harness as dh
from . import kernel_harness as kh
from .mcu_tools import require_arm_tools

I32 = 1 << 31


# ---------------------------------------------------------------------------------------------
# requantization identity


def mbqm_ref(x: np.ndarray, m: int, shift: int) -> np.ndarray:
    """TFLite MultiplyByQuantizedMultiplier on int64 arrays (no wrap: callers keep x << left in range)."""
    left, right = dsp.split_shift(shift)
    x = x.astype(np.int64) << left
    ab = x * m
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    t = ab + nudge
    y = np.where(t >= 0, t >> 31, -((-t) >> 31))  # C division: toward zero
    if right == 0:
        return y
    mask = (1 << right) - 1
    rem = y & mask
    thr = (mask >> 1) + (y < 0)
    return (y >> right) + (rem > thr)


def fast_ref(x: np.ndarray, m: int, shift: int, out_offset: int) -> np.ndarray:
    """The DSP kernels' formula (minus out_offset), with SMMULR as floor((a*b + 2^31) / 2^32)."""
    _, right = dsp.split_shift(shift)
    y = ((x.astype(np.int64) << 1) * m + (1 << 31)) >> 32
    return ((y + (1 << (right - 1)) + out_offset * (1 << right) + (y >> 31)) >> right) - out_offset


def test_mbqm_reference_matches_quant_module():
    rng = np.random.default_rng(1)
    for _ in range(200):
        m, s = quant.quantize_multiplier(float(np.exp(rng.uniform(np.log(1e-6), np.log(4.0)))))
        xs = rng.integers(-(1 << 22), 1 << 22, 20)
        got = mbqm_ref(xs, m, s)
        for x, g in zip(xs, got):
            if abs(int(x) << max(s, 0)) < I32:
                assert int(g) == quant.multiply_by_quantized_multiplier(int(x), m, s)


@pytest.mark.parametrize("seed", range(4))
def test_fast_requant_equals_tflite_within_proven_bound(seed):
    rng = np.random.default_rng(seed)
    checked = 0
    for _ in range(60):
        real = float(np.exp(rng.uniform(np.log(1e-5), np.log(0.5))))
        m, s = quant.quantize_multiplier(real)
        off = int(rng.integers(-128, 128))
        bound = int(rng.choice([1 << 12, 1 << 16, 1 << 20, 1 << 24, 1 << 28]))
        while bound > 1 and not dsp.fast_requant_ok(bound, m, s, off):
            bound //= 2
        if bound <= 1:
            continue
        if bound <= (1 << 20):
            xs = np.arange(-bound, bound + 1, dtype=np.int64)        # every accumulator value
        else:
            xs = np.concatenate([rng.integers(-bound, bound + 1, 1 << 18), np.arange(-4096, 4097),
                                 np.array([bound, -bound, bound - 1, -bound + 1])])
        np.testing.assert_array_equal(fast_ref(xs, m, s, off), mbqm_ref(xs, m, s))
        checked += 1
    assert checked > 40


def test_fast_requant_bound_is_tight_enough_for_vww():
    """vww's layers pass the proof (else the DSP path would silently fall back)."""
    assert dsp.fast_requant_ok(1 << 20, 1 << 30, -8, 127)
    assert not dsp.fast_requant_ok(1 << 30, 1 << 30, -1)     # 2 * acc overflows
    assert not dsp.fast_requant_ok(1 << 20, 1 << 30, 0)      # right shift 0: not this formula
    assert not dsp.fast_requant_ok(1 << 20, 1 << 30, 12)     # left shift


# ---------------------------------------------------------------------------------------------
# kernels


@pytest.fixture(scope="module")
def host_drivers(tmp_path_factory):
    d = tmp_path_factory.mktemp("dsp_host")
    return dh.build_host(d, sanitize=False), dh.build_host(d, sanitize=True)


_ARM = {}


def arm_driver(tmp_path_factory, target):
    require_arm_tools()
    if target not in _ARM:
        _ARM[target] = dh.build_arm(tmp_path_factory.mktemp("dsp_arm"), target)
    return _ARM[target]


def _requant_params(rng, w2d, bias, in_offset, out_offset, max_tries=40):
    """Per-channel (mult, shift) from random scales, shrunk until the fast path's proof holds."""
    bounds = dsp.acc_bounds(w2d, bias, in_offset)
    mults, shifts = [], []
    for bd in bounds:
        real = float(np.exp(rng.uniform(np.log(1e-4), np.log(0.05))))
        for _ in range(max_tries):
            m, s = quant.quantize_multiplier(real)
            if dsp.fast_requant_ok(int(bd), m, s, out_offset):
                break
            real /= 4
        mults.append(m)
        shifts.append(s)
    return np.array(mults, np.int32), np.array(shifts, np.int32)


def _act(rng, out_offset):
    if rng.random() < 0.5:
        return -128, 127
    lo = max(-128, out_offset)
    return lo, int(rng.integers(lo, 128))


def pointwise_case(rng, batch_port, batch_dsp):
    pixels = int(rng.integers(1, 8))
    in_c = int(rng.choice([4, 8, 12, 16, 24, 32, 48, 96])) if rng.random() < 0.9 else int(rng.choice([480, 512]))
    out_c = int(rng.integers(1, 12))
    x = rng.integers(-128, 128, (pixels, in_c), dtype=np.int8)
    if rng.random() < 0.2:
        x[:] = rng.choice([-128, 127])
    w = rng.integers(-128, 128, (out_c, in_c), dtype=np.int8)
    bias = rng.integers(-(1 << 15), 1 << 15, out_c).astype(np.int32)
    in_offset, out_offset = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
    mult, shift = _requant_params(rng, w, bias, in_offset, out_offset)
    assert all(dsp.fast_requant_ok(int(b), int(m), int(s), out_offset)
               for b, m, s in zip(dsp.acc_bounds(w, bias, in_offset), mult, shift))
    act_min, act_max = _act(rng, out_offset)
    conv = dict(in_h=pixels, in_w=1, in_c=in_c, out_h=pixels, out_w=1, out_c=out_c, k_h=1, k_w=1, stride_h=1,
                stride_w=1, dil_h=1, dil_w=1, pad_top=0, pad_left=0, depth_multiplier=1, in_offset=in_offset,
                out_offset=out_offset, act_min=act_min, act_max=act_max)
    dh.add(batch_port, "conv_1x1", kh.struct_values("te_conv_params", conv), [x, w, bias, mult, shift],
           np.int8, (pixels, out_c))
    rq = dsp.rq_table_m1(mult, shift, bias, out_c)
    dh.add(batch_dsp, "pw_dsp", [pixels, in_c, out_c, in_offset, out_offset, act_min, act_max],
           [x, dsp.as_words(dsp.pack_pointwise(w)), rq], np.int8, (pixels, out_c))


def _window(rng, size, k, stride):
    if rng.random() < 0.5:  # VALID
        return (size - k) // stride + 1, 0
    out = -(-size // stride)  # SAME
    return out, max((out - 1) * stride + k - size, 0) // 2


def depthwise_case(rng, batch_port, batch_dsp, hwc=False):
    while True:
        k_h = int(rng.choice([1, 2, 3, 4, 5, 7]))
        k_w = k_h if not hwc or rng.random() < 0.7 else int(rng.choice([1, 3, 5]))
        s_h, s_w = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        in_h, in_w, c = int(rng.integers(1, 12)), int(rng.integers(1, 12)), int(rng.integers(1, 10))
        if hwc:
            c = 4 * int(rng.integers(1, 4))
        out_h, pad_top = _window(rng, in_h, k_h, s_h)
        out_w, pad_left = _window(rng, in_w, k_w, s_w)
        if out_h >= 1 and out_w >= 1:
            break
    x = rng.integers(-128, 128, (in_h, in_w, c), dtype=np.int8)
    w = rng.integers(-128, 128, (k_h, k_w, c), dtype=np.int8)
    bias = rng.integers(-(1 << 15), 1 << 15, c).astype(np.int32)
    in_offset, out_offset = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
    w2d = np.ascontiguousarray(w.reshape(k_h * k_w, c).T)
    mult, shift = _requant_params(rng, w2d, bias, in_offset, out_offset)
    act_min, act_max = _act(rng, out_offset)
    conv = dict(in_h=in_h, in_w=in_w, in_c=c, out_h=out_h, out_w=out_w, out_c=c, k_h=k_h, k_w=k_w, stride_h=s_h,
                stride_w=s_w, dil_h=1, dil_w=1, pad_top=pad_top, pad_left=pad_left, depth_multiplier=1,
                in_offset=in_offset, out_offset=out_offset, act_min=act_min, act_max=act_max)
    dh.add(batch_port, "dwconv", kh.struct_values("te_conv_params", conv), [x, w, bias, mult, shift],
           np.int8, (out_h, out_w, c))
    rq = dsp.rq_table(mult, shift, bias, c)
    if hwc:
        dh.add(batch_dsp, "dw_hwc_dsp", kh.struct_values("te_conv_params", conv), [x, w, rq], np.int8, (out_h, out_w, c))
        return
    assert dsp.dw_fits(conv)
    dh.add(batch_dsp, "dw_dsp", [in_h, in_w, c, out_h, out_w, k_h, k_w, s_h, s_w, pad_top, pad_left,
                                 dsp.dw_pad_right(conv), in_offset, out_offset, act_min, act_max],
           [x, np.ascontiguousarray(w2d), rq], np.int8, (out_h, out_w, c))


def conv_case(rng, batch_port, batch_dsp):
    while True:
        k_h, k_w = int(rng.choice([1, 2, 3, 5])), int(rng.choice([1, 3, 5]))
        s_h, s_w = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        in_h, in_w, in_c = int(rng.integers(1, 10)), int(rng.integers(1, 10)), int(rng.integers(1, 6))
        out_h, pad_top = _window(rng, in_h, k_h, s_h)
        out_w, pad_left = _window(rng, in_w, k_w, s_w)
        if out_h >= 1 and out_w >= 1 and k_h * k_w * in_c <= dsp.CONV_MAX_K:
            break
    out_c = int(rng.integers(1, 10))
    x = rng.integers(-128, 128, (in_h, in_w, in_c), dtype=np.int8)
    w = rng.integers(-128, 128, (out_c, k_h, k_w, in_c), dtype=np.int8)
    bias = rng.integers(-(1 << 15), 1 << 15, out_c).astype(np.int32)
    in_offset, out_offset = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
    mult, shift = _requant_params(rng, w.reshape(out_c, -1), bias, in_offset, out_offset)
    act_min, act_max = _act(rng, out_offset)
    conv = dict(in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c, k_h=k_h, k_w=k_w,
                stride_h=s_h, stride_w=s_w, dil_h=1, dil_w=1, pad_top=pad_top, pad_left=pad_left,
                depth_multiplier=1, in_offset=in_offset, out_offset=out_offset, act_min=act_min, act_max=act_max)
    params = kh.struct_values("te_conv_params", conv)
    dh.add(batch_port, "conv", params, [x, w, bias, mult, shift], np.int8, (out_h, out_w, out_c))
    rq = dsp.rq_table(mult, shift, bias, out_c)
    dh.add(batch_dsp, "conv_dsp", params, [x, dsp.pack_conv_pairs(w), rq], np.int8, (out_h, out_w, out_c))


def fc_case(rng, batch_port, batch_dsp):
    batches, in_n, out_n = int(rng.integers(1, 3)), 4 * int(rng.integers(1, 60)), int(rng.integers(1, 12))
    x = rng.integers(-128, 128, (batches, in_n), dtype=np.int8)
    w = rng.integers(-128, 128, (out_n, in_n), dtype=np.int8)
    bias = rng.integers(-(1 << 15), 1 << 15, out_n).astype(np.int32)
    per_channel = int(rng.random() < 0.5)
    scale = np.exp(rng.uniform(np.log(1e-5), np.log(1e-2), out_n if per_channel else 1)).astype(np.float64)
    if rng.random() < 0.3:  # exact ties: acc * scale lands on k + 0.5
        scale[:] = 0.5 ** int(rng.integers(8, 14))
    out_offset = int(rng.integers(-128, 128))
    act_min, act_max = _act(rng, out_offset)
    params = [batches, in_n, out_n, int(rng.integers(-127, 129)), out_offset, act_min, act_max, per_channel]
    dh.add(batch_port, "fc_dscale", params, [x, w, bias, scale], np.int8, (batches, out_n))
    dh.add(batch_dsp, "fc_dsp", params, [x, dsp.as_words(w.reshape(-1)), bias, scale], np.int8, (batches, out_n))


def add_case(rng, batch_port, batch_dsp):
    while True:
        s1, s2, so = (float(np.exp(rng.uniform(np.log(0.005), np.log(0.2)))) for _ in range(3))
        zp1, zp2, zpo = (int(rng.integers(-128, 128)) for _ in range(3))
        act = str(rng.choice(["NONE", "RELU", "RELU6"]))
        n = int(rng.integers(1, 200))
        params = quant.add_params(s1, zp1, s2, zp2, so, zpo, act, n=n)
        if dsp.add_fast_ok(params):
            break
    x1 = rng.integers(-128, 128, n, dtype=np.int8)
    x2 = rng.integers(-128, 128, n, dtype=np.int8)
    values = kh.struct_values("te_add_params", params)
    dh.add(batch_port, "add", values, [x1, x2], np.int8, (n,))
    dh.add(batch_dsp, "add_dsp", values, [x1, x2], np.int8, (n,))


def depthwise_hwc_case(rng, batch_port, batch_dsp):
    depthwise_case(rng, batch_port, batch_dsp, hwc=True)


def quantize_case(rng, batch_port, batch_dsp):
    n = int(rng.integers(1, 300))
    scale = float(np.float32(np.exp(rng.uniform(np.log(1e-3), np.log(0.1)))))
    zp = int(rng.integers(-128, 128))
    x = (rng.uniform(-200, 200, n) * scale).astype(np.float32)
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 4096 * scale, -4096 * scale, 4095.5 * scale,
                        -4095.5 * scale, 0.5 * scale, -0.5 * scale, 2.5 * scale, -2.5 * scale, 1e30, -1e30],
                       np.float32)
    x = np.concatenate([x, special, (np.round(x / scale) + 0.5).astype(np.float32) * np.float32(scale)])
    buf = [np.array([scale], np.float64), x]
    dh.add(batch_port, "quant", [x.size, zp], buf, np.int8, (x.size,))
    dh.add(batch_dsp, "quant_dsp", [x.size, zp], buf, np.int8, (x.size,))


CASES = {"quantize": quantize_case, "pointwise": pointwise_case, "depthwise": depthwise_case, "depthwise_hwc": depthwise_hwc_case, "conv": conv_case, "fc": fc_case, "add": add_case}


def _batches(kind, n, seed):
    rng = np.random.default_rng(seed)
    port, fast = kh.Batch(), kh.Batch()
    for _ in range(n):
        CASES[kind](rng, port, fast)
    return port, fast


def _check(kind, n, seed, host_drivers, tmp_path_factory, targets):
    port, fast = _batches(kind, n, seed)
    dh.compare(port, fast, host_drivers, lambda t: arm_driver(tmp_path_factory, t), targets, kind)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_dsp_kernel_matches_portable(kind, host_drivers, tmp_path_factory):
    _check(kind, 30, seed=11, host_drivers=host_drivers, tmp_path_factory=tmp_path_factory,
           targets=["cortex-m4", "cortex-m7"])


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(CASES))
@pytest.mark.parametrize("seed", range(5))
def test_dsp_kernel_matches_portable_sweep(kind, seed, host_drivers, tmp_path_factory):
    _check(kind, 200, seed=100 + seed, host_drivers=host_drivers, tmp_path_factory=tmp_path_factory,
           targets=["cortex-m4", "cortex-m7", "cortex-m33"])


# ---------------------------------------------------------------------------------------------
# in-place safety of the channel-major depthwise kernel


def _dw_order_run(mem, p, in_off, out_off, w):
    """Python model of te_depthwise_conv2d_s8_dsp's memory order on a shared arena (mixing function
    instead of requantization: only the order of reads and writes matters here)."""
    c, in_h, in_w = p["in_c"], p["in_h"], p["in_w"]
    k_h, k_w, s_h, s_w = p["k_h"], p["k_w"], p["stride_h"], p["stride_w"]
    pw = p["pad_left"] + in_w + dsp.dw_pad_right(p) + 1
    for ch in range(c):
        ring, loaded = {}, -1
        for oy in range(p["out_h"]):
            for ky in range(k_h):
                prow = oy * s_h + ky
                if prow > loaded:
                    iy = prow - p["pad_top"]
                    row = np.zeros(pw, np.int64)
                    if 0 <= iy < in_h:
                        for ix in range(in_w):
                            row[p["pad_left"] + ix] = mem[in_off + (iy * in_w + ix) * c + ch]
                    ring[prow % k_h], loaded = row, prow
            for ox in range(p["out_w"]):
                acc = 0
                for ky in range(k_h):
                    row = ring[(oy * s_h + ky) % k_h]
                    acc += int(np.dot(row[ox * s_w: ox * s_w + k_w], w[ky]))
                mem[out_off + (oy * p["out_w"] + ox) * c + ch] = (acc * 2654435761) % 251


def test_channel_major_depthwise_overlap_check_is_exact():
    rng = np.random.default_rng(5)
    accepted = rejected = 0
    for _ in range(60):
        k, s = int(rng.choice([3, 5])), int(rng.choice([1, 2]))
        in_h = in_w = int(rng.integers(3, 8))
        c = int(rng.integers(1, 4))
        out_h, pad = _window(rng, in_h, k, s)
        if out_h < 1:
            continue
        p = dict(in_h=in_h, in_w=in_w, in_c=c, out_h=out_h, out_w=out_h, k_h=k, k_w=k, stride_h=s, stride_w=s,
                 pad_top=pad, pad_left=pad)
        w = rng.integers(-3, 4, (k, k))
        in_bytes, out_bytes = in_h * in_w * c, out_h * out_h * c
        x = rng.integers(0, 256, in_bytes)
        ref = np.zeros(in_bytes + out_bytes, np.int64)
        ref[:in_bytes] = x
        _dw_order_run(ref, p, 0, in_bytes, w)
        expected = ref[in_bytes:].copy()
        for delta in range(-out_bytes, in_bytes + 1, max(1, c)):
            lo = min(0, delta)
            mem = np.zeros(max(in_bytes, delta + out_bytes) - lo, np.int64)
            mem[-lo: -lo + in_bytes] = x
            ok = dsp.dw_channel_major_safe(p, -lo, delta - lo)
            _dw_order_run(mem, p, -lo, delta - lo, w)
            same = np.array_equal(mem[delta - lo: delta - lo + out_bytes], expected)
            if ok:
                assert same, (p, delta)
                accepted += 1
            else:
                rejected += 1
    assert accepted > 50 and rejected > 50
