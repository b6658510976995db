"""Bit-exactness of the portable C kernels (codegen/kernels) against LiteRT's reference kernels.

Every kernel runs in two builds of a small C driver (tests/kernel_driver.c): ``-O2`` and
ASan + UBSan with no recovery. Each case builds a single-operator int8 TFLite model with
``tinyengine_tvm.testing.tflite_builder``, runs it with LiteRT (``OpResolverType.BUILTIN_REF``),
reads the quantization parameters back from the model bytes, computes the kernel parameters
with ``codegen.quant`` and requires byte-identical outputs.
"""

from __future__ import annotations

import math
import re
import subprocess
from fractions import Fraction

import numpy as np
import pytest

from codegen import quant
try:
    from tests import kernel_harness as kh
except ImportError:  # tests/ on sys.path (pytest rootdir insertion) instead of the repo root
    import kernel_harness as kh
from tinyengine_tvm.testing import tflite_builder as tb
from tinyengine_tvm.testing.reference import run_litert

from .conftest import model_path

ACTS = ["NONE", "RELU", "RELU6", "RELU_N1_TO_1"]
VWW = kh.ROOT.parent / "shared" / "models" / "vww.tflite"


# ---------------------------------------------------------------------------------------------
# fixtures and helpers


@pytest.fixture(scope="session")
def drivers(tmp_path_factory):
    d = tmp_path_factory.mktemp("kernels")
    return {"O2": kh.build_driver(d, sanitize=False), "asan": kh.build_driver(d, sanitize=True)}


def run_both(drivers, batch: kh.Batch) -> list[np.ndarray]:
    """Run a batch in both builds; they must agree; returns the outputs."""
    out = batch.run(drivers["O2"])
    out_asan = batch.run(drivers["asan"])
    for i, (a, b) in enumerate(zip(out, out_asan)):
        assert a.tobytes() == b.tobytes(), f"case {i}: -O2 and sanitizer builds disagree"
    return out


def assert_cases_equal(got, expected, labels):
    bad = []
    for g, e, label in zip(got, expected, labels):
        e = np.asarray(e)
        g = g.reshape(e.shape)
        if g.tobytes() != e.tobytes():
            if e.dtype.kind == "f":
                diff = np.abs(g.astype(np.float64) - e).max()
            else:
                diff = np.abs(g.astype(np.int64) - e.astype(np.int64)).max()
            bad.append(f"{label}: {int(np.sum(g != e))}/{e.size} differ (max |diff| {diff})")
    assert not bad, "mismatches:\n" + "\n".join(bad)


def act_name(enum_value: int) -> str:
    return {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}[int(enum_value)]


def padding_name(enum_value: int) -> str:
    return {0: "SAME", 1: "VALID"}[int(enum_value)]


def random_quant(rng, lo=0.01, hi=0.1):
    return float(np.float32(rng.uniform(lo, hi))), int(rng.integers(-128, 128))


# ---------------------------------------------------------------------------------------------
# build hygiene


def test_each_source_compiles_clean_and_uses_allowed_headers():
    allowed = {"<stdint.h>", "<string.h>", '"tinyengine_kernels.h"', '"te_dsp.h"', '"te_mve.h"'}
    libm = {"log_softmax_f32.c", "conv2d_1x1_s8_f32.c", "conv2d_s8_f32.c", "add_s8_f32.c",
            "add_s8_f32_fpu.c", "conv2d_1x1_s8_f32_fpu.c", "binary_s8_f32.c"}  # expf/logf; fmaf (onnxruntime's arithmetic)
    for src in kh.kernel_sources():
        for mode in ([], ["-DTE_SINGLE_ROUNDING=1"]):  # TFLite and onnxruntime arithmetic
            res = subprocess.run(["gcc", *kh.WARN_FLAGS, *mode, "-O2", "-c", str(src), "-o", "/dev/null"],
                                 capture_output=True, text=True)
            assert res.returncode == 0, f"{src.name} {mode}:\n{res.stderr}"
        text = src.read_text()
        includes = set(re.findall(r"#include\s+([<\"][^>\"]+[>\"])", text))
        extra = includes - allowed - ({"<math.h>"} if src.name in libm else set())
        assert not extra, f"{src.name} includes {extra}"
        code = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        assert not re.search(r"\b(malloc|calloc|realloc|free|printf)\s*\(", code), src.name


def test_header_compiles_as_c_and_cpp(tmp_path):
    for lang, std in (("c", "-std=c99"), ("c++", "-std=c++11")):
        src = tmp_path / f"h.{'c' if lang == 'c' else 'cc'}"
        src.write_text('#include "tinyengine_kernels.h"\nint main(void) { return 0; }\n')
        comp = "gcc" if lang == "c" else "g++"
        if comp == "g++" and subprocess.run(["which", "g++"], capture_output=True).returncode:
            continue
        res = subprocess.run([comp, std, "-Wall", "-Wextra", "-Werror", "-I", str(kh.KERNEL_DIR),
                              str(src), "-o", str(tmp_path / "h")], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr


def test_param_dicts_match_header_structs():
    add = quant.add_params(0.05, 3, 0.02, -7, 0.1, 1, "RELU", n=10)
    assert list(add) == kh.header_struct_fields("te_add_params")
    mean = quant.mean_params(0.05, 3, 0.05, 3, 1, 9, 160)
    assert list(mean) == kh.header_struct_fields("te_mean_params")


# ---------------------------------------------------------------------------------------------
# codegen/quant.py


def _tflite_quantize_multiplier_reference(real: float):
    """QuantizeMultiplier re-derived with exact rationals (independent of quant.py's code)."""
    if real == 0:
        return 0, 0
    q, e = math.frexp(real)
    x = Fraction(q) * (1 << 31)
    n = math.floor(abs(x) + Fraction(1, 2)) * (1 if x > 0 else -1)
    if n == 1 << 31:
        n //= 2
        e += 1
    if e < -31:
        return 0, 0
    return n, e


@pytest.mark.parametrize("real, expected", [
    (0.0, (0, 0)),
    (1.0, (1 << 30, 1)),
    (0.5, (1 << 30, 0)),
    (0.75, (3 << 29, 0)),
    (-0.75, (-(3 << 29), 0)),
    (2.0 ** -31, (1 << 30, -30)),
    (2.0 ** -32, (1 << 30, -31)),          # smallest shift kept
    (2.0 ** -33, (0, 0)),                  # shift -32: flushed to zero
    (0.9999999999, (1 << 30, 1)),          # rounds to 2^31: carried into the shift
    (1.0 - 2.0 ** -33, (1 << 30, 1)),      # exactly 2^31 - 0.25 -> rounds to 2^31 -> carry
    (1.0 - 2.0 ** -32, (1 << 30, 1)),      # 2^31 - 0.5: tie, away from zero -> carry
    (1.0 - 2.0 ** -31, ((1 << 31) - 1, 0)),  # largest multiplier without carry
    (0.5 + 2.0 ** -32, ((1 << 30) + 1, 0)),  # tie 2^30 + 0.5 -> away from zero (not to even)
    (0.5 + 3 * 2.0 ** -32, ((1 << 30) + 2, 0)),  # 2^30 + 1.5 -> 2^30 + 2
    (3.0, (3 << 29, 2)),
    (1234.5678, None),
    (1e-9, None),
    (7.3e-7, None),
])
def test_quantize_multiplier_edge_cases(real, expected):
    got = quant.quantize_multiplier(real)
    assert got == _tflite_quantize_multiplier_reference(real)
    if expected is not None:
        assert got == expected
    m, s = got
    assert isinstance(m, int) and isinstance(s, int)
    if m:
        assert (1 << 30) <= abs(m) <= (1 << 31) - 1 or m == -(1 << 31)
        assert abs(m * 2.0 ** (s - 31) - real) <= 2.0 ** (s - 32)


def test_quantize_multiplier_random_against_exact_reference():
    rng = np.random.default_rng(1234)
    reals = np.concatenate([10.0 ** rng.uniform(-12, 4, 2000),
                            rng.uniform(0, 1, 500) * 2.0 ** rng.integers(-40, 10, 500)])
    for r in reals:
        assert quant.quantize_multiplier(float(r)) == _tflite_quantize_multiplier_reference(float(r))
    with pytest.raises(ValueError):
        quant.quantize_multiplier(float("nan"))


def test_quantize_multiplier_smaller_than_one_exp():
    assert quant.quantize_multiplier_smaller_than_one_exp(0.5) == (1 << 30, 0)
    assert quant.quantize_multiplier_smaller_than_one_exp(0.25) == (1 << 30, -1)
    for bad in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(ValueError):
            quant.quantize_multiplier_smaller_than_one_exp(bad)


def test_activation_range():
    # CalculateActivationRangeQuantized: zp + roundf(f / scale) in float32, clamped to int8
    assert quant.activation_range("NONE", 0.1, 5) == (-128, 127)
    assert quant.activation_range(None, 0.1, 5) == (-128, 127)
    assert quant.activation_range("RELU", 0.1, 5) == (5, 127)
    assert quant.activation_range("RELU6", 0.1, -128) == (-128, -68)
    assert quant.activation_range("RELU6", 0.01, 0) == (0, 127)
    assert quant.activation_range("RELU_N1_TO_1", 0.01, 3) == (-97, 103)
    assert quant.activation_range(3, 0.1, -128) == quant.activation_range("RELU6", 0.1, -128)
    assert quant.activation_range(2, 0.5, 0) == (-2, 2)
    # 6 / 0.08 = 75 exactly in float32? (0.08f is not exact): the float32 quotient decides
    s = float(np.float32(0.08))
    expected = int(np.round(np.float64(np.float32(6.0) / np.float32(s))))
    assert quant.activation_range("RELU6", s, 0)[1] == expected
    # ties round away from zero: 0.5 / 1.0 -> 1, -0.5 -> -1  (RELU_N1_TO_1 with scale 2)
    assert quant.activation_range("RELU_N1_TO_1", 2.0, 0) == (-1, 1)
    with pytest.raises(ValueError):
        quant.activation_range("TANH", 0.1, 0)


@pytest.mark.parametrize("in_size, k, stride, dil, padding, expected", [
    (7, 3, 1, 1, "SAME", (7, 1, 1)),
    (7, 3, 2, 1, "SAME", (4, 1, 1)),
    (8, 3, 2, 1, "SAME", (4, 0, 1)),
    (8, 1, 2, 1, "SAME", (4, 0, 0)),
    (9, 5, 2, 1, "VALID", (3, 0, 0)),
    (9, 3, 1, 2, "SAME", (9, 2, 2)),
    (2, 7, 1, 1, "SAME", (2, 3, 3)),
])
def test_compute_padding(in_size, k, stride, dil, padding, expected):
    assert quant.compute_padding(in_size, k, stride, dil, padding) == expected


def test_fc_per_tensor_multiplier_uses_float32_product():
    # GetQuantizedConvolutionMultipler: float32(input_scale * filter_scale) widened to double.
    rng = np.random.default_rng(7)
    n_diff = 0
    for _ in range(3000):
        si, sw, so = (float(np.float32(v)) for v in rng.uniform(1e-3, 1e-1, 3))
        m, s, per_channel = quant.fc_requant_params(si, sw, so)
        assert not per_channel and m.shape == (1,)
        f32 = quant.quantize_multiplier(float(np.float32(si) * np.float32(sw)) / so)
        f64 = quant.quantize_multiplier(si * sw / so)
        assert (int(m[0]), int(s[0])) == f32
        n_diff += f32 != f64
    assert n_diff > 0  # the two formulas really differ sometimes


def test_mean_view():
    assert quant.mean_view((1, 7, 7, 32), (1, 2)) == (1, 49, 32)
    assert quant.mean_view((1, 160, 3, 3), (-1,)) == (480, 3, 1)
    assert quant.mean_view((1, 160, 3), [2, 2]) == (160, 3, 1)
    with pytest.raises(ValueError):
        quant.mean_view((2, 3, 4, 5), (1, 3))


# ---------------------------------------------------------------------------------------------
# te_requantize


def _mbqm_reference(x: int, m: int, shift: int) -> int:
    """MultiplyByQuantizedMultiplier from its rounding definitions, with exact rationals."""
    left, right = max(shift, 0), max(-shift, 0)
    x = ((x * (1 << left) + (1 << 31)) % (1 << 32)) - (1 << 31)  # int32 wrap
    if x == m == -(1 << 31):
        hm = (1 << 31) - 1
    else:
        hm = math.floor(Fraction(x * m, 1 << 31) + Fraction(1, 2))  # nearest, ties up
    v = Fraction(hm, 1 << right)
    r = math.floor(abs(v) + Fraction(1, 2))  # nearest, ties away from zero
    return r if v >= 0 else -r


def test_requantize_against_reference(drivers):
    rng = np.random.default_rng(42)
    edge_x = [0, 1, -1, 2, -2, 3, -3, 127, -128, 255, -255, 1 << 20, -(1 << 20), (1 << 31) - 1,
              -(1 << 31), (1 << 30), -(1 << 30), 12345678, -12345678]
    edge_m = [0, 1, (1 << 30), (1 << 30) + 1, (1 << 31) - 1, -(1 << 31), 1518500250, 1073741825]
    cases = []
    for m in edge_m:
        for shift in (-31, -20, -8, -1, 0, 1, 2, 7):
            cases.append((m, shift, np.array(edge_x, dtype=np.int64)))
    for _ in range(60):
        m = int(rng.integers(1 << 30, 1 << 31))
        shift = int(rng.integers(-31, 8))
        xs = np.concatenate([rng.integers(-(1 << 31), 1 << 31, 200),
                             rng.integers(-100000, 100000, 200),
                             # exact ties of the final rounding shift
                             (rng.integers(-1000, 1000, 50) * 2 + 1) << max(0, -shift - 1)])
        cases.append((m, shift, xs))
    batch = kh.Batch()
    for m, shift, xs in cases:
        xs = np.clip(xs, -(1 << 31), (1 << 31) - 1).astype(np.int32)
        batch.add("requant_array", [xs.size, m, shift], [xs], np.int32, (xs.size,))
    outs = run_both(drivers, batch)
    for (m, shift, xs), got in zip(cases, outs):
        xs = np.clip(xs, -(1 << 31), (1 << 31) - 1).astype(np.int32)
        for x, g in zip(xs.tolist(), got.tolist()):
            mirror = quant.multiply_by_quantized_multiplier(x, m, shift)
            assert g == mirror == _mbqm_reference(x, m, shift), (x, m, shift, g, mirror)


# ---------------------------------------------------------------------------------------------
# convolutions


def _conv_kernel_params(od: kh.OpDesc, depthwise: bool) -> tuple[dict, tuple]:
    x, w, b = od.inputs[0], od.inputs[1], (od.inputs[2] if len(od.inputs) > 2 else None)
    y = od.outputs[0]
    o = od.options
    _, in_h, in_w, in_c = x.shape
    _, out_h, out_w, out_c = y.shape
    k_h, k_w = (w.shape[1], w.shape[2])
    pad = padding_name(o["Padding"])
    oh, pt, _ = quant.compute_padding(in_h, k_h, o["StrideH"], o["DilationHFactor"], pad)
    ow, pl, _ = quant.compute_padding(in_w, k_w, o["StrideW"], o["DilationWFactor"], pad)
    assert (oh, ow) == (out_h, out_w)
    mult, shift = quant.conv_requant_params(x.scale, w.scales, y.scale, out_channels=out_c)
    act_min, act_max = quant.activation_range(o["FusedActivationFunction"], y.scale, y.zero_point)
    p = dict(in_h=in_h, in_w=in_w, in_c=in_c, out_h=out_h, out_w=out_w, out_c=out_c,
             k_h=k_h, k_w=k_w, stride_h=o["StrideH"], stride_w=o["StrideW"],
             dil_h=o["DilationHFactor"], dil_w=o["DilationWFactor"], pad_top=pt, pad_left=pl,
             depth_multiplier=o.get("DepthMultiplier", 1) if depthwise else 1,
             in_offset=-x.zero_point, out_offset=y.zero_point, act_min=act_min, act_max=act_max)
    bufs = (w.data, None if b is None else b.data, mult, shift)
    return p, bufs


def _conv_case(seed: int, depthwise: bool):
    rng = np.random.default_rng(seed)
    k = int(rng.choice([1, 3, 5, 7]))
    stride = int(rng.choice([1, 2]))
    dil = int(rng.choice([1, 1, 1, 2])) if k > 1 else 1
    eff = (k - 1) * dil + 1
    pad = str(rng.choice(["SAME", "VALID"]))
    h = int(rng.integers(1, 13))
    w = int(rng.integers(1, 13))
    if pad == "VALID":
        h, w = max(h, eff), max(w, eff)
    if depthwise:
        c = int(rng.choice([1, 3, 5, 8, 13, 16]))
        dm = int(rng.choice([1, 1, 2, 3]))
        out_c = c * dm
    else:
        c = int(rng.choice([1, 3, 5, 8, 17]))
        dm = 1
        out_c = int(rng.choice([1, 3, 7, 16, 19]))
    act = ACTS[seed % 4]
    per_channel = bool(rng.integers(0, 4))  # mostly per-channel
    use_bias = bool(rng.integers(0, 5))
    in_quant = random_quant(rng)
    # No-bias cases: LiteRT's conv kernels reject a model whose optional bias input is -1, so the
    # model gets an all-zero bias and the C kernel gets bias = NULL (same arithmetic).
    kwargs = dict(in_shape=(1, h, w, c), out_c=out_c, kernel=(k, k), stride=(stride, stride),
                  padding=pad, dilation=(dil, dil), activation=act, depthwise=depthwise,
                  depth_multiplier=dm, per_channel=per_channel, seed=seed, in_quant=in_quant,
                  bias=None if use_bias else np.zeros(out_c, np.int32))
    model = tb.conv2d_model(**kwargs)
    if seed % 3 == 0:  # random output zero point: exercises the activation clamps
        scale = model.info.output_quant[0] * float(rng.uniform(0.5, 2.0))
        model = tb.conv2d_model(**kwargs, out_quant=(scale, int(rng.integers(-100, 100))))
    x = tb.random_int8((1, h, w, c), rng)
    label = f"seed={seed} {h}x{w}x{c}->{out_c} k{k} s{stride} d{dil} {pad} {act} dm={dm} " \
            f"pc={per_channel} bias={use_bias}"
    return model, x, label, use_bias


CONV_SEEDS = list(range(100, 128))


def test_conv2d_s8(drivers):
    batch, expected, labels = kh.Batch(), [], []
    n_1x1 = 0
    for seed in CONV_SEEDS:
        model, x, label, use_bias = _conv_case(seed, depthwise=False)
        y = run_litert(model, [x])[0]
        od = kh.read_op(model)
        assert od.opname == "CONV_2D"
        p, (w, b, mult, shift) = _conv_kernel_params(od, depthwise=False)
        b = b if use_bias else None
        params = kh.struct_values("te_conv_params", p)
        batch.add("conv", params, [x, w, b, mult, shift], np.int8, y.shape)
        expected.append(y)
        labels.append(label)
        if p["k_h"] == 1 and p["pad_top"] == 0 and p["pad_left"] == 0:
            batch.add("conv_1x1", params, [x, w, b, mult, shift], np.int8, y.shape)
            expected.append(y)
            labels.append(label + " [1x1 kernel]")
            n_1x1 += 1
    assert n_1x1 >= 3
    assert_cases_equal(run_both(drivers, batch), expected, labels)


def test_conv2d_1x1_s8(drivers):
    """Pointwise convolutions (the bulk of MCUNet): stride 1 and 2, odd channel counts."""
    batch, expected, labels = kh.Batch(), [], []
    for seed in range(200, 212):
        rng = np.random.default_rng(seed)
        h, w = int(rng.integers(1, 11)), int(rng.integers(1, 11))
        c, oc = int(rng.choice([1, 3, 16, 24, 33])), int(rng.choice([1, 5, 16, 40]))
        stride = 1 if seed % 3 else 2
        act = ACTS[seed % 4]
        model = tb.conv2d_model((1, h, w, c), out_c=oc, kernel=(1, 1), stride=(stride, stride),
                                padding="VALID" if seed % 2 else "SAME", activation=act, seed=seed,
                                in_quant=random_quant(rng), per_channel=bool(seed % 5))
        x = tb.random_int8((1, h, w, c), rng)
        y = run_litert(model, [x])[0]
        p, (wt, b, mult, shift) = _conv_kernel_params(kh.read_op(model), depthwise=False)
        batch.add("conv_1x1", kh.struct_values("te_conv_params", p), [x, wt, b, mult, shift],
                  np.int8, y.shape)
        expected.append(y)
        labels.append(f"seed={seed} {h}x{w}x{c}->{oc} s{stride} {act}")
    assert_cases_equal(run_both(drivers, batch), expected, labels)


def test_depthwise_conv2d_s8(drivers):
    batch, expected, labels = kh.Batch(), [], []
    dms = set()
    for seed in range(300, 326):
        model, x, label, use_bias = _conv_case(seed, depthwise=True)
        y = run_litert(model, [x])[0]
        od = kh.read_op(model)
        assert od.opname == "DEPTHWISE_CONV_2D"
        p, (w, b, mult, shift) = _conv_kernel_params(od, depthwise=True)
        b = b if use_bias else None
        dms.add(p["depth_multiplier"])
        batch.add("dwconv", kh.struct_values("te_conv_params", p), [x, w, b, mult, shift],
                  np.int8, y.shape)
        expected.append(y)
        labels.append(label)
    assert {1, 2} <= dms
    assert_cases_equal(run_both(drivers, batch), expected, labels)


# ---------------------------------------------------------------------------------------------
# fully connected


def _fc_case(seed: int):
    rng = np.random.default_rng(seed)
    batches = int(rng.integers(1, 4))
    in_n = int(rng.choice([1, 7, 16, 33, 160, 257]))
    out_n = int(rng.choice([1, 2, 10, 31, 64]))
    per_channel = bool(seed % 3 == 0)
    act = ACTS[seed % 4]
    use_bias = bool(seed % 5)
    # (LiteRT rejects an omitted bias input: no-bias cases use a zero bias in the model.)
    kwargs = dict(in_shape=(batches, in_n), out_features=out_n, activation=act,
                  per_channel=per_channel, seed=seed, in_quant=random_quant(rng),
                  bias=None if use_bias else np.zeros(out_n, np.int32))
    model = tb.fully_connected_model(**kwargs)
    if seed % 2:
        scale = model.info.output_quant[0] * float(rng.uniform(0.5, 2.0))
        model = tb.fully_connected_model(**kwargs, out_quant=(scale, int(rng.integers(-100, 100))))
    x = tb.random_int8((batches, in_n), rng)
    od = kh.read_op(model)
    xt, wt, bt = od.inputs[0], od.inputs[1], od.inputs[2]
    yt = od.outputs[0]
    act_min, act_max = quant.activation_range(od.options["FusedActivationFunction"], yt.scale,
                                              yt.zero_point)
    p = dict(batches=batches, in_n=in_n, out_n=out_n, in_offset=-xt.zero_point,
             out_offset=yt.zero_point, act_min=act_min, act_max=act_max,
             per_channel=int(wt.scales.size > 1))
    label = f"seed={seed} {batches}x{in_n}->{out_n} {act} pc={per_channel} bias={use_bias}"
    return model, x, p, (xt, wt, bt.data if use_bias else None, yt), label


FC_SEEDS = list(range(400, 430))


def test_fully_connected_s8_dscale(drivers):
    """LiteRT's reference FULLY_CONNECTED: double output scaling, exact."""
    batch, expected, labels = kh.Batch(), [], []
    kinds = set()
    for seed in FC_SEEDS:
        model, x, p, (xt, wt, bias, yt), label = _fc_case(seed)
        y = run_litert(model, [x])[0]
        scale, pc = quant.fc_dscale_params(xt.scale, wt.scales, yt.scale)
        assert int(pc) == p["per_channel"]
        kinds.add(pc)
        batch.add("fc_dscale", kh.struct_values("te_fc_params", p), [x, wt.data, bias, scale],
                  np.int8, y.shape)
        expected.append(y)
        labels.append(label)
    assert kinds == {True, False}
    assert_cases_equal(run_both(drivers, batch), expected, labels)


def test_fully_connected_s8_fixed_point(drivers):
    """te_fully_connected_s8 (TFLite optimized / TFLM fixed-point semantics): exact against the
    fixed-point formula, and within 1 of LiteRT's reference (which scales in double)."""
    batch, cases = kh.Batch(), []
    for seed in FC_SEEDS:
        model, x, p, (xt, wt, bias, yt), label = _fc_case(seed)
        y = run_litert(model, [x])[0]
        mult, shift, pc = quant.fc_requant_params(xt.scale, wt.scales, yt.scale)
        assert int(pc) == p["per_channel"]
        batch.add("fc", kh.struct_values("te_fc_params", p), [x, wt.data, bias, mult, shift],
                  np.int8, y.shape)
        acc = (x.astype(np.int64) - xt.zero_point) @ wt.data.astype(np.int64).T
        if bias is not None:
            acc = acc + bias
        ch = np.arange(p["out_n"]) if pc else np.zeros(p["out_n"], int)
        fixed = np.array([[quant.multiply_by_quantized_multiplier(int(a), int(mult[c]), int(shift[c]))
                           for a, c in zip(row, ch)] for row in acc]) + p["out_offset"]
        fixed = np.clip(fixed, p["act_min"], p["act_max"]).astype(np.int8)
        cases.append((fixed, y, label))
    outs = run_both(drivers, batch)
    assert_cases_equal(outs, [c[0] for c in cases], [c[2] for c in cases])
    n_diff = 0
    for got, (_, y, label) in zip(outs, cases):
        d = np.abs(got.astype(int) - y.astype(int))
        assert d.max() <= 1, label
        n_diff += int(np.sum(d))
    assert n_diff > 0, "no case shows the fixed-point vs double difference any more"


def test_fc_dscale_vs_fixed_point_tie():
    """A constructed accumulator where double scaling and double-rounding fixed point disagree."""
    si, sw, so = 0.03262030705809593, 0.0039617195, 0.015341178514063358
    (m,), (s,), _ = quant.fc_requant_params(si, sw, so)
    (eff,), _ = quant.fc_dscale_params(si, sw, so)
    found = None
    for acc in range(1, 200000):
        fixed = quant.multiply_by_quantized_multiplier(acc, int(m), int(s))
        v = acc * eff
        ref = math.floor(v + 0.5)
        if fixed != ref:
            found = (acc, fixed, ref)
            break
    assert found is not None


# ---------------------------------------------------------------------------------------------
# add


def test_add_s8(drivers):
    batch, expected, labels = kh.Batch(), [], []
    for seed in range(500, 524):
        rng = np.random.default_rng(seed)
        shape = (1, int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.choice([1, 3, 16, 17])))
        a_q = random_quant(rng, 0.005, 0.2)
        b_q = a_q if seed % 7 == 0 else random_quant(rng, 0.005, 0.2)
        act = ACTS[seed % 4]
        out_q = None
        if seed % 2:
            out_q = random_quant(rng, 0.02, 0.3)
        model = tb.add_model(shape, activation=act, a_quant=a_q, b_quant=b_q, out_quant=out_q)
        a, b = tb.random_int8(shape, rng), tb.random_int8(shape, rng)
        y = run_litert(model, [a, b])[0]
        od = kh.read_op(model)
        ta, tb_, to = od.inputs[0], od.inputs[1], od.outputs[0]
        p = quant.add_params(ta.scale, ta.zero_point, tb_.scale, tb_.zero_point, to.scale,
                             to.zero_point, act_name(od.options["FusedActivationFunction"]),
                             n=a.size)
        batch.add("add", kh.struct_values("te_add_params", p), [a, b], np.int8, y.shape)
        expected.append(y)
        labels.append(f"seed={seed} {shape} {act} a={a_q} b={b_q} out={out_q}")
    assert_cases_equal(run_both(drivers, batch), expected, labels)


# ---------------------------------------------------------------------------------------------
# pooling


def test_pool_s8(drivers):
    batch, expected, labels = kh.Batch(), [], []
    for seed in range(600, 630):
        rng = np.random.default_rng(seed)
        kind = "AVG" if seed % 2 == 0 else "MAX"
        f = (int(rng.integers(1, 8)), int(rng.integers(1, 8)))
        s = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        pad = "SAME" if seed % 3 else "VALID"
        h, w = int(rng.integers(1, 13)), int(rng.integers(1, 13))
        if pad == "VALID":
            h, w = max(h, f[0]), max(w, f[1])
        c = int(rng.choice([1, 3, 8, 17]))
        act = ACTS[(seed // 2) % 4]
        in_q = random_quant(rng, 0.005, 0.05)
        model = tb.pool_model(kind, (1, h, w, c), filter=f, stride=s, padding=pad, activation=act,
                              in_quant=in_q)
        x = tb.random_int8((1, h, w, c), rng)
        y = run_litert(model, [x])[0]
        od = kh.read_op(model)
        xt, yt, o = od.inputs[0], od.outputs[0], od.options
        oh, pt, _ = quant.compute_padding(h, o["FilterHeight"], o["StrideH"], 1, padding_name(o["Padding"]))
        ow, pl, _ = quant.compute_padding(w, o["FilterWidth"], o["StrideW"], 1, padding_name(o["Padding"]))
        assert (1, oh, ow, c) == y.shape
        act_min, act_max = quant.activation_range(o["FusedActivationFunction"], yt.scale, yt.zero_point)
        p = dict(in_h=h, in_w=w, c=c, out_h=oh, out_w=ow, k_h=o["FilterHeight"], k_w=o["FilterWidth"],
                 stride_h=o["StrideH"], stride_w=o["StrideW"], pad_top=pt, pad_left=pl,
                 act_min=act_min, act_max=act_max)
        batch.add("avgpool" if kind == "AVG" else "maxpool", kh.struct_values("te_pool_params", p),
                  [x], np.int8, y.shape)
        expected.append(y)
        labels.append(f"seed={seed} {kind} {h}x{w}x{c} f{f} s{s} {pad} {act}")
    assert_cases_equal(run_both(drivers, batch), expected, labels)


def test_avg_pool_rounding_ties(drivers):
    """Sums that are exact half-multiples of the count, positive and negative."""
    x = np.array([1, 2, -1, -2, 3, 4, -3, -4, 5, 6, -5, -6, 127, 126, -128, -127],
                 dtype=np.int8).reshape(1, 8, 2, 1)
    model = tb.pool_model("AVG", x.shape, filter=(1, 2), stride=(1, 2), padding="VALID",
                          in_quant=(0.1, 0))
    y = run_litert(model, [x])[0]
    p = dict(in_h=8, in_w=2, c=1, out_h=8, out_w=1, k_h=1, k_w=2, stride_h=1, stride_w=2,
             pad_top=0, pad_left=0, act_min=-128, act_max=127)
    batch = kh.Batch()
    batch.add("avgpool", kh.struct_values("te_pool_params", p), [x], np.int8, y.shape)
    assert_cases_equal(run_both(drivers, batch), [y], ["ties"])
    assert y.ravel().tolist() == [2, -2, 4, -4, 6, -6, 127, -128]


# ---------------------------------------------------------------------------------------------
# mean


def _vww_mean_quant():
    """(scale, zero_point) of the two MEANs at the end of vww.tflite (input == output)."""
    if not VWW.exists():
        return 0.04854253, 6
    import tflite
    m = tflite.Model.GetRootAsModel(VWW.read_bytes(), 0)
    sg = m.Subgraphs(0)
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        code = m.OperatorCodes(op.OpcodeIndex())
        if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) == 40:  # MEAN
            q = sg.Tensors(int(op.InputsAsNumpy()[0])).Quantization()
            return float(q.Scale(0)), int(q.ZeroPoint(0))
    raise AssertionError("no MEAN in vww.tflite")


def _mean_cases():
    vww_q = _vww_mean_quant()
    cases = [
        ((1, 160, 3, 3), (3,), False, vww_q, None),     # vww head, first MEAN
        ((1, 160, 3), (2,), False, vww_q, None),        # vww head, second MEAN
        ((1, 7, 7, 33), (1, 2), True, (0.05, -3), None),  # global average pool, keep_dims
        ((1, 5, 5, 16), (1, 2), False, (0.02, 10), None),
        ((1, 7, 7, 33), (1, 2), True, (0.05, -3), (0.02, 5)),
        ((2, 5, 6, 7), (1, 2), False, (0.05, -3), (0.07, -20)),
        ((1, 10, 49), (2,), False, (0.1, 100), (0.3, -100)),
        ((3, 1, 4), (1,), False, (0.1, 0), (0.1, 0)),   # reduce over a size-1 axis
        ((1, 4, 4, 8), (-1,), False, (0.03, -128), (0.03, -128)),
        ((1, 100, 3), (1,), True, (0.01, 127), (0.5, -128)),  # tiny ratio, large n
        ((1, 6, 6, 5), (1, 2), True, (0.2, 3), (0.0125, -7)),  # ratio > 1 (positive shift)
        ((1, 2, 3, 4, 5), (1, 2, 3), False, (0.05, 1), (0.05, 1)),
    ]
    rng = np.random.default_rng(77)
    for _ in range(8):
        rank = int(rng.integers(2, 5))
        shape = tuple(int(d) for d in rng.integers(1, 9, rank))
        a0 = int(rng.integers(0, rank))
        a1 = int(rng.integers(a0, rank))
        same = bool(rng.integers(0, 2))
        iq = random_quant(rng)
        cases.append((shape, tuple(range(a0, a1 + 1)), bool(rng.integers(0, 2)), iq,
                      None if same else random_quant(rng)))
    return cases


def test_mean_s8(drivers):
    rng = np.random.default_rng(88)
    batch, expected, labels = kh.Batch(), [], []
    for shape, axes, keep, iq, oq in _mean_cases():
        model = tb.mean_model(shape, axes=axes, keep_dims=keep, in_quant=iq, out_quant=oq)
        x = tb.random_int8(shape, rng)
        y = run_litert(model, [x])[0]
        od = kh.read_op(model)
        xt, yt = od.inputs[0], od.outputs[0]
        outer, red, inner = quant.mean_view(shape, od.inputs[1].data.tolist())
        p = quant.mean_params(xt.scale, xt.zero_point, yt.scale, yt.zero_point, outer, red, inner)
        batch.add("mean", kh.struct_values("te_mean_params", p), [x], np.int8, y.shape)
        expected.append(y)
        labels.append(f"{shape} axes={axes} keep={keep} in={iq} out={oq}")
    assert_cases_equal(run_both(drivers, batch), expected, labels)


def test_mean_folded_multiplier_matches_naive_sum_semantics():
    # With the same scale/zp the kernel is NOT a plain rounded integer mean: document the
    # difference on the vww head's n = 3 (mult 2^30, shift 1 -> 715827882, 0).
    m, s = quant.quantize_multiplier(1.0)
    assert (m, s) == (1 << 30, 1)
    assert quant.mean_folded_multiplier(m, s, 3) == (715827882, 0)
    assert quant.mean_folded_multiplier(m, s, 9) == (954437176, -2)
    assert quant.mean_folded_multiplier(m, s, 1) == (m, s)


def test_vww_head_transpose_mean_mean(drivers):
    """TRANSPOSE [1,3,3,160] -> [1,160,3,3], MEAN axis 3, MEAN axis 2, vww's quant params."""
    scale, zp = _vww_mean_quant()
    mb = tb.ModelBuilder()
    x = mb.input("x", (1, 3, 3, 160), "int8", scale, zp)
    t = mb.tensor("t", (1, 160, 3, 3), "int8", scale, zp)
    m1 = mb.tensor("m1", (1, 160, 3), "int8", scale, zp)
    m2 = mb.tensor("m2", (1, 160), "int8", scale, zp)
    mb.op("TRANSPOSE", [x], [t], perm=[0, 3, 1, 2])
    mb.op("MEAN", [t], [m1], axis=[3], keep_dims=False)
    mb.op("MEAN", [m1], [m2], axis=[2], keep_dims=False)
    mb.output(m2)
    model = mb.finish()
    rng = np.random.default_rng(5)
    xs = [tb.random_int8((1, 3, 3, 160), rng) for _ in range(4)]
    xs.append(np.full((1, 3, 3, 160), -128, np.int8))
    xs.append(np.full((1, 3, 3, 160), 127, np.int8))
    p1 = quant.mean_params(scale, zp, scale, zp, *quant.mean_view((1, 160, 3, 3), [3]))
    p2 = quant.mean_params(scale, zp, scale, zp, *quant.mean_view((1, 160, 3), [2]))
    for xv in xs:
        y = run_litert(model, [xv])[0]
        b1 = kh.Batch()
        b1.add("mean", kh.struct_values("te_mean_params", p1), [np.transpose(xv, (0, 3, 1, 2))],
               np.int8, (1, 160, 3))
        mid = run_both(drivers, b1)[0]
        b2 = kh.Batch()
        b2.add("mean", kh.struct_values("te_mean_params", p2), [mid], np.int8, (1, 160))
        got = run_both(drivers, b2)[0]
        assert_cases_equal([got], [y], ["vww head"])


# ---------------------------------------------------------------------------------------------
# pad


def test_pad_s8(drivers):
    batch, expected, labels = kh.Batch(), [], []
    for seed in range(700, 712):
        rng = np.random.default_rng(seed)
        shape = (1, int(rng.integers(1, 8)), int(rng.integers(1, 8)), int(rng.choice([1, 3, 16])))
        pads = [[0, 0]] + [[int(rng.integers(0, 3)), int(rng.integers(0, 3))] for _ in range(2)] + [[0, 0]]
        q = random_quant(rng)
        model = tb.pad_model(shape, paddings=pads, in_quant=q)
        x = tb.random_int8(shape, rng)
        y = run_litert(model, [x])[0]
        yt = kh.read_op(model).outputs[0]
        p = dict(in_h=shape[1], in_w=shape[2], c=shape[3], pad_top=pads[1][0], pad_bottom=pads[1][1],
                 pad_left=pads[2][0], pad_right=pads[2][1], value=yt.zero_point)
        batch.add("pad", kh.struct_values("te_pad_params", p), [x], np.int8, y.shape)
        expected.append(y)
        labels.append(f"seed={seed} {shape} {pads}")
    assert_cases_equal(run_both(drivers, batch), expected, labels)


# ---------------------------------------------------------------------------------------------
# quantize / dequantize / requantize / log_softmax


def _single_op_model(opname, in_shape, in_dtype, in_q, out_shape, out_dtype, out_q):
    mb = tb.ModelBuilder()
    x = mb.input("x", in_shape, in_dtype, *(in_q or (None, None)))
    y = mb.tensor("y", out_shape, out_dtype, *(out_q or (None, None)))
    mb.op(opname, [x], [y])
    mb.output(y)
    return mb.finish()


def _quantize_inputs(rng, scale, zp):
    s32 = np.float32(scale)
    k = rng.integers(-140 - zp, 140 - zp, 600).astype(np.float32)
    ties = (k + np.float32(0.5)) * s32                      # near-exact .5 quotients
    ties_lo = np.nextafter(ties, np.float32(-np.inf))
    ties_hi = np.nextafter(ties, np.float32(np.inf))
    rand = rng.normal(0, 60, 600).astype(np.float32) * s32
    special = np.array([0.0, -0.0, 1e-30, -1e-30, 1e6, -1e6, 3e6, -3e6], np.float32)
    return np.concatenate([ties, ties_lo, ties_hi, rand, special]).astype(np.float32)


def test_quantize_f32_s8(drivers):
    rng = np.random.default_rng(900)
    batch, expected, labels = kh.Batch(), [], []
    discriminating = 0
    for scale, zp in [(0.1, 0), (0.0235, -5), (1 / 255, -128), (0.3, 17), (0.007, 127),
                      (0.05, -128), (1.7, 3), (0.02117, -77)]:
        scale = float(np.float32(scale))
        x = _quantize_inputs(rng, scale, zp).reshape(1, -1)
        model = _single_op_model("QUANTIZE", x.shape, "float32", None, x.shape, "int8", (scale, zp))
        y = run_litert(model, [x])[0]
        yt = kh.read_op(model).outputs[0]
        batch.add("quant", [x.size, yt.zero_point], [np.array([yt.scale], np.float64), x],
                  np.int8, y.shape)
        expected.append(y)
        labels.append(f"scale={scale} zp={zp}")
        # how often double-precision division would have rounded differently
        x64 = x.astype(np.float64) / scale
        x32 = (x / np.float32(scale)).astype(np.float64)
        q64 = np.sign(x64) * np.floor(np.abs(x64) + 0.5)
        q32 = np.sign(x32) * np.floor(np.abs(x32) + 0.5)
        discriminating += int(np.sum(q64 != q32))
    assert discriminating > 0, "test inputs do not distinguish float32 from float64 division"
    assert_cases_equal(run_both(drivers, batch), expected, labels)


def test_quantize_f32_s8_out_of_range(drivers):
    """Where TFLite's float->int32 cast is undefined: saturate, NaN -> zero point."""
    x = np.array([3e38, -3e38, np.inf, -np.inf, np.nan, 2.2e9, -2.2e9, 1e10, -1e10], np.float32)
    batch = kh.Batch()
    for zp in (-128, -5, 0, 17, 127):
        batch.add("quant", [x.size, zp], [np.array([0.5], np.float64), x], np.int8, x.shape)
    outs = run_both(drivers, batch)
    for zp, got in zip((-128, -5, 0, 17, 127), outs):
        assert got.tolist() == [127, -128, 127, -128, zp, 127, -128, 127, -128]


def test_dequantize_s8_f32(drivers):
    batch, expected, labels = kh.Batch(), [], []
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    for scale, zp in [(0.1, 0), (0.0235, -5), (1 / 255, -128), (0.14687847, 1), (3.3e-5, 99)]:
        model = _single_op_model("DEQUANTIZE", x.shape, "int8", (scale, zp), x.shape, "float32", None)
        y = run_litert(model, [x])[0]
        xt = kh.read_op(model).inputs[0]
        batch.add("dequant", [x.size, xt.zero_point], [np.array([xt.scale], np.float64), x],
                  np.float32, y.shape)
        expected.append(y)
        labels.append(f"scale={scale} zp={zp}")
    assert_cases_equal(run_both(drivers, batch), expected, labels)


def test_requantize_s8(drivers):
    batch, expected, labels = kh.Batch(), [], []
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    for (si, zi), (so, zo) in [((0.1, 0), (0.05, 3)), ((0.02, -5), (0.3, 100)), ((0.05, 7), (0.05, -7)),
                               ((0.05, 7), (0.05, 7)), ((1.0, 0), (0.001, 0)), ((0.013, -128), (0.017, 127))]:
        model = _single_op_model("QUANTIZE", x.shape, "int8", (si, zi), x.shape, "int8", (so, zo))
        y = run_litert(model, [x])[0]
        od = kh.read_op(model)
        xt, yt = od.inputs[0], od.outputs[0]
        m, s = quant.requantize_params(xt.scale, yt.scale)
        batch.add("requant_s8", [x.size, xt.zero_point, yt.zero_point, m, s], [x], np.int8, y.shape)
        expected.append(y)
        labels.append(f"{(si, zi)} -> {(so, zo)}")
    assert_cases_equal(run_both(drivers, batch), expected, labels)


def test_log_softmax_f32(drivers):
    rng = np.random.default_rng(1000)
    batch, expected, labels = kh.Batch(), [], []
    for rows, cols, sigma in [(1, 2, 1.0), (1, 10, 5.0), (3, 7, 0.1), (4, 1000, 3.0), (2, 3, 80.0)]:
        x = (rng.normal(0, sigma, (rows, cols))).astype(np.float32)
        model = _single_op_model("LOG_SOFTMAX", x.shape, "float32", None, x.shape, "float32", None)
        y = run_litert(model, [x])[0]
        batch.add("log_softmax", [rows, cols], [x], np.float32, y.shape)
        expected.append(y)
        labels.append(f"{rows}x{cols} sigma={sigma}")
    assert_cases_equal(run_both(drivers, batch), expected, labels)


# ---------------------------------------------------------------------------------------------
# a real model, layer by layer


def test_lenet_mnist_chain_bit_exact(drivers):
    """lenet_mnist.tflite (QUANTIZE, RESHAPE, 3x FULLY_CONNECTED, DEQUANTIZE, LOG_SOFTMAX) run
    kernel by kernel must equal LiteRT's reference output bit for bit; it needs the double-scaled
    FC (the fixed-point FC is off by one quantum on some inputs)."""
    with open(model_path("lenet_mnist.tflite"), "rb") as f:
        model = f.read()
    ops = [kh.read_op(model, i) for i in range(7)]
    assert [o.opname for o in ops] == ["QUANTIZE", "RESHAPE", "FULLY_CONNECTED", "FULLY_CONNECTED",
                                       "FULLY_CONNECTED", "DEQUANTIZE", "LOG_SOFTMAX"]
    rng = np.random.default_rng(2024)
    xs = [rng.uniform(0, 1, (1, 28, 28, 1)).astype(np.float32) if i % 2
          else (rng.random((1, 28, 28, 1)) > 0.7).astype(np.float32) for i in range(24)]
    expected = [run_litert(model, [x])[0] for x in xs]

    def layer(add):
        batch = kh.Batch()
        for i in range(len(xs)):
            add(batch, i)
        return run_both(drivers, batch)

    qo = ops[0].outputs[0]
    h = layer(lambda b, i: b.add("quant", [784, qo.zero_point], [np.array([qo.scale]), xs[i]],
                                 np.int8, (1, 784)))
    for od in ops[2:5]:
        xt, wt, bt = od.inputs
        yt = od.outputs[0]
        amin, amax = quant.activation_range(od.options["FusedActivationFunction"], yt.scale,
                                            yt.zero_point)
        p = kh.struct_values("te_fc_params", dict(
            batches=1, in_n=wt.shape[1], out_n=wt.shape[0], in_offset=-xt.zero_point,
            out_offset=yt.zero_point, act_min=amin, act_max=amax, per_channel=0))
        scale, _ = quant.fc_dscale_params(xt.scale, wt.scales, yt.scale)
        h = layer(lambda b, i, p=p, wt=wt, bt=bt, scale=scale, yt=yt: b.add(
            "fc_dscale", p, [h[i], wt.data, bt.data, scale], np.int8, yt.shape))
    dt = ops[5].inputs[0]
    f = layer(lambda b, i: b.add("dequant", [10, dt.zero_point], [np.array([dt.scale]), h[i]],
                                 np.float32, (1, 10)))
    out = layer(lambda b, i: b.add("log_softmax", [1, 10], [f[i]], np.float32, (1, 10)))
    assert_cases_equal(out, expected, [f"input {i}" for i in range(len(xs))])
