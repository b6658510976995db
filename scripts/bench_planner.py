"""Compare the SRAM planner's methods on the shared models and on random branchy graphs.

Usage: python scripts/bench_planner.py [--random N]

For each model: arena bytes of greedy-by-size, greedy-by-conflicts, the MILP (HiGHS, 2 s limit),
the plan without overlap contracts, the lower bound and planner time. For random graphs (chains,
residual blocks, multi-output; tests/planner_graphs.py): how often each method reaches the bound and
the mean gap.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _row(name, g):
    from tinyengine_tvm.planner import plan

    cells = {}
    for label, kw in (("auto", {}), ("greedy-size", {"method": "greedy-size"}),
                      ("greedy-conflicts", {"method": "greedy-conflicts"}), ("ilp", {"method": "ilp"}),
                      ("no-overlap", {"overlap": False, "method": "greedy-size"})):
        t0 = time.perf_counter()
        p = plan(g, **kw)
        cells[label] = (p.arena_bytes, time.perf_counter() - t0, p)
    auto = cells["auto"][2]
    print(f"{name:<22} " + " ".join(f"{cells[k][0]:>10,}" for k in cells) +
          f" {auto.lower_bound_bytes:>10,} {cells['auto'][1]:>7.2f}s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--random", type=int, default=100, help="random graphs per style")
    args = ap.parse_args()
    import numpy as np

    import tinyengine_tvm as te
    from tests.planner_graphs import random_graph
    from tinyengine_tvm.planner import plan

    models = os.environ.get("TINYENGINE_MODELS", os.path.join(ROOT, "..", "shared", "models"))
    print(f"{'model':<22} {'auto':>10} {'greedy-sz':>10} {'greedy-cf':>10} {'ilp':>10} {'no-overlap':>10} "
          f"{'bound':>10} {'time':>8}")
    for name in ("vww.tflite", "lenet_mnist.tflite"):
        _row(name, te.compile(os.path.join(models, name)).graph)
    rng = np.random.default_rng(0)
    for style in ("chain", "residual", "multi", "mixed"):
        hits = {k: 0 for k in ("greedy-size", "greedy-conflicts", "ilp")}
        gaps, t = [], 0.0
        for _ in range(args.random):
            g = random_graph(rng, style)
            t0 = time.perf_counter()
            p = plan(g, time_limit=0.5)
            t += time.perf_counter() - t0
            for k in hits:
                q = plan(g, method=k, time_limit=0.5, inplace="none")
                hits[k] += q.arena_bytes <= -(-q.order_lower_bound // 8) * 8
            gaps.append(p.arena_bytes - p.lower_bound_bytes)
        print(f"random {style:<8} x{args.random}: at the bound " +
              ", ".join(f"{k} {v}/{args.random}" for k, v in hits.items()) +
              f"; auto mean gap {np.mean(gaps):.1f} B, max {max(gaps)} B; {1000 * t / args.random:.0f} ms/graph")


if __name__ == "__main__":
    main()
