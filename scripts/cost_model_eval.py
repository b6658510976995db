"""Evaluate the XGBoost cost model trained on the shipped autotune_logs/<target>.jsonl.

1. Whole-network prediction error vs QEMU (-icount shift=0, default configuration, no profiling marks) on
   vww, lenet and the held-out synthetic networks (testing/synth_nets.HELD_OUT: never tuned, never in a log).
2. Per-layer Spearman rank correlation on held-out layers: every layer of the held-out networks, profiled
   under QEMU in the default configuration and in ``--sweeps`` builds that give each layer another exact
   configuration (variant, knobs, -O level).
3. Search efficiency, replayed on measured data: the 5 layers of vww with the largest exhaustively measured
   spaces in the log; the model is trained on the log without vww, then ranks each layer's space, the top
   candidate is "measured" (its logged cost), the model retrained with it, and so on: how many measurements
   until within 2% of the layer's best, as a share of its space.

    python scripts/cost_model_eval.py [--target cortex-m7] [--sweeps 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.environ.get("TINYENGINE_MODELS", os.path.join(HERE, "..", "..", "shared", "models"))


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).correlation)


def _input(cm, seed=0):
    rng = np.random.default_rng(seed)
    s = cm.inputs[0]
    if np.dtype(s.dtype).kind == "f":
        return rng.uniform(-1, 1, s.shape).astype(np.float32)
    return rng.integers(-128, 128, s.shape).astype(s.dtype)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", default="cortex-m7")
    ap.add_argument("--sweeps", type=int, default=2)
    ap.add_argument("--log", default=None)
    ap.add_argument("--json", default=None)
    ap.add_argument("--skip-networks", action="store_true")
    args = ap.parse_args()
    import tinyengine_tvm as te
    from tinyengine_tvm.testing import synth_nets
    from tinyengine_tvm.tuner import log as tlog
    from tinyengine_tvm.tuner import space
    from tinyengine_tvm.tuner.cost_model import CostModel, features

    path = args.log or tlog.default_path(args.target)
    recs = tlog.read(path)
    model = CostModel(args.target).fit(recs)
    print(f"{args.target}: cost model trained on {model.n_train} layer measurements from {path}")
    out = {"target": args.target, "n_train": model.n_train}

    # 3. search efficiency (replay on the exhaustively measured vww layers)
    vww_layers = {}
    for r in recs:
        if r["type"] == "layer" and r["status"] == "ok" and r.get("model") == "vww.tflite":
            vww_layers.setdefault(r["sig"], {})[space.config_key(r["config"])] = r
    biggest = sorted(vww_layers.items(), key=lambda kv: -len(kv[1]))[:5]
    others = [r for r in recs if r.get("model") != "vww.tflite"]
    eff = []
    for sig, space_recs in biggest:
        cands = list(space_recs.values())
        best = min(r["cost"] for r in cands)
        seen = []
        m = CostModel(args.target)
        while True:
            m.fit(others + seen, rounds=150)
            left = [r for r in cands if r not in seen]
            pred = m.predict_rows([features(r["layer"], r["config"]) for r in left], [r["layer"] for r in left])
            seen.append(left[int(np.argmin(pred))])
            if min(r["cost"] for r in seen) <= best * 1.02:
                break
        eff.append({"layer": cands[0]["layer"]["kind"] + " " + "x".join(str(cands[0]["layer"].get(k, "")) for k in
                                                                           ("in_h", "in_w", "in_c", "k_h", "stride_h")),
                    "space": len(cands), "measured": len(seen), "share": len(seen) / len(cands),
                    "found": min(r["cost"] for r in seen), "best": best,
                    "worst": max(r["cost"] for r in cands),
                    "within_2pct": sum(r["cost"] <= best * 1.02 for r in cands)})
        k = eff[-1]["within_2pct"]
        eff[-1]["random_expected"] = (len(cands) + 1) / (k + 1)   # expected draws without replacement
        print(f"  search: {eff[-1]['layer']:<34} space {len(cands):3d}  measured {len(seen):2d} "
              f"({100 * len(seen) / len(cands):4.1f}%)  found {eff[-1]['found']:,} best {best:,} worst {eff[-1]['worst']:,}; "
              f"{k} within 2% (random search: {eff[-1]['random_expected']:.1f} expected)")
    out["search"] = eff
    if args.skip_networks:
        print(json.dumps(out))
        return 0

    # 1 + 2. networks under QEMU
    nets = [("vww.tflite", os.path.join(MODELS, "vww.tflite")), ("lenet_mnist.tflite", os.path.join(MODELS, "lenet_mnist.tflite"))]
    nets += [(n, synth_nets.mbnet(**spec)) for n, spec in synth_nets.HELD_OUT.items()]
    net_rows, pred_l, meas_l = [], [], []
    for name, src in nets:
        t0 = time.time()
        cm = te.compile(src, target=args.target, tuning=False, patch="off")
        x = _input(cm)
        cfg = space.default_configs(cm)
        t1 = time.time()
        pred = model.predict(cm, cfg)
        t_pred = time.time() - t1
        _, meas = cm.measure([x])
        err = (pred["total"] - meas["instructions"]) / meas["instructions"]
        net_rows.append({"network": name, "measured": meas["instructions"], "predicted": int(pred["total"]),
                         "error": err, "predict_seconds": t_pred})
        print(f"  network {name:<20} measured {meas['instructions']:>12,}  predicted {int(pred['total']):>12,}  "
              f"error {100 * err:+6.2f}%  ({time.time() - t0:.0f} s)", flush=True)
        if name in synth_nets.HELD_OUT:   # held-out layers: default + sweeps of other exact configurations
            cands = space.configs(cm)
            descs = {op.name: space.layer_desc(op, cm.graph) for op in cm.graph.ops}
            builds = [None] + [{n: c[(i * 7 + 1) % len(c)] for n, c in cands.items()} for i in range(args.sweeps)]
            for choice in builds:
                cm.tuning = space.tuning_from(choice) if choice else None
                cm._build_dir, cm._exes = None, {}
                _, mp = cm.measure([x], profile=True)
                emitted = space.with_opt(cm.chosen, (cm.tuning or {}).get("files"))
                for layer in mp["layers"]:
                    if layer["name"] in descs and layer["instructions"] > 0:
                        pred_l.append(float(model.predict_layers([(descs[layer["name"]], emitted[layer["name"]])])[0]))
                        meas_l.append(layer["instructions"])
    out["networks"] = net_rows
    held = [r for r in net_rows if r["network"] in synth_nets.HELD_OUT]
    out["max_abs_error"] = max(abs(r["error"]) for r in net_rows)
    out["held_out_layers"] = len(meas_l)
    out["spearman_held_out_layers"] = spearman(pred_l, meas_l) if meas_l else None
    # NAS speed: predictions per second on vww-sized graphs (default configurations precomputed)
    cm = te.compile(os.path.join(MODELS, "vww.tflite"), target=args.target, tuning=False, patch="off")
    cfg = space.default_configs(cm)
    t0 = time.time()
    n = 0
    while time.time() - t0 < 3.0:
        model.predict(cm.graph, cfg)
        n += 1
    out["vww_predictions_per_minute"] = int(60 * n / (time.time() - t0))
    print(f"  whole-network |error| max {100 * out['max_abs_error']:.2f}% over {len(net_rows)} networks "
          f"({len(held)} held out); held-out layer Spearman {out['spearman_held_out_layers']:.3f} "
          f"over {len(meas_l)} layers; {out['vww_predictions_per_minute']:,} vww predictions / minute")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
