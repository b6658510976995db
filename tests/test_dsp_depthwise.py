"""te_depthwise_conv2d_s8_rows_dsp (two outputs per step, k in {3, 5, 7}, stride 1 or 2) and
te_depthwise_conv2d_s8_cg_dsp (small planes, group of 4 channels by group): byte-identical with the portable
depthwise kernel (itself LiteRT-exact) on random shapes (every band for the rows kernel), on the host
(exact C models of the DSP instructions, plain and ASan+UBSan) and under QEMU (real instructions); and the
rows kernel's in-place check (dw_rows_safe) only accepts placements where its order gives the right bytes.
A small sample runs by default; ``-m slow`` runs the sweep.
"""

import numpy as np
import pytest

from tinyengine_tvm.codegen import dsp

from . import dsp_harness as dh
from . import kernel_harness as kh
from .test_dsp import _requant_params, _window, arm_driver


@pytest.fixture(scope="module")
def host_drivers(tmp_path_factory):
    d = tmp_path_factory.mktemp("dsp_dw_host")
    return dh.build_host(d, sanitize=False), dh.build_host(d, sanitize=True)


def rows_case(rng, batch_port, batch_dsp, wide=False):
    while True:
        k, s = int(rng.choice(dsp.DW_ROWS_K)), int(rng.choice([1, 2]))
        in_h = int(rng.integers(1, 12))
        in_w = int(rng.integers(1, 12)) if not wide else int(rng.integers(30, 90))
        c = 2 * int(rng.integers(1, 4))
        out_h, pad_top = _window(rng, in_h, k, s)
        out_w, pad_left = _window(rng, in_w, k, s)
        if rng.random() < 0.15:  # asymmetric / oversized padding
            pad_left = int(rng.integers(0, k))
            out_w = (in_w + pad_left + int(rng.integers(0, k)) - k) // s + 1
        p = dict(in_h=in_h, in_w=in_w, in_c=c, out_h=out_h, out_w=out_w, k_h=k, k_w=k, stride_h=s, stride_w=s,
                 pad_top=pad_top, pad_left=pad_left, act_min=-128, act_max=127)
        if out_h >= 1 and out_w >= 1 and dsp.dw_rows_applies(p):
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
    dh.add(batch_port, "dwconv", kh.struct_values("te_conv_params", conv), [x, w, bias, mult, shift],
           np.int8, (out_h, out_w, c))
    band = out_h if rng.random() < 0.5 else int(rng.integers(1, out_h + 1))
    dh.add(batch_dsp, "dw_rows_dsp", [in_h, in_w, c, out_h, out_w, k, k, s, s, pad_top, pad_left,
                                      dsp.dw_pad_right(conv), in_offset, out_offset, -128, 127, band],
           [x, w2d, dsp.rq_table(mult, shift, bias, c)], np.int8, (out_h, out_w, c))


def cg_case(rng, batch_port, batch_dsp, wide=False):
    del wide
    while True:
        k_h, k_w = int(rng.integers(1, 9)), int(rng.integers(1, 9))
        s_h, s_w = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        in_h, in_w, c = int(rng.integers(1, 11)), int(rng.integers(1, 11)), 4 * int(rng.integers(1, 4))
        out_h, pad_top = _window(rng, in_h, k_h, s_h)
        out_w, pad_left = _window(rng, in_w, k_w, s_w)
        if out_h >= 1 and out_w >= 1 and out_h * out_w <= dsp.DW_CG_PIXELS and k_h * k_w <= dsp.DW_CG_TAPS:
            break
    x = rng.integers(-128, 128, (in_h, in_w, c), dtype=np.int8)
    w = rng.integers(-128, 128, (k_h, k_w, c), dtype=np.int8)
    if rng.random() < 0.2:
        x[:] = rng.choice([-128, 127])
        w[:] = rng.choice([-128, 127])
    bias = rng.integers(-(1 << 15), 1 << 15, c).astype(np.int32)
    in_offset, out_offset = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
    w2d = np.ascontiguousarray(w.reshape(k_h * k_w, c).T)
    mult, shift = _requant_params(rng, w2d, bias, in_offset, out_offset)
    conv = dict(in_h=in_h, in_w=in_w, in_c=c, out_h=out_h, out_w=out_w, out_c=c, k_h=k_h, k_w=k_w, stride_h=s_h,
                stride_w=s_w, dil_h=1, dil_w=1, pad_top=pad_top, pad_left=pad_left, depth_multiplier=1,
                in_offset=in_offset, out_offset=out_offset, act_min=-128, act_max=127)
    values = kh.struct_values("te_conv_params", conv)
    dh.add(batch_port, "dwconv", values, [x, w, bias, mult, shift], np.int8, (out_h, out_w, c))
    dh.add(batch_dsp, "dw_cg_dsp", values, [x, w, dsp.rq_table(mult, shift, bias, c)], np.int8, (out_h, out_w, c))


def _check(n, seed, host_drivers, tmp_path_factory, targets, wide_every=5, case=rows_case):
    rng = np.random.default_rng(seed)
    port, fast = kh.Batch(), kh.Batch()
    for i in range(n):
        case(rng, port, fast, wide=i % wide_every == wide_every - 1)
    expected = dh.run(host_drivers[0], port)
    for exe in host_drivers:
        for i, (g, e) in enumerate(zip(dh.run(exe, fast), expected)):
            assert g.tobytes() == e.tobytes(), f"case {i} on host ({exe.name})"
    for t in targets:
        exe = arm_driver(tmp_path_factory, t)
        for i, (g, e) in enumerate(zip(dh.run(exe, fast, t), expected)):
            assert g.tobytes() == e.tobytes(), f"case {i} on {t}"


def test_rows_kernel_matches_portable(host_drivers, tmp_path_factory):
    _check(40, 21, host_drivers, tmp_path_factory, ["cortex-m4", "cortex-m7"])


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_rows_kernel_matches_portable_sweep(seed, host_drivers, tmp_path_factory):
    _check(200, 300 + seed, host_drivers, tmp_path_factory, ["cortex-m4", "cortex-m7", "cortex-m33"])


def test_cg_kernel_matches_portable(host_drivers, tmp_path_factory):
    _check(40, 23, host_drivers, tmp_path_factory, ["cortex-m4", "cortex-m7"], case=cg_case)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_cg_kernel_matches_portable_sweep(seed, host_drivers, tmp_path_factory):
    _check(200, 400 + seed, host_drivers, tmp_path_factory, ["cortex-m4", "cortex-m7", "cortex-m33"], case=cg_case)


def _rows_order_run(mem, p, in_off, out_off, w, band):
    """Python model of te_depthwise_conv2d_s8_rows_dsp's memory order on a shared arena (a mixing
    function instead of requantization: only the order of reads and writes matters)."""
    c, in_h, in_w, k, s = p["in_c"], p["in_h"], p["in_w"], p["k_h"], p["stride_h"]
    width = max(in_w + p["pad_left"], (p["out_w"] - 1) * s + k)
    for b0 in range(0, p["out_h"], band):
        for ch0 in range(0, c, 2):
            ring, nxt = {}, b0 * s
            for oy in range(b0, min(b0 + band, p["out_h"])):
                for pr in range(max(nxt, oy * s), oy * s + k):
                    for ch in (ch0, ch0 + 1):
                        row = np.zeros(width, np.int64)
                        iy = pr - p["pad_top"]
                        if 0 <= iy < in_h:
                            for ix in range(in_w):
                                row[p["pad_left"] + ix] = mem[in_off + (iy * in_w + ix) * c + ch]
                        ring[ch, pr % k] = row
                nxt = oy * s + k
                for ch in (ch0, ch0 + 1):
                    for ox in range(p["out_w"]):
                        acc = sum(int(np.dot(ring[ch, (oy * s + ky) % k][ox * s: ox * s + k], w[ky]))
                                  for ky in range(k))
                        mem[out_off + (oy * p["out_w"] + ox) * c + ch] = (acc * 2654435761) % 251


def test_rows_overlap_check_accepts_only_correct_placements():
    rng = np.random.default_rng(7)
    accepted = rejected = 0
    for _ in range(40):
        k, s = int(rng.choice([3, 5])), int(rng.choice([1, 2]))
        in_h = in_w = int(rng.integers(3, 8))
        c = 2 * int(rng.integers(1, 3))
        out_h, pad = _window(rng, in_h, k, s)
        if out_h < 1:
            continue
        p = dict(in_h=in_h, in_w=in_w, in_c=c, out_h=out_h, out_w=out_h, k_h=k, k_w=k, stride_h=s, stride_w=s,
                 pad_top=pad, pad_left=pad)
        band = int(rng.integers(1, out_h + 1))
        w = rng.integers(-3, 4, (k, k))
        in_bytes, out_bytes = in_h * in_w * c, out_h * out_h * c
        x = rng.integers(0, 256, in_bytes)
        ref = np.zeros(in_bytes + out_bytes, np.int64)
        ref[:in_bytes] = x
        _rows_order_run(ref, p, 0, in_bytes, w, band)
        expected = ref[in_bytes:].copy()
        for delta in range(-out_bytes, in_bytes + 1, max(1, c)):
            lo = min(0, delta)
            mem = np.zeros(max(in_bytes, delta + out_bytes) - lo, np.int64)
            mem[-lo: -lo + in_bytes] = x
            ok = dsp.dw_rows_safe(p, -lo, delta - lo, band)
            _rows_order_run(mem, p, -lo, delta - lo, w, band)
            same = np.array_equal(mem[delta - lo: delta - lo + out_bytes], expected)
            if ok:
                assert same, (p, band, delta)
                accepted += 1
            else:
                rejected += 1
    assert accepted > 30 and rejected > 30


def test_rows_kernel_in_place_where_the_check_allows(host_drivers, tmp_path_factory):
    """The real kernel, input and output in one buffer at every offset dw_rows_safe accepts (overlapping
    ones included), gives the portable kernel's bytes (host under ASan, and QEMU)."""
    rng = np.random.default_rng(17)
    port, shared = kh.Batch(), kh.Batch()
    overlapping = 0
    for _ in range(12):
        k, s = int(rng.choice(dsp.DW_ROWS_K)), int(rng.choice([1, 2]))
        in_h, in_w, c = int(rng.integers(3, 9)), int(rng.integers(3, 9)), 2 * int(rng.integers(1, 3))
        out_h, pad = _window(rng, in_h, k, s)
        out_w, pad_left = _window(rng, in_w, k, s)
        if out_h < 1 or out_w < 1:
            continue
        p = dict(in_h=in_h, in_w=in_w, in_c=c, out_h=out_h, out_w=out_w, k_h=k, k_w=k, stride_h=s, stride_w=s,
                 pad_top=pad, pad_left=pad_left, act_min=-128, act_max=127)
        x = rng.integers(-128, 128, (in_h, in_w, c), dtype=np.int8)
        w = rng.integers(-128, 128, (k, k, c), dtype=np.int8)
        bias = rng.integers(-(1 << 15), 1 << 15, c).astype(np.int32)
        in_offset, out_offset = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
        w2d = np.ascontiguousarray(w.reshape(k * k, c).T)
        mult, shift = _requant_params(rng, w2d, bias, in_offset, out_offset)
        conv = dict(p, out_c=c, dil_h=1, dil_w=1, depth_multiplier=1, in_offset=in_offset, out_offset=out_offset)
        in_bytes, out_bytes = in_h * in_w * c, out_h * out_w * c
        band = int(rng.integers(1, out_h + 1))
        for delta in range(-out_bytes, in_bytes + 1):
            lo = min(0, delta)
            in_off, out_off = -lo, delta - lo
            if not dsp.dw_rows_safe(p, in_off, out_off, band):
                continue
            overlapping += in_off < out_off + out_bytes and out_off < in_off + in_bytes
            size = max(in_off + in_bytes, out_off + out_bytes)
            dh.add(port, "dwconv", kh.struct_values("te_conv_params", conv), [x, w, bias, mult, shift],
                   np.int8, (out_h, out_w, c))
            dh.add(shared, "dw_rows_shared", [in_h, in_w, c, out_h, out_w, k, k, s, s, pad, pad_left,
                                              dsp.dw_pad_right(conv), in_offset, out_offset, -128, 127, band,
                                              in_off, out_off, size],
                   [x, w2d, dsp.rq_table(mult, shift, bias, c)], np.int8, (out_h, out_w, c))
    assert overlapping > 20
    expected = dh.run(host_drivers[0], port)
    for exe in host_drivers:
        for i, (g, e) in enumerate(zip(dh.run(exe, shared), expected)):
            assert g.tobytes() == e.tobytes(), f"case {i} on host ({exe.name})"
    for t in ["cortex-m7"]:
        exe = arm_driver(tmp_path_factory, t)
        for i, (g, e) in enumerate(zip(dh.run(exe, shared, t), expected)):
            assert g.tobytes() == e.tobytes(), f"case {i} on {t}"
