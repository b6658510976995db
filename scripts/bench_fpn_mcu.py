"""The 3-output FPN person-detection model (testing.tflite_builder.fpn_detection_model) on Cortex-M under QEMU.

For each target: compile, run the measuring firmware (one warm-up, one timed inference,
``-icount shift=0``), check every output byte-identical with LiteRT's reference kernels and with
the host build, and print instructions, instructions per MAC, arena and Flash.

    python scripts/bench_fpn_mcu.py [--targets cortex-m4,cortex-m7] [--size 128] [--width 16] [--profile] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def measure(target: str, size: int, width: int, profile: bool) -> dict:
    import tinyengine_tvm as te
    from tinyengine_tvm.testing import tflite_builder as tb
    from tinyengine_tvm.testing.reference import run_litert

    model = bytes(tb.fpn_detection_model(size=size, width=width))
    cm = te.compile(model, target=target)
    x = np.random.default_rng(1).integers(-128, 128, size=cm.inputs[0].shape, dtype=np.int8)
    outs, m = cm.measure([x], profile=profile)
    ref = run_litert(model, [x])
    m["bit_exact"] = len(outs) == len(ref) == 3 and all(o.tobytes() == r.tobytes() for o, r in zip(outs, ref))
    m["outputs"] = [list(o.shape) for o in outs]
    m["views"] = len(cm.graph.views)
    m["macs"], m["model"] = cm.graph.macs, f"fpn{size}w{width}"
    return m


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default="cortex-m4,cortex-m7")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--profile", action="store_true", help="print per-layer instruction counts")
    ap.add_argument("--json", help="also write the measurements here")
    args = ap.parse_args(argv)
    results = [measure(t, args.size, args.width, args.profile) for t in args.targets.split(",")]
    print(f"{'model':<12} {'target':<10} {'MACs':>11} {'instructions':>13} {'insn/MAC':>9} {'arena B':>9} "
          f"{'Flash B':>9} {'views':>5} {'exact':>5}")
    for r in results:
        print(f"{r['model']:<12} {r['target']:<10} {r['macs']:>11,} {r['instructions']:>13,} "
              f"{r['instructions'] / r['macs']:>9.2f} {r['arena_bytes']:>9,} {r['flash_bytes']:>9,} {r['views']:>5} "
              f"{'yes' if r['bit_exact'] else 'NO':>5}")
        if args.profile:
            for layer in r.get("layers", []):
                per = f"{layer['instructions'] / layer['macs']:6.2f}" if layer["macs"] else "      "
                print(f"    {layer['name']:<26} {layer['instructions']:>11,} {per}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0 if all(r["bit_exact"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
