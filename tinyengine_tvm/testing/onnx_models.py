"""Small float ONNX models built with the ``onnx`` helper API, quantized by onnxruntime: test inputs for the ONNX path.

``small_cnn()`` is a float NCHW network with the layers the kernels cover (conv + Clip,
depthwise conv + Relu, residual add, max pool, global average pool, flatten, Gemm).
``ort_quantize()`` quantizes a float model with ``onnxruntime.quantization.quantize_static``
in QDQ format, int8 activations and weights, per-channel or per-tensor, calibrated on
given inputs; ``ort_run()`` runs any ONNX model in onnxruntime. The references the tests
compare with are onnxruntime's own results on those models.
"""

from __future__ import annotations

import numpy as np


def _init(name, arr, dtype=np.float32):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(arr, dtype=dtype), name)


def small_cnn(in_shape=(1, 3, 16, 16), classes=5, seed=0, opset=13):
    """A float ONNX ModelProto: conv3x3/2 + Clip(0,6) -> dw3x3 + Relu -> add -> maxpool -> conv1x1 -> GAP -> flatten -> Gemm."""
    import onnx
    from onnx import TensorProto, helper

    rng = np.random.default_rng(seed)
    c_in = in_shape[1]
    nodes, inits = [], []
    inits += [_init("w1", rng.normal(0, 0.3, (8, c_in, 3, 3))), _init("b1", rng.normal(0, 0.1, 8))]
    nodes.append(helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]))
    inits += [_init("lo", 0.0), _init("hi", 6.0)]
    nodes.append(helper.make_node("Clip", ["c1", "lo", "hi"], ["r1"]))
    inits += [_init("w2", rng.normal(0, 0.3, (8, 1, 3, 3))), _init("b2", rng.normal(0, 0.1, 8))]
    nodes.append(helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=8))
    nodes.append(helper.make_node("Relu", ["c2"], ["r2"]))
    nodes.append(helper.make_node("Add", ["r2", "r1"], ["a"]))
    nodes.append(helper.make_node("MaxPool", ["a"], ["p"], kernel_shape=[2, 2], strides=[2, 2]))
    inits += [_init("w3", rng.normal(0, 0.3, (12, 8, 1, 1))), _init("b3", rng.normal(0, 0.1, 12))]
    nodes.append(helper.make_node("Conv", ["p", "w3", "b3"], ["c3"], kernel_shape=[1, 1]))
    nodes.append(helper.make_node("GlobalAveragePool", ["c3"], ["g"]))
    nodes.append(helper.make_node("Flatten", ["g"], ["f"]))
    inits += [_init("wf", rng.normal(0, 0.3, (classes, 12))), _init("bf", rng.normal(0, 0.1, classes))]
    nodes.append(helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1))
    g = helper.make_graph(nodes, "small_cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [in_shape[0], classes])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    onnx.checker.check_model(m)
    return m


def ort_quantize(model, calibration, per_channel=True):
    """Quantize a float ModelProto with onnxruntime quantize_static (QDQ, int8/int8, MinMax); returns a ModelProto."""
    import os
    import tempfile

    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    name = model.graph.input[0].name

    class _Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{name: np.asarray(x, np.float32)} for x in calibration])

        def get_next(self):
            return next(self.it, None)

    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "f.onnx"), os.path.join(d, "q.onnx")
        onnx.save(model, src)
        quantize_static(src, dst, _Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
        return onnx.load(dst)


def session_options(threads=None):
    """onnxruntime SessionOptions for a reference run: its exact integer matmul on every x86 host.

    On x86-64 without VNNI (SSE4.1 / AVX2 / AVX-512 without VNNI) onnxruntime's default U8S8 kernels add
    pairs of u8 x s8 products in saturating 16-bit lanes, so QLinearConv / QGemm results depend on the
    host; ``session.x64quantprecision = 1`` makes it use its exact U8U8 path there (VNNI hosts and other
    CPUs compute the exact int32 sums anyway). The reference is onnxruntime's defined arithmetic, not
    one host's overflow."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.add_session_config_entry("session.x64quantprecision", "1")
    if threads is not None:
        so.intra_op_num_threads = threads
    return so


def ort_run(model, inputs, output_names=None):
    """Run a ModelProto in onnxruntime (CPU) on a list of input arrays; returns the outputs."""
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), session_options(), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    return sess.run(output_names, dict(zip(names, inputs)))


def ort_optimized(model, threads=None):
    """(onnxruntime session with default graph optimizations, the optimized ModelProto it runs): which
    ops onnxruntime really runs (fused QLinear* kernels, or float ops where it leaves QDQ unfused)."""
    import os
    import tempfile

    import onnx
    import onnxruntime as ort

    so = session_options(threads)
    with tempfile.TemporaryDirectory() as d:
        so.optimized_model_filepath = os.path.join(d, "opt.onnx")
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        return sess, onnx.load(so.optimized_model_filepath)


def output_qparams(qdq_model):
    """(scale, zero_point) of the QuantizeLinear that produces the graph output of a QDQ model."""
    from onnx import numpy_helper

    inits = {t.name: numpy_helper.to_array(t) for t in qdq_model.graph.initializer}
    out = qdq_model.graph.output[0].name
    producer = {o: n for n in qdq_model.graph.node for o in n.output}
    dq = producer[out]
    if dq.op_type != "DequantizeLinear":
        raise ValueError("graph output is not produced by DequantizeLinear")
    return float(inits[dq.input[1]]), int(inits[dq.input[2]])


def uint8_activations(model):
    """The same QDQ model with uint8 activations: every activation QuantizeLinear / DequantizeLinear zero
    point z (int8) becomes z + 128 (uint8); weights and biases stay. Each dequantized value is unchanged
    and the int8 bytes are the uint8 bytes - 128. With no int8 / uint8 mix left, onnxruntime's x86 QDQ
    rewrite fuses every group (QLinearConv, QLinearAdd, QLinearAveragePool ... on uint8 data, where the int8
    model leaves groups with a shared tensor unfused in float): the reference of ``--arithmetic int8``."""
    import onnx
    from onnx import TensorProto, numpy_helper

    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    inits = {t.name: t for t in g.initializer}
    done = set()
    for node in g.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear") or len(node.input) < 3:
            continue
        if node.op_type == "DequantizeLinear" and node.input[0] in inits:
            continue  # a weight / bias
        zp = node.input[2]
        if zp in done or zp not in inits or inits[zp].data_type != TensorProto.INT8:
            continue
        z = numpy_helper.to_array(inits[zp]).astype(np.int32) + 128
        inits[zp].CopyFrom(numpy_helper.from_array(z.astype(np.uint8), zp))
        done.add(zp)
    return m
