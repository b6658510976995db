"""vww on Cortex-M (QEMU): line-buffer stages chosen by the compiler (--patch auto) against layer by layer
(--patch off): peak SRAM, instructions (ratio), Flash, outputs against LiteRT; and the stages, peak and estimated
overhead the search reaches under other --max-overhead budgets (planner only, no C).

    python scripts/bench_patch.py [--target cortex-m7] [--budgets 0,0.02,0.05,0.1,0.2,0.5]

MobileNetV2 at 224x224 (MCUNetV2's case; testing.synth_nets.mobilenetv2, random int8 weights, float32 input
quantized into the arena as in MCUNet's own models, or ``--int8-input``: an int8 image the caller holds):

    python scripts/bench_patch.py --model mobilenetv2-224 --width 0.35 --max-overhead 0.05
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

MODELS = os.environ.get("TINYENGINE_MODELS", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "models"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="cortex-m7")
    ap.add_argument("--budgets", default="0.02,0.05,0.1,0.2,0.5")
    ap.add_argument("--patches", default="1,2,3,4,5,6", help="p of the p x p patch table (MCUNetV2 schedule)")
    ap.add_argument("--split", type=int, default=5, help="last op of the patch stage (TinyEngine's vww split: 5)")
    ap.add_argument("--model", default="vww", help="vww, or mobilenetv2-R (R: resolution, e.g. mobilenetv2-224)")
    ap.add_argument("--width", type=float, default=1.0, help="mobilenetv2: width multiplier")
    ap.add_argument("--int8-input", action="store_true", help="mobilenetv2: an int8 input (held by the caller)")
    ap.add_argument("--max-overhead", default="0.10", help="--patch auto's estimated overhead budget")
    args = ap.parse_args(argv)
    if args.model != "vww":
        return mobilenetv2(args)
    import tinyengine_tvm as te
    from tinyengine_tvm.testing.reference import run_litert

    path = os.path.join(MODELS, "vww.tflite")
    x = np.random.default_rng(0).uniform(-1, 1, (1, 80, 80, 3)).astype(np.float32)
    ref = run_litert(path, [x])
    rows = {}
    for spec in ("off", "auto"):
        cm = te.compile(path, target=args.target, patch=spec)
        outs, m = cm.measure([x])
        rep = cm.report()
        rows[spec] = dict(instr=m["instructions"], peak=rep["peak_sram_bytes"], flash=m.get("flash_bytes"),
                          exact=all(o.tobytes() == r.tobytes() for o, r in zip(outs, ref)), sched=rep["schedule"])
    off = rows["off"]
    print(f"vww.tflite on {args.target} (QEMU -icount shift=0, one warm-up then one timed inference)")
    print(f"{'--patch':<8} {'instructions':>13} {'ratio':>6} {'peak_sram_bytes':>16} {'Flash':>9}  exact vs LiteRT")
    for spec, r in rows.items():
        print(f"{spec:<8} {r['instr']:>13,} {r['instr'] / off['instr']:>6.3f} {r['peak']:>16,} {r['flash'] or 0:>9,}  "
              f"{r['exact']}")
    for d in rows["auto"]["sched"]:
        print(f"  stage {d['op']}: {d['ops'][0]}..{d['ops'][-1]}, windows {d['windows']} ({d['scratch_bytes']:,} B)")
    print("\nsearch under other overhead budgets (estimated overhead, planner peak; host plan, no C):")
    print(f"{'--max-overhead':>14} {'est. overhead':>13} {'peak_sram_bytes':>16}  stages")
    for b in (float(v) for v in args.budgets.split(",")):
        cm = te.compile(path, target="host", patch="auto", max_overhead=b)
        rep = cm.report()
        est = rep["schedule"][0].get("estimated_overhead", 0) if rep["schedule"] else 0
        print(f"{b:>14.0%} {est:>13.1%} {rep['peak_sram_bytes']:>16,}  "
              f"{', '.join(d['ops'][0] + '..' + d['ops'][-1] for d in rep['schedule'])}")
    print(f"\np x p patches with recomputed halos over op1..op{args.split} (--patch PxP@{args.split}), measured on "
          f"{args.target}:")
    print(f"{'p':>3} {'instructions':>13} {'ratio':>6} {'peak_sram_bytes':>16} {'stage MACs':>10}  exact")
    ok = True
    for p in (int(v) for v in args.patches.split(",") if v):
        cm = te.compile(path, target=args.target, patch=f"{p}x{p}@{args.split}")
        outs, m = cm.measure([x])
        rep = cm.report()
        exact = all(o.tobytes() == r.tobytes() for o, r in zip(outs, ref))
        ok = ok and exact
        rec = rep["schedule"][0].get("recompute", 1.0) if rep["schedule"] else 1.0
        print(f"{p:>3} {m['instructions']:>13,} {m['instructions'] / off['instr']:>6.3f} {rep['peak_sram_bytes']:>16,} "
              f"{rec:>9.3f}x  {exact}")
    ok = ok and rows["auto"]["exact"] and rows["off"]["exact"]
    return 0 if ok else 1


def mobilenetv2(args) -> int:
    """--patch off vs --patch auto on one MobileNetV2: instructions (QEMU), peak SRAM, exactness vs LiteRT."""
    import tempfile
    import time

    import tinyengine_tvm as te
    from tinyengine_tvm.testing.reference import run_litert
    from tinyengine_tvm.testing.synth_nets import mobilenetv2 as build

    res = int(args.model.rsplit("-", 1)[1]) if "-" in args.model else 224
    blob = build(res, args.width, float_input=not args.int8_input)
    path = os.path.join(tempfile.mkdtemp(), f"mobilenetv2_{args.width}_{res}.tflite")
    with open(path, "wb") as f:
        f.write(blob)
    rng = np.random.default_rng(0)
    x = (rng.uniform(-1, 1, (1, res, res, 3)).astype(np.float32) if not args.int8_input else
         rng.integers(-128, 128, (1, res, res, 3), dtype=np.int8))
    ref = run_litert(path, [x])
    rows = {}
    for spec in ("off", "auto"):
        t0 = time.process_time()
        cm = te.compile(path, target=args.target, patch=spec, max_overhead=args.max_overhead)
        cpu = time.process_time() - t0
        outs, m = cm.measure([x])
        rep = cm.report()
        rows[spec] = dict(instr=m["instructions"], peak=rep["peak_sram_bytes"], arena=cm.plan.arena_bytes, cpu=cpu,
                          exact=all(o.tobytes() == r.tobytes() for o, r in zip(outs, ref)), sched=rep["schedule"])
    off = rows["off"]
    print(f"MobileNetV2 width {args.width} at {res}x{res}, {'int8' if args.int8_input else 'float32'} input, on "
          f"{args.target} (QEMU -icount shift=0, one warm-up then one timed inference); --max-overhead "
          f"{args.max_overhead}")
    print(f"{'--patch':<8} {'instructions':>13} {'ratio':>6} {'peak_sram_bytes':>16} {'arena':>9} {'compile CPU s':>13}"
          "  exact vs LiteRT")
    for spec, r in rows.items():
        print(f"{spec:<8} {r['instr']:>13,} {r['instr'] / off['instr']:>6.3f} {r['peak']:>16,} {r['arena']:>9,} "
              f"{r['cpu']:>13.1f}  {r['exact']}")
    for d in rows["auto"]["sched"]:
        print(f"  stage {d['op']}: {d['kind']} {d.get('grid', '')} {d['ops'][0]}..{d['ops'][-1]}, scratch "
              f"{d['scratch_bytes']:,} B, est. overhead {d.get('estimated_overhead', 0):.1%}")
    return 0 if rows["off"]["exact"] and rows["auto"]["exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
