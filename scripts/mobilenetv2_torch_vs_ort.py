"""MobileNetV2 (width 0.35, 96x96) from PyTorch to C, against the same model quantized by onnxruntime.

  python scripts/mobilenetv2_torch_vs_ort.py [--calib 32] [--inputs 100] [--method minmax]

1. builds the float model (random weights, BN statistics from real activations);
2. ours: torch.export -> Relax -> post-training quantization on the calibration images
   -> kernel graph -> C, built with gcc and run on the host;
3. reference: the same model exported to ONNX, quantized by onnxruntime
   ``quantize_static`` (QDQ, int8, per-channel, MinMax) on the same calibration images and
   run in onnxruntime;
4. prints agreement on ``--inputs`` fresh images: output values within 1 LSB (of the ORT
   output scale), identical, same top-1, and top-1 agreement of both with the float model;
   ``onnxruntime_calibration``: the same for our PTQ calibrated in onnxruntime
   (``calibration_engine="onnxruntime"``: ranges observed in onnxruntime's float execution of
   the ONNX export, where quantize_static observes them) instead of TVM;
5. ``ort_qdq_compiled``: onnxruntime's own QDQ model (step 3) compiled by us, against
   onnxruntime: same quantization parameters, so this isolates the int8 arithmetic
   (onnxruntime's, reproduced op by op: see tests/test_ort_arith.py); every compile here uses
   ``arithmetic="onnxruntime"`` (onnxruntime's own bytes; scripts/bench_ort_mcu.py compares both modes);
6. for context, onnxruntime against itself: its default (fused int8 kernels) vs graph
   optimizations off (the QDQ graph run in float), and vs the same model with one
   activation scale moved by one float32 ulp: how much this random-weight network amplifies
   tiny quantization-parameter differences (calibrated in TVM, our PTQ's scales differ from
   quantize_static's by 1e-7..4e-6 relative: TVM's float kernels sum in another order).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calib", type=int, default=32, help="calibration images (default 32)")
    ap.add_argument("--inputs", type=int, default=100, help="evaluation images (default 100)")
    ap.add_argument("--method", default="minmax", choices=["minmax", "percentile", "mse"])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    print(json.dumps(compare(args.calib, args.inputs, args.method), indent=None if args.json else 2))


def compare(n_calib=32, n_inputs=100, method="minmax", width=0.35, resolution=96, classes=1000):
    import tinyengine_tvm as te
    from tinyengine_tvm.testing import onnx_models as om
    from tinyengine_tvm.testing import torch_models as tm

    t0 = time.time()
    model = tm.mobilenet_v2(width, classes, seed=0, resolution=resolution)
    calib = tm.images(n_calib, resolution, seed=10)
    xs = tm.images(n_inputs, resolution, seed=20)

    cm = te.compile(model, calibration=calib, calibration_method=method, arithmetic="onnxruntime")
    t_ours = time.time() - t0
    cm_ort = te.compile(model, calibration=calib, calibration_method=method, calibration_engine="onnxruntime",
                        arithmetic="onnxruntime")
    qdq = om.ort_quantize(tm.to_onnx(model, calib[0]), calib, per_channel=True)
    s, _ = om.output_qparams(qdq)

    nhwc = [np.ascontiguousarray(x.transpose(0, 2, 3, 1)) for x in xs]
    ours = [cm.run([x])[0] for x in nhwc]
    ours_ortcal = [cm_ort.run([x])[0] for x in nhwc]
    ref = [om.ort_run(qdq, [x])[0] for x in xs]
    flt = [tm.run_torch(model, x) for x in xs]
    # context: onnxruntime against itself, fused int8 kernels vs graph optimizations off (float QDQ)
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    plain = ort.InferenceSession(qdq.SerializeToString(), so, providers=["CPUExecutionProvider"])
    ref_plain = [plain.run(None, {"x": x})[0] for x in xs]
    top = lambda a, b: float(np.mean([np.argmax(p) == np.argmax(q) for p, q in zip(a, b)]))  # noqa: E731

    def agree(a, b):
        d = np.abs(np.round(np.concatenate(a) / s) - np.round(np.concatenate(b) / s))
        return {"within_1_lsb": float((d <= 1).mean()), "exact": float((d == 0).mean()), "max_lsb": float(d.max()),
                "top1": top(a, b)}

    cq = te.compile(qdq, arithmetic="onnxruntime")
    ours_q = [cq.run([x])[0] for x in nhwc]
    ulp = _nudged_scale(qdq)
    ref_ulp = [om.ort_run(ulp, [x])[0] for x in xs]
    a = agree(ours, ref)
    ours_s = cm.outputs[0]
    return {
        "model": f"MobileNetV2 width {width}, {resolution}x{resolution}, {classes} classes",
        "calibration_images": n_calib, "eval_images": n_inputs, "method": method,
        "ort_output_scale": s,
        "within_1_lsb": a["within_1_lsb"], "exact": a["exact"], "max_lsb": a["max_lsb"],
        "top1_ours_vs_ort": a["top1"],
        "top1_ours_vs_float": top(ours, flt), "top1_ort_vs_float": top(ref, flt),
        "max_abs_ours_vs_float": float(np.abs(np.concatenate(ours) - np.concatenate(flt)).max()),
        "onnxruntime_calibration": dict(agree(ours_ortcal, ref), top1_vs_float=top(ours_ortcal, flt)),
        "ort_qdq_compiled": dict(agree(ours_q, ref), top1_vs_float=top(ours_q, flt)),
        "ort_fused_vs_ort_unoptimized": agree(ref, ref_plain),
        "ort_vs_ort_one_scale_one_ulp": agree(ref_ulp, ref),
        "ptq_report": str(cm.quantization_report),
        "kernels": cm.report()["op_counts"], "arena_bytes": cm.report()["arena_bytes"],
        "weight_bytes": cm.report()["weight_bytes"], "output": {"shape": list(ours_s.shape)},
        "compile_seconds": round(t_ours, 1),
    }


def _nudged_scale(qdq):
    """The QDQ model with the first residual Add's output scale moved up by one float32 ulp."""
    import copy

    from onnx import numpy_helper

    m = copy.deepcopy(qdq)
    adds = [n.output[0] for n in m.graph.node if n.op_type == "Add"]
    name = next(n.input[1] for n in m.graph.node if n.op_type == "QuantizeLinear" and n.input[0] == adds[0])
    for t in m.graph.initializer:
        if t.name == name:
            v = np.nextafter(numpy_helper.to_array(t).astype(np.float32), np.float32(np.inf)).astype(np.float32)
            t.CopyFrom(numpy_helper.from_array(v, name))
    return m


if __name__ == "__main__":
    main()
