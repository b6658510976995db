"""Helium (MVE) kernels (codegen/kernels/*_mve.c, codegen/mve.py): byte-identical with the portable
kernels on random shapes, requantization parameters (left and right shifts, zero right shift, huge
biases that saturate the doubling multiply) and offsets. The host has no MVE, so both the portable and
the MVE kernels run in one driver under QEMU mps3-an547 (Cortex-M55); the portable kernels' outputs
there are also checked against the host build. A small sample runs by default, ``-m slow`` sweeps."""

import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import tinyengine_tvm as te
from tinyengine_tvm.codegen import mve
from tinyengine_tvm.codegen.targets import get
from tinyengine_tvm.runners import firmware

from tinyengine_tvm.testing.reference import run_litert

from . import dsp_harness as dh
from .conftest import model_path
from . import kernel_harness as kh
from .mcu_tools import require_arm_tools

DRIVER = Path(__file__).resolve().parent / "mve_driver.c"
OPS = {"conv": 1, "conv_1x1": 2, "dwconv": 3, "conv_mve": 305, "conv_lsh_mve": 306, "pw_mve": 300, "pw_lsh_mve": 301, "dw_mve": 302, "dw_lsh_mve": 303,
       "dw_cm_mve": 304, "fc_dscale": 14, "fc_mve": 307, "dw_t1_mve": 308, "dw_k3_mve": 309, "quant": 10,
       "quant_mve": 310, "add": 5, "add_lin_mve": 311}
DW_OPS = {"te_depthwise_conv2d_s8_mve": "dw_mve", "te_depthwise_conv2d_s8_lsh_mve": "dw_lsh_mve",
          "te_depthwise_conv2d_s8_t1_mve": "dw_t1_mve", "te_depthwise_conv2d_s8_k3_mve": "dw_k3_mve"}
M55 = "cortex-m55"


@pytest.fixture(scope="module")
def m55_driver(tmp_path_factory):
    require_arm_tools()
    return build_m55_driver(tmp_path_factory.mktemp("mve_driver"))


def build_m55_driver(d: Path, single_rounding: bool = False) -> Path:
    """tests/mve_driver.c with every kernel, for Cortex-M55 (QEMU mps3-an547), in directory d (single_rounding:
    the TE_SINGLE_ROUNDING build, onnxruntime's requantization, as the emitter builds ONNX / PyTorch graphs)."""
    target = get(M55)
    for f in firmware.STATIC_FILES:
        shutil.copyfile(os.path.join(firmware.firmware_dir(), f), d / f)
    (d / "link.ld").write_text(firmware._linker_script(target, firmware.Budgets(target.sram_size, target.flash_size,
                                                                                 8192)))
    exe = d / "mve_driver.elf"
    cmd = ["arm-none-eabi-gcc", *firmware.WARN_FLAGS, *firmware.OPT_FLAGS, *target.cflags(),
           *(dh.SINGLE_ROUNDING_FLAGS if single_rounding else []), "-ffunction-sections",
           "-fdata-sections", "-I", str(kh.KERNEL_DIR), "-I", str(d), *map(str, kh.kernel_sources()), str(DRIVER),
           str(d / "startup.c"), str(d / "semihost.c"), "-o", str(exe), "-nostartfiles", "-T", str(d / "link.ld"),
           "-Wl,--gc-sections", "--specs=nano.specs", "--specs=nosys.specs", "-lm"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return exe


def build_host_driver(d: Path, single_rounding: bool = False) -> Path:
    """tests/mve_driver.c for the host (its portable kernels only): the independent reference.
    (Its own driver: it sets te_conv_params.out_stride, which main's kernel_driver.c / dsp_driver.c leave unset.)"""
    exe = Path(d) / ("mve_driver_host" + ("_sr" if single_rounding else ""))
    cmd = ["gcc", *kh.WARN_FLAGS, "-O2", *(dh.SINGLE_ROUNDING_FLAGS if single_rounding else []), "-I",
           str(kh.KERNEL_DIR), *map(str, kh.kernel_sources()), str(DRIVER), "-o", str(exe), "-lm"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return exe


@pytest.fixture(scope="module")
def host_driver(tmp_path_factory):
    return build_host_driver(tmp_path_factory.mktemp("mve_host"))


def _add(batch, op, params, bufs, out_shape):
    kh.OPS.setdefault(op, OPS[op])
    assert kh.OPS[op] == OPS[op], f"op code clash for {op}"
    return batch.add(op, params, bufs, np.int8, out_shape)


def _rq_params(rng, n, left_shifts):
    mult = rng.integers(1 << 30, 1 << 31, n, dtype=np.int64)
    lo = -3 if left_shifts else 0
    shift = rng.integers(-14, lo + 1, n)
    if not left_shifts:
        shift = np.minimum(shift, 0)
    shift[rng.random(n) < 0.15] = 0   # right shift 0: the sign fix-up must not apply
    if left_shifts:
        shift[rng.random(n) < 0.3] = rng.integers(1, 4)
    return mult.astype(np.int32), shift.astype(np.int32)


def _ort(op, rng):
    """Make op an onnxruntime-arithmetic layer: float32 scales (their bits as the portable kernels' multipliers)
    small enough that the requantized values stay in codegen/mve.py's proven range."""
    oc = len(op.params["mult"])
    fs = np.exp(rng.uniform(np.log(1e-5), np.log(2e-3), oc)).astype(np.float32)
    op.params.update(single_rounding=True, fscale=fs, mult=fs.view(np.int32).copy(), shift=np.zeros(oc, np.int32))
    return op


def _case(rng, kind, left_shifts):
    """(portable conv params, op-like object for codegen/mve.py, input, weights)."""
    if kind == "pw":
        h, w = int(rng.integers(1, 7)), int(rng.integers(1, 7))
        ic, oc = int(rng.choice([1, 3, 8, 15, 16, 17, 24, 31, 40, 48, 70])), int(rng.choice([1, 3, 4, 5, 8, 12, 22]))
        k, s, pad, c_out = 1, 1, 0, oc
        wshape = (oc, ic)
    elif kind == "conv":
        k = int(rng.choice([1, 2, 3, 5]))
        s = int(rng.choice([1, 2]))
        ic = int(rng.choice([c for c in (1, 2, 3, 4, 7, 16) if k * k * c <= mve.CONV_MAX_K]))
        oc = int(rng.choice([1, 4, 6, 16]))
        h, w = int(rng.integers(1, 9)), int(rng.integers(1, 9))
        pad, c_out = int(rng.integers(0, k)), oc
        wshape = (oc, k, k, ic)
    else:
        k = int(rng.choice([1, 3, 5, 7]))
        s = int(rng.choice([1, 2, 3]))
        ic = int(rng.choice([1, 4, 7, 16, 20, 33, 48]))
        h, w = int(rng.integers(1, 10)), int(rng.integers(1, 10))
        pad = int(rng.integers(0, k))
        c_out = oc = ic
        wshape = (k * k, ic)
    out_h, out_w = (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1
    if out_h < 1 or out_w < 1:
        return None
    act = rng.choice(["full", "relu6"])
    out_offset = int(rng.integers(-128, 128))
    act_min, act_max = (-128, 127) if act == "full" else (out_offset, min(127, out_offset + 60))
    p = dict(in_h=h, in_w=w, in_c=ic, out_h=out_h, out_w=out_w, out_c=c_out, k_h=k, k_w=k, stride_h=s, stride_w=s,
             dil_h=1, dil_w=1, pad_top=pad, pad_left=pad, depth_multiplier=1, in_offset=int(rng.integers(-127, 129)),
             out_offset=out_offset, act_min=act_min, act_max=act_max)
    mult, shift = _rq_params(rng, oc, left_shifts)
    big = rng.random() < 0.2  # biases near the int32 limits: VQRDMULH saturation, wrap-free folded bias
    bias = rng.integers(-(1 << 28) if big else -5000, (1 << 28) if big else 5000, oc).astype(np.int32)
    weights = rng.integers(-128, 128, wshape, dtype=np.int8)
    x = rng.integers(-128, 128, (h, w, ic), dtype=np.int8)
    if kind == "dw" and rng.random() < 0.3:  # extremes: the int16 pair sums at their bound (and past it: t1)
        weights = rng.choice(np.array([-128, -127, 127], np.int8), wshape)
        x = rng.choice(np.array([-128, 127], np.int8), (h, w, ic))
    op = SimpleNamespace(params=dict(p, mult=mult, shift=shift), constants={"bias": bias, "weights": weights})
    return p, op, x, weights, bias, mult, shift


def _batches(seed, n, kinds, left_shifts, cm=False, ort=False):
    """n random cases: the portable kernels' batch (run on QEMU and on the host) and the MVE kernels' batch."""
    rng = np.random.default_rng(seed)
    port, fast = kh.Batch(), kh.Batch()
    while len(port.cases) < n:
        kind = str(rng.choice(kinds))
        c = _case(rng, kind, left_shifts)
        if c is None:
            continue
        p, op, x, weights, bias, mult, shift = c
        if ort:
            op = _ort(op, rng)
            mult, shift = op.params["mult"], op.params["shift"]
            if mve.rq_table(op, weights.reshape(weights.shape[0], -1) if kind != "dw" else
                            np.ascontiguousarray(weights.T)) is None:
                continue
        conv = [v for f, v in zip(kh.header_struct_fields("te_conv_params"), kh.struct_values("te_conv_params", p))
                if f not in ("out_stride", "groups")]  # the driver's 19 conv fields (contiguous, ungrouped)
        out_shape = (p["out_h"], p["out_w"], p["out_c"])
        if kind == "conv":
            table, lsh = mve.rq_table(op, weights.reshape(p["out_c"], -1))
            _add(port, "conv", conv, [x, weights, bias, mult, shift], out_shape)
            _add(fast, "conv_lsh_mve" if lsh else "conv_mve", conv, [x, mve.pack_conv(weights), table], out_shape)
        elif kind == "pw":
            table, lsh = mve.rq_table(op, weights)
            _add(port, "conv_1x1", conv, [x, weights, bias, mult, shift], out_shape)
            pw_p = [p["out_h"] * p["out_w"], p["in_c"], p["out_c"], p["in_offset"], p["out_offset"], p["act_min"],
                    p["act_max"]]
            _add(fast, "pw_lsh_mve" if lsh else "pw_mve", pw_p, [x, mve.pack_pointwise(weights), table], out_shape)
        else:
            if cm and not mve.dw_cm_applies(p, False):
                continue
            table, lsh = mve.rq_table(op, np.ascontiguousarray(weights.T))
            _add(port, "dwconv", conv, [x, weights.reshape(-1), bias, mult, shift], out_shape)
            if cm and mve.dw_cm_applies(p, lsh):
                _add(fast, "dw_cm_mve", conv, [x, np.ascontiguousarray(weights.T), table], out_shape)
            else:
                table, lsh = mve.dw_table(op, weights)
                _add(fast, DW_OPS[mve.dw_function(weights, lsh, p["k_h"], p["k_w"])], conv, [x, mve.pack_depthwise(weights), table],
                     out_shape)
    return port, fast


def _check(m55_driver, host_driver, port, fast, what):
    expected = port.run(host_driver)
    got_port, got = dh.run(m55_driver, port, M55), dh.run(m55_driver, fast, M55)
    for i, (g, gp, e) in enumerate(zip(got, got_port, expected)):
        assert gp.tobytes() == e.tobytes(), f"portable {what} case {i} differs on {M55}"
        assert g.tobytes() == e.tobytes(), f"MVE {what} case {i}: {port.cases[i].params}"


@pytest.mark.parametrize("left_shifts", [False, True])
def test_pointwise_mve_matches_portable(m55_driver, host_driver, left_shifts):
    port, fast = _batches(1 + left_shifts, 40, ["pw"], left_shifts)
    _check(m55_driver, host_driver, port, fast, "pointwise")


@pytest.mark.parametrize("left_shifts", [False, True])
def test_depthwise_mve_matches_portable(m55_driver, host_driver, left_shifts):
    port, fast = _batches(11 + left_shifts, 30, ["dw"], left_shifts)
    _check(m55_driver, host_driver, port, fast, "depthwise")


@pytest.mark.parametrize("left_shifts", [False, True])
def test_small_window_conv_mve_matches_portable(m55_driver, host_driver, left_shifts):
    port, fast = _batches(31 + left_shifts, 25, ["conv"], left_shifts)
    _check(m55_driver, host_driver, port, fast, "conv")


def test_fully_connected_mve_matches_portable(m55_driver, host_driver):
    rng = np.random.default_rng(51)
    port, fast = kh.Batch(), kh.Batch()
    for _ in range(25):
        batches, in_n, out_n = int(rng.integers(1, 4)), int(rng.integers(1, 90)), int(rng.integers(1, 12))
        per_channel = int(rng.integers(0, 2))
        out_offset = int(rng.integers(-128, 128))
        p = [batches, in_n, out_n, int(rng.integers(-127, 129)), out_offset, -128 if rng.random() < 0.5 else out_offset,
             127, per_channel]
        x = rng.integers(-128, 128, (batches, in_n), dtype=np.int8)
        w = rng.integers(-128, 128, (out_n, in_n), dtype=np.int8)
        bias = rng.integers(-20000, 20000, out_n).astype(np.int32)
        scale = np.exp(rng.uniform(np.log(1e-5), np.log(1e-2), out_n if per_channel else 1))
        _add(port, "fc_dscale", p, [x, w, bias, scale], (batches, out_n))
        _add(fast, "fc_mve", p, [x, w, mve.fold_bias(w, bias, p[3]).astype(np.int32), scale], (batches, out_n))
    _check(m55_driver, host_driver, port, fast, "fully connected")


def _quant_batches(seed, n):
    """float32 -> int8 cases: random values, x / scale on and next to half-integers (the guard's fallback), and
    NaN, infinities, zeros, subnormals, huge values, the saturation edges."""
    rng = np.random.default_rng(seed)
    port, fast = kh.Batch(), kh.Batch()
    for _ in range(n):
        scale = float(np.exp(rng.uniform(np.log(1e-5), np.log(4.0))))  # a double: the kernel rounds it to float32
        zp = int(rng.integers(-128, 128))
        fs = np.float32(scale)
        x = (rng.uniform(-300, 300, int(rng.integers(1, 300))) * fs).astype(np.float32)
        ties = ((np.arange(-300, 301, dtype=np.float32) + np.float32(0.5)) * fs).astype(np.float32)
        near = np.concatenate([np.nextafter(ties, np.float32(np.inf)), np.nextafter(ties, -np.float32(np.inf))])
        special = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45, 3e38, -3e38, 4096 * fs,
                            -4096 * fs, 4095.5 * fs, -4095.5 * fs, 2.0 ** 31 * fs, -(2.0 ** 31) * fs], np.float32)
        x = np.concatenate([x, ties, near, special]).astype(np.float32)
        x = x[rng.permutation(x.size)]
        assert mve.quantize_ok(scale)
        bufs = [np.array([scale], np.float64), x]
        _add(port, "quant", [x.size, zp], bufs, (x.size,))
        _add(fast, "quant_mve", [x.size, zp], bufs, (x.size,))
    return port, fast


def test_quantize_mve_matches_portable(m55_driver, host_driver):
    port, fast = _quant_batches(61, 10)
    _check(m55_driver, host_driver, port, fast, "quantize")


def _add_batch(p, lin, x1, x2):
    port, fast = kh.Batch(), kh.Batch()
    p = dict(p, n=x1.size)
    _add(port, "add", kh.struct_values("te_add_params", p), [x1, x2], (x1.size,))
    _add(fast, "add_lin_mve", [x1.size, *lin, p["act_min"], p["act_max"]], [x1, x2], (x1.size,))
    return port, fast


def test_add_linear_mve_matches_portable(m55_driver, host_driver):
    """te_add_s8_lin_mve vs te_add_s8: one parameter set on all 65,536 int8 pairs (two QEMU runs: the driver's
    input buffer), then random parameter sets and lengths (the predicated tail)."""
    from tinyengine_tvm.codegen import dsp
    from .test_dsp_conv import _add_params

    rng = np.random.default_rng(71)
    sets = []
    while len(sets) < 9:
        p = _add_params(rng)
        lin = dsp.add_linear(p)
        if lin is not None:
            sets.append((p, lin))
    g = np.arange(-128, 128, dtype=np.int8)
    for half in (g[:128], g[128:]):
        port, fast = _add_batch(*sets[0], np.repeat(g, 128), np.tile(half, 256))
        _check(m55_driver, host_driver, port, fast, "add (every pair)")
    port, fast = kh.Batch(), kh.Batch()
    for p, lin in sets[1:]:
        n = int(rng.integers(1, 300))
        pp, ff = _add_batch(p, lin, *rng.integers(-128, 128, (2, n), dtype=np.int8))
        port.cases += pp.cases
        fast.cases += ff.cases
    _check(m55_driver, host_driver, port, fast, "add")


def test_depthwise_channel_major_mve_matches_portable(m55_driver, host_driver):
    port, fast = _batches(21, 30, ["dw"], False, cm=True)
    assert all(c.op == OPS["dw_cm_mve"] for c in fast.cases)
    _check(m55_driver, host_driver, port, fast, "channel-major depthwise")


def test_mve_kernels_onnxruntime_arithmetic(tmp_path_factory):
    """TE_SINGLE_ROUNDING build: every MVE kernel against the portable kernels of that build (on the host too)."""
    require_arm_tools()
    exe = build_m55_driver(tmp_path_factory.mktemp("mve_sr"), single_rounding=True)
    host = build_host_driver(tmp_path_factory.mktemp("mve_sr_host"), single_rounding=True)
    port, fast = _batches(41, 40, ["pw", "dw", "conv"], False, ort=True)
    cm_port, cm_fast = _batches(42, 12, ["dw"], False, cm=True, ort=True)
    q_port, q_fast = _quant_batches(43, 4)  # ties to even
    port.cases += cm_port.cases + q_port.cases
    fast.cases += cm_fast.cases + q_fast.cases
    _check(exe, host, port, fast, "onnxruntime-arithmetic")


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_mve_sweep(m55_driver, host_driver, seed):
    for part in range(5):  # 30 cases per QEMU run: the driver's input buffer fits the board's RAM
        port, fast = _batches(100 + 10 * seed + part, 30, ["pw", "dw", "conv"], seed % 2 == 1, cm=seed % 4 == 2)
        _check(m55_driver, host_driver, port, fast, f"sweep part {part}")


def _model_exact_on_m55(name, seed):
    require_arm_tools()
    cm = te.compile(model_path(name), target=M55)
    x = np.random.default_rng(seed).uniform(0.0 if name.startswith("lenet") else -1.0, 1.0,
                                            size=cm.inputs[0].shape).astype(np.float32)
    outs = cm.run([x])
    ref = run_litert(model_path(name), [x])
    for o, r in zip(outs, ref):
        assert o.tobytes() == r.tobytes()
    return cm


def test_lenet_on_m55_exact_with_litert():
    _model_exact_on_m55("lenet_mnist.tflite", 5)


@pytest.mark.slow
@pytest.mark.claims
def test_vww_on_m55_uses_mve_and_is_exact_with_litert(tmp_path):
    cm = _model_exact_on_m55("vww.tflite", 6)
    cm.export(str(tmp_path / "vww"))
    src = "".join(f.read_text() for f in (tmp_path / "vww").glob("*.c"))
    assert "te_conv2d_1x1_s8_mve(" in src and "te_depthwise_conv2d_s8_mve(" in src


def test_mve_variants_are_registry_entries(monkeypatch, tmp_path):
    """The MVE kernels are codegen/variants.py Variants (requires="mve", ranked ahead of the DSP ones, recorded in
    CompiledModel.chosen, offered to the tuner); TINYENGINE_MVE=0 gives the DSP path. No QEMU: emitted C only."""
    from tinyengine_tvm.codegen import variants

    names = {v.name: v for v in variants.variants() if v.requires == "mve"}
    assert {"pw_mve", "conv_mve", "dw_mve", "dw_cm_mve", "fc_mve"} <= set(names)
    cm = te.compile(model_path("lenet_mnist.tflite"), target=M55)
    cm.export(str(tmp_path / "mve"))
    fcs = [op.name for op in cm.graph.ops if op.kernel == "fully_connected"]
    assert fcs and all(cm.chosen[n]["variant"] == "fc_mve" for n in fcs)
    assert "te_fully_connected_s8_dscale_mve(" in (tmp_path / "mve" / "model.c").read_text()
    monkeypatch.setenv(mve.ENV_SWITCH, "0")
    cm = te.compile(model_path("lenet_mnist.tflite"), target=M55)
    cm.export(str(tmp_path / "dsp"))
    assert all(cm.chosen[n]["variant"] == "fc_dscale" for n in fcs)
    assert "_mve(" not in (tmp_path / "dsp" / "model.c").read_text()
