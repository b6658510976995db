"""FoldFlattenTransposeIntoDense on QDQ graphs (ONNX): TVMScript before/after, and end to end vs onnxruntime."""

from __future__ import annotations

import numpy as np
import tvm
from tvm import relax
from tvm.script import ir as I
from tvm.script import relax as R

import tinyengine_tvm as te
from tinyengine_tvm.relay_passes import FoldFlattenTransposeIntoDense
from tinyengine_tvm.relay_passes.fold_flatten_transpose import nchw_rows_in_nhwc_order

RNG = np.random.default_rng(11)


def _run(mod, inputs):
    ex = tvm.compile(mod, target="llvm")
    return relax.VirtualMachine(ex, tvm.cpu())["main"](*[tvm.runtime.tensor(a) for a in inputs]).numpy()


def test_qdq_flatten_transpose_folds_into_int8_weight_columns():
    wq = RNG.integers(-127, 128, (5, 24)).astype(np.int8)  # [M, K] as ONNX Gemm(transB=1) stores it
    w_old, w_new = relax.const(wq), relax.const(np.ascontiguousarray(wq[:, nchw_rows_in_nhwc_order(2, 3, 4)]))
    ws, wz = relax.const(RNG.uniform(0.01, 0.02, 5).astype(np.float32)), relax.const(np.zeros(5, np.int8))
    s, z = relax.const(np.float32(0.05)), relax.const(np.int8(-3))

    @I.ir_module
    class Before:
        @R.function
        def main(x: R.Tensor((1, 2, 3, 4), "float32")):
            with R.dataflow():
                t = R.permute_dims(x, axes=[0, 3, 1, 2])
                f = R.reshape(t, R.shape([1, 24]))
                q = R.quantize(f, s, z, axis=1, out_dtype="int8")
                d = R.dequantize(q, s, z, axis=1, out_dtype="float32")
                wt = R.permute_dims(w_old, axes=[1, 0])
                w = R.dequantize(wt, ws, wz, axis=1, out_dtype="float32")
                y = R.matmul(d, w, out_dtype="float32")
                R.output(y)
            return y

    @I.ir_module
    class Expected:
        @R.function
        def main(x: R.Tensor((1, 2, 3, 4), "float32")):
            with R.dataflow():
                f = R.reshape(x, R.shape([1, 24]))
                q = R.quantize(f, s, z, axis=1, out_dtype="int8")
                d = R.dequantize(q, s, z, axis=1, out_dtype="float32")
                wt = R.permute_dims(w_new, axes=[1, 0])
                w = R.dequantize(wt, ws, wz, axis=1, out_dtype="float32")
                y = R.matmul(d, w, out_dtype="float32")
                R.output(y)
            return y

    after = relax.transform.DeadCodeElimination()(FoldFlattenTransposeIntoDense(Before))
    tvm.ir.assert_structural_equal(after, Expected)
    x = RNG.uniform(-3, 3, (1, 2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(_run(after, [x]), _run(Before, [x]), rtol=1e-6)  # same products, summed in another order


def test_onnx_qdq_flatten_gemm_matches_onnxruntime():
    """Conv -> Relu -> Flatten (4x4x4 map) -> Gemm, quantized by onnxruntime: no transpose left, same bytes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from tinyengine_tvm.testing import onnx_models as om

    init = lambda n, a: numpy_helper.from_array(np.asarray(a, np.float32), n)  # noqa: E731
    inits = [init("w1", RNG.normal(0, 0.3, (4, 3, 3, 3))), init("b1", RNG.normal(0, 0.1, 4)),
             init("wf", RNG.normal(0, 0.3, (5, 64))), init("bf", RNG.normal(0, 0.1, 5))]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Flatten", ["r1"], ["f"]),
             helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1)]
    g = helper.make_graph(nodes, "flatten", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(m)
    calib = [RNG.uniform(-1, 1, (1, 3, 8, 8)).astype(np.float32) for _ in range(8)]
    q = om.ort_quantize(m, calib)
    cm = te.compile(q, arithmetic="onnxruntime")
    assert cm.report()["op_counts"] == {"quantize": 1, "conv2d": 1, "reshape": 1, "fully_connected": 1, "dequantize": 1}
    s, _ = om.output_qparams(q)
    xs = [RNG.uniform(-1, 1, (1, 3, 8, 8)).astype(np.float32) for _ in range(10)]
    ours = np.concatenate([cm.run([np.ascontiguousarray(x.transpose(0, 2, 3, 1))])[0] for x in xs])
    ref = np.concatenate([om.ort_run(q, [x])[0] for x in xs])
    # onnxruntime's bytes; a transposed flatten would scramble the dense layer's inputs entirely
    assert ours.tobytes() == ref.tobytes(), np.abs(np.round(ours / s) - np.round(ref / s)).max()
