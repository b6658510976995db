"""TinyNAS latency: the cost model's predicted instructions against QEMU for searched-space networks.

Usage:
  python scripts/bench_nas_latency.py [--target cortex-m4] [--set held_out|train|all] [--report DIR/report.json ...]
  python scripts/bench_nas_latency.py --set train --record autotune_logs/cortex-m4.jsonl   # add training layers
  python scripts/bench_nas_latency.py --set held_out --json out/h.json      # measure once ...
  python scripts/bench_nas_latency.py --set none --load out/h.json --log OLD.jsonl   # ... price with any log

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
         ("t3", 0.3, 32, FULL, 103)]
HELD_OUT = [("h0", 0.5, 24, SMALL, 0), ("h1", 0.25, 24, SMALL, 1), ("h2", 0.35, 32, FULL, 2),
            ("h3", 0.6, 24, FULL, 4)]


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
    """QEMU's count of the deployed network and the (layer, configuration) lists both predictions price."""
    import numpy as np

    from tinyengine_tvm.nas import deploy, latency
    from tinyengine_tvm.planner import plan as make_plan
    from tinyengine_tvm.tuner import space as tspace

    net, calib = network(spec, seed)
    cm = deploy.compile_network(net, calib, target)
    x = np.ascontiguousarray(calib[0].transpose(0, 2, 3, 1))
    _, m = cm.measure([x], profile=record is not None)
    if record is not None:
        _record(cm, m, name, record)
    cfg = tspace.default_configs(cm)
    g = latency.quantized_graph(spec)
    gcfg = latency.configs(g, make_plan(g, target=target), target)
    return {"name": name, "spec": spec.to_dict(), "macs": cm.graph.macs, "measured": m["instructions"],
            "profiled": bool(record is not None),
            "deployed": [[tspace.layer_desc(op, cm.graph), cfg[op.name]] for op in cm.graph.ops],
            "from_spec": [[tspace.layer_desc(op, g), gcfg[op.name]] for op in g.ops]}


def spec_only(name, spec, measured, target):
    from tinyengine_tvm.nas import latency
    from tinyengine_tvm.planner import plan as make_plan
    from tinyengine_tvm.tuner import space as tspace

    g = latency.quantized_graph(spec)
    gcfg = latency.configs(g, make_plan(g, target=target), target)
    layers = [[tspace.layer_desc(op, g), gcfg[op.name]] for op in g.ops]
    return {"name": name, "spec": spec.to_dict(), "macs": g.macs, "measured": measured, "deployed": layers,
            "from_spec": layers}


def evaluate(rows, target, log_path=None):
    """Each row's predictions (deployed layers, spec only) from the cost model trained on ``log_path``."""
    import numpy as np

    from tinyengine_tvm.tuner import log as tlog
    from tinyengine_tvm.tuner.cost_model import CostModel

    model = CostModel(target).fit(tlog.read(log_path or tlog.default_path(target)))
    print(f"cost model: {model.n_train} layer records ({log_path or tlog.default_path(target)})")
    for r in rows:
        dep = float(np.sum(model.predict_layers([tuple(x) for x in r["deployed"]])))
        spc = float(np.sum(model.predict_layers([tuple(x) for x in r["from_spec"]])))
        r["err_deployed"], r["err_spec"] = dep / r["measured"] - 1, spc / r["measured"] - 1
        print(f"{r['name']:<10} {r['macs']:>10,} MACs  QEMU {r['measured']:>11,}  deployed-layers {round(dep):>11,} "
              f"({100 * r['err_deployed']:+.2f}%)  spec {round(spc):>11,} ({100 * r['err_spec']:+.2f}%)", flush=True)
    e = np.abs([r["err_spec"] for r in rows]) * 100
    d = np.abs([r["err_deployed"] for r in rows]) * 100
    print(f"{len(rows)} networks on {target}: |error| spec-only mean {e.mean():.2f}% max {e.max():.2f}%; "
          f"deployed layers mean {d.mean():.2f}% max {d.max():.2f}%")


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
    ap.add_argument("--json", default=None, help="save the measured networks (QEMU counts, layer lists) here")
    ap.add_argument("--load", nargs="*", default=[], help="saved networks to evaluate again (no QEMU)")
    ap.add_argument("--measured", default=None, help="NAME=INSTRUCTIONS,...: QEMU counts of an earlier run (no QEMU)")
    ap.add_argument("--log", default=None, help="train the cost model on this log (default: the shipped one)")
    args = ap.parse_args()
    import numpy as np

    from tinyengine_tvm.nas import ArchSpec, SearchSpace

    nets = {"held_out": HELD_OUT, "train": TRAIN, "all": TRAIN + HELD_OUT, "none": []}[args.set]
    if args.record and any(n in HELD_OUT for n in nets):
        sys.exit("--record takes the train set only (held-out networks stay out of the cost model's data)")
    rows = []
    if args.load:
        for path in args.load:
            with open(path) as f:
                rows += json.load(f)
    given = dict(kv.split("=") for kv in args.measured.split(",")) if args.measured else {}
    for name, w, r, kw, seed in nets:
        spec = SearchSpace(width=w, resolution=r, classes=10, **kw).sample(np.random.default_rng(seed))
        if given:  # QEMU counts measured by an earlier run: price the spec only (its configurations are the
            if name not in given:  # deployed program's, tests/test_nas_latency.py)
                continue
            rows.append(spec_only(name, spec, int(given[name]), args.target))
            continue
        rows.append(measure(name, spec, seed, args.target, args.record))
        print(f"{name}: measured {rows[-1]['measured']:,} instructions", flush=True)
    for path in args.report:
        with open(path) as f:
            rep = json.load(f)
        rows.append(measure(os.path.basename(os.path.dirname(os.path.abspath(path))) or "report",
                            ArchSpec.from_dict(rep["architecture"]), 0, args.target))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f)
    if rows:
        evaluate(rows, args.target, args.log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
