"""TinyNAS latency: the cost model's predicted instructions against QEMU for searched-space networks.

Usage:
  python scripts/bench_nas_latency.py [--target cortex-m4] [--set held_out|train|all] [--report DIR/report.json ...]
  python scripts/bench_nas_latency.py --set train --record autotune_logs/cortex-m4.jsonl   # add training layers

For each network (an MBConv spec of the TinyNAS space, PyTorch with random weights and BatchNorm statistics,
our PTQ on random calibration images, compiled as ``nas`` deploys it: TFLite int8 arithmetic, patch off):
QEMU's instruction count (``-icount shift=0``), the cost model on the deployed program's layers
(``te.cost_model(target).predict(cm)``), and the spec-only prediction the search's ``--latency`` budget uses
(``nas.latency.predict(spec)``: no PTQ, no C). Errors are (predicted / measured - 1).
``--report``: also the network a ``nas`` run chose (its report.json's architecture).
``--record LOG``: append the measured layers (default configuration, per-layer SysTick marks) to a tuning log
in the tuner's format, as training data of the cost model; only ``train`` networks may be recorded.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SMALL = dict(depths=(1, 2), stages=((24, 2), (40, 2), (80, 2)))   # the --quick space
FULL = {}                                                         # the default space: 6 stages, depths 2..4
# (name, width, resolution, space, seed): the held-out networks are never recorded into a log
TRAIN = [("t0", 0.5, 24, SMALL, 100), ("t1", 0.25, 16, SMALL, 101), ("t2", 0.75, 32, SMALL, 102),
         ("t3", 0.3, 32, FULL, 103), ("t4", 0.5, 40, FULL, 104), ("t5", 0.4, 48, FULL, 105)]
HELD_OUT = [("h0", 0.5, 24, SMALL, 0), ("h1", 0.25, 24, SMALL, 1), ("h2", 0.35, 32, FULL, 2),
            ("h3", 0.5, 48, FULL, 3), ("h4", 0.6, 24, FULL, 4)]


def network(spec, seed):
    import numpy as np
    import torch

    from tinyengine_tvm.nas.supernet import MBNet

    torch.manual_seed(seed)
    net = MBNet(spec).eval()
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():  # trained-like BN statistics, so activations are neither dead nor saturated
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    r = spec.resolution
    calib = [np.random.default_rng(seed * 100 + i).standard_normal((1, 3, r, r)).astype(np.float32) for i in range(8)]
    return net, calib


def measure(name, spec, seed, target, record=None):
    import numpy as np

    from tinyengine_tvm.nas import deploy, latency
    from tinyengine_tvm.tuner import space as tspace
    from tinyengine_tvm.tuner.cost_model import cost_model

    net, calib = network(spec, seed)
    cm = deploy.compile_network(net, calib, target)
    x = np.ascontiguousarray(calib[0].transpose(0, 2, 3, 1))
    _, m = cm.measure([x], profile=record is not None)
    measured = m["instructions"]
    from_cm = cost_model(target).predict(cm)["total"]
    from_spec = latency.predict(spec, target)
    row = {"name": name, "macs": cm.graph.macs, "measured": measured, "cost_model_deployed": round(from_cm),
           "cost_model_spec": round(from_spec), "err_deployed": from_cm / measured - 1, "err_spec": from_spec / measured - 1}
    print(f"{name:<10} {cm.graph.macs:>10,} MACs  QEMU {measured:>11,}  deployed-layers {round(from_cm):>11,} "
          f"({100 * row['err_deployed']:+.2f}%)  spec {round(from_spec):>11,} ({100 * row['err_spec']:+.2f}%)", flush=True)
    if record is not None:
        _record(cm, m, name, record)
    return row


def _record(cm, m, name, path):
    from tinyengine_tvm.codegen.targets import get
    from tinyengine_tvm.runners.firmware import OPT_FLAGS, WARN_FLAGS
    from tinyengine_tvm.tuner import log as tlog
    from tinyengine_tvm.tuner import space as tspace
    from tinyengine_tvm.tuner.measure import toolchain_id

    cfgs = tspace.default_configs(cm)
    flags = " ".join(WARN_FLAGS + OPT_FLAGS + get(cm.target).cflags() + ["-DTE_PROFILE"])
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    common = {"target": cm.target, "runner": "qemu", "board": get(cm.target).machine if hasattr(get(cm.target), "machine")
              else None, "server": "local", "toolchain": toolchain_id(), "flags": flags, "model": f"nas_{name}",
              "date": now, "status": "ok", "unit": "instructions"}
    done = tlog.measured(tlog.read(path))
    recs = []
    for lay in m["layers"]:
        op = next(o for o in cm.graph.ops if o.name == lay["name"])
        desc = tspace.layer_desc(op, cm.graph)
        sig, cfg = tspace.signature(desc), cfgs[op.name]
        if (sig, tspace.config_key(cfg)) in done:
            continue
        done.add((sig, tspace.config_key(cfg)))
        recs.append(dict(common, type="layer", sig=sig, layer=desc, config=cfg, cost=int(lay["instructions"]),
                         ticks=int(lay["ticks"]), op=op.name))
    tlog.Log(path).append(recs)
    print(f"  recorded {len(recs)} layer measurements into {path}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", default="cortex-m4")
    ap.add_argument("--set", default="held_out", choices=("held_out", "train", "all", "none"))
    ap.add_argument("--report", nargs="*", default=[], help="report.json of nas runs: their chosen networks too")
    ap.add_argument("--record", default=None, help="append the train networks' layers to this tuning log")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    import numpy as np

    from tinyengine_tvm.nas import ArchSpec, SearchSpace

    nets = {"held_out": HELD_OUT, "train": TRAIN, "all": TRAIN + HELD_OUT, "none": []}[args.set]
    if args.record and any(n in HELD_OUT for n in nets):
        sys.exit("--record takes the train set only (held-out networks stay out of the cost model's data)")
    rows = []
    for name, w, r, kw, seed in nets:
        spec = SearchSpace(width=w, resolution=r, classes=10, **kw).sample(np.random.default_rng(seed))
        rows.append(measure(name, spec, seed, args.target, args.record))
    for path in args.report:
        with open(path) as f:
            rep = json.load(f)
        rows.append(measure(os.path.basename(os.path.dirname(os.path.abspath(path))) or "report",
                            ArchSpec.from_dict(rep["architecture"]), 0, args.target))
    if rows:
        e = np.abs([r["err_spec"] for r in rows]) * 100
        d = np.abs([r["err_deployed"] for r in rows]) * 100
        print(f"{len(rows)} networks on {args.target}: |error| spec-only mean {e.mean():.2f}% max {e.max():.2f}%; "
              f"deployed layers mean {d.mean():.2f}% max {d.max():.2f}%")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
