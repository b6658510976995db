"""Tests of the canonicalization passes for ONNX/PyTorch graphs (``relay_passes.canonicalize()``).

TVM style: a TVMScript ``Before``, the ``Expected`` module, ``tvm.ir.assert_structural_equal``,
and a numerical check that ``Before`` and the rewritten module compute the same result on the
Relax VM (``tvm.compile(..., target="llvm")``). Constants come from the enclosing Python scope.
"""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from tvm import relax
from tvm.script import ir as I
from tvm.script import relax as R

from tinyengine_tvm.relay_passes import (
    CanonicalizeClip,
    ConvertToNHWC,
    FoldConstantLayout,
    RemoveIdentityRequantize,
    canonicalize,
    pipeline,
)


def _run(mod, inputs):
    ex = tvm.compile(mod, target="llvm")
    vm = relax.VirtualMachine(ex, tvm.cpu())
    out = vm["main"](*[tvm.runtime.tensor(a) for a in inputs])
    return out.numpy() if hasattr(out, "numpy") else [o.numpy() for o in out]


def _op_names(func):
    names = []
    relax.analysis.post_order_visit(func, lambda e: names.append(str(e.op.name))
                                    if isinstance(e, relax.Call) and isinstance(e.op, tvm.ir.Op) else None)
    return names


S = relax.const(np.float32(0.05))
Z = relax.const(np.int8(3))
S2 = relax.const(np.float32(0.07))


# ------------------------------------------------------------------------- RemoveIdentityRequantize


def test_remove_identity_requantize_around_reshape():
    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 1, 1, 8), "int8")):
            with R.dataflow():
                d = R.dequantize(x, S, Z, axis=3)
                r = R.reshape(d, R.shape([1, 8]))
                q = R.quantize(r, S, Z, axis=1, out_dtype="int8")
                R.output(q)
            return q

    @I.ir_module
    class Expected:
        @R.function
        def main(x: R.Tensor((1, 1, 1, 8), "int8")):
            with R.dataflow():
                q = R.reshape(x, R.shape([1, 8]))
                R.output(q)
            return q

    after = RemoveIdentityRequantize(Before)
    tvm.ir.assert_structural_equal(after, Expected)
    x = np.random.default_rng(0).integers(-128, 128, (1, 1, 1, 8), dtype=np.int8)
    np.testing.assert_array_equal(_run(Before, [x]), _run(after, [x]))


def test_remove_identity_requantize_keeps_real_requantize():
    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 8), "int8")):
            with R.dataflow():
                d = R.dequantize(x, S, Z, axis=1)
                q = R.quantize(d, S2, Z, axis=1, out_dtype="int8")
                R.output(q)
            return q

    tvm.ir.assert_structural_equal(RemoveIdentityRequantize(Before), Before)


# ------------------------------------------------------------------------------- CanonicalizeClip


def test_canonicalize_clip_from_maximum_minimum():
    lo, hi = relax.const(np.float32(0.0)), relax.const(np.float32(6.0))

    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 4, 4, 2), "float32")):
            with R.dataflow():
                a = R.maximum(x, lo)
                b = R.minimum(a, hi)
                R.output(b)
            return b

    @I.ir_module
    class Expected:
        @R.function
        def main(x: R.Tensor((1, 4, 4, 2), "float32")):
            with R.dataflow():
                b = R.clip(x, R.prim_value(T_f64(0.0)), R.prim_value(T_f64(6.0)))
                R.output(b)
            return b

    after = CanonicalizeClip(Before)
    tvm.ir.assert_structural_equal(after, Expected)
    x = np.random.default_rng(1).uniform(-3, 9, (1, 4, 4, 2)).astype(np.float32)
    np.testing.assert_array_equal(_run(Before, [x]), _run(after, [x]))


def T_f64(v):
    return tvm.tirx.FloatImm("float64", v) if hasattr(tvm, "tirx") else tvm.tir.FloatImm("float64", v)


def test_canonicalize_clip_on_onnx_clip_v13():
    """TVM's ONNX importer writes Clip(opset 13) as call_tir maximum/minimum behind where(isnan(bound))."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from tvm.relax.frontend.onnx import from_onnx

    g = helper.make_graph(
        [helper.make_node("Clip", ["x", "lo", "hi"], ["y"])], "clip",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 3, 3])],
        [numpy_helper.from_array(np.float32(-1.5), "lo"), numpy_helper.from_array(np.float32(2.0), "hi")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    mod = from_onnx(m, keep_params_in_input=False)
    assert "relax.clip" not in _op_names(mod["main"])
    after = CanonicalizeClip(mod)
    assert [n for n in _op_names(after["main"]) if n != "relax.call_tir"] == ["relax.clip"]
    assert "relax.call_tir" not in _op_names(after["main"])
    x = np.random.default_rng(2).uniform(-4, 4, (1, 2, 3, 3)).astype(np.float32)
    np.testing.assert_array_equal(_run(after, [x]), np.clip(x, -1.5, 2.0))
    np.testing.assert_array_equal(_run(mod, [x]), _run(after, [x]))


# ---------------------------------------------------------------------------------- ConvertToNHWC


W_OIHW = relax.const(np.random.default_rng(3).normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32))
W_DW = relax.const(np.random.default_rng(4).normal(0, 0.3, (4, 1, 3, 3)).astype(np.float32))


def test_convert_to_nhwc_qdq_conv_clip_mean():
    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 3, 8, 8), "float32")):
            with R.dataflow():
                q = R.quantize(x, S, Z, axis=1, out_dtype="int8")
                d = R.dequantize(q, S, Z, axis=1)
                y = R.nn.conv2d(d, W_OIHW, padding=[1, 1, 1, 1])
                r = R.clip(y, 0.0, 6.0)
                m = R.mean(r, axis=[2, 3], keepdims=False)
                R.output(m)
            return m

    @I.ir_module
    class Expected:
        @R.function
        def main(x: R.Tensor((1, 8, 8, 3), "float32")):
            with R.dataflow():
                q = R.quantize(x, S, Z, axis=3, out_dtype="int8")
                d = R.dequantize(q, S, Z, axis=3)
                w = R.permute_dims(W_OIHW, axes=[2, 3, 1, 0])
                y = R.nn.conv2d(d, w, padding=[1, 1, 1, 1], data_layout="NHWC", kernel_layout="HWIO", out_layout="NHWC")
                r = R.clip(y, 0.0, 6.0)
                m = R.mean(r, axis=[1, 2], keepdims=False)
                R.output(m)
            return m

    after = ConvertToNHWC(Before)
    tvm.ir.assert_structural_equal(after, Expected)
    x = np.random.default_rng(5).uniform(-1, 1, (1, 3, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(_run(after, [x.transpose(0, 2, 3, 1).copy()]), _run(Before, [x]), rtol=1e-5, atol=1e-6)


def test_convert_to_nhwc_depthwise_residual_and_4d_output():
    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 4, 6, 6), "float32")):
            with R.dataflow():
                y = R.nn.conv2d(x, W_DW, padding=[1, 1, 1, 1], groups=4)
                a = R.add(y, x)
                p = R.nn.max_pool2d(a, pool_size=[2, 2], strides=[2, 2])
                R.output(p)
            return p

    @I.ir_module
    class Expected:
        @R.function
        def main(x: R.Tensor((1, 6, 6, 4), "float32")):
            with R.dataflow():
                t = R.permute_dims(W_DW, axes=[1, 2, 3, 0])
                w = R.reshape(t, R.shape([3, 3, 4, 1]))
                y = R.nn.conv2d(x, w, padding=[1, 1, 1, 1], groups=4, data_layout="NHWC", kernel_layout="HWOI", out_layout="NHWC")
                a = R.add(y, x)
                p = R.nn.max_pool2d(a, pool_size=[2, 2], strides=[2, 2], layout="NHWC", out_layout="NHWC")
                R.output(p)
            return p

    after = ConvertToNHWC(Before)
    tvm.ir.assert_structural_equal(after, Expected)
    x = np.random.default_rng(6).uniform(-1, 1, (1, 4, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(_run(after, [x.transpose(0, 2, 3, 1).copy()]), _run(Before, [x]).transpose(0, 2, 3, 1),
                               rtol=1e-5, atol=1e-6)


def test_convert_to_nhwc_is_noop_on_nhwc_graphs():
    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 6, 6, 4), "int8")):
            with R.dataflow():
                d = R.dequantize(x, S, Z, axis=3)
                p = R.nn.max_pool2d(d, pool_size=[2, 2], strides=[2, 2], layout="NHWC", out_layout="NHWC")
                R.output(p)
            return p

    tvm.ir.assert_structural_equal(ConvertToNHWC(Before), Before)


# ----------------------------------------------------------------------------- FoldConstantLayout

W_Q = relax.const(np.random.default_rng(7).integers(-127, 128, (4, 3, 3, 3), dtype=np.int8))
W_Q_HWIO = relax.const(np.ascontiguousarray(W_Q.value.numpy().transpose(2, 3, 1, 0)))
W_S = relax.const(np.array([0.01, 0.02, 0.03, 0.04], np.float32))
W_Z = relax.const(np.zeros(4, np.int8))
B_Q = relax.const(np.array([5, -7, 100, 0], np.int32))
B_Q_NHWC = relax.const(np.array([5, -7, 100, 0], np.int32).reshape(1, 1, 1, 4))
B_S = relax.const(np.array([5e-4, 1e-3, 1.5e-3, 2e-3], np.float32))
FC_Q = relax.const(np.random.default_rng(8).integers(-127, 128, (6, 5), dtype=np.int8))  # [K, N]
FC_Q_T = relax.const(np.ascontiguousarray(FC_Q.value.numpy().T))
FC_S = relax.const(np.linspace(0.01, 0.05, 5).astype(np.float32))
FC_Z = relax.const(np.zeros(5, np.int8))


def test_fold_constant_layout_weights_and_bias():
    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 5, 5, 3), "float32")):
            with R.dataflow():
                w = R.dequantize(W_Q, W_S, W_Z, axis=0)
                wt = R.permute_dims(w, axes=[2, 3, 1, 0])
                y = R.nn.conv2d(x, wt, data_layout="NHWC", kernel_layout="HWIO", out_layout="NHWC")
                b = R.dequantize(B_Q, B_S, R.const(0, "int32"), axis=0)
                b4 = R.reshape(b, R.shape([1, 4, 1, 1]))
                bt = R.permute_dims(b4, axes=[0, 2, 3, 1])
                z = R.add(y, bt)
                R.output(z)
            return z

    @I.ir_module
    class Expected:
        @R.function
        def main(x: R.Tensor((1, 5, 5, 3), "float32")):
            with R.dataflow():
                wt = R.dequantize(W_Q_HWIO, W_S, W_Z, axis=3)
                y = R.nn.conv2d(x, wt, data_layout="NHWC", kernel_layout="HWIO", out_layout="NHWC")
                bt = R.dequantize(B_Q_NHWC, B_S, R.const(0, "int32"), axis=3)
                z = R.add(y, bt)
                R.output(z)
            return z

    after = FoldConstantLayout(Before)
    tvm.ir.assert_structural_equal(after, Expected)
    x = np.random.default_rng(9).uniform(-1, 1, (1, 5, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(_run(after, [x]), _run(Before, [x]))


def test_fold_constant_layout_fc_weight_to_tflite_form():
    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 6), "float32")):
            with R.dataflow():
                w = R.dequantize(FC_Q, FC_S, FC_Z, axis=1)
                y = R.matmul(x, w)
                R.output(y)
            return y

    @I.ir_module
    class Expected:
        @R.function
        def main(x: R.Tensor((1, 6), "float32")):
            with R.dataflow():
                t = R.permute_dims(FC_Q_T, axes=[1, 0])
                w = R.dequantize(t, FC_S, FC_Z, axis=1)
                y = R.matmul(x, w)
                R.output(y)
            return y

    after = FoldConstantLayout(Before)
    tvm.ir.assert_structural_equal(after, Expected)
    x = np.random.default_rng(10).uniform(-1, 1, (1, 6)).astype(np.float32)
    np.testing.assert_array_equal(_run(after, [x]), _run(Before, [x]))


def test_canonicalize_is_noop_on_tflite_graph():
    """The canonicalization stage leaves a TFLite-imported graph (vww) exactly as it was."""
    from tinyengine_tvm.frontend.tflite import from_tflite

    from .conftest import model_path

    mod, _, _ = from_tflite(model_path("vww.tflite"))
    tvm.ir.assert_structural_equal(canonicalize()(mod), mod)


def test_pipeline_accepts_targets_and_composes_with_user_pass():
    """A user's own pass and tinyengine_tvm.pipeline(target) in one Sequential."""
    import tinyengine_tvm as te

    seen = []

    @tvm.transform.module_pass(opt_level=0, name="user.CountFunctions")
    def user_pass(mod, _ctx):
        seen.append(len(mod.functions))
        return mod

    @I.ir_module
    class Mod:
        @R.function
        def main(x: R.Tensor((1, 8), "int8")):
            with R.dataflow():
                d = R.dequantize(x, S, Z, axis=1)
                r = R.reshape(d, R.shape([1, 2, 4]))
                q = R.quantize(r, S, Z, axis=1, out_dtype="int8")
                R.output(q)
            return q

    for target in ("host", tvm.target.Target("c"), None):
        seq = tvm.transform.Sequential([user_pass, te.pipeline(target), user_pass])
        out = seq(Mod)
        calls = [str(out[b.value.op].attrs["Composite"]) for b in out["main"].body.blocks[0].bindings]
        assert calls == ["tinyengine.reshape"]
    assert seen[0] == 1 and seen[1] > 1
    with pytest.raises(te.TinyEngineError, match="unknown target"):
        te.pipeline("cortex-z99")
    from tinyengine_tvm.target_spec import target_name

    assert target_name(tvm.target.Target({"kind": "c", "mcpu": "cortex-m7"})) == "cortex-m7"
    assert target_name("c -mcpu=cortex-m4") == "cortex-m4" and target_name(tvm.target.Target("llvm")) == "host"
    assert te.build(Mod, tvm.target.Target({"kind": "c", "mcpu": "cortex-m7"})).target == "cortex-m7"
    assert pipeline is te.pipeline or callable(pipeline)


# ----------------------------------------------------------------------------- FoldFloatConstants

BN_W = relax.const(np.random.default_rng(11).normal(0, 0.3, (4, 3, 1, 1)).astype(np.float32))
BN_G = relax.const(np.array([1.0, 0.5, 2.0, 1.5], np.float32))
BN_V = relax.const(np.array([0.25, 1.0, 4.0, 0.5], np.float32))


def test_fold_float_constants_bn_weight_chain():
    """The weight chain FoldBatchnormToConv2D + ConvertToNHWC leave behind becomes one constant."""
    from tinyengine_tvm.relay_passes.fold_float_constants import FoldFloatConstants

    folded = (BN_W.value.numpy() * (BN_G.value.numpy() / np.sqrt(BN_V.value.numpy() + np.float32(1e-5))).reshape(4, 1, 1, 1))
    W_FOLDED = relax.const(np.ascontiguousarray(folded.transpose(2, 3, 1, 0)).astype(np.float32))

    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 5, 5, 3), "float32")):
            with R.dataflow():
                a = R.add(BN_V, R.const(1e-5, "float32"))
                b = R.sqrt(a)
                c = R.divide(BN_G, b)
                d = R.reshape(c, R.shape([4, 1, 1, 1]))
                e = R.multiply(BN_W, d)
                w = R.permute_dims(e, axes=[2, 3, 1, 0])
                y = R.nn.conv2d(x, w, data_layout="NHWC", kernel_layout="HWIO", out_layout="NHWC")
                R.output(y)
            return y

    @I.ir_module
    class Expected:
        @R.function
        def main(x: R.Tensor((1, 5, 5, 3), "float32")):
            with R.dataflow():
                y = R.nn.conv2d(x, W_FOLDED, data_layout="NHWC", kernel_layout="HWIO", out_layout="NHWC")
                R.output(y)
            return y

    after = FoldFloatConstants(Before)
    tvm.ir.assert_structural_equal(after, Expected, map_free_vars=True)
    x = np.random.default_rng(12).uniform(-1, 1, (1, 5, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(_run(after, [x]), _run(Before, [x]), rtol=1e-6, atol=1e-6)
