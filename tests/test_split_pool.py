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


def test_onnx_qdq_average_pool_rescaling_matches_onnxruntime():
    """DequantizeLinear -> AveragePool -> QuantizeLinear with other output parameters, even windows (ties)
    and padding. The int8 graph output keeps int8 data while the input's QuantizeLinear becomes uint8, so
    onnxruntime runs the pool unfused, in float (MLAS's vector kernel; tests/test_ort_pool.py has the rest)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    import tinyengine_tvm as te
    from tinyengine_tvm.testing import onnx_models as om

    rng = np.random.default_rng(4)
    for k, stride, pads, (ys, yz) in [(2, 2, [0, 0, 0, 0], (0.013, -7)), (3, 1, [1, 1, 1, 1], (0.02, 5)),
                                      (2, 1, [0, 0, 0, 0], (0.02, 3))]:
        init = lambda n, a, dt=np.float32: numpy_helper.from_array(np.asarray(a, dt), n)  # noqa: E731
        o = (8 + pads[0] + pads[2] - k) // stride + 1
        inits = [init("xs", 0.02), init("xz", 3, np.int8), init("ys", ys), init("yz", yz, np.int8)]
        nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
                 helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["d"]),
                 helper.make_node("AveragePool", ["d"], ["p"], kernel_shape=[k, k], strides=[stride, stride], pads=pads),
                 helper.make_node("QuantizeLinear", ["p", "ys", "yz"], ["y"])]
        g = helper.make_graph(nodes, "avg", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.INT8, [1, 6, o, o])], inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
        onnx.checker.check_model(m)
        cm = te.compile(m, arithmetic="onnxruntime")
        assert cm.report()["op_counts"] == {"quantize": 1, "avg_pool2d": 1}  # int8 output
        for _ in range(3):
            x = ((rng.integers(-128, 128, (1, 6, 8, 8)) - 3) * np.float32(0.02)).astype(np.float32)  # on the grid
            ours = cm.run([np.ascontiguousarray(x.transpose(0, 2, 3, 1))])[0]
            ref = om.ort_run(m, [x])[0].transpose(0, 2, 3, 1)
            np.testing.assert_array_equal(ours, ref, err_msg=f"k={k} stride={stride}")
