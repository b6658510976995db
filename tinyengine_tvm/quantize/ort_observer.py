"""Calibration ranges observed in onnxruntime's float execution of the same network.

onnxruntime's ``quantize_static`` takes activation ranges from onnxruntime running the
float ONNX model with graph optimizations off. TVM's float build computes the same tensors
in another summation order (and folds batch norm with other float32 roundings), so the
ranges, and the scales made from them, differ in their last bits. That is harmless for
accuracy, but a network that amplifies it no longer gives quantize_static's bytes
(scripts/mobilenetv2_torch_vs_ort.py measures both). ``observe`` lets the PTQ take its
ranges where quantize_static takes them; everything else (grouping, activation fusion,
the scale / zero point / weight / bias rules) stays the PTQ's own.

The PTQ's tensors (NHWC, batch norm folded, activations fused into their producer) are
found in the ONNX graph by value: on the first calibration inputs each one is compared
with every float tensor of the ONNX model holding as many elements (NCHW maps transposed
to NHWC). The closest one within ``TOLERANCE`` (of the tensor's largest magnitude) is
taken; among equally close ones, the one computed last (a conv's ReLU6 output rather than
the conv output it equals when nothing was clipped). A tensor with no match is an error
that names it.
"""

from __future__ import annotations

import numpy as np

from ..errors import TinyEngineError

TOLERANCE = 1e-3
MATCH_SAMPLES = 4


def observe(onnx_model, tensors, tvm_values, onnx_inputs, make_observer):
    """Observers for ``tensors`` fed from onnxruntime.

    ``tvm_values``: per calibration input (at least the first), the list of the tensors' values in
    TVM's float build, for matching; ``onnx_inputs``: every calibration input in the ONNX model's
    own layout (a list of arrays each); ``make_observer()``: a fresh ``calibrate.RangeObserver``.
    """
    sess, names, order = _session(onnx_model)
    feed_names = [i.name for i in sess.get_inputs()]
    if len(feed_names) != len(onnx_inputs[0]):
        raise TinyEngineError(f"onnxruntime calibration: the ONNX model takes {len(feed_names)} input(s), "
                              f"calibration gives {len(onnx_inputs[0])}")

    def run(sample, wanted):
        feed = dict(zip(feed_names, sample))
        fetch = [n for n in wanted if n not in feed]  # a model input is observed as fed
        return dict(zip(fetch, sess.run(fetch, feed))) | feed

    k = min(MATCH_SAMPLES, len(onnx_inputs), len(tvm_values))
    first = [run(s, names) for s in onnx_inputs[:k]]  # every float tensor, to find ours among them
    picks = [_match(t, [v[j] for v in tvm_values[:k]], first, order) for j, t in enumerate(tensors)]
    picked = sorted({name for name, _ in picks})
    obs = [make_observer() for _ in tensors]
    for i, sample in enumerate(onnx_inputs):
        got = first[i] if i < k else run(sample, picked)  # then only the matched ones
        for o, (name, to_ours) in zip(obs, picks):
            o.update(to_ours(got[name]))
    return obs


def _session(model):
    """An onnxruntime session (optimizations off, as quantize_static calibrates) returning every float tensor."""
    import onnx

    try:
        import onnxruntime as ort
    except ImportError:
        raise TinyEngineError("calibration in onnxruntime needs onnxruntime: pip install onnxruntime "
                              "(or tinyengine-tvm[onnx])") from None
    m = onnx.ModelProto()
    m.CopyFrom(model)
    try:
        m = onnx.shape_inference.infer_shapes(m)
    except Exception as err:
        raise TinyEngineError(f"onnxruntime calibration: ONNX shape inference failed: {err}") from None
    have = {o.name for o in m.graph.output}
    inputs = {i.name for i in m.graph.input}
    for vi in m.graph.value_info:
        if vi.type.tensor_type.elem_type == onnx.TensorProto.FLOAT and vi.name not in have | inputs:
            m.graph.output.append(vi)
            have.add(vi.name)
    names = [o.name for o in m.graph.output if o.type.tensor_type.elem_type == onnx.TensorProto.FLOAT]
    order = {name: i for i, name in enumerate(out for node in m.graph.node for out in node.output)}  # graph order
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    try:
        sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    except Exception as err:
        raise TinyEngineError(f"onnxruntime calibration: onnxruntime cannot load the model: {err}") from None
    return sess, names, order


def _as_ours(a: np.ndarray, want: tuple) -> list:
    """Functions that may map onnxruntime's array (shaped like ``a``) to the PTQ tensor's layout ``want``
    (two where a square map is both NCHW and NHWC-shaped)."""
    if a.size != int(np.prod(want)):
        return []
    maps = []
    if a.shape == want:
        maps.append(lambda x: x)
    if a.ndim == 4 and len(want) == 4 and (a.shape[0], a.shape[2], a.shape[3], a.shape[1]) == want:
        maps.append(lambda x: np.transpose(x, (0, 2, 3, 1)))
    if not maps and ((a.ndim == 4 and a.shape[2:] == (1, 1)) or (len(want) == 4 and want[1:3] == (1, 1))):
        maps.append(lambda x: x.reshape(want))  # [N, C, 1, 1] <-> [N, C] / [N, 1, 1, C]: the same element order
    return maps


def _match(tensor, ours: list, first: list, order: dict):
    want = tuple(int(d) for d in ours[0].shape)
    scale = max(float(np.max(np.abs(v))) for v in ours) or 1.0
    best = None
    for name, a in first[0].items():
        for to_ours in _as_ours(a, want):
            err = max(float(np.max(np.abs(to_ours(f[name]).astype(np.float64) - v))) for f, v in zip(first, ours)) / scale
            key = (err, -order.get(name, -1))
            if err <= TOLERANCE and (best is None or key < best[0]):
                best = (key, name, to_ours)
    if best is None:
        label = getattr(tensor, "name", tensor)
        raise TinyEngineError(f"onnxruntime calibration: no tensor of the ONNX model matches '{label}' {list(want)} "
                              f"within {TOLERANCE:g} (is it the same network?)")
    return best[1], best[2]
