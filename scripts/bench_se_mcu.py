"""Benchmark an SE MobileNetV2 (hard-sigmoid gates) on Cortex-M under QEMU: instructions, arena, Flash, and the
share of MEAN + MUL (the squeeze and the excitation's gating) in the instructions.

The model comes from tinyengine_tvm.testing.se_mobilenet (int8 TFLite written with the project's builder,
random He-initialised weights, calibrated ranges); outputs are checked byte for byte against LiteRT's
reference kernels (BUILTIN_REF). Per-kernel counts come from the profiling firmware (``measure(profile=True)``).

    python scripts/bench_se_mcu.py [--targets cortex-m4,cortex-m7] [--resolution 128] [--width 0.5]
                                   [--gate hard_sigmoid|logistic] [--no-dsp-se] [--profile] [--json out.json]

``--no-dsp-se`` keeps MEAN and MUL on their portable kernels (the before / after of their DSP kernels).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

SE_KINDS = ("mean", "mul")


def measure(model: bytes, target: str, profile: bool) -> dict:
    import tinyengine_tvm as te
    from tinyengine_tvm.testing.reference import run_litert

    cm = te.compile(model, target=target)
    x = np.random.default_rng(0).integers(-128, 128, size=cm.inputs[0].shape, dtype=np.int8)
    outs, m = cm.measure([x], profile=profile)
    ref = run_litert(model, [x])
    m["bit_exact"] = all(o.tobytes() == r.tobytes() for o, r in zip(outs, ref))
    m["macs"], m["target"] = cm.graph.macs, target
    if profile:
        kinds = {op.name: op.kernel for op in cm.graph.ops}
        se = sum(la["instructions"] for la in m.get("layers", []) if kinds.get(la["name"]) in SE_KINDS)
        total = sum(la["instructions"] for la in m.get("layers", []))
        m["mean_mul_instructions"], m["mean_mul_share"] = se, se / total if total else 0.0
        by_kind: dict = {}
        for la in m.get("layers", []):
            k = kinds.get(la["name"], "?")
            by_kind[k] = by_kind.get(k, 0) + la["instructions"]
        m["by_kind"] = by_kind
    return m


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default="cortex-m4,cortex-m7")
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--width", type=float, default=0.5)
    ap.add_argument("--gate", default="hard_sigmoid", choices=["hard_sigmoid", "logistic"])
    ap.add_argument("--no-dsp-se", action="store_true", help="portable MEAN / MUL kernels (for comparison)")
    ap.add_argument("--profile", action="store_true", help="print instructions per kernel kind")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    from tinyengine_tvm.testing.se_mobilenet import se_mobilenetv2_model

    if args.no_dsp_se:
        import os

        os.environ["TINYENGINE_NO_DSP_SE"] = "1"
    model = se_mobilenetv2_model(resolution=args.resolution, width=args.width, gate=args.gate)
    results = []
    print(f"SE MobileNetV2 {args.width}/{args.resolution} ({args.gate} gates)")
    print(f"{'target':<10} {'instructions':>13} {'MACs':>11} {'insn/MAC':>9} {'arena B':>9} {'Flash B':>10} "
          f"{'MEAN+MUL insn':>14} {'share':>7} {'exact':>5}")
    for target in args.targets.split(","):
        r = measure(model, target, profile=True)
        results.append(r)
        print(f"{target:<10} {r['instructions']:>13,} {r['macs']:>11,} {r['instructions'] / r['macs']:>9.2f} "
              f"{r['arena_bytes']:>9,} {r['flash_bytes']:>10,} {r['mean_mul_instructions']:>14,} "
              f"{100 * r['mean_mul_share']:>6.2f}% {'yes' if r['bit_exact'] else 'NO':>5}")
        if args.profile:
            for k, v in sorted(r["by_kind"].items(), key=lambda kv: -kv[1]):
                print(f"    {k:<20} {v:>13,}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
    return 0 if all(r["bit_exact"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
