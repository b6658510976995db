"""SplitPoolRequantize: TVMScript before/after, and the VM computing the same int8 values."""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax
from tvm.script import ir as I
from tvm.script import relax as R

from tinyengine_tvm.relay_passes import SplitPoolRequantize

S1, Z1 = relax.const(np.float32(0.02)), relax.const(np.int8(5))
S2, Z2 = relax.const(np.float32(0.011)), relax.const(np.int8(-128))


def _run(mod, x):
    ex = tvm.compile(mod, target="llvm")
    return relax.VirtualMachine(ex, tvm.cpu())["main"](tvm.runtime.tensor(x)).numpy()


def test_split_max_pool_requantize():
    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 6, 6, 4), "int8")):
            with R.dataflow():
                d = R.dequantize(x, S1, Z1, axis=3, out_dtype="float32")
                p = R.nn.max_pool2d(d, pool_size=[2, 2], strides=[2, 2], layout="NHWC")
                q = R.quantize(p, S2, Z2, axis=3, out_dtype="int8")
                R.output(q)
            return q

    @I.ir_module
    class Expected:
        @R.function
        def main(x: R.Tensor((1, 6, 6, 4), "int8")):
            with R.dataflow():
                d = R.dequantize(x, S1, Z1, axis=3, out_dtype="float32")
                p = R.nn.max_pool2d(d, pool_size=[2, 2], strides=[2, 2], layout="NHWC")
                k = R.quantize(p, S1, Z1, axis=3, out_dtype="int8")
                b = R.dequantize(k, S1, Z1, axis=3, out_dtype="float32")
                q = R.quantize(b, S2, Z2, axis=3, out_dtype="int8")
                R.output(q)
            return q

    after = SplitPoolRequantize(Before)
    tvm.ir.assert_structural_equal(after, Expected)
    x = np.random.default_rng(0).integers(-128, 128, (1, 6, 6, 4), dtype=np.int8)
    np.testing.assert_array_equal(_run(after, x), _run(Before, x))  # max commutes with quantization


def test_pool_keeping_its_quantization_is_left_alone():
    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 6, 6, 4), "int8")):
            with R.dataflow():
                d = R.dequantize(x, S1, Z1, axis=3, out_dtype="float32")
                p = R.nn.avg_pool2d(d, pool_size=[2, 2], strides=[2, 2], layout="NHWC")
                q = R.quantize(p, S1, Z1, axis=3, out_dtype="int8")
                R.output(q)
            return q

    tvm.ir.assert_structural_equal(SplitPoolRequantize(Before), Before)
