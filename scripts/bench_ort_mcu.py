"""onnxruntime-quantized MobileNetV2 0.35/96 on Cortex-M (QEMU), in both arithmetic modes.

  python scripts/bench_ort_mcu.py [--targets cortex-m7] [--inputs 100] [--modes int8,onnxruntime] [--portable] [--patch off|auto] [--json]

Compiles onnxruntime's own QDQ model of the MobileNetV2 in ``scripts/mobilenetv2_torch_vs_ort.py``
(random weights, BN statistics from real activations, ``quantize_static`` per-channel on 32 images)
for each target in each ``--arithmetic`` mode (``int8``: every QDQ group an int8 kernel with
onnxruntime's fused QLinear formula; ``onnxruntime``: onnxruntime's bytes on this host, float convs
where it leaves a group unfused), runs ``--inputs`` fresh images on the target (QEMU), and reports per
mode: instructions of one timed inference (QEMU ``-icount shift=0``, after a warm-up), Flash, arena,
agreement with onnxruntime (outputs identical, within 1 LSB, same top-1) and top-1 agreement with the
float PyTorch model (and onnxruntime's own top-1 agreement with it, for scale). ``--portable`` adds,
per mode, the same build with every onnxruntime-arithmetic layer on the portable kernels (no DSP).
``--patch`` is the compile's patch mode: ``off`` by default (layer by layer, as ``bench_mcu.py`` measures
vww), so the figures are the kernels' speed; ``auto`` trades instructions for SRAM within its overhead budget.
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default="cortex-m7")
    ap.add_argument("--inputs", type=int, default=100, help="images checked against onnxruntime (default 100)")
    ap.add_argument("--modes", default="int8,onnxruntime")
    ap.add_argument("--portable", action="store_true", help="also the build without DSP kernels (instructions only)")
    ap.add_argument("--patch", default="off", help="the compile's patch mode (default off: layer by layer)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    r = bench(args.targets.split(","), args.inputs, args.modes.split(","), args.portable, args.patch)
    print(json.dumps(r, indent=None if args.json else 2))


def model_and_inputs(n_inputs):
    """(onnxruntime's QDQ model, float torch model, NCHW images) of the benchmark."""
    from tinyengine_tvm.testing import onnx_models as om
    from tinyengine_tvm.testing import torch_models as tm

    model = tm.mobilenet_v2(0.35, 1000, seed=0, resolution=96)
    calib = tm.images(32, 96, seed=10)
    qdq = om.ort_quantize(tm.to_onnx(model, calib[0]), calib, per_channel=True)
    return qdq, model, tm.images(n_inputs, 96, seed=20)


def agreement(outs, ref, float_top1) -> dict:
    """Outputs vs onnxruntime's (int8 arrays, same order) and top-1 vs the float model's."""
    d = np.concatenate([np.abs(o.astype(np.int32).reshape(-1) - r.astype(np.int32).reshape(-1)) for o, r in zip(outs, ref)])
    top1 = np.array([int(np.argmax(o)) for o in outs])
    ref_top1 = np.array([int(np.argmax(r)) for r in ref])
    return {"identical_inputs": int(sum(np.array_equal(o.reshape(-1), r.reshape(-1)) for o, r in zip(outs, ref))),
            "outputs_exact": round(float((d == 0).mean()), 5), "outputs_within_1_lsb": round(float((d <= 1).mean()), 5),
            "max_lsb": int(d.max()), "top1_vs_onnxruntime": round(float((top1 == ref_top1).mean()), 4),
            "top1_vs_float": round(float((top1 == float_top1).mean()), 4)}


def bench(targets, n_inputs=100, modes=("int8", "onnxruntime"), portable=False, patch="off"):
    import tinyengine_tvm as te
    from tinyengine_tvm.codegen import dsp
    from tinyengine_tvm.testing import onnx_models as om
    from tinyengine_tvm.testing import torch_models as tm

    qdq, model, xs = model_and_inputs(n_inputs)
    nhwc = [np.ascontiguousarray(x.transpose(0, 2, 3, 1)) for x in xs]
    ref = [om.ort_run(qdq, [x])[0] for x in xs]
    float_top1 = np.array([int(np.argmax(tm.run_torch(model, x))) for x in xs])
    ort_vs_float = round(float(np.mean([int(np.argmax(r)) == f for r, f in zip(ref, float_top1)])), 4)
    specialize = dsp.specialize

    def portable_ort(em, op):
        return None if op.params.get("single_rounding") else specialize(em, op)

    rows = []
    try:
        for t in targets:
            for mode in modes:
                cm = te.compile(qdq, target=t, arithmetic=mode, patch=patch)
                outs = [cm.run([x])[0] for x in nhwc]
                _, m = cm.measure([nhwc[0]])
                row = {"target": t, "arithmetic": mode, "instructions": m["instructions"],
                       "flash_bytes": m.get("flash_bytes"), "arena_bytes": m.get("arena_bytes"),
                       "float_convs": sum(1 for op in cm.graph.ops if op.params.get("ort_float")),
                       **agreement(outs, ref, float_top1)}
                if portable:
                    dsp.specialize = portable_ort
                    try:
                        _, mp = te.compile(qdq, target=t, arithmetic=mode, patch=patch).measure([nhwc[0]])
                    finally:
                        dsp.specialize = specialize
                    row["portable_instructions"] = mp["instructions"]
                    row["dsp_over_portable"] = round(m["instructions"] / mp["instructions"], 3)
                rows.append(row)
    finally:
        dsp.specialize = specialize
    return {"model": "onnxruntime QDQ MobileNetV2 0.35/96 (per-channel, 32 calibration images)",
            "patch": patch, "inputs_checked": n_inputs, "onnxruntime_top1_vs_float": ort_vs_float, "rows": rows}


if __name__ == "__main__":
    main()
