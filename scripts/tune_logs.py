"""Regenerate the shipped autotune_logs/<target>.jsonl: tune the bundled models and the synthetic training
networks (tinyengine_tvm.testing.synth_nets.TRAIN and RANDOM; the HELD_OUT ones are never tuned) on QEMU.

    python scripts/tune_logs.py [--targets cortex-m7,cortex-m4] [--max-builds N] [--workers 2] [--out DIR]

Every configuration of every layer is measured (exhaustive: the cost model's training data), one
profiling firmware per build, the local QEMU pool running ``--workers`` at a time. Resumable: layers
already in the log are skipped.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.environ.get("TINYENGINE_MODELS", os.path.join(HERE, "..", "..", "shared", "models"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", default="cortex-m7,cortex-m4")
    ap.add_argument("--models", default="vww.tflite,lenet_mnist.tflite,syn_a,syn_b,syn_c,syn_d")
    ap.add_argument("--max-builds", type=int, default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(HERE, "..", "autotune_logs"))
    args = ap.parse_args()
    import tinyengine_tvm as te
    from tinyengine_tvm.testing import synth_nets
    from tinyengine_tvm.tuner.measure import LocalPool
    from tinyengine_tvm.tuner.tune import Tuner

    pool = LocalPool(args.workers)
    for target in args.targets.split(","):
        path = os.path.join(args.out, f"{target}.jsonl")
        for name in args.models.split(","):
            t0 = time.time()
            spec = synth_nets.TRAIN.get(name) or synth_nets.RANDOM.get(name)
            if spec is not None:
                cm = te.compile(synth_nets.mbnet(**spec), target=target, tuning=False, patch="off")
            else:
                cm = te.compile(os.path.join(MODELS, name), target=target, tuning=False, patch="off")
            cm.source = name
            s = Tuner(cm, path, pool=pool, use_model=False, model_name=name, progress=False).run(args.max_builds)
            print(f"{target} {name}: {s} ({time.time() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
