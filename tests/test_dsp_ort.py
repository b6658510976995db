"""DSP kernels in onnxruntime mode (TE_SINGLE_ROUNDING: graphs from ONNX / PyTorch): the same int32
accumulation as the TFLite-mode kernels, onnxruntime's float32 requantization
nearbyint((float)acc * scale) (te_dsp.h rq_f32: VCVT.F32.S32, VMUL.F32, VCVTR.S32.F32 on the FPU).

Each kernel is compared with the portable kernel of the same TE_SINGLE_ROUNDING build (te_requantize's
float path) on random shapes, with scales that put many products exactly on a tie (powers of two), and
scales up to the proven bound (dsp.ort_requant_ok) so most outputs saturate: on the host (exact C models,
plain and ASan+UBSan) and under QEMU with the real instructions. A small sample runs by default,
``-m slow`` sweeps."""

import numpy as np
import pytest

from tinyengine_tvm.codegen import dsp, quant

from . import dsp_harness as dh
from . import kernel_harness as kh
from .mcu_tools import require_arm_tools
from .test_dsp_conv import _cases, _window

TARGETS = ["cortex-m4", "cortex-m7"]
SLOW_TARGETS = ["cortex-m4", "cortex-m7", "cortex-m33"]


@pytest.fixture(scope="module")
def host_drivers(tmp_path_factory):
    d = tmp_path_factory.mktemp("dsp_ort_host")
    return (dh.build_host(d, sanitize=False, single_rounding=True),
            dh.build_host(d, sanitize=True, single_rounding=True))


_ARM = {}


def arm_driver(tmp_path_factory, target):
    require_arm_tools()
    if target not in _ARM:
        _ARM[target] = dh.build_arm(tmp_path_factory.mktemp("dsp_ort_arm"), target, single_rounding=True)
    return _ARM[target]


def _check(port, fast, host_drivers, tmp_path_factory, targets, what):
    dh.compare(port, fast, host_drivers, lambda t: arm_driver(tmp_path_factory, t), targets, what)


# ---------------------------------------------------------------------------------------------
# the compile-time conditions


def test_ort_requant_ok_conditions():
    assert dsp.ort_requant_ok(1 << 20, np.float32(1e-3))
    assert dsp.ort_requant_ok(1 << 20, np.float32(0.0))
    assert not dsp.ort_requant_ok(1 << 30, np.float32(1e-12))            # 2 acc overflows int32
    assert not dsp.ort_requant_ok(1 << 20, np.float32(2.0 ** 9))         # |acc| * scale reaches 2^29
    assert dsp.ort_requant_ok(1 << 20, np.float32(2.0 ** 8 * 0.999))
    assert not dsp.ort_requant_ok(10, np.float32(np.inf))
    assert not dsp.ort_requant_ok(10, np.float32(np.nan))
    sub = np.array([1], np.int32).view(np.float32)[0]                   # smallest subnormal: / 2 is inexact
    assert not dsp.ort_requant_ok(10, sub)
    assert dsp.ort_requant_ok(10, np.array([2], np.int32).view(np.float32)[0])


def test_rq_table_f32_layout():
    t = dsp.rq_table_f32(np.array([0.5, 3e-4], np.float32), np.array([-7, 100]), 2)
    assert list(t[0::2]) == [(-14) << 8, 200 << 8]
    np.testing.assert_array_equal(t[1::2].view(np.float32), np.array([0.25, 1.5e-4], np.float32))
    assert dsp.rq_table_f32(np.float32(0.1), None, 3)[1::2].view(np.float32).tolist() == [np.float32(0.05)] * 3
    assert dsp.rq_table_f32(np.float32(0.1), np.array([1 << 22]), 1) is None  # 2 * bias needs 24 bits


# ---------------------------------------------------------------------------------------------
# kernels


def _scales(rng, w2d, bias, in_offset):
    """Per-channel float32 scales: log-uniform, powers of two (exact ties), or near the proven bound
    (almost every output saturates); each passes dsp.ort_requant_ok."""
    bounds = dsp.acc_bounds(w2d, bias, in_offset)
    out = []
    for bd in bounds:
        u = rng.random()
        if u < 0.3:
            s = np.float32(2.0 ** -int(rng.integers(1, 12)))
        elif u < 0.45:
            s = np.float32(dsp.ORT_V_BOUND / max(int(bd), 1) * rng.uniform(0.5, 0.99))
        elif u < 0.5:
            s = np.float32(rng.uniform(1e-9, 1e-7))
        else:
            s = np.float32(np.exp(rng.uniform(np.log(1e-5), np.log(0.05))))
        while not dsp.ort_requant_ok(int(bd), s):
            s = np.float32(s / 4)
        out.append(s)
    return np.array(out, np.float32)


def _ortables(fs):
    """The portable kernel's (mult, shift) arrays in a TE_SINGLE_ROUNDING build: the scales' bits, zeros."""
    bits = quant.f32_bits(fs)
    return bits, np.zeros_like(bits)


def _data(rng, shape):
    x = rng.integers(-128, 128, shape, dtype=np.int8)
    if rng.random() < 0.2:
        x[:] = rng.choice([-128, 127])
    return x


def _pw_case(rng, port, fast):
    """te_conv2d_1x1_s8_dsp / _nc_dsp / _ic<N>_dsp: pixel blocks of 4, pairs and a last pixel, in_c on both
    sides of the 4-pixel limit, with and without a clamp."""
    pixels = int(rng.integers(1, 14))
    small = rng.random() < 0.3
    in_c = int(rng.choice(dsp.PW_SMALL_IN_C)) if small else int(
        rng.choice([4, 8, 40, 48, 96, 120, 144, 240, 252, 256, 260, 288, 480, 512]))
    out_c = 2 * int(rng.integers(1, 7)) if small else int(rng.integers(1, 14))
    x, w = _data(rng, (pixels, in_c)), _data(rng, (out_c, in_c))
    bias = rng.integers(-(1 << 15), 1 << 15, out_c).astype(np.int32)
    in_offset, out_offset = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
    fs = _scales(rng, w, bias, in_offset)
    if small or rng.random() < 0.5:
        act_min, act_max = -128, 127
    else:
        act_min = max(-128, out_offset)
        act_max = int(rng.integers(act_min, 128))
    conv = dict(in_h=pixels, in_w=1, in_c=in_c, out_h=pixels, out_w=1, out_c=out_c, k_h=1, k_w=1, stride_h=1,
                stride_w=1, dil_h=1, dil_w=1, pad_top=0, pad_left=0, depth_multiplier=1, in_offset=in_offset,
                out_offset=out_offset, act_min=act_min, act_max=act_max)
    mult, shift = _ortables(fs)
    dh.add(port, "conv_1x1", kh.struct_values("te_conv_params", conv), [x, w, bias, mult, shift], np.int8,
           (pixels, out_c))
    if small:
        fn = "pw_small_dsp"
    else:
        fn = "pw_nc_dsp" if act_min == -128 and act_max == 127 and rng.random() < 0.5 else "pw_dsp"
    dh.add(fast, fn, [pixels, in_c, out_c, in_offset, out_offset, act_min, act_max],
           [x, dsp.as_words(dsp.pack_pointwise(w)), dsp.rq_table_f32(fs, bias, out_c)], np.int8, (pixels, out_c))


def _conv_case(rng, port, fast):
    """te_conv2d_s8_dsp (any shape, clamps) and te_conv2d_s8_k<KH>s<SPAN>_dsp (first layers)."""
    kw_form = rng.random() < 0.5
    while True:
        if kw_form:
            k_h, span = dsp.CONV_KS[int(rng.integers(len(dsp.CONV_KS)))]
            k_w = int(rng.choice([d for d in range(1, span + 1) if span % d == 0]))
            in_c = span // k_w
        else:
            k_h, k_w, in_c = int(rng.choice([1, 2, 3, 5])), int(rng.choice([1, 3, 5])), int(rng.integers(1, 6))
        s_h, s_w = int(rng.integers(1, 3)), int(rng.integers(1, 3))
        in_h, in_w = int(rng.integers(1, 12)), int(rng.integers(1, 12))
        out_h, pad_top = _window(rng, in_h, k_h, s_h)
        out_w, pad_left = _window(rng, in_w, k_w, s_w)
        ok = dsp.conv_kw(dict(k_h=k_h, k_w=k_w, in_c=in_c)) is not None if kw_form else k_h * k_w * in_c <= dsp.CONV_MAX_K
        if out_h >= 1 and out_w >= 1 and ok:
            break
    out_c = 2 * int(rng.integers(1, 6)) if kw_form else int(rng.integers(1, 10))
    x, w = _data(rng, (in_h, in_w, in_c)), _data(rng, (out_c, k_h, k_w, in_c))
    bias = rng.integers(-(1 << 15), 1 << 15, out_c).astype(np.int32)
    in_offset, out_offset = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
    fs = _scales(rng, w.reshape(out_c, -1), bias, in_offset)
    if kw_form or rng.random() < 0.5:
        act_min, act_max = -128, 127
    else:
        act_min = max(-128, out_offset)
        act_max = int(rng.integers(act_min, 128))
    conv = dict(in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c, k_h=k_h, k_w=k_w,
                stride_h=s_h, stride_w=s_w, dil_h=1, dil_w=1, pad_top=pad_top, pad_left=pad_left,
                depth_multiplier=1, in_offset=in_offset, out_offset=out_offset, act_min=act_min, act_max=act_max)
    params = kh.struct_values("te_conv_params", conv)
    mult, shift = _ortables(fs)
    dh.add(port, "conv", params, [x, w, bias, mult, shift], np.int8, (out_h, out_w, out_c))
    rq = dsp.rq_table_f32(fs, bias, out_c)
    if kw_form:
        dh.add(fast, "conv_kw_dsp", params, [x, dsp.pack_conv_kw(w, conv, dsp.conv_kw(conv)), rq], np.int8,
               (out_h, out_w, out_c))
    else:
        dh.add(fast, "conv_dsp", params, [x, dsp.pack_conv_pairs(w), rq], np.int8, (out_h, out_w, out_c))


def _dw_case(rng, port, fast):
    """The four depthwise kernels: rows (k 3/5/7, stride 1/2, every band), cg (small planes), hwc (4 channels per
    step, clamps) and channel-major (ring of widened rows, clamps)."""
    kind = str(rng.choice(["rows", "cg", "hwc", "cm"]))
    clamps = kind in ("hwc", "cm")
    while True:
        if kind == "rows":
            k_h = k_w = int(rng.choice(dsp.DW_ROWS_K))
            s_h = s_w = int(rng.choice([1, 2]))
            c = 2 * int(rng.integers(1, 4))
        elif kind == "cg":
            k_h, k_w = int(rng.integers(1, 9)), int(rng.integers(1, 9))
            s_h, s_w = int(rng.integers(1, 4)), int(rng.integers(1, 4))
            c = 4 * int(rng.integers(1, 4))
        elif kind == "hwc":
            k_h = int(rng.choice([1, 2, 3, 5, 7]))
            k_w = k_h if rng.random() < 0.7 else int(rng.choice([1, 3, 5]))
            s_h, s_w = int(rng.integers(1, 4)), int(rng.integers(1, 4))
            c = 4 * int(rng.integers(1, 4))
        else:
            k_h = k_w = int(rng.choice([1, 2, 3, 4, 5, 7]))
            s_h, s_w = int(rng.integers(1, 4)), int(rng.integers(1, 4))
            c = int(rng.integers(1, 10))
        in_h, in_w = int(rng.integers(1, 12)), int(rng.integers(1, 12))
        out_h, pad_top = _window(rng, in_h, k_h, s_h)
        out_w, pad_left = _window(rng, in_w, k_w, s_w)
        geo = dict(in_h=in_h, in_w=in_w, in_c=c, out_h=out_h, out_w=out_w, k_h=k_h, k_w=k_w, stride_h=s_h,
                   stride_w=s_w, pad_top=pad_top, pad_left=pad_left, act_min=-128, act_max=127)
        if out_h < 1 or out_w < 1:
            continue
        if kind == "rows" and not dsp.dw_rows_applies(geo):
            continue
        if kind == "cg" and (out_h * out_w > dsp.DW_CG_PIXELS or k_h * k_w > dsp.DW_CG_TAPS):
            continue
        if kind == "cm" and not dsp.dw_fits(geo):
            continue
        break
    x, w = _data(rng, (in_h, in_w, c)), _data(rng, (k_h, k_w, c))
    bias = rng.integers(-(1 << 15), 1 << 15, c).astype(np.int32)
    in_offset, out_offset = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
    w2d = np.ascontiguousarray(w.reshape(k_h * k_w, c).T)
    fs = _scales(rng, w2d, bias, in_offset)
    act_min, act_max = -128, 127
    if clamps and rng.random() < 0.5:
        act_min = max(-128, out_offset)
        act_max = int(rng.integers(act_min, 128))
    conv = dict(geo, out_c=c, dil_h=1, dil_w=1, depth_multiplier=1, in_offset=in_offset, out_offset=out_offset,
                act_min=act_min, act_max=act_max)
    values = kh.struct_values("te_conv_params", conv)
    mult, shift = _ortables(fs)
    dh.add(port, "dwconv", values, [x, w, bias, mult, shift], np.int8, (out_h, out_w, c))
    rq = dsp.rq_table_f32(fs, bias, c)
    dw = [in_h, in_w, c, out_h, out_w, k_h, k_w, s_h, s_w, pad_top, pad_left, dsp.dw_pad_right(conv), in_offset,
          out_offset, act_min, act_max]
    if kind == "rows":
        band = out_h if rng.random() < 0.5 else int(rng.integers(1, out_h + 1))
        dh.add(fast, "dw_rows_dsp", dw + [band], [x, w2d, rq], np.int8, (out_h, out_w, c))
    elif kind == "cg":
        dh.add(fast, "dw_cg_dsp", values, [x, w, rq], np.int8, (out_h, out_w, c))
    elif kind == "hwc":
        dh.add(fast, "dw_hwc_dsp", values, [x, w, rq], np.int8, (out_h, out_w, c))
    else:
        dh.add(fast, "dw_dsp", dw, [x, w2d, rq], np.int8, (out_h, out_w, c))


def _fc_case(rng, port, fast):
    """te_fully_connected_s8_dscale_dsp of the TE_SINGLE_ROUNDING build against te_fully_connected_s8 of it: any
    in_n % 4 (beyond the TFLite kernel's 1024), odd and even out_n, per-tensor and per-channel scales, clamps."""
    batches, out_n = int(rng.integers(1, 3)), int(rng.integers(1, 12))
    in_n = 4 * int(rng.integers(1, 60)) if rng.random() < 0.8 else int(rng.choice([1028, 1280, 2048]))
    x, w = _data(rng, (batches, in_n)), _data(rng, (out_n, in_n))
    bias = rng.integers(-(1 << 15), 1 << 15, out_n).astype(np.int32)
    in_offset, out_offset = int(rng.integers(-127, 129)), int(rng.integers(-128, 128))
    per_channel = int(rng.random() < 0.5)
    fs = _scales(rng, w, bias, in_offset)
    if not per_channel:
        fs = fs[np.argmin(fs)][None]  # the smallest passes every channel's bound
    act_min, act_max = -128, 127
    if rng.random() < 0.5:
        act_min = max(-128, out_offset)
        act_max = int(rng.integers(act_min, 128))
    params = [batches, in_n, out_n, in_offset, out_offset, act_min, act_max, per_channel]
    mult, shift = _ortables(fs)
    dh.add(port, "fc", params, [x, w, bias, mult, shift], np.int8, (batches, out_n))
    dh.add(fast, "fc_dsp", params, [x, dsp.as_words(w.reshape(-1)), bias, fs.astype(np.float64)], np.int8,
           (batches, out_n))


# kind: (case builder, default cases, default seed, sweep seed base)
KINDS = {"pointwise": (_pw_case, 40, 1101, 1300), "conv": (_conv_case, 40, 1201, 1400),
         "depthwise": (_dw_case, 60, 1501, 1600), "fully connected": (_fc_case, 40, 1701, 1800)}


@pytest.mark.parametrize("kind", KINDS)
def test_ort_kernel(kind, host_drivers, tmp_path_factory):
    fn, n, seed, _ = KINDS[kind]
    port, fast = _cases(fn, n, seed)
    _check(port, fast, host_drivers, tmp_path_factory, TARGETS, f"ort {kind}")


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("kind", KINDS)
def test_ort_kernel_sweep(kind, seed, host_drivers, tmp_path_factory):
    fn, _, _, base = KINDS[kind]
    port, fast = _cases(fn, 200, base + seed)
    _check(port, fast, host_drivers, tmp_path_factory, SLOW_TARGETS, f"ort {kind}")


def test_ort_quantize_ties_and_specials(host_drivers, tmp_path_factory):
    """te_quantize_f32_s8_dsp of that build (VCVTR: ties to even, on FPv4 too) against te_quantize_f32_s8 of it
    (onnxruntime's QuantizeLinear): x / scale on and next to every tie, NaN, infinities, +-4096 and beyond."""
    from .test_dsp_conv import _quant_case

    rng = np.random.default_rng(1901)
    port, fast = kh.Batch(), kh.Batch()
    for _ in range(12):
        _quant_case(rng, port, fast)
    _check(port, fast, host_drivers, tmp_path_factory, TARGETS + ["cortex-m33"], "ort quantize")


# ---------------------------------------------------------------------------------------------
# end to end: onnxruntime's own QDQ model on a DSP core


def _kernel_calls(cm) -> str:
    import glob
    import os

    return "".join(open(f).read() for f in glob.glob(os.path.join(cm._project(), "*.c")))


@pytest.mark.parametrize("target", ["cortex-m7"])
def test_ort_qdq_mobilenet_v2_on_dsp_core(target):
    """onnxruntime's QDQ MobileNetV2 (PyTorch export, quantize_static) compiled for a DSP core: the DSP
    kernels run its convolutions and the bytes under QEMU are onnxruntime's (and the host build's)."""
    require_arm_tools()
    import tinyengine_tvm as te
    from tinyengine_tvm.testing import onnx_models as om
    from tinyengine_tvm.testing import torch_models as tm

    model = tm.mobilenet_v2(0.35, 10, seed=0, resolution=32)
    calib = tm.images(8, 32, seed=10)
    qdq = om.ort_quantize(tm.to_onnx(model, calib[0]), calib, per_channel=True)
    xs = tm.images(2, 32, seed=20)
    cm = te.compile(qdq, target=target, arithmetic="onnxruntime")
    src = _kernel_calls(cm)
    import re

    assert re.search(r"te_conv2d_1x1_s8_(nc_|ic\d+_)?dsp\(", src), "onnxruntime pointwise convs take the DSP kernels"
    assert re.search(r"te_depthwise_conv2d_s8_\w*dsp\(", src), "onnxruntime depthwise convs take the DSP kernels"
    assert "te_fully_connected_s8_dscale_dsp(" in src, "the onnxruntime classifier takes the DSP kernel"
    for x in xs:
        got = cm.run([np.ascontiguousarray(x.transpose(0, 2, 3, 1))])[0]
        ref = om.ort_run(qdq, [x])[0]
        np.testing.assert_array_equal(got, ref.reshape(got.shape))
