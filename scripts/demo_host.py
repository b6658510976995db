"""Compile the shared models, run them on the host and compare with LiteRT's reference kernels.

usage: python scripts/demo_host.py [--models DIR] [-n N]
Prints, per model: kernels, MACs, weight bytes, arena bytes, and how many of N random
inputs gave byte-identical outputs to LiteRT (OpResolverType.BUILTIN_REF).
"""

import argparse
import os
import time

import numpy as np

import tinyengine_tvm as te
from tinyengine_tvm.testing.reference import run_litert

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=os.path.join(HERE, "..", "..", "shared", "models"))
    ap.add_argument("-n", type=int, default=20)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'model':22s} {'kernels':>7s} {'MACs':>11s} {'weights B':>10s} {'arena B':>8s} {'bit-exact':>10s} {'compile s':>9s}")
    for name in ("vww.tflite", "lenet_mnist.tflite"):
        path = os.path.join(args.models, name)
        t0 = time.perf_counter()
        cm = te.compile(path)
        dt = time.perf_counter() - t0
        spec = cm.inputs[0]
        same = 0
        for _ in range(args.n):
            x = rng.uniform(-1, 1, spec.shape).astype(np.float32)
            same += cm.run([x])[0].tobytes() == run_litert(path, [x])[0].tobytes()
        r = cm.report()
        print(f"{name:22s} {r['ops']:7d} {r['macs']:11,d} {r['weight_bytes']:10,d} {r['arena_bytes']:8,d} {same:>5d}/{args.n:<4d} {dt:9.1f}")


if __name__ == "__main__":
    main()
