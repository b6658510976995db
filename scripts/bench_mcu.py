"""Benchmark the shared models on Cortex-M4 and M7 under QEMU against recorded peer figures.

For each model and target: compile with tinyengine-tvm, run the measuring firmware
(one warm-up, one timed inference, ``-icount shift=0``), check the outputs are
byte-identical with LiteRT's reference kernels, and print instructions,
instructions per MAC, arena and Flash ("measured now"), next to the peers' figures
(TinyEngine, TFLite Micro + CMSIS-NN on Cortex-M7: "recorded", not re-run here; their
source, date, toolchain and harness are in scripts/peer_figures.json) with the ratio
ours / theirs, and each goal of that file as met or MISSED.

    python scripts/bench_mcu.py [--targets cortex-m4,cortex-m7] [--models vww.tflite,lenet_mnist.tflite] [--no-onnx]
    python scripts/bench_mcu.py --m55     # Cortex-M55: Helium (MVE) kernels vs the DSP path, per kernel kind
                                [--profile] [--json out.json] [--patch off|auto]

``--profile`` also prints the per-layer instruction counts (the gap analysis).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.environ.get("TINYENGINE_MODELS", os.path.join(HERE, "..", "..", "shared", "models"))

# Recorded peer figures and goals, with their source, date, toolchain and harness (not measured here).
with open(os.path.join(HERE, "peer_figures.json")) as _f:
    PEERS = json.load(_f)


def _input(spec, seed=0):
    lo, hi = (0.0, 1.0) if spec.shape[-1] == 1 else (-1.0, 1.0)
    return np.random.default_rng(seed).uniform(lo, hi, size=spec.shape).astype(np.float32)


def measure(name: str, target: str, profile: bool, patch: str | None = None) -> dict:
    """``patch``: te.compile's patch mode (None: its default)."""
    import tinyengine_tvm as te
    from tinyengine_tvm.testing.reference import run_litert

    path = os.path.join(MODELS, name)
    cm = te.compile(path, target=target, **({} if patch is None else {"patch": patch}))
    x = _input(cm.inputs[0])
    outs, m = cm.measure([x], profile=profile)
    ref = run_litert(path, [x])
    m["bit_exact"] = all(o.tobytes() == r.tobytes() for o, r in zip(outs, ref))
    m["model"], m["macs"], m["patch"] = name, cm.graph.macs, patch
    return m


def _ratio(a, b) -> str:
    return f"{a / b:5.2f}x" if b else "  -  "


def _peak(b: dict) -> int:
    """A peer's peak SRAM comparable with our arena (which holds the input image)."""
    return b["arena_bytes"] + b.get("image_bytes", 0)


def _goal_lines(r: dict) -> list[str]:
    lines = []
    for g in PEERS["goals"]:
        if (g["model"], g["target"]) != (r["model"], r["target"]):
            continue
        key = next(k for k in ("instructions", "arena_bytes", "flash_bytes") if k in g)
        ok = r[key] <= g[key]
        lines.append(f"{'':<20} {'goal: ' + g['what']:<58} {key} {r[key]:,} vs <= {g[key]:,}: "
                     f"{'met' if ok else 'MISSED'} ({_ratio(r[key], g[key]).strip()})")
    return lines


def table(results: list[dict]) -> str:
    head = (f"{'model':<20} {'engine':<38} {'figure':<9} {'target':<10} {'instructions':>13} {'insn/MAC':>9} "
            f"{'arena B':>9} {'Flash B':>9} {'exact':>5}  {'ours / theirs: insn / arena / Flash'}")
    lines = [head, "-" * len(head)]
    for r in results:
        ours = "tinyengine-tvm" + (f", patch {r['patch']}" if r.get("patch") else "") + (
            f", {'ort' if r['arithmetic'] == 'onnxruntime' else r['arithmetic']}" if r.get("arithmetic") else "")
        lines.append(f"{r['model']:<20} {ours:<38} {'measured':<9} {r['target']:<10} {r['instructions']:>13,} "
                     f"{r['instructions'] / r['macs']:>9.2f} {r['arena_bytes']:>9,} {r['flash_bytes']:>9,} "
                     f"{'yes' if r['bit_exact'] else 'NO':>5}")
        for b in PEERS["baselines"]:
            if (b["model"], b["target"]) != (r["model"], r["target"]):
                continue
            arena = f"{b['arena_bytes']:,}" + ("+img" if b.get("image_bytes") else "")
            lines.append(f"{'':<20} {b['engine']:<38} {'recorded':<9} {b['target']:<10} {b['instructions']:>13,} "
                         f"{b['instructions'] / r['macs']:>9.2f} {arena:>9} {b['flash_bytes']:>9,} "
                         f"{'yes' if b['exact'] else 'no':>5}  {_ratio(r['instructions'], b['instructions'])} / "
                         f"{_ratio(r['arena_bytes'], _peak(b))} / {_ratio(r['flash_bytes'], b['flash_bytes'])}")
        lines += _goal_lines(r)
    lines.append("")
    lines.append("measured: run now by this script under QEMU (outputs checked byte-equal to LiteRT). recorded: peer "
                 "figures from scripts/peer_figures.json, not re-run here")
    if any(r.get("arithmetic") for r in results):
        lines.append(f"  {ONNX_MODEL}: --arithmetic int8 checked against onnxruntime's fused kernels (the model with uint8 "
                     "activations), ort (--arithmetic onnxruntime) against onnxruntime on the model itself")
    lines.append(f"  ({PEERS['harness']}; {PEERS['toolchain']}; recorded {PEERS['recorded']}; versions: {PEERS['versions']}). "
                 "+img: the peer keeps its input image outside the arena; ratios compare with arena + image.")
    return "\n".join(lines)


def profile_table(r: dict) -> str:
    lines = [f"per-layer profile: {r['model']} on {r['target']} (instructions, instructions per MAC)"]
    for layer in r.get("layers", []):
        per = f"{layer['instructions'] / layer['macs']:6.2f}" if layer["macs"] else "      "
        lines.append(f"  {layer['name']:<26} {layer['instructions']:>11,} {per}")
    return "\n".join(lines)


def _kind(op) -> str:
    """The profile's kernel kind for op (1x1 conv and other convs apart)."""
    p = op.params
    if op.kernel == "conv2d":
        return "conv 1x1" if (p["k_h"], p["k_w"], p["stride_h"], p["stride_w"]) == (1, 1, 1, 1) else "conv"
    return op.kernel.replace("_conv2d", "")


def m55_table(models) -> tuple[str, bool]:
    """Cortex-M55 with the Helium kernels vs the same core on the DSP path (codegen/mve.py's switch), per model
    and per kernel kind; both checked against LiteRT."""
    from tinyengine_tvm.codegen.mve import ENV_SWITCH

    lines, ok = ["Cortex-M55 (QEMU mps3-an547): Helium (MVE) kernels vs the Armv7E-M DSP path, instructions"], True
    for name in models:
        runs = {}
        for mode, env in (("mve", "1"), ("dsp", "0")):
            old = os.environ.get(ENV_SWITCH)
            os.environ[ENV_SWITCH] = env
            try:
                import tinyengine_tvm as te

                cm = te.compile(os.path.join(MODELS, name), target="cortex-m55")
                r = measure(name, "cortex-m55", True)
            finally:
                os.environ.pop(ENV_SWITCH) if old is None else os.environ.__setitem__(ENV_SWITCH, old)
            kinds = {op.name: _kind(op) for op in cm.graph.ops}
            per = {}
            for layer in r.get("layers", []):
                k = kinds.get(layer["name"], "other")
                per[k] = per.get(k, 0) + layer["instructions"]
            runs[mode] = (r, per)
            ok &= r["bit_exact"]
        (mv, pm), (ds, pd) = runs["mve"], runs["dsp"]
        lines.append(f"  {name:<20} {'MVE':>12} {'DSP path':>12} {'DSP / MVE':>9}   exact (MVE, DSP)")
        lines.append(f"  {'total':<20} {mv['instructions']:>12,} {ds['instructions']:>12,} "
                     f"{_ratio(ds['instructions'], mv['instructions']):>9}   "
                     f"{'yes' if mv['bit_exact'] else 'NO'}, {'yes' if ds['bit_exact'] else 'NO'}")
        for k in sorted(pd, key=lambda k: -pd[k]):
            lines.append(f"  {'  ' + k:<20} {pm.get(k, 0):>12,} {pd[k]:>12,} {_ratio(pd[k], pm.get(k, 0)):>9}")
    return "\n".join(lines), ok


# ---- the ONNX model: onnxruntime's QDQ MobileNetV2 0.35/96 (scripts/bench_ort_mcu.py), both --arithmetic modes ----
ONNX_MODEL = "mbv2-0.35-96 ort-QDQ"


def measure_onnx(target: str, patch: str | None = None) -> list[dict]:
    """One row per arithmetic mode; ``bit_exact``: the outputs equal onnxruntime's, for ``onnxruntime`` mode on the
    model itself, for ``int8`` mode on the same model with uint8 activations (onnxruntime's fused kernels
    everywhere: testing.onnx_models.uint8_activations)."""
    import importlib.util

    import tinyengine_tvm as te
    from tinyengine_tvm.testing import onnx_models as om

    spec = importlib.util.spec_from_file_location("bench_ort_mcu", os.path.join(HERE, "bench_ort_mcu.py"))
    bench_ort = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_ort)
    qdq, _, (x,) = bench_ort.model_and_inputs(1)
    rows = []
    for mode, ref_model in (("int8", om.uint8_activations(qdq)), ("onnxruntime", qdq)):
        cm = te.compile(qdq, target=target, arithmetic=mode, **({} if patch is None else {"patch": patch}))
        outs, m = cm.measure([np.ascontiguousarray(x.transpose(0, 2, 3, 1))])
        ref = om.ort_run(ref_model, [x])[0]
        m.update(model=ONNX_MODEL, macs=cm.graph.macs, patch=patch, arithmetic=mode,
                 bit_exact=bool(np.array_equal(outs[0].reshape(-1), ref.reshape(-1))))
        rows.append(m)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", default="cortex-m4,cortex-m7")
    ap.add_argument("--models", default="vww.tflite,lenet_mnist.tflite")
    ap.add_argument("--profile", action="store_true", help="print per-layer instruction counts")
    ap.add_argument("--json", help="also write the measurements here")
    ap.add_argument("--patch", default="off", help="our compile's --patch mode (default off: layer by layer, like the "
                    "peers' layer-by-layer rows; scripts/bench_patch.py measures auto against off)")
    ap.add_argument("--m55", action="store_true", help="only the Cortex-M55 column: Helium kernels vs the DSP path")
    ap.add_argument("--no-onnx", action="store_true", help="skip the ONNX model rows (measure_onnx)")
    args = ap.parse_args(argv)
    if args.m55:
        text, ok = m55_table(args.models.split(","))
        print(text)
        return 0 if ok else 1
    results = []
    for name in args.models.split(","):
        for target in args.targets.split(","):
            results.append(measure(name, target, args.profile, args.patch))
            print(f"measured {name} on {target}", file=sys.stderr)
    for target in ([] if args.no_onnx else args.targets.split(",")):
        results += measure_onnx(target, args.patch)
        print(f"measured {ONNX_MODEL} on {target}", file=sys.stderr)
    print(table(results))
    if args.profile:
        for r in results:
            print()
            print(profile_table(r))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0 if all(r["bit_exact"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
