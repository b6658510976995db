"""onnxruntime's unfused float conv, bit for bit: KxK, strided / padded / dilated, depthwise and pointwise.

Where onnxruntime (x86 CPU EP) leaves a QDQ Conv unfused (it reads or writes a tensor with several
readers), it runs DequantizeLinear -> float Conv -> QuantizeLinear, and its float Conv is MLAS's:
im2col (k over (c, ky, kx)) and SGEMM, whose summation order depends on the shape and on the
session's thread count (codegen/quant.py ort_conv_schedule; codegen/kernels/conv2d_s8_f32.c):

* the FMA kernel: an fmaf chain per depth block (128 k, or 256 / 512 / 1024 for thread segments of
  at most 64 / 32 / 16 output pixels when K exceeds them), block sums added in float;
* one filter row per group (depthwise, depth multiplier 1): the M = 1 kernel, rounded products
  summed in groups of 4;
* one output pixel: the N = 1 kernel, 8 lane sums reduced by row position; a kernel as wide as the
  input with one channel per group: that kernel over the output pixels;
* then + the dequantized bias, then QuantizeLinear (x / y_scale, ties to even).

The references are onnxruntime's outputs: its float Conv's output bits (DequantizeLinear -> Conv, no
QuantizeLinear) against the kernel's float sums (a probe in test builds), and its QDQ model's int8
outputs against the kernel's and the compiled model's bytes.
"""

from __future__ import annotations

import ctypes
import os
import subprocess

import numpy as np
import pytest

from . import needs

import tinyengine_tvm as te
from tinyengine_tvm.codegen import quant

onnx = needs.module("onnx")
ort = needs.module("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from tinyengine_tvm.testing import onnx_models as om  # noqa: E402
from tinyengine_tvm.testing.qdq_graph import QDQGraph, conv_out_scale  # noqa: E402
from tinyengine_tvm.testing.qdq_graph import initializer as _init  # noqa: E402

f32 = np.float32
THREADS = 2  # the onnxruntime sessions here run this many intra-op threads; the compiler is told the same




def _pair(v):
    return (v, v) if np.isscalar(v) else tuple(v)


# ---------------------------------------------------------------------------------------------
# one conv: x -> Q -> DQ -> Conv (-> Q -> DQ), x's Q read twice (so onnxruntime leaves the conv unfused)


class _Case:
    def __init__(self, cin, cout, k, stride=1, pads=0, groups=1, hw=8, dil=1, per_channel=True, bias=True, seed=0):
        self.cin, self.cout, self.groups, self.per_channel, self.bias = cin, cout, groups, per_channel, bias
        self.kh, self.kw = _pair(k)
        self.h, self.w = _pair(hw)
        self.sh, self.sw = _pair(stride)
        self.pads = [pads] * 4 if np.isscalar(pads) else list(pads)  # top, left, bottom, right
        self.dh, self.dw = _pair(dil)
        rng = np.random.default_rng(seed)
        self.rng = rng
        self.wq = rng.integers(-127, 128, (cout, cin // groups, self.kh, self.kw)).astype(np.int8)
        self.ws = rng.uniform(0.002, 0.02, cout if per_channel else 1).astype(f32)
        self.b = rng.integers(-3000, 3000, cout).astype(np.int32)
        self.in_s, self.in_zp = f32(rng.uniform(0.005, 0.03)), int(rng.integers(-10, 10))
        fan = cin // groups * self.kh * self.kw
        self.out_s, self.out_zp = f32(self.in_s * 0.011 * 74 * 74 * np.sqrt(fan) * 2.5 / 127), int(rng.integers(-5, 5))
        self.oh = (self.h + self.pads[0] + self.pads[2] - self.dh * (self.kh - 1) - 1) // self.sh + 1
        self.ow = (self.w + self.pads[1] + self.pads[3] - self.dw * (self.kw - 1) - 1) // self.sw + 1

    def params(self):
        """annotate's conv params (te_conv_params)."""
        dw = self.groups > 1
        return {"in_h": self.h, "in_w": self.w, "in_c": self.cin, "out_h": self.oh, "out_w": self.ow, "out_c": self.cout,
                "k_h": self.kh, "k_w": self.kw, "stride_h": self.sh, "stride_w": self.sw, "dil_h": self.dh, "dil_w": self.dw,
                "pad_top": self.pads[0], "pad_left": self.pads[1], "depth_multiplier": self.cout // self.cin if dw else 1,
                "in_offset": -self.in_zp, "out_offset": self.out_zp, "act_min": -128, "act_max": 127}

    def model(self, quantized_output: bool):
        pc = self.per_channel
        ax = {"axis": 0} if pc else {}
        inits = [_init("xs", self.in_s), _init("xz", np.int8(self.in_zp)), _init("w", self.wq),
                 _init("ws", self.ws if pc else self.ws[0]),
                 _init("wz", np.zeros(self.cout, np.int8) if pc else np.int8(0)),
                 _init("ys", self.out_s), _init("yz", np.int8(self.out_zp))]
        nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
                 helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
                 helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd2"]),
                 helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wd"], **ax)]
        conv_in = ["xd", "wd"]
        if self.bias:
            bs = (self.in_s * self.ws).astype(f32)
            inits += [_init("b", self.b), _init("bs", bs if pc else bs[0]),
                      _init("bz", np.zeros(self.cout, np.int32) if pc else np.int32(0))]
            nodes.append(helper.make_node("DequantizeLinear", ["b", "bs", "bz"], ["bd"], **ax))
            conv_in.append("bd")
        nodes.append(helper.make_node("Conv", conv_in, ["c"], kernel_shape=[self.kh, self.kw], pads=self.pads,
                                      strides=[self.sh, self.sw], dilations=[self.dh, self.dw], group=self.groups))
        out = "c"
        if quantized_output:
            nodes += [helper.make_node("QuantizeLinear", ["c", "ys", "yz"], ["cq"]),
                      helper.make_node("DequantizeLinear", ["cq", "ys", "yz"], ["y"])]
            out = "y"
        nodes += [helper.make_node("Relu", ["xd2"], ["r"]),  # the second reader of x's QuantizeLinear
                  helper.make_node("QuantizeLinear", ["r", "xs", "xz"], ["rq"]),
                  helper.make_node("DequantizeLinear", ["rq", "xs", "xz"], ["y2"])]
        g = helper.make_graph(nodes, "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, self.cin, self.h, self.w])],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, None),
                               helper.make_tensor_value_info("y2", TensorProto.FLOAT, None)], inits)
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)

    def inputs(self, n):
        """(int8 NHWC, float NCHW whose QuantizeLinear gives exactly those int8 values) pairs."""
        for _ in range(n):
            q = self.rng.integers(-128, 128, (1, self.cin, self.h, self.w)).astype(np.int8)
            x = ((q.astype(np.int32) - self.in_zp).astype(f32) * self.in_s).astype(f32)
            yield np.ascontiguousarray(q.transpose(0, 2, 3, 1)), x


def _session(model, threads=THREADS):
    return ort.InferenceSession(model.SerializeToString(), om.session_options(threads), providers=["CPUExecutionProvider"])


def _ort_ops(model):
    return [n.op_type for n in om.ort_optimized(model)[1].graph.node]


class _ConvParams(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in (
        "in_h in_w in_c out_h out_w out_c k_h k_w stride_h stride_w dil_h dil_w pad_top pad_left depth_multiplier "
        "in_offset out_offset act_min act_max").split()]


class _F32Params(ctypes.Structure):
    _fields_ = [("seg_end", ctypes.c_int32 * 4), ("seg_kblock", ctypes.c_int32 * 4), ("out_scale", ctypes.c_float)]


def _build(out_dir, sanitize=False):
    from tinyengine_tvm.codegen.emitter import kernel_dir

    kd = kernel_dir()
    lib = os.path.join(out_dir, "libconvf32_asan.so" if sanitize else "libconvf32.so")
    flags = (["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
             if sanitize else ["-O2"])
    subprocess.run(["gcc", "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-Wshadow", "-Wconversion", *flags,
                    "-shared", "-fPIC", "-DTE_SINGLE_ROUNDING=1", "-DTE_CONV_F32_PROBE=1", f"-I{kd}", "-o", lib,
                    os.path.join(kd, "conv2d_s8_f32.c"), os.path.join(kd, "te_requantize.c"), "-lm"], check=True)
    return lib


@pytest.fixture(scope="module")
def conv_lib(tmp_path_factory):
    return ctypes.CDLL(_build(str(tmp_path_factory.mktemp("convf32"))))


def _ptr(a, t):
    return a.ctypes.data_as(ctypes.POINTER(t))


def _run_kernel(lib, case: _Case, q_nhwc, sched, probe=True):
    """(int8 output NCHW, float sums NCHW) of te_conv2d_s8_f32 / te_depthwise_conv2d_s8_f32."""
    p = case.params()
    ws = np.broadcast_to(case.ws, (case.cout,)).astype(f32).copy()
    tab = quant.ort_dequant_table(case.in_s, case.in_zp)
    bias_f = (case.b.astype(f32) * (case.in_s * ws).astype(f32)).astype(f32)
    dw = case.groups > 1
    if dw:
        w = np.ascontiguousarray(case.wq.reshape(case.cout, case.kh, case.kw).transpose(1, 2, 0))
    else:
        w = np.ascontiguousarray(case.wq.transpose(0, 2, 3, 1))
    cp = _ConvParams(*[int(p[f]) for f, _ in _ConvParams._fields_])
    fp = _F32Params((ctypes.c_int32 * 4)(*sched["seg_end"]), (ctypes.c_int32 * 4)(*sched["seg_kblock"]), case.out_s)
    modes = np.asarray(sched["row_mode"], np.int8)
    out = np.zeros((case.oh, case.ow, case.cout), np.int8)
    sums = np.zeros((case.oh, case.ow, case.cout), f32)
    probe_ptr = ctypes.c_void_p.in_dll(lib, "te_conv_f32_probe")
    probe_ptr.value = sums.ctypes.data if probe else None
    fn = lib.te_depthwise_conv2d_s8_f32 if dw else lib.te_conv2d_s8_f32
    fn(ctypes.byref(cp), ctypes.byref(fp), _ptr(q_nhwc, ctypes.c_int8), _ptr(w, ctypes.c_int8), _ptr(tab, ctypes.c_float),
       _ptr(ws, ctypes.c_float), _ptr(bias_f, ctypes.c_float) if case.bias else None,
       _ptr(modes, ctypes.c_int8) if modes.any() else None, _ptr(out, ctypes.c_int8))
    probe_ptr.value = None
    return out.transpose(2, 0, 1)[None].astype(np.int32), sums.transpose(2, 0, 1)[None]


def _check_case(lib, case: _Case, threads=THREADS, n_inputs=2):
    """(float sums differing from onnxruntime's float Conv, int8 outputs differing from its QDQ model, outputs)."""
    sched = quant.ort_conv_schedule(case.params(), case.groups, threads)
    float_sess, q_sess = _session(case.model(False), threads), _session(case.model(True), threads)
    bad_f = bad_q = total = 0
    for q, x in case.inputs(n_inputs):
        ours_q, ours_f = _run_kernel(lib, case, q, sched)
        ref_f = float_sess.run(["c"], {"x": x})[0]
        ref_q = (np.rint(q_sess.run(["y"], {"x": x})[0] / case.out_s) + case.out_zp).astype(np.int32)
        bad_f += int((ours_f.view(np.int32) != ref_f.view(np.int32)).sum())
        bad_q += int((ours_q != ref_q).sum())
        total += ref_q.size
    return bad_f, bad_q, total


# shapes chosen to reach each of MLAS's paths (the schedule's row modes / depth blocks in the comment)
CASES = {
    "3x3_s1_p1_k144": dict(cin=16, cout=16, k=3, pads=1, hw=16),                 # FMA, 128-deep blocks
    "3x3_s1_p1_k288_seg": dict(cin=32, cout=24, k=3, pads=1, hw=11),             # 2 segments, 256-deep blocks
    "5x5_s2_p2_per_tensor": dict(cin=8, cout=12, k=5, stride=2, pads=2, hw=13, per_channel=False),
    "3x3_dil2_asym_pad": dict(cin=6, cout=10, k=3, dil=2, pads=(2, 1, 0, 2), hw=(9, 11)),
    "3x3_k2700": dict(cin=300, cout=8, k=3, pads=1, hw=6, seed=3),               # 1024-deep blocks, 3 blocks
    "1x1_s2": dict(cin=40, cout=16, k=1, stride=2, hw=9),
    "1x1_k256_small_n": dict(cin=256, cout=32, k=1, hw=6),                       # pointwise, 256-deep blocks
    "1x1_one_pixel": dict(cin=200, cout=7, k=1, hw=1),                           # N = 1 kernel, rows 4 + 2 + 1
    "conv_one_filter": dict(cin=20, cout=1, k=3, pads=1, hw=7),                  # M = 1 kernel
    "dw3x3_s1": dict(cin=24, cout=24, k=3, pads=1, groups=24, hw=12),            # M = 1 kernel
    "dw3x3_s2_no_bias": dict(cin=16, cout=16, k=3, stride=2, pads=1, groups=16, hw=11, bias=False),
    "dw5x5_dm2": dict(cin=8, cout=16, k=5, pads=2, groups=8, hw=7),              # FMA (2 rows per group)
    "dw5x5_one_pixel_dm3": dict(cin=4, cout=12, k=5, groups=4, hw=5),            # N = 1 kernel, rows 2 + 1
    "dw_kernel_as_wide": dict(cin=8, cout=8, k=(3, 5), groups=8, hw=(11, 5)),    # transposed-B M = 1 kernel
    "dw_kernel_as_tall": dict(cin=3, cout=3, k=(4, 1), groups=3, hw=(4, 9)),     # GemmDirect, M = 1 kernel
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_kernel_matches_onnxruntime_float_conv(conv_lib, name):
    case = _Case(**CASES[name])
    assert "QLinearConv" not in _ort_ops(case.model(True))  # onnxruntime really runs the float Conv
    bad_f, bad_q, total = _check_case(conv_lib, case)
    assert (bad_f, bad_q) == (0, 0), (name, bad_f, bad_q, total)


def test_schedule_reaches_every_mlas_path():
    """The cases above exercise each row mode and depth blocks beyond 128 (so the checks mean something)."""
    modes, kblocks = set(), set()
    for kw in CASES.values():
        c = _Case(**kw)
        s = quant.ort_conv_schedule(c.params(), c.groups, THREADS)
        modes |= set(s["row_mode"])
        kblocks |= {kb for kb in s["seg_kblock"] if kb < c.cin // c.groups * c.kh * c.kw}
    assert modes == {0, 1, 2, 3, 4, 5}, modes
    assert {128, 256, 1024} <= kblocks, kblocks


def test_float_sums_discriminate_summation_orders(conv_lib):
    """A wrong order (one FMA chain, the 128-deep blocks of te_conv2d_1x1_s8_f32, FMA for a depthwise
    conv) changes most float sums: the bit comparison above would catch it."""
    for name, wrong in (("3x3_s1_p1_k144", {"seg_kblock": [1 << 20] * 4}),
                        ("3x3_k2700", {"seg_kblock": [128] * 4}),
                        ("1x1_k256_small_n", {"seg_kblock": [128] * 4}),
                        ("dw3x3_s1", {"row_mode": [0] * 24})):
        case = _Case(**CASES[name])
        sched = dict(quant.ort_conv_schedule(case.params(), case.groups, THREADS), **wrong)
        q, x = next(case.inputs(1))
        ref = _session(case.model(False)).run(["c"], {"x": x})[0]
        _, sums = _run_kernel(conv_lib, case, q, sched)
        assert (sums.view(np.int32) != ref.view(np.int32)).mean() > 0.2, name


@pytest.mark.parametrize("threads", [1, 3])
def test_depth_blocks_follow_the_thread_count(conv_lib, threads):
    """MLAS splits the conv's columns over the session's threads; the depth block follows the segment."""
    case = _Case(cin=32, cout=32, k=3, pads=1, hw=8, seed=5)  # K = 288, N = 64
    blocks = {t: quant.ort_conv_schedule(case.params(), 1, t)["seg_kblock"][0] for t in (1, 2)}
    assert blocks[1] != blocks[2]  # 256 for one 64-column segment, 512 for 32-column ones
    assert _check_case(conv_lib, case, threads=threads)[:2] == (0, 0)


def _c_array(ctype, name, values):
    vals = ", ".join(float(v).hex() + "f" if ctype == "float" else str(int(v)) for v in np.asarray(values).reshape(-1))
    return f"static const {ctype} {name}[] = {{{vals}}};\n"


def _sanitized_outputs(case: _Case, q_nhwc, sched, tmp_path):
    """The kernel's int8 outputs from a C driver built with ASan and UBSan (a bad access aborts it)."""
    from tinyengine_tvm.codegen.emitter import kernel_dir

    kd = kernel_dir()
    p = case.params()
    ws = np.broadcast_to(case.ws, (case.cout,)).astype(f32)
    dw = case.groups > 1
    w = case.wq.reshape(case.cout, case.kh, case.kw).transpose(1, 2, 0) if dw else case.wq.transpose(0, 2, 3, 1)
    n_out = case.oh * case.ow * case.cout
    fields = ", ".join(f".{f} = {int(p[f])}" for f, _ in _ConvParams._fields_)  # later fields (out_stride ...) 0
    src = ['#include <stdio.h>', '#include "tinyengine_kernels.h"',
           _c_array("int8_t", "in", q_nhwc), _c_array("int8_t", "w", w),
           _c_array("float", "tab", quant.ort_dequant_table(case.in_s, case.in_zp)), _c_array("float", "ws", ws),
           _c_array("float", "bias_f", (case.b.astype(f32) * (case.in_s * ws).astype(f32)).astype(f32)),
           _c_array("int8_t", "modes", sched["row_mode"]),
           f"static const te_conv_params p = {{{fields}}};",
           "static const te_conv_f32_params f = {{%s}, {%s}, %sf};" % (
               ", ".join(map(str, sched["seg_end"])), ", ".join(map(str, sched["seg_kblock"])), float(case.out_s).hex()),
           f"static int8_t out[{n_out}];",
           "int main(void) {",
           f"  {'te_depthwise_conv2d_s8_f32' if dw else 'te_conv2d_s8_f32'}(&p, &f, in, w, tab, ws, "
           f"{'bias_f' if case.bias else 'NULL'}, modes, out);",
           f"  fwrite(out, 1, {n_out}, stdout);", "  return 0;", "}"]
    c = tmp_path / "driver.c"
    c.write_text("\n".join(src) + "\n")
    exe = tmp_path / "driver"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", "-g", "-fsanitize=address,undefined",
                    "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-DTE_SINGLE_ROUNDING=1", f"-I{kd}",
                    "-o", str(exe), str(c), os.path.join(kd, "conv2d_s8_f32.c"), os.path.join(kd, "te_requantize.c"), "-lm"],
                   check=True)
    r = subprocess.run([str(exe)], capture_output=True, check=True)
    out = np.frombuffer(r.stdout, np.int8).reshape(case.oh, case.ow, case.cout)
    return out.transpose(2, 0, 1)[None].astype(np.int32)


@pytest.mark.parametrize("name", ["3x3_dil2_asym_pad", "dw5x5_one_pixel_dm3", "dw_kernel_as_wide"])
def test_kernel_clean_under_asan_ubsan(name, tmp_path):
    case = _Case(**CASES[name])
    sched = quant.ort_conv_schedule(case.params(), case.groups, THREADS)
    q, x = next(case.inputs(1))
    ref = np.rint(_session(case.model(True)).run(["y"], {"x": x})[0] / case.out_s) + case.out_zp
    np.testing.assert_array_equal(_sanitized_outputs(case, q, sched, tmp_path), ref.astype(np.int32))


# ---------------------------------------------------------------------------------------------
# whole compiled models


def residual_net(seed, c, hw, k=3, depthwise=False, per_channel=True):
    """x -> conv k x k -> t; t -> conv k x k -> u; y = (u + t) + x: both convs read or write a tensor with two
    readers (x, t), so onnxruntime runs both in float."""
    b = QDQGraph(seed)
    in_s = 0.011
    x, xq, xn = b.qdq("x", in_s, -4)
    g = c if depthwise else 1
    fan = (1 if depthwise else c) * k * k
    s1 = conv_out_scale(in_s, fan)
    t, tq, tn = b.qdq(b.conv(x, c, c, k, in_s, groups=g, per_channel=per_channel), s1, 3)
    s2 = conv_out_scale(s1, fan)
    u, _, _ = b.qdq(b.conv(t, c, c, k, s1, groups=g, per_channel=per_channel), s2, -2)
    a, _, _ = b.qdq(b.add(u, b.dq(tq, tn)), s2 * 1.3, 0)
    y, _, _ = b.qdq(b.add(a, b.dq(xq, xn)), s2 * 1.5, 1)
    return b.model(y, [1, c, hw, hw], [1, c, hw, hw])


def _compiled_vs_onnxruntime(model, n, seed, monkeypatch, sanitize=False):
    monkeypatch.setenv("TINYENGINE_ORT_THREADS", str(THREADS))
    cm = te.compile(model, arithmetic="onnxruntime")
    sess = _session(model)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    dq = [nd for nd in model.graph.node if nd.output[0] == model.graph.output[0].name][0]
    s, zp = f32(inits[dq.input[1]]), int(inits[dq.input[2]])
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    rng = np.random.default_rng(seed)
    ours, ref = [], []
    for _ in range(n):
        x = rng.uniform(-1.4, 1.4, shape).astype(f32)
        ref.append(np.rint(sess.run(None, {"x": x})[0] / s) + zp)
        y = cm.run([np.ascontiguousarray(x.transpose(0, 2, 3, 1))], sanitize=sanitize)[0]
        ours.append(np.rint(y.transpose(0, 3, 1, 2) / s) + zp)
    return cm, np.concatenate(ours), np.concatenate(ref)


def _project_sources(cm, tmp_path):
    d = str(tmp_path / "proj")
    cm.export(d)
    with open(os.path.join(d, "model.c")) as f:
        return os.listdir(os.path.join(d, "kernels")), f.read()


@pytest.mark.parametrize("kw", [dict(seed=1, c=32, hw=10), dict(seed=2, c=24, hw=9, depthwise=True),
                                dict(seed=3, c=20, hw=8, k=5, per_channel=False)],
                         ids=["conv3x3", "depthwise3x3", "conv5x5_per_tensor"])
def test_residual_net_bytes_equal_onnxruntime(kw, monkeypatch, tmp_path):
    model = residual_net(**kw)
    ops = _ort_ops(model)
    assert ops.count("Conv") == 2 and "QLinearConv" not in ops, ops
    cm, ours, ref = _compiled_vs_onnxruntime(model, 4, kw["seed"], monkeypatch)
    np.testing.assert_array_equal(ours, ref)
    assert cm.report()["onnxruntime_host"] == {"intra_op_threads": THREADS}  # what the order reproduces
    kernels, model_c = _project_sources(cm, tmp_path)
    fn = "te_depthwise_conv2d_s8_f32(" if kw.get("depthwise") else "te_conv2d_s8_f32("
    assert model_c.count(fn) == 2 and "conv2d_s8_f32.c" in kernels


def test_residual_net_under_sanitizers(monkeypatch):
    """The generated project (the float conv kernels included) built with ASan/UBSan gives the same bytes."""
    model = residual_net(seed=4, c=16, hw=7, depthwise=True)
    _, ours, ref = _compiled_vs_onnxruntime(model, 1, 4, monkeypatch, sanitize=True)
    np.testing.assert_array_equal(ours, ref)
    model = residual_net(seed=5, c=16, hw=6)
    _, ours, ref = _compiled_vs_onnxruntime(model, 1, 5, monkeypatch, sanitize=True)
    np.testing.assert_array_equal(ours, ref)


def test_cortex_m_targets_keep_the_float_kernels(monkeypatch, tmp_path):
    """On DSP cores, the ONNX graph's KxK float convs keep their kernels: no DSP kernel replaces them (pointwise ones
    take te_conv2d_1x1_s8_f32_fpu: tests/test_arithmetic.py; other layers may take DSP kernels built with
    onnxruntime's requantization: tests/test_dsp_ort.py)."""
    monkeypatch.setenv("TINYENGINE_ORT_THREADS", str(THREADS))
    model = residual_net(seed=6, c=16, hw=6)
    for target in ("cortex-m4", "cortex-m7"):
        cm = te.compile(model, target=target, arithmetic="onnxruntime")
        d = str(tmp_path / target)
        cm.export(d)
        kernels = os.listdir(os.path.join(d, "kernels"))
        with open(os.path.join(d, "model.c")) as f:
            model_c = f.read()
        assert "conv2d_s8_f32.c" in kernels, kernels
        assert model_c.count("te_conv2d_s8_f32(") == 2, target


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_kernel_sweep_against_onnxruntime(conv_lib, seed):
    """Random geometries (kernel 1..7 and non-square, stride 1..3, padding, dilation, input channels up to
    300, depthwise with multipliers, tiny outputs) and 1..6 threads: 0 differing float sums and bytes."""
    rng = np.random.default_rng(100 + seed)
    checked = 0
    while checked < 250:
        kh, kw = int(rng.choice([1, 2, 3, 5, 7])), int(rng.choice([1, 2, 3, 5]))
        h, w = int(rng.integers(1, 16)), int(rng.integers(1, 16))
        if rng.random() < 0.2:
            w = kw
        stride = (int(rng.choice([1, 1, 2, 3])), int(rng.choice([1, 1, 2])))
        pads = [int(rng.integers(0, min(kh, 3))) if rng.random() < 0.5 else 0,
                int(rng.integers(0, min(kw, 3))) if rng.random() < 0.5 else 0,
                int(rng.integers(0, min(kh, 3))) if rng.random() < 0.5 else 0,
                int(rng.integers(0, min(kw, 3))) if rng.random() < 0.5 else 0]
        dil = (int(rng.choice([1, 1, 2])) if kh > 1 else 1, int(rng.choice([1, 1, 2])) if kw > 1 else 1)
        h = max(h, dil[0] * (kh - 1) + 1 - pads[0] - pads[2])
        w = max(w, dil[1] * (kw - 1) + 1 - pads[1] - pads[3])
        if rng.random() < 0.4:
            cin = int(rng.choice([1, 2, 3, 8, 16, 24]))
            cout, groups = cin * int(rng.choice([1, 1, 2, 3])), cin
        else:
            cin, cout, groups = int(rng.choice([1, 3, 5, 16, 31, 64, 100, 160, 300])), int(rng.choice([1, 2, 3, 5, 8, 16, 32, 64])), 1
        if cout * (cin // groups) * kh * kw * h * w > 3e6:  # keep each case well under a second
            continue
        case = _Case(cin, cout, (kh, kw), stride, pads, groups, (h, w), dil, per_channel=bool(rng.random() < 0.6),
                     bias=bool(rng.random() < 0.8), seed=int(rng.integers(0, 1 << 30)))
        if case.oh < 1 or case.ow < 1:
            continue
        threads = int(rng.choice([1, 2, 3, 4, 6]))
        bad_f, bad_q, total = _check_case(conv_lib, case, threads=threads, n_inputs=1)
        assert (bad_f, bad_q) == (0, 0), (case.params(), groups, threads, bad_f, bad_q, total)
        checked += 1
