"""Speed of TinyNAS's constraint queries (``nas.constraints.fits``) and of stage 1 (space optimisation).

Usage:
  python scripts/bench_nas_constraints.py [--candidates 100] [--auto 100] [--grid default|mcunet]
  python scripts/bench_nas_constraints.py --stage1 100x200        # 100 spaces x 200 samples, wall time
  python scripts/bench_nas_constraints.py --dump answers.json     # every candidate's Estimate, to compare
  python scripts/bench_nas_constraints.py --compare answers.json  # ... after a change: answers must not move

Candidates: each drawn from a random (width, resolution) space of the grid (``default``: the pipeline's
widths x resolutions; ``mcunet``: MCUNet's 0.2..1.0 x 48..224), asked ``fits(spec, sram, flash)`` on the
target as the search asks it (a cold process: contract caches fill as they would in a search).
Reports the median / p90 / max CPU milliseconds per query (process time: the machine is shared, wall
time moves with the load; both printed), patch off and patch auto.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

GRIDS = {
    "default": ((0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 1.0), (16, 24, 32, 40, 48, 64)),
    "mcunet": ((0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0), (48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224)),
}


def candidates(n, grid, seed=0, classes=10):
    import numpy as np

    from tinyengine_tvm.nas import SearchSpace

    widths, resolutions = GRIDS[grid]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        sp = SearchSpace(width=float(rng.choice(widths)), resolution=int(rng.choice(resolutions)), classes=classes)
        out.append(sp.sample(rng))
    return out


def time_queries(specs, sram, flash, target, patch):
    import numpy as np

    from tinyengine_tvm.nas.constraints import fits

    times, cpu, answers = [], [], []
    for s in specs:
        t0, c0 = time.perf_counter(), time.process_time()
        ok, e = fits(s, sram, flash, target, patch=patch)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        answers.append(json.loads(json.dumps({"spec": s.to_dict(), "patch": patch, "fits": ok, "estimate": e.to_dict()})))
    ms, cms = np.asarray(times) * 1e3, np.asarray(cpu) * 1e3
    print(f"patch {patch:<4}: {len(specs)} candidates, {sum(a['fits'] for a in answers)} fit; CPU ms per query: "
          f"median {np.median(cms):.1f}, p90 {np.percentile(cms, 90):.1f}, max {cms.max():.1f}; wall: median "
          f"{np.median(ms):.1f}, total {ms.sum() / 1e3:.1f} s (load average {os.getloadavg()[0]:.1f})", flush=True)
    return answers


def stage1(spaces, samples, sram, flash, target, res_range=(16, 88)):
    import numpy as np

    from tinyengine_tvm.nas.space_opt import optimize_space

    widths = tuple(float(w) for w in np.round(np.linspace(0.2, 1.0, 10), 3))
    lo, hi = res_range
    resolutions = tuple(sorted({int(r) // 8 * 8 for r in np.linspace(lo, hi, max(1, spaces // len(widths)))}))
    n = len(widths) * len(resolutions)
    t0, c0 = time.perf_counter(), time.process_time()
    res = optimize_space(sram, flash, widths, resolutions, samples, classes=10, target=target)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"stage 1 (wall {dt:.1f} s, CPU {cpu:.1f} s, load average {os.getloadavg()[0]:.1f}): {n} spaces ({len(widths)} widths x {len(resolutions)} resolutions {resolutions[0]}..{resolutions[-1]}) "
          f"x {samples} samples = {n * samples} queries, {cpu / (n * samples) * 1e3:.1f} CPU ms per query; "
          f"best space w{res[0].width} r{res[0].resolution}: {res[0].fitting}/{res[0].samples} fit, "
          f"mean {res[0].mean_macs / 1e6:.2f} MMACs", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidates", type=int, default=100, help="patch-off queries (0: skip)")
    ap.add_argument("--auto", type=int, default=100, help="patch-auto queries (0: skip)")
    ap.add_argument("--grid", default="default", choices=sorted(GRIDS))
    ap.add_argument("--target", default="cortex-m4")
    ap.add_argument("--sram", type=int, default=32 * 1024)
    ap.add_argument("--flash", type=int, default=1 << 20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stage1", default=None, help="SPACESxSAMPLES, e.g. 100x200")
    ap.add_argument("--stage1-res", default="16,88", help="stage 1 resolutions: LO,HI (10 steps of 8 px)")
    ap.add_argument("--dump", default=None)
    ap.add_argument("--compare", default=None)
    args = ap.parse_args()

    answers = []
    if args.candidates:
        answers += time_queries(candidates(args.candidates, args.grid, args.seed), args.sram, args.flash, args.target, "off")
    if args.auto:
        answers += time_queries(candidates(args.auto, args.grid, args.seed + 1), args.sram, args.flash, args.target, "auto")
    if args.dump:
        with open(args.dump, "w") as f:
            json.dump(answers, f)
    if args.compare:
        with open(args.compare) as f:
            ref = json.load(f)
        key = lambda a: (a["patch"], a["fits"], a["estimate"])  # noqa: E731 - specs may gain fields (head_c)
        diff = [i for i, (a, b) in enumerate(zip(answers, ref)) if key(a) != key(b)]
        print(f"compare: {len(ref)} reference answers, {len(answers)} now, {len(diff)} differ"
              + (f" (first: {diff[:5]})" if diff else ""))
        if diff or len(ref) != len(answers):
            return 1
    if args.stage1:
        spaces, samples = (int(v) for v in args.stage1.lower().split("x"))
        stage1(spaces, samples, args.sram, args.flash, args.target, tuple(int(v) for v in args.stage1_res.split(",")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
