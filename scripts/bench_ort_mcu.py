"""onnxruntime-quantized MobileNetV2 0.35/96 on Cortex-M (QEMU): DSP kernels in onnxruntime mode, on and off.

  python scripts/bench_ort_mcu.py [--targets cortex-m7,cortex-m4] [--inputs 3] [--json]

Graphs from ONNX / PyTorch compute onnxruntime's arithmetic (TE_SINGLE_ROUNDING). This compiles
onnxruntime's own QDQ model of the MobileNetV2 in ``scripts/mobilenetv2_torch_vs_ort.py`` for each
target twice, with the DSP kernels of codegen/dsp.py and with every onnxruntime-mode layer kept
portable (as before they had onnxruntime-mode variants), checks every output against onnxruntime,
and reports the instructions of one timed inference (QEMU ``-icount shift=0``, after a warm-up) and
their ratio.
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default="cortex-m7,cortex-m4")
    ap.add_argument("--inputs", type=int, default=3, help="images checked against onnxruntime (default 3)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    r = bench(args.targets.split(","), args.inputs)
    print(json.dumps(r, indent=None if args.json else 2))


def bench(targets, n_inputs=3):
    import tinyengine_tvm as te
    from tinyengine_tvm.codegen import dsp
    from tinyengine_tvm.testing import onnx_models as om
    from tinyengine_tvm.testing import torch_models as tm

    model = tm.mobilenet_v2(0.35, 1000, seed=0, resolution=96)
    calib = tm.images(32, 96, seed=10)
    qdq = om.ort_quantize(tm.to_onnx(model, calib[0]), calib, per_channel=True)
    xs = tm.images(n_inputs, 96, seed=20)
    nhwc = [np.ascontiguousarray(x.transpose(0, 2, 3, 1)) for x in xs]
    ref = [om.ort_run(qdq, [x])[0] for x in xs]
    specialize = dsp.specialize

    def portable_ort(em, op):
        return None if op.params.get("single_rounding") else specialize(em, op)

    rows = []
    try:
        for t in targets:
            row = {"target": t}
            for mode, fn in (("portable", portable_ort), ("dsp", specialize)):
                dsp.specialize = fn
                cm = te.compile(qdq, target=t)
                outs = [cm.run([x])[0] for x in nhwc]
                same = all(np.array_equal(o, r.reshape(o.shape)) for o, r in zip(outs, ref))
                _, m = cm.measure([nhwc[0]])
                row[mode] = {"instructions": m["instructions"], "flash_bytes": m.get("flash_bytes"),
                             "arena_bytes": m.get("arena_bytes"), "equal_to_onnxruntime": same}
            row["dsp_over_portable"] = round(row["dsp"]["instructions"] / row["portable"]["instructions"], 3)
            rows.append(row)
    finally:
        dsp.specialize = specialize
    return {"model": "onnxruntime QDQ MobileNetV2 0.35/96 (per-channel, 32 calibration images)",
            "inputs_checked": n_inputs, "rows": rows}


if __name__ == "__main__":
    main()
