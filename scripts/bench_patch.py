"""vww on Cortex-M (QEMU): line-buffer stages chosen by the compiler (--patch auto) against layer by layer
(--patch off): peak SRAM, instructions (ratio), Flash, outputs against LiteRT; and the stages, peak and estimated
overhead the search reaches under other --max-overhead budgets (planner only, no C).

    python scripts/bench_patch.py [--target cortex-m7] [--budgets 0,0.02,0.05,0.1,0.2,0.5]
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
    args = ap.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
