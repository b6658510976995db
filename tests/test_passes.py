"""Tests of the Relax graph passes in ``tinyengine_tvm.relay_passes``.

Written the way TVM tests its own passes: a TVMScript ``Before`` module, the
``Expected`` module, and ``tvm.ir.assert_structural_equal(pass(Before), Expected)``;
negative cases assert that the pass leaves the module unchanged. Every rewriting
pass is also checked numerically: ``Before`` and the rewritten module are built
with ``tvm.compile(..., target="llvm")`` and run on the Relax VM with the same
random inputs, and the outputs must be identical.

Regression tests for fixed pass bugs: per-channel zero points (FoldPadIntoConv), per-channel
axes (SinkTransposeThroughMean), dataflow boundaries (UnshareDequantize), add(x, x).
"""

from __future__ import annotations

import collections

import numpy as np
import pytest
import tvm
import tvm_ffi
from tvm import relax
from tvm.script import ir as I
from tvm.script import relax as R
from tvm.script import tirx as T

from tinyengine_tvm.codegen import quant
from tinyengine_tvm.relay_passes import (
    AnnotateKernelParams,
    FoldPadIntoConv,
    PartitionKernels,
    SinkTransposeThroughMean,
    UnshareDequantize,
    pipeline,
)
from tinyengine_tvm.relay_passes.annotate import PARAMS_ATTR

from .conftest import model_path

# ---------------------------------------------------------------------------------------- helpers


def _run(mod: tvm.IRModule, inputs) -> np.ndarray:
    ex = tvm.compile(mod, target="llvm")
    vm = relax.VirtualMachine(ex, tvm.cpu())
    return vm["main"](*[tvm.runtime.tensor(a) for a in inputs]).numpy()


def _assert_same_result(before: tvm.IRModule, after: tvm.IRModule, inputs, min_distinct: int = 8) -> np.ndarray:
    """Both modules compute bit-identical outputs on ``inputs`` (and the output is not degenerate)."""
    expected = _run(before, inputs)
    actual = _run(after, inputs)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)
    assert len(np.unique(expected)) >= min_distinct, "test data saturates; the comparison would prove little"
    return expected


def _int8(rng, shape) -> np.ndarray:
    return rng.integers(-128, 128, shape, dtype=np.int8)


def _apply(pass_, mod: tvm.IRModule) -> tvm.IRModule:
    """Run a pass and check that it did not mutate its input module."""
    h = tvm_ffi.structural_hash(mod)
    out = pass_(mod)
    assert tvm_ffi.structural_hash(mod) == h, "pass mutated its input module"
    return out


def _op_names(func) -> list[str]:
    """Names of all operators called anywhere in ``func`` (post order)."""
    names = []

    def visit(e):
        if isinstance(e, relax.Call) and isinstance(e.op, tvm.ir.Op):
            names.append(str(e.op.name))

    relax.analysis.post_order_visit(func, visit)
    return names


def _main_calls(mod: tvm.IRModule) -> list[str]:
    """What ``main`` binds, in order: a composite's ``Composite`` name, an op name, or the node type."""
    out = []
    for block in mod["main"].body.blocks:
        for b in block.bindings:
            v = b.value
            if not isinstance(v, relax.Call):
                out.append(type(v).__name__)
            elif isinstance(v.op, tvm.ir.GlobalVar):
                out.append(str(mod[v.op].attrs["Composite"]))
            else:
                out.append(str(v.op.name))
    return out


def _composites(mod: tvm.IRModule, kind: str | None = None) -> list[relax.Function]:
    funcs = [
        f
        for _, f in mod.functions.items()
        if isinstance(f, relax.Function) and f.attrs is not None and "Composite" in f.attrs
    ]
    return [f for f in funcs if kind is None or str(f.attrs["Composite"]) == kind]


def _py(obj):
    """tvm_ffi containers / IR scalars -> plain Python."""
    if isinstance(obj, (bool, int, float, str, np.integer, np.floating)):
        return obj.item() if isinstance(obj, (np.integer, np.floating)) else obj
    if hasattr(obj, "items"):
        return {str(k): _py(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)) or type(obj).__name__ == "Array":
        return [_py(v) for v in obj]
    if hasattr(obj, "value"):  # IntImm / FloatImm / StringImm
        return obj.value
    return obj


# ------------------------------------------------------------------------------ FoldPadIntoConv


def _fold_pad_case(pad_width, conv_padding, folded_padding):
    """deq(pad(x, zp)) -> conv2d(NHWC); the pad value is the zero point (-128)."""

    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 5, 6, 3), "int8"), w: R.Tensor((3, 3, 3, 4), "float32")):
            with R.dataflow():
                p = R.nn.pad(x, pad_width=pad_width, pad_value=-128.0)
                d = R.dequantize(p, R.const(0.0235, "float32"), R.const(-128, "int32"), axis=0)
                y = R.nn.conv2d(d, w, strides=[2, 1], padding=conv_padding, data_layout="NHWC", kernel_layout="HWIO")
                R.output(y)
            return y

    @I.ir_module
    class Expected:
        @R.function
        def main(x: R.Tensor((1, 5, 6, 3), "int8"), w: R.Tensor((3, 3, 3, 4), "float32")):
            with R.dataflow():
                d = R.dequantize(x, R.const(0.0235, "float32"), R.const(-128, "int32"), axis=0)
                y = R.nn.conv2d(d, w, strides=[2, 1], padding=folded_padding, data_layout="NHWC", kernel_layout="HWIO")
                R.output(y)
            return y

    return Before, Expected


# (pad_width of the PAD, conv padding [top, left, bottom, right], folded conv padding)
_FOLD_CASES = {
    "symmetric": ([0, 0, 1, 1, 1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]),
    # TFLite SAME with stride 2: more padding after than before; adds to the conv's own padding
    "asymmetric_plus_conv_padding": ([0, 0, 0, 1, 2, 0, 0, 0], [1, 0, 1, 0], [1, 2, 2, 0]),
}


@pytest.mark.parametrize("case", list(_FOLD_CASES))
def test_fold_pad_into_conv(case):
    before, expected = _fold_pad_case(*_FOLD_CASES[case])
    after = _apply(FoldPadIntoConv, before)
    tvm.ir.assert_structural_equal(after, expected)


def test_fold_pad_into_conv_numerics():
    rng = np.random.default_rng(1)
    x = _int8(rng, (1, 5, 6, 3))
    w = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    for case in _FOLD_CASES.values():
        before, _ = _fold_pad_case(*case)
        _assert_same_result(before, FoldPadIntoConv(before), [x, w])


def test_fold_pad_into_depthwise_conv():
    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 4, 4, 8), "int8"), w: R.Tensor((3, 3, 8, 1), "float32")):
            with R.dataflow():
                p = R.nn.pad(x, pad_width=[0, 0, 1, 1, 1, 1, 0, 0], pad_value=5.0)
                d = R.dequantize(p, R.const(0.5, "float32"), R.const(5, "int32"), axis=0)
                y = R.nn.conv2d(d, w, groups=8, data_layout="NHWC", kernel_layout="HWOI")
                R.output(y)
            return y

    @I.ir_module
    class Expected:
        @R.function
        def main(x: R.Tensor((1, 4, 4, 8), "int8"), w: R.Tensor((3, 3, 8, 1), "float32")):
            with R.dataflow():
                d = R.dequantize(x, R.const(0.5, "float32"), R.const(5, "int32"), axis=0)
                y = R.nn.conv2d(d, w, padding=[1, 1, 1, 1], groups=8, data_layout="NHWC", kernel_layout="HWOI")
                R.output(y)
            return y

    tvm.ir.assert_structural_equal(_apply(FoldPadIntoConv, Before), Expected)


def _pad_conv_module(pad_width, pad_value, zp=-128, data_layout="NHWC", pad_mode="constant"):
    x_shape = (1, 4, 4, 3) if data_layout == "NHWC" else (1, 3, 4, 4)
    w_shape = (3, 3, 3 + pad_width[6] + pad_width[7], 2) if data_layout == "NHWC" else (2, 3 + pad_width[2] + pad_width[3], 3, 3)
    kernel_layout = "HWIO" if data_layout == "NHWC" else "OIHW"

    @I.ir_module
    class Module:
        @R.function
        def main(x: R.Tensor(x_shape, "int8"), w: R.Tensor(w_shape, "float32")):
            with R.dataflow():
                p = R.nn.pad(x, pad_width=pad_width, pad_value=pad_value, pad_mode=pad_mode)
                d = R.dequantize(p, R.const(0.25, "float32"), R.const(zp, "int32"), axis=0)
                y = R.nn.conv2d(d, w, data_layout=data_layout, kernel_layout=kernel_layout)
                R.output(y)
            return y

    return Module


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param(dict(pad_width=[0, 0, 1, 1, 1, 1, 0, 0], pad_value=0.0), id="pad_value_is_not_zero_point"),
        pytest.param(dict(pad_width=[0, 0, 1, 1, 1, 1, 1, 0], pad_value=-128.0), id="pads_channel_axis"),
        pytest.param(dict(pad_width=[1, 0, 1, 1, 1, 1, 0, 0], pad_value=-128.0), id="pads_batch_axis"),
        pytest.param(dict(pad_width=[0, 0, 1, 1, 1, 1, 0, 0], pad_value=-128.0, pad_mode="edge"), id="edge_mode"),
        pytest.param(dict(pad_width=[0, 0, 0, 0, 1, 1, 1, 1], pad_value=-128.0, data_layout="NCHW"), id="nchw_conv"),
    ],
)
def test_fold_pad_leaves_other_pads_alone(kwargs):
    before = _pad_conv_module(**kwargs)
    tvm.ir.assert_structural_equal(_apply(FoldPadIntoConv, before), before)


def test_fold_pad_needs_a_dequantize_between_pad_and_conv():
    @I.ir_module
    class Before:  # float pad straight into the conv: no zero point to compare with
        @R.function
        def main(x: R.Tensor((1, 4, 4, 3), "float32"), w: R.Tensor((3, 3, 3, 2), "float32")):
            with R.dataflow():
                p = R.nn.pad(x, pad_width=[0, 0, 1, 1, 1, 1, 0, 0], pad_value=0.0)
                y = R.nn.conv2d(p, w, data_layout="NHWC", kernel_layout="HWIO")
                R.output(y)
            return y

    tvm.ir.assert_structural_equal(_apply(FoldPadIntoConv, Before), Before)


_ZP_PER_CHANNEL = np.array([3, 5], dtype=np.int32)
_SCALE_PER_CHANNEL = np.array([0.5, 0.5], dtype=np.float32)


def test_fold_pad_leaves_per_channel_zero_point_alone():
    @I.ir_module
    class Before:  # channel 1 has zero point 5: a pad of 3 dequantizes to -1.0 there, not to 0.0
        @R.function
        def main(x: R.Tensor((1, 4, 4, 2), "int8"), w: R.Tensor((3, 3, 2, 2), "float32")):
            with R.dataflow():
                p = R.nn.pad(x, pad_width=[0, 0, 1, 1, 1, 1, 0, 0], pad_value=3.0)
                d = R.dequantize(p, R.const(_SCALE_PER_CHANNEL), R.const(_ZP_PER_CHANNEL), axis=3)
                y = R.nn.conv2d(d, w, data_layout="NHWC", kernel_layout="HWIO")
                R.output(y)
            return y

    tvm.ir.assert_structural_equal(_apply(FoldPadIntoConv, Before), Before)


# --------------------------------------------------------------------- SinkTransposeThroughMean


_S = 0.0485  # one scale / zero point for the whole idiom, as in vww
_ZP = 6


@I.ir_module
class _GlobalPoolViaTranspose:
    """TFLite's TRANSPOSE(NHWC->NCHW) + MEAN(W) + MEAN(H) global average pool (MCUNet vww)."""

    @R.function
    def main(x: R.Tensor((1, 3, 5, 16), "int8")):
        with R.dataflow():
            t = R.permute_dims(x, axes=[0, 3, 1, 2])
            d0 = R.dequantize(t, R.const(_S, "float32"), R.const(_ZP, "int32"), axis=0)
            m0 = R.mean(d0, axis=[3], keepdims=False)
            q0 = R.quantize(m0, R.const(_S, "float32"), R.const(_ZP, "int32"), axis=0)
            d1 = R.dequantize(q0, R.const(_S, "float32"), R.const(_ZP, "int32"), axis=0)
            m1 = R.mean(d1, axis=[2], keepdims=False)
            q1 = R.quantize(m1, R.const(_S, "float32"), R.const(_ZP, "int32"), axis=0)
            R.output(q1)
        return q1


def test_sink_transpose_through_mean_global_pool():
    @I.ir_module
    class Expected:
        @R.function
        def main(x: R.Tensor((1, 3, 5, 16), "int8")):
            with R.dataflow():
                d0 = R.dequantize(x, R.const(_S, "float32"), R.const(_ZP, "int32"), axis=0)
                m0 = R.mean(d0, axis=[2], keepdims=False)  # NCHW W == NHWC axis 2
                q0 = R.quantize(m0, R.const(_S, "float32"), R.const(_ZP, "int32"), axis=0)
                d1 = R.dequantize(q0, R.const(_S, "float32"), R.const(_ZP, "int32"), axis=0)
                m1 = R.mean(d1, axis=[1], keepdims=False)  # then H
                q1 = R.quantize(m1, R.const(_S, "float32"), R.const(_ZP, "int32"), axis=0)
                R.output(q1)
            return q1

    after = _apply(SinkTransposeThroughMean, _GlobalPoolViaTranspose)
    tvm.ir.assert_structural_equal(after, Expected)


def test_sink_transpose_through_mean_keeps_remaining_transpose():
    """One MEAN alone: the surviving (C, H) axes come out of the NHWC mean as (H, C) and need a transpose."""

    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 3, 5, 16), "int8")):
            with R.dataflow():
                t = R.permute_dims(x, axes=[0, 3, 1, 2])
                d = R.dequantize(t, R.const(_S, "float32"), R.const(_ZP, "int32"), axis=0)
                m = R.mean(d, axis=[-1], keepdims=False)
                q = R.quantize(m, R.const(_S, "float32"), R.const(_ZP, "int32"), axis=0)
                R.output(q)
            return q

    @I.ir_module
    class Expected:
        @R.function
        def main(x: R.Tensor((1, 3, 5, 16), "int8")):
            with R.dataflow():
                d = R.dequantize(x, R.const(_S, "float32"), R.const(_ZP, "int32"), axis=0)
                m = R.mean(d, axis=[2], keepdims=False)
                q = R.quantize(m, R.const(_S, "float32"), R.const(_ZP, "int32"), axis=0)
                t = R.permute_dims(q, axes=[0, 2, 1])
                R.output(t)
            return t

    tvm.ir.assert_structural_equal(_apply(SinkTransposeThroughMean, Before), Expected)


@I.ir_module
class _MeanKeepdims:
    @R.function
    def main(x: R.Tensor((1, 3, 5, 16), "int8")):
        with R.dataflow():
            t = R.permute_dims(x, axes=[0, 3, 1, 2])
            d = R.dequantize(t, R.const(_S, "float32"), R.const(_ZP, "int32"), axis=0)
            m = R.mean(d, axis=[2, 3], keepdims=True)
            q = R.quantize(m, R.const(0.01, "float32"), R.const(-3, "int32"), axis=0)
            R.output(q)
        return q


def test_sink_transpose_through_mean_keepdims():
    @I.ir_module
    class Expected:
        @R.function
        def main(x: R.Tensor((1, 3, 5, 16), "int8")):
            with R.dataflow():
                d = R.dequantize(x, R.const(_S, "float32"), R.const(_ZP, "int32"), axis=0)
                m = R.mean(d, axis=[1, 2], keepdims=True)
                q = R.quantize(m, R.const(0.01, "float32"), R.const(-3, "int32"), axis=0)
                t = R.permute_dims(q, axes=[0, 3, 1, 2])
                R.output(t)
            return t

    tvm.ir.assert_structural_equal(_apply(SinkTransposeThroughMean, _MeanKeepdims), Expected)


def test_sink_transpose_through_mean_numerics():
    rng = np.random.default_rng(2)
    x = _int8(rng, (1, 3, 5, 16))
    for before in (_GlobalPoolViaTranspose, _MeanKeepdims):
        _assert_same_result(before, SinkTransposeThroughMean(before), [x])


def test_sink_transpose_leaves_mean_without_transpose_alone():
    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 3, 5, 16), "int8")):
            with R.dataflow():
                d = R.dequantize(x, R.const(_S, "float32"), R.const(_ZP, "int32"), axis=0)
                m = R.mean(d, axis=[1, 2], keepdims=False)
                q = R.quantize(m, R.const(_S, "float32"), R.const(_ZP, "int32"), axis=0)
                R.output(q)
            return q

    tvm.ir.assert_structural_equal(_apply(SinkTransposeThroughMean, Before), Before)


def test_sink_transpose_leaves_incomplete_idioms_alone():
    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 3, 5, 16), "int8"), f: R.Tensor((1, 3, 5, 16), "float32")):
            with R.dataflow():
                # float mean of a transposed tensor: no quantize after it
                t = R.permute_dims(x, axes=[0, 3, 1, 2])
                d = R.dequantize(t, R.const(_S, "float32"), R.const(_ZP, "int32"), axis=0)
                m = R.mean(d, axis=[3], keepdims=False)
                # mean over all axes (axis=None) is not rewritten
                d2 = R.dequantize(t, R.const(_S, "float32"), R.const(_ZP, "int32"), axis=0)
                m2 = R.mean(d2)
                q2 = R.quantize(m2, R.const(_S, "float32"), R.const(_ZP, "int32"), axis=0)
                # a float transpose straight into a mean (no dequantize)
                tf = R.permute_dims(f, axes=[0, 3, 1, 2])
                mf = R.mean(tf, axis=[2, 3])
                qf = R.quantize(mf, R.const(_S, "float32"), R.const(_ZP, "int32"), axis=0)
                out = (m, q2, qf)
                R.output(out)
            return out

    tvm.ir.assert_structural_equal(_apply(SinkTransposeThroughMean, Before), Before)


_S_PER_CHANNEL = np.array([0.1, 0.2, 0.3, 0.4], dtype=np.float32)


def test_sink_transpose_per_channel_dequantize():
    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 3, 3, 4), "int8")):
            with R.dataflow():
                t = R.permute_dims(x, axes=[0, 3, 1, 2])
                d = R.dequantize(t, R.const(_S_PER_CHANNEL), R.const(0, "int32"), axis=1)
                m = R.mean(d, axis=[2, 3], keepdims=False)
                q = R.quantize(m, R.const(0.1, "float32"), R.const(0, "int32"), axis=0)
                R.output(q)
            return q

    # either a correct rewrite (dequantize axis=3 on the NHWC tensor) or no rewrite at all would do
    after = SinkTransposeThroughMean(Before)
    relax.analysis.well_formed(after)  # raises when the IR is not well formed


# ---------------------------------------------------------------------------- UnshareDequantize


@I.ir_module
class _SharedDequantize:
    """A residual input read by both a conv and an add through one shared dequantize."""

    @R.function
    def main(x: R.Tensor((1, 4, 4, 8), "int8"), w: R.Tensor((1, 1, 8, 8), "float32")):
        with R.dataflow():
            d = R.dequantize(x, R.const(0.05, "float32"), R.const(-2, "int32"), axis=0)
            c = R.nn.conv2d(d, w, data_layout="NHWC", kernel_layout="HWIO")
            a = R.add(c, d)
            q = R.quantize(a, R.const(0.2, "float32"), R.const(1, "int32"), axis=0)
            R.output(q)
        return q


def test_unshare_dequantize():
    @I.ir_module
    class Expected:
        @R.function
        def main(x: R.Tensor((1, 4, 4, 8), "int8"), w: R.Tensor((1, 1, 8, 8), "float32")):
            with R.dataflow():
                d0 = R.dequantize(x, R.const(0.05, "float32"), R.const(-2, "int32"), axis=0)
                c = R.nn.conv2d(d0, w, data_layout="NHWC", kernel_layout="HWIO")
                d1 = R.dequantize(x, R.const(0.05, "float32"), R.const(-2, "int32"), axis=0)
                a = R.add(c, d1)
                q = R.quantize(a, R.const(0.2, "float32"), R.const(1, "int32"), axis=0)
                R.output(q)
            return q

    tvm.ir.assert_structural_equal(_apply(UnshareDequantize, _SharedDequantize), Expected)


def test_unshare_dequantize_same_call_uses_it_twice():
    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 16), "int8")):
            with R.dataflow():
                d = R.dequantize(x, R.const(0.05, "float32"), R.const(-2, "int32"), axis=0)
                a = R.add(d, d)
                R.output(a)
            return a

    @I.ir_module
    class Expected:
        @R.function
        def main(x: R.Tensor((1, 16), "int8")):
            with R.dataflow():
                d0 = R.dequantize(x, R.const(0.05, "float32"), R.const(-2, "int32"), axis=0)
                d1 = R.dequantize(x, R.const(0.05, "float32"), R.const(-2, "int32"), axis=0)
                a = R.add(d0, d1)
                R.output(a)
            return a

    tvm.ir.assert_structural_equal(_apply(UnshareDequantize, Before), Expected)


def test_unshare_dequantize_numerics():
    rng = np.random.default_rng(3)
    x = _int8(rng, (1, 4, 4, 8))
    w = (rng.standard_normal((1, 1, 8, 8)) * 0.3).astype(np.float32)
    _assert_same_result(_SharedDequantize, UnshareDequantize(_SharedDequantize), [x, w])


_W_SHARED = np.arange(-32, 32, dtype=np.int8).reshape(1, 1, 8, 8)


def test_unshare_dequantize_leaves_single_uses_and_constants_alone():
    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 4, 4, 8), "int8")):
            with R.dataflow():
                # one weight dequantize shared by two convs: constants stay shared
                w = R.dequantize(R.const(_W_SHARED), R.const(0.01, "float32"), R.const(0, "int32"), axis=0)
                d = R.dequantize(x, R.const(0.05, "float32"), R.const(-2, "int32"), axis=0)
                c0 = R.nn.conv2d(d, w, data_layout="NHWC", kernel_layout="HWIO")
                c1 = R.nn.conv2d(c0, w, data_layout="NHWC", kernel_layout="HWIO")
                R.output(c1)
            return c1

    tvm.ir.assert_structural_equal(_apply(UnshareDequantize, Before), Before)


def test_unshare_dequantize_used_after_dataflow_block():
    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 4), "float32")):
            with R.dataflow():
                q = R.quantize(x, R.const(0.1, "float32"), R.const(0, "int32"), axis=0)
                d = R.dequantize(q, R.const(0.1, "float32"), R.const(0, "int32"), axis=0)
                R.output(d)
            y = R.add(d, d)
            return y

    after = UnshareDequantize(Before)
    relax.analysis.well_formed(after)  # raises when the IR is not well formed


# ----------------------------------------------------------------------------- PartitionKernels

_rng = np.random.default_rng(42)
_CONV_W = _rng.integers(-127, 128, (3, 3, 4, 8), dtype=np.int8)  # HWIO
_CONV_WS = (_rng.random(8) * 0.004 + 0.001).astype(np.float32)  # per output channel
_CONV_B = _rng.integers(-2000, 2000, (8,), dtype=np.int32)
_CONV_IN_S, _CONV_IN_ZP = 0.05, -3
_CONV_OUT_S, _CONV_OUT_ZP = 0.06, -128
_CONV_BS = (_CONV_WS * np.float32(_CONV_IN_S)).astype(np.float32)

_DW_W = _rng.integers(-127, 128, (1, 3, 3, 8), dtype=np.int8)  # TFLite depthwise layout 1HWC
_DW_WS = (_rng.random(8) * 0.01 + 0.005).astype(np.float32)
_DW_B = _rng.integers(-500, 500, (8,), dtype=np.int32)
_DW_BS = (_DW_WS * np.float32(0.06)).astype(np.float32)


@I.ir_module
class _QuantizedConv:
    """dequantize(x) -> conv2d(deq(W), NHWC/HWIO, stride 2) -> + deq(bias) -> quantize -> clip (ReLU)."""

    @R.function
    def main(x: R.Tensor((1, 7, 7, 4), "int8")):
        with R.dataflow():
            d = R.dequantize(x, R.const(_CONV_IN_S, "float32"), R.const(_CONV_IN_ZP, "int32"), axis=0)
            wd = R.dequantize(R.const(_CONV_W), R.const(_CONV_WS), R.const(0, "int32"), axis=3)
            c = R.nn.conv2d(d, wd, strides=[2, 2], padding=[1, 1, 1, 0], data_layout="NHWC", kernel_layout="HWIO")
            bd = R.dequantize(R.const(_CONV_B), R.const(_CONV_BS), R.const(0, "int32"), axis=0)
            a = R.add(c, bd)
            q = R.quantize(a, R.const(_CONV_OUT_S, "float32"), R.const(_CONV_OUT_ZP, "int32"), axis=0)
            y = R.clip(q, R.prim_value(T.float64(-128.0)), R.prim_value(T.float64(127.0)))
            R.output(y)
        return y


@I.ir_module
class _QuantizedDepthwise:
    """deq(x) -> conv2d(groups=C, reshape(deq(W 1HWC), HWOI)) -> + deq(bias) -> quantize (no clip)."""

    @R.function
    def main(x: R.Tensor((1, 5, 5, 8), "int8")):
        with R.dataflow():
            d = R.dequantize(x, R.const(0.06, "float32"), R.const(-128, "int32"), axis=0)
            wd = R.dequantize(R.const(_DW_W), R.const(_DW_WS), R.const(0, "int32"), axis=3)
            wr = R.reshape(wd, R.shape([3, 3, 8, 1]))
            c = R.nn.conv2d(d, wr, padding=[1, 1, 1, 1], groups=8, data_layout="NHWC", kernel_layout="HWOI")
            bd = R.dequantize(R.const(_DW_B), R.const(_DW_BS), R.const(0, "int32"), axis=0)
            a = R.add(c, bd)
            q = R.quantize(a, R.const(0.04, "float32"), R.const(7, "int32"), axis=0)
            R.output(q)
        return q


@I.ir_module
class _QuantizedAdd:
    """add(deq(a), deq(b)) -> quantize -> clip (ReLU6-like range)."""

    @R.function
    def main(a: R.Tensor((1, 4, 4, 8), "int8"), b: R.Tensor((1, 4, 4, 8), "int8")):
        with R.dataflow():
            da = R.dequantize(a, R.const(0.07, "float32"), R.const(-6, "int32"), axis=0)
            db = R.dequantize(b, R.const(0.03, "float32"), R.const(9, "int32"), axis=0)
            s = R.add(da, db)
            q = R.quantize(s, R.const(0.08, "float32"), R.const(-10, "int32"), axis=0)
            y = R.clip(q, R.prim_value(T.float64(-10.0)), R.prim_value(T.float64(65.0)))
            R.output(y)
        return y


def test_partition_conv2d():
    after = _apply(PartitionKernels(), _QuantizedConv)
    assert _main_calls(after) == ["tinyengine.conv2d"]
    (conv,) = _composites(after)
    assert str(conv.attrs["Composite"]) == "tinyengine.conv2d"
    # only the activation is a parameter; weights and bias are bound as constants
    assert len(conv.params) == 1 and conv.params[0].ty.dtype == "int8"
    ops = collections.Counter(_op_names(conv))
    assert ops == {"relax.dequantize": 3, "relax.nn.conv2d": 1, "relax.add": 1, "relax.quantize": 1, "relax.clip": 1}
    # main's call is fed by the int8 input directly
    call = after["main"].body.blocks[0].bindings[0].value
    assert call.args[0].same_as(after["main"].params[0])


def test_partition_depthwise_conv2d():
    after = _apply(PartitionKernels(), _QuantizedDepthwise)
    assert _main_calls(after) == ["tinyengine.depthwise_conv2d"]
    (dw,) = _composites(after)
    ops = collections.Counter(_op_names(dw))
    assert ops == {"relax.dequantize": 3, "relax.reshape": 1, "relax.nn.conv2d": 1, "relax.add": 1, "relax.quantize": 1}


def test_partition_add():
    after = _apply(PartitionKernels(), _QuantizedAdd)
    assert _main_calls(after) == ["tinyengine.add"]
    (add,) = _composites(after)
    assert len(add.params) == 2


@pytest.mark.parametrize(
    "before, shapes",
    [
        pytest.param(_QuantizedConv, [(1, 7, 7, 4)], id="conv2d"),
        pytest.param(_QuantizedDepthwise, [(1, 5, 5, 8)], id="depthwise_conv2d"),
        pytest.param(_QuantizedAdd, [(1, 4, 4, 8), (1, 4, 4, 8)], id="add"),
    ],
)
def test_partition_numerics(before, shapes):
    """The composites keep their float body: the partitioned module still runs, with the same values."""
    rng = np.random.default_rng(4)
    _assert_same_result(before, PartitionKernels()(before), [_int8(rng, s) for s in shapes])


def test_partition_leaves_float_op_without_kernel_outside():
    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 16), "int8")):
            with R.dataflow():
                d = R.dequantize(x, R.const(0.05, "float32"), R.const(3, "int32"), axis=0)
                g = R.nn.gelu(d)
                q = R.quantize(g, R.const(0.02, "float32"), R.const(-20, "int32"), axis=0)
                R.output(q)
            return q

    after = _apply(PartitionKernels(), Before)
    assert _main_calls(after) == ["tinyengine.dequantize", "relax.nn.gelu", "tinyengine.quantize"]
    for func in _composites(after):
        assert "relax.nn.gelu" not in _op_names(func)


def test_partition_conv_chain_with_residual():
    """conv -> depthwise -> residual add of the depthwise input: needs UnshareDequantize first."""

    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 7, 7, 4), "int8")):
            with R.dataflow():
                d = R.dequantize(x, R.const(_CONV_IN_S, "float32"), R.const(_CONV_IN_ZP, "int32"), axis=0)
                wd = R.dequantize(R.const(_CONV_W), R.const(_CONV_WS), R.const(0, "int32"), axis=3)
                c = R.nn.conv2d(d, wd, strides=[2, 2], padding=[1, 1, 1, 1], data_layout="NHWC", kernel_layout="HWIO")
                bd = R.dequantize(R.const(_CONV_B), R.const(_CONV_BS), R.const(0, "int32"), axis=0)
                a = R.add(c, bd)
                q = R.quantize(a, R.const(0.06, "float32"), R.const(-128, "int32"), axis=0)
                d1 = R.dequantize(q, R.const(0.06, "float32"), R.const(-128, "int32"), axis=0)
                w1 = R.dequantize(R.const(_DW_W), R.const(_DW_WS), R.const(0, "int32"), axis=3)
                w1r = R.reshape(w1, R.shape([3, 3, 8, 1]))
                c1 = R.nn.conv2d(d1, w1r, padding=[1, 1, 1, 1], groups=8, data_layout="NHWC", kernel_layout="HWOI")
                b1 = R.dequantize(R.const(_DW_B), R.const(_DW_BS), R.const(0, "int32"), axis=0)
                a1 = R.add(c1, b1)
                q1 = R.quantize(a1, R.const(0.04, "float32"), R.const(7, "int32"), axis=0)
                d2 = R.dequantize(q1, R.const(0.04, "float32"), R.const(7, "int32"), axis=0)
                s = R.add(d2, d1)  # d1 is shared with the depthwise conv
                q2 = R.quantize(s, R.const(0.1, "float32"), R.const(0, "int32"), axis=0)
                R.output(q2)
            return q2

    # the shared dequantize can join only one group: the add stays a float add outside any kernel
    without_unshare = PartitionKernels()(Before)
    assert "tinyengine.add" not in _main_calls(without_unshare)
    assert "relax.add" in _main_calls(without_unshare)

    after = PartitionKernels()(UnshareDequantize(Before))
    assert _main_calls(after) == ["tinyengine.conv2d", "tinyengine.depthwise_conv2d", "tinyengine.add"]
    rng = np.random.default_rng(5)
    _assert_same_result(Before, after, [_int8(rng, (1, 7, 7, 4))])


# ------------------------------------------------------------------------- AnnotateKernelParams


def _params(mod, kind) -> dict:
    (func,) = _composites(mod, kind)
    return _py(func.attrs[PARAMS_ATTR])


def test_annotate_conv2d_params():
    mod = AnnotateKernelParams(PartitionKernels()(_QuantizedConv))
    p = _params(mod, "tinyengine.conv2d")
    mult, shift = quant.conv_requant_params(_CONV_IN_S, _CONV_WS, _CONV_OUT_S)
    expected = {
        "in_h": 7, "in_w": 7, "in_c": 4, "out_h": 4, "out_w": 3, "out_c": 8,  # padding [1, 1, 1, 0]
        "k_h": 3, "k_w": 3, "stride_h": 2, "stride_w": 2, "dil_h": 1, "dil_w": 1,
        "pad_top": 1, "pad_left": 1, "depth_multiplier": 1,
        "in_offset": -_CONV_IN_ZP, "out_offset": _CONV_OUT_ZP, "act_min": -128, "act_max": 127,
        "mult": [int(v) for v in mult], "shift": [int(v) for v in shift],
        "macs": 4 * 3 * 8 * 3 * 3 * 4,
    }  # fmt: skip
    assert p == expected
    assert len(set(p["mult"])) > 1  # per-channel scales really give per-channel multipliers


def test_annotate_depthwise_and_add_params():
    mod = AnnotateKernelParams(PartitionKernels()(_QuantizedDepthwise))
    p = _params(mod, "tinyengine.depthwise_conv2d")
    mult, shift = quant.depthwise_requant_params(0.06, _DW_WS, 0.04)
    assert p["mult"] == [int(v) for v in mult] and p["shift"] == [int(v) for v in shift]
    assert {k: p[k] for k in ("in_c", "out_c", "k_h", "k_w", "pad_top", "pad_left", "depth_multiplier", "in_offset", "out_offset")} == {
        "in_c": 8, "out_c": 8, "k_h": 3, "k_w": 3, "pad_top": 1, "pad_left": 1, "depth_multiplier": 1,
        "in_offset": 128, "out_offset": 7,
    }  # fmt: skip
    assert p["macs"] == 5 * 5 * 8 * 3 * 3

    mod = AnnotateKernelParams(PartitionKernels()(_QuantizedAdd))
    p = _params(mod, "tinyengine.add")
    expected = {k: _py(v) for k, v in dict(quant.add_params(0.07, -6, 0.03, 9, 0.08, -10)).items()}
    expected.update(n=4 * 4 * 8, act_min=-10, act_max=65)
    assert p == expected


def test_annotate_leaves_non_composites_alone():
    mod = AnnotateKernelParams(PartitionKernels()(_QuantizedConv))
    assert PARAMS_ATTR not in (mod["main"].attrs or {})
    for func in _composites(mod):
        assert PARAMS_ATTR in func.attrs


def test_annotate_add_of_a_tensor_with_itself():
    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 16), "int8")):
            with R.dataflow():
                d = R.dequantize(x, R.const(0.1, "float32"), R.const(1, "int32"), axis=0)
                a = R.add(d, d)
                q = R.quantize(a, R.const(0.2, "float32"), R.const(0, "int32"), axis=0)
                R.output(q)
            return q

    mod = pipeline()(Before)
    assert _main_calls(mod) == ["tinyengine.add"]
    p = _params(mod, "tinyengine.add")
    for k, v in dict(quant.add_params(0.1, 1, 0.1, 1, 0.2, 0, n=16)).items():
        assert p[k] == _py(v)


# ------------------------------------------------------------------------------------- pipeline


def test_pipeline_composes_with_user_passes():
    """A user's passes before and after pipeline(), in one Sequential, under a PassContext."""
    seen = {}

    @tvm.transform.module_pass(opt_level=0, name="user.CountPadsAndTag")
    def count_pads_and_tag(mod, _ctx):
        seen["pads"] = _op_names(mod["main"]).count("relax.nn.pad")
        mod = mod.clone()
        mod["main"] = mod["main"].with_attr("user.tag", "seen")
        return mod

    @tvm.transform.module_pass(opt_level=0, name="user.CountKernels")
    def count_kernels(mod, _ctx):
        seen["kernels"] = collections.Counter(_main_calls(mod))
        return mod

    @I.ir_module
    class Before:  # PAD (value == zero point) -> quantized conv, then a float ReLU the user keeps
        @R.function
        def main(x: R.Tensor((1, 6, 6, 4), "int8")):
            with R.dataflow():
                p = R.nn.pad(x, pad_width=[0, 0, 1, 1, 1, 1, 0, 0], pad_value=-3.0)
                d = R.dequantize(p, R.const(_CONV_IN_S, "float32"), R.const(_CONV_IN_ZP, "int32"), axis=0)
                wd = R.dequantize(R.const(_CONV_W), R.const(_CONV_WS), R.const(0, "int32"), axis=3)
                c = R.nn.conv2d(d, wd, data_layout="NHWC", kernel_layout="HWIO")
                bd = R.dequantize(R.const(_CONV_B), R.const(_CONV_BS), R.const(0, "int32"), axis=0)
                a = R.add(c, bd)
                q = R.quantize(a, R.const(_CONV_OUT_S, "float32"), R.const(_CONV_OUT_ZP, "int32"), axis=0)
                dq = R.dequantize(q, R.const(_CONV_OUT_S, "float32"), R.const(_CONV_OUT_ZP, "int32"), axis=0)
                out = R.nn.relu(dq)
                R.output(out)
            return out

    seq = tvm.transform.Sequential([count_pads_and_tag, pipeline(), count_kernels], name="user.seq")
    with tvm.transform.PassContext(opt_level=3):
        after = seq(Before)

    assert seen["pads"] == 1
    assert seen["kernels"] == {"tinyengine.conv2d": 1, "tinyengine.dequantize": 1, "relax.nn.relu": 1}
    assert str(after["main"].attrs["user.tag"]) == "seen"
    (conv,) = _composites(after, "tinyengine.conv2d")
    assert "relax.nn.pad" not in _op_names(conv)
    p = _py(conv.attrs[PARAMS_ATTR])
    assert (p["in_h"], p["out_h"], p["pad_top"], p["pad_left"]) == (6, 6, 1, 1)
    rng = np.random.default_rng(6)
    _assert_same_result(Before, after, [_int8(rng, (1, 6, 6, 4))])


# ------------------------------------------------------------------------ integration: real model


@pytest.fixture(scope="module")
def vww():
    from tinyengine_tvm.frontend.tflite import from_tflite

    mod, _, _ = from_tflite(model_path("vww.tflite"))
    return mod


def test_pipeline_on_vww(vww):
    ops_before = collections.Counter(_op_names(vww["main"]))
    assert ops_before["relax.nn.pad"] > 0 and ops_before["relax.permute_dims"] > 0  # there is work to do

    after = _apply(pipeline(), vww)
    calls = _main_calls(after)
    assert all(c.startswith("tinyengine.") for c in calls), sorted(set(calls))
    assert collections.Counter(calls) == {
        "tinyengine.conv2d": 30,
        "tinyengine.depthwise_conv2d": 15,
        "tinyengine.add": 8,
        "tinyengine.mean": 2,
        "tinyengine.fully_connected": 1,
        "tinyengine.quantize": 1,
        "tinyengine.dequantize": 1,
    }
    ops_after = _op_names(after["main"])
    assert "relax.permute_dims" not in ops_after and "relax.nn.pad" not in ops_after
    for func in _composites(after):
        assert PARAMS_ATTR in func.attrs
        assert "relax.nn.pad" not in _op_names(func)
    # the TRANSPOSE was sunk, not fused: the only permute_dims left is the FC weight's (a constant)
    assert sum(_op_names(f).count("relax.permute_dims") for f in _composites(after)) == 1
    (fc,) = _composites(after, "tinyengine.fully_connected")
    assert "relax.permute_dims" in _op_names(fc)


@pytest.mark.slow
@pytest.mark.claims
def test_pipeline_on_vww_numerics(vww):
    """The whole kernel graph still computes what the imported model computes (two full builds of vww, ~30-50 s)."""
    rng = np.random.default_rng(7)
    x = rng.uniform(-1.0, 1.0, (1, 80, 80, 3)).astype(np.float32)
    _assert_same_result(vww, pipeline()(vww), [x], min_distinct=1)
