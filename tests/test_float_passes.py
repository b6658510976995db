"""Tests of the float-graph passes run before post-training quantization (``quantize.ptq.float_canonicalize``).

TVM style: a TVMScript ``Before``, the ``Expected`` module, ``tvm.ir.assert_structural_equal``,
and a numerical check on the Relax VM (``tvm.compile(..., target="llvm")``) that the rewrite
computes the same function. Constants come from the enclosing Python scope.
"""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax
from tvm.script import ir as I
from tvm.script import relax as R

from tinyengine_tvm.relay_passes import FoldConvBiasIntoBatchnorm, FoldFlattenTransposeIntoDense
from tinyengine_tvm.relay_passes.fold_flatten_transpose import nchw_rows_in_nhwc_order

RNG = np.random.default_rng(7)
W = relax.const(RNG.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32))
B = RNG.normal(0, 0.5, 4).astype(np.float32)
GAMMA = relax.const(RNG.uniform(0.5, 1.5, 4).astype(np.float32))
BETA = relax.const(RNG.normal(0, 0.2, 4).astype(np.float32))
MEAN = RNG.normal(0, 0.5, 4).astype(np.float32)
VAR = relax.const(RNG.uniform(0.5, 2.0, 4).astype(np.float32))


def _run(mod, inputs):
    ex = tvm.compile(mod, target="llvm")
    vm = relax.VirtualMachine(ex, tvm.cpu())
    out = vm["main"](*[tvm.runtime.tensor(a) for a in inputs])
    return out.numpy() if hasattr(out, "numpy") else [o.numpy() for o in out]


def test_fold_conv_bias_into_batchnorm():
    b, mean = relax.const(B), relax.const(MEAN)
    mean_minus_b = relax.const(MEAN - B)  # the pass subtracts in float64 and rounds once: the same float32

    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 3, 8, 8), "float32")):
            with R.dataflow():
                y = R.nn.conv2d(x, W, padding=[1, 1, 1, 1])
                bb = R.reshape(b, R.shape([1, 4, 1, 1]))
                z = R.add(y, bb)
                t = R.nn.batch_norm(z, GAMMA, BETA, mean, VAR, axis=1, training=False)
                o = t[0]
                R.output(o)
            return o

    @I.ir_module
    class Expected:
        @R.function
        def main(x: R.Tensor((1, 3, 8, 8), "float32")):
            with R.dataflow():
                y = R.nn.conv2d(x, W, padding=[1, 1, 1, 1])
                t = R.nn.batch_norm(y, GAMMA, BETA, mean_minus_b, VAR, axis=1, training=False)
                o = t[0]
                R.output(o)
            return o

    after = relax.transform.DeadCodeElimination()(FoldConvBiasIntoBatchnorm(Before))
    tvm.ir.assert_structural_equal(after, Expected)
    x = RNG.uniform(-2, 2, (1, 3, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(_run(after, [x]), _run(Before, [x]), rtol=1e-5, atol=1e-5)
    # and TVM's own FoldBatchnormToConv2D now removes the batch norm entirely
    folded = relax.transform.FoldBatchnormToConv2D()(after)
    names = []
    relax.analysis.post_order_visit(folded["main"], lambda e: names.append(e.op.name)
                                    if isinstance(e, relax.Call) and isinstance(e.op, tvm.ir.Op) else None)
    assert "relax.nn.batch_norm" not in names and "relax.nn.conv2d" in names


def test_fold_conv_bias_keeps_a_bias_not_per_channel():
    """A bias varying along a spatial axis cannot move into the batch norm's mean: untouched."""
    b = relax.const(RNG.normal(0, 1, (1, 1, 8, 1)).astype(np.float32))

    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 3, 8, 8), "float32")):
            with R.dataflow():
                y = R.nn.conv2d(x, W, padding=[1, 1, 1, 1])
                z = R.add(y, b)
                t = R.nn.batch_norm(z, GAMMA, BETA, relax.const(MEAN), VAR, axis=1, training=False)
                o = t[0]
                R.output(o)
            return o

    tvm.ir.assert_structural_equal(FoldConvBiasIntoBatchnorm(Before), Before)


def test_nchw_rows_in_nhwc_order_is_the_transpose():
    h, w, c = 3, 4, 5
    a = np.arange(h * w * c).reshape(1, c, h, w)  # NCHW flatten index at each element
    nhwc = a.transpose(0, 2, 3, 1).reshape(-1)
    np.testing.assert_array_equal(nchw_rows_in_nhwc_order(h, w, c), nhwc)


def test_fold_flatten_transpose_into_dense():
    wd = RNG.normal(0, 0.2, (2 * 3 * 4, 5)).astype(np.float32)
    w_nchw, w_nhwc = relax.const(wd), relax.const(wd[nchw_rows_in_nhwc_order(2, 3, 4)])

    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 2, 3, 4), "float32")):
            with R.dataflow():
                t = R.permute_dims(x, axes=[0, 3, 1, 2])
                f = R.reshape(t, R.shape([1, 24]))
                y = R.matmul(f, w_nchw, out_dtype="float32")
                R.output(y)
            return y

    @I.ir_module
    class Expected:
        @R.function
        def main(x: R.Tensor((1, 2, 3, 4), "float32")):
            with R.dataflow():
                f = R.reshape(x, R.shape([1, 24]))
                y = R.matmul(f, w_nhwc, out_dtype="float32")
                R.output(y)
            return y

    after = relax.transform.DeadCodeElimination()(FoldFlattenTransposeIntoDense(Before))
    tvm.ir.assert_structural_equal(after, Expected)
    x = RNG.uniform(-1, 1, (1, 2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(_run(after, [x]), _run(Before, [x]), rtol=1e-6, atol=1e-6)


def test_fold_flatten_transpose_leaves_other_permutations():
    wd = relax.const(RNG.normal(0, 0.2, (24, 5)).astype(np.float32))

    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 2, 3, 4), "float32")):
            with R.dataflow():
                t = R.permute_dims(x, axes=[0, 2, 1, 3])
                f = R.reshape(t, R.shape([1, 24]))
                y = R.matmul(f, wd, out_dtype="float32")
                R.output(y)
            return y

    tvm.ir.assert_structural_equal(FoldFlattenTransposeIntoDense(Before), Before)
