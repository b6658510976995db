"""TinyNAS against a width x resolution-scaled MobileNetV2, per SRAM budget (issue 13's accuracy acceptance).

For every budget B (peak SRAM of the compiled program) and one Flash budget, on one target:

* NAS: stage 1 picks the (width, resolution) space per budget (``nas.space_opt``); one supernet per
  chosen width, trained ONCE for every budget that chose it, on all their resolutions (elastic
  resolution, ``train.train_supernet`` with a list of inputs); evolution under B and the Flash budget
  (the planner's numbers); the best network fine-tuned (lr 0.005), then deployed.
* MobileNetV2 (``nas.baseline``): over a grid of widths x the same resolutions, the network with
  the most MACs that fits B and the Flash budget by the same planner and patch setting; trained
  from scratch (lr 0.01, the supernet's) for supernet + fine-tune epochs, the epochs the NAS
  network's weights received; then deployed.

Both sides: the same data split (train / val / test, ``Dataset.split(seed)``), the same training
loop (``nas.train.train``: SGD Nesterov, cosine, batch 64, no augmentation), the same seed, the same
calibration (the first 64 training images), our PTQ compiled in TFLite's int8 arithmetic
(``nas.deploy``), int8 accuracy of the compiled program on the host over the test split, peak SRAM of
the compiled program, Flash (weights; and the QEMU firmware's, unless --no-measure), MACs.
The validation split is used only by the NAS's fitness.

``--side nas|mobilenet|both`` lets the two halves run as two processes; per-budget results are cached
in OUT/*.json, so a run started again resumes, and the table is written when both are in.
``--no-deploy``: float accuracy and the planner's numbers only (seconds; the test's fast path).

  nice python scripts/nas_vs_mobilenet.py -o out/nas_vs_mbv2            # the full setting
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

FULL = dict(widths="0.2,0.3,0.4,0.5,0.6,0.75,1.0", resolutions="16,24,32,40,48,64", mobilenet_widths="0.1,0.2,0.3,0.35,0.5,0.75,1.0",
            space_samples=200, supernet_epochs=30, finetune_epochs=20, population=100, parents=20, generations=30,
            depths="2,3,4")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-o", "--out", required=True)
    p.add_argument("--dataset", default="digits")
    p.add_argument("--target", default="cortex-m4")
    p.add_argument("--budgets", default="8K,16K,32K,64K", help="peak SRAM budgets")
    p.add_argument("--flash", default="256K", help="Flash budget (weights + --flash-overhead), both sides")
    p.add_argument("--flash-overhead", default="32K")
    p.add_argument("--patch", default="off", choices=("off", "auto"))
    p.add_argument("--widths", default=FULL["widths"], help="NAS stage 1 width multipliers")
    p.add_argument("--resolutions", default=FULL["resolutions"], help="both sides")
    p.add_argument("--mobilenet-widths", default=FULL["mobilenet_widths"])
    p.add_argument("--depths", default=FULL["depths"], help="NAS blocks per stage choices")
    p.add_argument("--stages", default=None, help="NAS stage plan 'c:s,c:s,...' (default MobileNetV2's six)")
    p.add_argument("--space-samples", type=int, default=FULL["space_samples"])
    p.add_argument("--supernet-epochs", type=int, default=FULL["supernet_epochs"])
    p.add_argument("--finetune-epochs", type=int, default=FULL["finetune_epochs"])
    p.add_argument("--population", type=int, default=FULL["population"])
    p.add_argument("--parents", type=int, default=FULL["parents"])
    p.add_argument("--generations", type=int, default=FULL["generations"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: the machine is shared)")
    p.add_argument("--side", default="both", choices=("nas", "mobilenet", "both"))
    p.add_argument("--no-deploy", action="store_true", help="skip PTQ / compile (planner numbers, float accuracy)")
    p.add_argument("--scratch-control", action="store_true",
                   help="also train each searched architecture from scratch as the baseline is (float accuracy)")
    p.add_argument("--no-measure", action="store_true", help="skip the QEMU run (firmware Flash, instructions)")
    return p.parse_args(argv)


def _floats(s):
    return tuple(float(v) for v in s.split(","))


def _ints(s):
    return tuple(int(v) for v in s.split(","))


def _log(msg):
    print(time.strftime("%H:%M:%S"), msg, file=sys.stderr, flush=True)


def _load(path):
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return None


def _dump(obj, path):
    with open(path + ".tmp", "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(path + ".tmp", path)


class Run:
    def __init__(self, args):
        import torch

        from tinyengine_tvm.nas import data
        from tinyengine_tvm.planner.report import parse_bytes

        self.a = args
        torch.set_num_threads(args.threads)
        os.makedirs(args.out, exist_ok=True)
        self.ds = data.load(args.dataset)
        (self.x_tr, self.y_tr), (self.x_val, self.y_val), (self.x_te, self.y_te) = self.ds.split(args.seed)
        self.classes = len(self.ds.classes)
        self.budgets = [parse_bytes(b) for b in args.budgets.split(",")]
        self.flash, self.overhead = parse_bytes(args.flash), parse_bytes(args.flash_overhead)
        self.resolutions = _ints(args.resolutions)
        self.stages = (tuple(tuple(int(v) for v in s.split(":")) for s in args.stages.split(","))
                       if args.stages else None)
        self._resized = {}

    def path(self, name):
        return os.path.join(self.a.out, name)

    def images(self, split, res):
        import torch

        from tinyengine_tvm.nas import data

        key = (split, res)
        if key not in self._resized:
            x = {"train": self.x_tr, "val": self.x_val, "test": self.x_te}[split]
            self._resized[key] = data.resize(x, res)
        y = {"train": self.y_tr, "val": self.y_val, "test": self.y_te}[split]
        return self._resized[key], torch.from_numpy(y)

    def space(self, width, res):
        from tinyengine_tvm.nas.space import SearchSpace

        kw = {"stages": self.stages} if self.stages else {}
        return SearchSpace(width=width, resolution=res, classes=self.classes, depths=_ints(self.a.depths), **kw)

    # -- deployment: identical for both sides -------------------------------------------
    def deploy(self, model, spec) -> dict:
        from tinyengine_tvm.nas import deploy, train
        from tinyengine_tvm.nas.constraints import estimate

        res = spec.resolution
        xs, ys = self.images("test", res)
        xt, _ = self.images("train", res)
        model.eval()
        e = estimate(spec, self.a.target, patch=self.a.patch)
        out = {"resolution": res, "macs": e.macs, "weight_bytes": e.weight_bytes,
               "predicted_peak_sram_bytes": e.peak_sram_bytes, "accuracy_float": train.accuracy(model, xs, ys),
               "architecture": spec.to_dict()}
        if self.a.no_deploy:
            return out
        t = time.time()
        calib = [xt[i:i + 1].numpy() for i in range(min(len(xt), 64))]
        quantized = deploy.quantize(model, calib)
        cm = deploy.compile_network(model, calib, self.a.target, patch=self.a.patch, quantized=quantized)
        host = deploy.compile_network(model, calib, "host", patch=self.a.patch, quantized=quantized)
        out.update(peak_sram_bytes=cm.plan.peak_sram_bytes, compiled_weight_bytes=cm.graph.weight_bytes,
                   compiled_macs=cm.graph.macs,
                   accuracy_int8=deploy.int8_accuracy(host, xs.numpy(), self.y_te))
        if not self.a.no_measure and self.a.target != "host":
            _, m = cm.measure([np.ascontiguousarray(xs[:1].numpy().transpose(0, 2, 3, 1))])
            out.update(flash_bytes=m["flash_bytes"], instructions=m["instructions"])
        out["deploy_seconds"] = round(time.time() - t, 1)
        return out

    # -- NAS ------------------------------------------------------------------------------
    def nas(self):
        import torch

        from tinyengine_tvm.nas import space_opt, train
        from tinyengine_tvm.nas.search import Budgets, Evolution
        from tinyengine_tvm.nas.supernet import Supernet

        a = self.a
        chosen = {}
        for b in self.budgets:
            f = self.path(f"nas_space_{b}.json")
            if _load(f) is None:
                t = time.time()
                kw = {"depths": _ints(a.depths), **({"stages": self.stages} if self.stages else {})}
                results = space_opt.optimize_space(b, self.flash, _floats(a.widths), self.resolutions,
                                                   a.space_samples, self.classes, a.seed, a.target, self.overhead,
                                                   space_kw=kw)
                _dump({"spaces": [r.to_dict() for r in results], "seconds": round(time.time() - t, 1)}, f)
            best = _load(f)["spaces"][0]
            if best["fitting"] == 0:
                _log(f"NAS {b} B: no space fits")
                continue
            chosen[b] = (best["width"], best["resolution"])
        # One supernet for all budgets: the width most budgets chose (ties: the wider); a budget that chose
        # another width takes its best space at that width (its own width only if none of those fits).
        if chosen:
            widths = [w for w, _ in chosen.values()]
            common = max(set(widths), key=lambda w: (widths.count(w), w))
            for b in chosen:
                spaces = [s for s in _load(self.path(f"nas_space_{b}.json"))["spaces"]
                          if s["width"] == common and s["fitting"]]
                if spaces:
                    chosen[b] = (common, spaces[0]["resolution"])
                s = next(s for s in _load(self.path(f"nas_space_{b}.json"))["spaces"]
                         if (s["width"], s["resolution"]) == chosen[b])
                _log(f"NAS {b} B: space w{s['width']} r{s['resolution']} ({s['fitting']}/{s['samples']} fit)")
        supernets = {}
        for w in sorted({w for w, _ in chosen.values()}):
            ress = sorted({r for ww, r in chosen.values() if ww == w})
            net = Supernet(self.space(w, max(ress)))
            f = self.path(f"supernet_w{w}.pt")
            if os.path.exists(f):
                net.load_state_dict(torch.load(f))
            else:
                t = time.time()
                _log(f"supernet w{w}, resolutions {ress}, {a.supernet_epochs} epochs")
                torch.manual_seed(a.seed)
                net = Supernet(self.space(w, max(ress)))
                train.train_supernet(net, [self.images("train", r)[0] for r in ress], self.images("train", ress[0])[1],
                                     a.supernet_epochs, seed=a.seed,
                                     progress=lambda e, loss: _log(f"  epoch {e + 1}: loss {loss:.1f}"))
                torch.save(net.state_dict(), f)
                _dump({"width": w, "resolutions": ress, "epochs": a.supernet_epochs,
                       "seconds": round(time.time() - t, 1)}, self.path(f"supernet_w{w}.json"))
            supernets[w] = net
        for b, (w, r) in chosen.items():
            f = self.path(f"nas_{b}.json")
            if _load(f) is not None:
                continue
            t = time.time()
            net, space = supernets[w], self.space(w, r)
            xt, yt = self.images("train", r)
            xv, yv = self.images("val", r)

            def fitness(genome, net=net, xt=xt, xv=xv, yv=yv):
                return train.accuracy(train.recalibrate_bn(net.extract(genome), xt), xv, yv)

            budgets = Budgets(b, self.flash, None, self.overhead, a.target, a.patch)
            evo = Evolution(space, budgets, fitness, a.population, a.parents, seed=a.seed,
                            checkpoint=self.path(f"search_{b}.json"))
            best = evo.run(a.generations, progress=lambda g, s: _log(
                f"  {b} B generation {g}: val {s['accuracy']:.3f}, peak SRAM {s['peak_sram_bytes']} B"))
            model = train.recalibrate_bn(net.extract(best), xt)
            train.train(model, xt, yt, a.finetune_epochs, lr=0.005, seed=a.seed)
            rec = {"budget": b, "width": w, "epochs": a.supernet_epochs + a.finetune_epochs,
                   "evaluated": len(evo.scores), "search_seconds": round(time.time() - t, 1)}
            rec.update(self.deploy(model, space.spec_of(best)))
            _dump(rec, f)
            _log(f"NAS {b} B: {rec}")

    # -- MobileNetV2 --------------------------------------------------------------------
    def mobilenet(self):
        import torch

        from tinyengine_tvm.nas import train
        from tinyengine_tvm.nas.baseline import largest_fitting
        from tinyengine_tvm.nas.spec import ArchSpec
        from tinyengine_tvm.nas.supernet import MBNet

        a = self.a
        epochs = a.supernet_epochs + a.finetune_epochs
        done = {}       # the same network chosen at several budgets is trained once (same seed: same result)
        for b in self.budgets:
            f = self.path(f"mobilenet_{b}.json")
            if _load(f) is not None:
                continue
            t = time.time()
            spec, e, grid = largest_fitting(_floats(a.mobilenet_widths), self.resolutions, self.classes, b,
                                            self.flash, a.target, self.overhead, a.patch)
            if spec is None:
                _dump({"budget": b, "fits": False, "grid": grid}, f)
                continue
            w = next(g["width"] for g in grid if g["fits"] and g["macs"] == e.macs)
            for prev in self.budgets:
                rec = _load(self.path(f"mobilenet_{prev}.json"))
                if rec and rec.get("architecture") and spec == ArchSpec.from_dict(rec["architecture"]):
                    done[spec] = rec
            if spec in done:
                _dump(dict(done[spec], budget=b, grid=grid), f)
                continue
            _log(f"MobileNetV2 {b} B: width {w} resolution {spec.resolution}, {e.macs:,} MACs, {epochs} epochs")
            xt, yt = self.images("train", spec.resolution)
            torch.manual_seed(a.seed)
            model = MBNet(spec)
            train.train(model, xt, yt, epochs, lr=0.01, seed=a.seed)
            rec = {"budget": b, "width": w, "epochs": epochs, "train_seconds": round(time.time() - t, 1), "grid": grid}
            rec.update(self.deploy(model, spec))
            _dump(rec, f)
            _log(f"MobileNetV2 {b} B: { {k: v for k, v in rec.items() if k not in ('grid', 'architecture')} }")

    # -- a control: the searched architecture trained from scratch as the baseline is ------------
    def scratch_control(self):
        """Float accuracy of each budget's searched architecture trained from scratch exactly as the
        MobileNetV2 is (same epochs, lr, seed): separates the architecture from its inherited weights."""
        import torch

        from tinyengine_tvm.nas import train
        from tinyengine_tvm.nas.spec import ArchSpec
        from tinyengine_tvm.nas.supernet import MBNet

        for b in self.budgets:
            f = self.path(f"nas_{b}.json")
            rec = _load(f)
            if rec is None or "accuracy_float_scratch" in rec:
                continue
            spec = ArchSpec.from_dict(rec["architecture"])
            xt, yt = self.images("train", spec.resolution)
            xs, ys = self.images("test", spec.resolution)
            torch.manual_seed(self.a.seed)
            model = MBNet(spec)
            train.train(model, xt, yt, self.a.supernet_epochs + self.a.finetune_epochs, lr=0.01, seed=self.a.seed)
            rec["accuracy_float_scratch"] = train.accuracy(model, xs, ys)
            _dump(rec, f)
            _log(f"NAS {b} B architecture from scratch: float {rec['accuracy_float_scratch']:.3f}")

    # -- the table ------------------------------------------------------------------------
    def table(self):
        rows, wins = [], 0
        for b in self.budgets:
            n, m = _load(self.path(f"nas_{b}.json")), _load(self.path(f"mobilenet_{b}.json"))
            if n is None or m is None:
                return None
            rows.append({"budget": b, "nas": n, "mobilenet": m})
        key = "accuracy_float" if self.a.no_deploy else "accuracy_int8"
        lines = ["| SRAM budget | network | width x res | MACs | peak SRAM (B) | Flash (B) | float acc | int8 acc "
                 "| float acc, trained from scratch |",
                 "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in rows:
            for name, d in (("TinyNAS", r["nas"]), ("MobileNetV2", r["mobilenet"])):
                if "macs" not in d:
                    lines.append(f"| {r['budget'] // 1024} kB | {name} | none fits | | | | | | |")
                    continue
                peak = d.get("peak_sram_bytes", d["predicted_peak_sram_bytes"])
                flash = d.get("flash_bytes", d["weight_bytes"])
                pct = lambda k: f"{100 * d[k]:.1f}%" if k in d else "-"  # noqa: E731
                scratch = pct("accuracy_float" if name == "MobileNetV2" else "accuracy_float_scratch")
                lines.append(f"| {r['budget'] // 1024} kB | {name} | {d['width']} x {d['resolution']} | {d['macs']:,} | "
                             f"{peak:,} | {flash:,} | {pct('accuracy_float')} | {pct('accuracy_int8')} | {scratch} |")
            na, ma = r["nas"].get(key, -1), r["mobilenet"].get(key, -1)
            r["nas_wins"] = na > ma
            wins += r["nas_wins"]
        summary = {"key": key, "nas_wins": wins, "budgets": len(rows), "args": vars(self.a), "rows": rows}
        _dump(summary, self.path("results.json"))
        md = "\n".join(lines) + f"\n\nTinyNAS beats MobileNetV2 ({key}) at {wins} of {len(rows)} budgets.\n"
        with open(self.path("table.md"), "w") as f:
            f.write(md)
        return md


def main(argv=None):
    args = parse_args(argv)
    run = Run(args)
    if args.side in ("nas", "both"):
        run.nas()
    if args.side in ("mobilenet", "both"):
        run.mobilenet()
    if args.scratch_control:
        run.scratch_control()
    md = run.table()
    if md:
        print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
