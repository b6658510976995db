"""Receptive-field redistribution (MCUNetV2): the patch stage's extra MACs and the accuracy, with and without it.

Usage: python scripts/bench_nas_rf.py [--networks 3] [--width 0.35] [--resolution 48] [--epochs 8] [--seed 0]

For networks sampled from a TinyNAS space (6 stages, depths 2..4): the patch stage runs stem + blocks down to
1/8 resolution (MCUNetV2's setting; the grid chosen by ``nas.redistribute.patch_choice``, least peak SRAM);
``redistribute`` moves its receptive field after it. Both networks are priced by the compiler's patch schedule
(``patch.tiles``: MACs the patches compute beyond the layer-by-layer MACs) and the planner (peak SRAM), then
trained from scratch the same way on the digits data set (same epochs, seed, data) and tested (float accuracy).
Also prints the joint search's free choice of split point and grid for each.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--networks", type=int, default=3)
    ap.add_argument("--width", type=float, default=0.35)
    ap.add_argument("--resolution", type=int, default=48)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--free", action="store_true", help="also the joint search's free choice of split and grid")
    args = ap.parse_args()
    import numpy as np
    import torch

    from tinyengine_tvm.nas import SearchSpace, data, train
    from tinyengine_tvm.nas.redistribute import patch_choice, redistribute, stage_cost
    from tinyengine_tvm.nas.supernet import MBNet

    ds = data.load("digits")
    (x_tr, y_tr), (x_val, y_val), (x_te, y_te) = ds.split(args.seed)
    r = args.resolution
    xt, xs = data.resize(np.concatenate([x_tr, x_val]), r), data.resize(x_te, r)
    yt, ys = torch.from_numpy(np.concatenate([y_tr, y_val])), torch.from_numpy(y_te)
    sp = SearchSpace(width=args.width, resolution=r, classes=len(ds.classes))
    rng = np.random.default_rng(args.seed)

    def acc(spec):
        torch.manual_seed(args.seed)
        net = MBNet(spec)
        train.train(net, xt, yt, args.epochs, lr=0.01, seed=args.seed)
        return train.accuracy(net.eval(), xs, ys)

    ratios, daccs = [], []
    for i in range(args.networks):
        t0 = time.time()
        g = sp.sample_genome(rng)
        spec = sp.spec_of(g)
        split = 1 + g.depths[0] + g.depths[1]            # first block + the 1/4 and 1/8 stages
        base = patch_choice(spec, splits=[split])
        red, rsplit = redistribute(spec, split)
        new = stage_cost(red, rsplit, base.grid)
        print(f"net {i}: extra MACs {base.extra_macs:,} -> {new.extra_macs:,} redistributed "
              f"({base.extra_macs / max(new.extra_macs, 1):.2f}x lower), grid {base.grid}, split {split} -> {rsplit} blocks; "
              f"training both ...", flush=True)
        free = patch_choice(spec) if args.free else base
        a0, a1 = acc(spec), acc(red)
        ratio = base.extra_macs / max(new.extra_macs, 1)
        ratios.append(ratio)
        daccs.append(a1 - a0)
        print(f"net {i}: {len(spec.blocks)} blocks, {spec.macs:,} MACs | patch stage {split} blocks, grid {base.grid}: "
              f"extra MACs {base.extra_macs:,} ({base.extra_macs / spec.macs:.1%} of the network), peak SRAM "
              f"{base.peak_sram_bytes:,} B, accuracy {a0:.3f} | redistributed ({rsplit} blocks in the stage, "
              f"{red.macs:,} MACs): extra MACs {new.extra_macs:,} ({new.extra_macs / red.macs:.1%}), peak SRAM "
              f"{new.peak_sram_bytes:,} B, accuracy {a1:.3f} | extra MACs {ratio:.2f}x lower, accuracy {a1 - a0:+.3f} "
              f"| joint search's own choice: {free.split} blocks, grid {free.grid}, peak {free.peak_sram_bytes:,} B "
              f"({time.time() - t0:.0f} s)", flush=True)
    print(f"{args.networks} networks: extra MACs lower by {min(ratios):.2f}x .. {max(ratios):.2f}x "
          f"(geometric mean {float(np.exp(np.mean(np.log(ratios)))):.2f}x); accuracy change "
          f"{min(daccs):+.3f} .. {max(daccs):+.3f} (mean {float(np.mean(daccs)):+.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
