"""Untuned vs tuned (the shipped autotune_logs) side by side under QEMU, outputs checked against LiteRT.

    python scripts/bench_tuning.py [--targets cortex-m7,cortex-m4] [--models vww.tflite,lenet_mnist.tflite]
                                   [--patch off|auto] [--tuning-log FILE]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.environ.get("TINYENGINE_MODELS", os.path.join(HERE, "..", "..", "shared", "models"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", default="cortex-m7,cortex-m4")
    ap.add_argument("--models", default="vww.tflite,lenet_mnist.tflite")
    ap.add_argument("--patch", default="off")
    ap.add_argument("--tuning-log", default=None)
    args = ap.parse_args()
    import tinyengine_tvm as te
    from tinyengine_tvm.testing.reference import run_litert

    print(f"{'model':<20} {'target':<10} {'untuned':>12} {'tuned':>12} {'ratio':>6} {'tuned layers':>12} exact")
    for target in args.targets.split(","):
        for name in args.models.split(","):
            path = os.path.join(MODELS, name)
            res = {}
            for tuned in (False, True):
                cm = te.compile(path, target=target, patch=args.patch, tuning=tuned, tuning_log=args.tuning_log)
                spec = cm.inputs[0]
                lo = 0.0 if spec.shape[-1] == 1 else -1.0
                x = np.random.default_rng(0).uniform(lo, 1.0, spec.shape).astype(np.float32)
                outs, m = cm.measure([x])
                exact = all(o.tobytes() == r.tobytes() for o, r in zip(outs, run_litert(path, [x])))
                res[tuned] = (m["instructions"], exact, len((cm.tuning or {}).get("layers", {})))
            (u, ue, _), (t, tex, n) = res[False], res[True]
            print(f"{name:<20} {target:<10} {u:>12,} {t:>12,} {t / u:>6.3f} {n:>12} {'yes' if ue and tex else 'NO'}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
