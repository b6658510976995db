"""The ``tinyengine-tvm`` command (tvmc-style): ``compile`` a model to C, ``run`` it on the host.

Start-up stays lean (TVM is imported only when a model is compiled). Every user
error is one line on stderr and exit status 1; usage errors exit with 2.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tinyengine-tvm", description="Compile int8 models to standalone C for microcontrollers.")
    p.add_argument("--version", action="version", version=f"tinyengine-tvm {_version()}")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("compile", help="compile a model into a C project")
    c.add_argument("model", help="model file (.tflite, or .onnx: QDQ int8, or float with --calibration)")
    c.add_argument("-o", "--output", required=True,
                   help="output directory for the C project: created if missing; an empty folder is filled; a project this "
                        "command wrote before (it holds report.json) is deleted and replaced; any other non-empty folder "
                        "is refused and left as it is")
    c.add_argument("--target", default="host", help="host, cortex-m4, cortex-m7, cortex-m33 or cortex-m55 (default: host)")
    _budget_args(c)
    _arithmetic_args(c)
    c.add_argument("--calibration", default=None, metavar="DATA.npz|DIR",
                   help="float ONNX models: calibration inputs for post-training quantization in the model's own layout "
                        "(NCHW): a .npz (one stacked [N, ...] array, or one array per sample) or a directory of .npy/.npz")
    c.add_argument("--calibration-method", default="minmax", choices=("minmax", "percentile", "mse"),
                   help="activation range from calibration (default: minmax)")
    c.add_argument("--calibration-engine", default="tvm", choices=("tvm", "onnxruntime"),
                   help="where the float model runs for calibration: TVM's llvm build (default), or onnxruntime, "
                        "which gives onnxruntime quantize_static's ranges to the last bit")
    c.add_argument("--input-shape", action="append", default=None, metavar="NAME:D0,D1,...",
                   help="static shape for an ONNX input whose shape is open, e.g. x:1,3,96,96 (repeatable); "
                        "for a TFLite input with a dynamic batch, its stored shape (the only one it compiles for)")
    c.add_argument("--json", action="store_true", help="print a JSON report instead of the summary")
    _tuning_args(c)

    r = sub.add_parser("run", help="compile (if needed), build and run a model on inputs")
    r.add_argument("model", help="model file (.tflite) or a directory written by 'compile'")
    r.add_argument("--target", default=None,
                   help="host, cortex-m4, cortex-m7, cortex-m33 or cortex-m55 (default: host, or the project's target)")
    r.add_argument("--runner", choices=("qemu", "board"), default=None,
                   help="for Cortex-M targets: qemu (default; counts instructions) or board (pyOCD, DWT cycles)")
    r.add_argument("--profile", action="store_true", help="Cortex-M targets: per-kernel instruction (or cycle) counts")
    r.add_argument("--probe", default=None, help="board runner: pyOCD probe unique id (default: the only probe)")
    r.add_argument("--pyocd-target", default=None, help="board runner: pyOCD target name, e.g. stm32f746zgtx")
    _budget_args(r)
    _arithmetic_args(r)
    r.add_argument("--input", required=True, help="inputs: .npy (one input) or .npz (input_0, input_1, ... or the model's input names)")
    r.add_argument("--output", required=True, help="where to write the outputs (.npz with output_0, output_1, ...)")
    r.add_argument("--json", action="store_true", help="print a JSON report with the outputs")

    pr = sub.add_parser("profile", help="per-layer table (MACs, live bytes, top of the arena in use, weights) and SRAM timeline")
    pr.add_argument("model", help="model file (.tflite)")
    pr.add_argument("--target", default="host", help="host, cortex-m4, cortex-m7, cortex-m33 or cortex-m55 (default: host)")
    pr.add_argument("--plot", default=None, metavar="PNG", help="draw the memory timeline (live bytes per step, arena map) into PNG")
    pr.add_argument("--json", action="store_true", help="print the report and per-layer rows as JSON")
    _patch_args(pr)
    _tuning_args(pr)
    _arithmetic_args(pr)

    from .nas.cli import add_parser as add_nas_parser  # no TVM / torch import until it runs

    add_nas_parser(sub)

    t = sub.add_parser("tune", help="autotune a model's kernel configurations on QEMU (local pool or a TVM RPC tracker)")
    t.add_argument("model", help="model file (.tflite, or a QDQ .onnx)")
    t.add_argument("--target", required=True, help="cortex-m4, cortex-m7, cortex-m33 or cortex-m55")
    t.add_argument("--log", default=None, help="tuning log to append to and resume from (default: autotune_logs/<target>.jsonl)")
    t.add_argument("--tracker", default=None, metavar="HOST:PORT", help="measure on the RPC servers of --key at this TVM tracker")
    t.add_argument("--key", default=None, help="RPC server key (default: qemu-<target>)")
    t.add_argument("--workers", type=int, default=None, help="local QEMU processes at a time (default: one per core)")
    t.add_argument("--max-builds", type=int, default=None, help="stop after this many measured firmwares (default: until every configuration is measured)")
    t.add_argument("--timeout", type=float, default=120.0, help="seconds before a firmware counts as hung (logged as failed)")
    t.add_argument("--no-model", action="store_true", help="do not rank candidates with the XGBoost cost model")
    t.add_argument("--json", action="store_true", help="print the summary as JSON")

    s = sub.add_parser("rpc-server", help="a TVM RPC server (registered at a tracker) exposing tinyengine.measure")
    s.add_argument("--tracker", required=True, metavar="HOST:PORT")
    s.add_argument("--key", required=True, help="qemu-cortex-m7, ... or a board key (e.g. stm32f746)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=9091)
    s.add_argument("--port-end", type=int, default=9199)
    s.add_argument("--probe", default=None, help="board servers: pyOCD probe unique id")
    s.add_argument("--pyocd-target", default=None, help="board servers: pyOCD target name (e.g. stm32f746zgtx)")
    return p


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("tinyengine-tvm")
    except Exception:  # not installed as a distribution (a source checkout on sys.path)
        from . import __version__

        return __version__


def _patch_args(p) -> None:
    p.add_argument("--patch", default="auto", metavar="auto|off|lines:A-B,...",
                   help="line-buffer (row-band) execution of the high-resolution stages: auto (default: chosen to "
                        "minimise peak SRAM within --max-overhead), off (layer by layer), or explicit stages "
                        "lines:FIRST-LAST[/BAND],... (op indices of the layer-by-layer graph)")
    p.add_argument("--max-overhead", default="10%", help="--patch auto: estimated extra instructions allowed (default 10%%)")


def _arithmetic_args(p) -> None:
    p.add_argument("--arithmetic", default=None, choices=("int8", "onnxruntime"),
                   help="ONNX / PyTorch models: int8 (default: every QDQ group an int8 kernel with onnxruntime's fused "
                        "QLinear formula, the same bytes on every host) or onnxruntime (onnxruntime's bytes on this host, "
                        "float convs where it leaves a group unfused: for verification)")


def _tuning_args(p) -> None:
    p.add_argument("--tuning-log", default=None, metavar="FILE",
                   help="Cortex-M targets: apply the best measured configurations from FILE (default: autotune_logs/<target>.jsonl)")
    p.add_argument("--no-tuning", action="store_true", help="Cortex-M targets: keep the default kernel configuration")


def _budget_args(p) -> None:
    _patch_args(p)
    p.add_argument("--sram", default=None,
                   help="SRAM budget in bytes (e.g. 320K): the arena must fit (every target, host included); on Cortex-M "
                        "targets also the firmware's RAM region (default: the board's RAM)")
    p.add_argument("--flash", default=None, help="Cortex-M targets: Flash budget in bytes (e.g. 1M); default: the board's")
    p.add_argument("--stack", default=None, help="Cortex-M targets: stack size in bytes (default 4096)")


def _probe_dir(d: str, what: str) -> None:
    """Raise TinyEngineError unless files can be created in the existing directory d: a real write
    (a temporary file, removed at once), since permission bits say nothing for root or read-only mounts."""
    from .errors import TinyEngineError

    try:
        fd, tmp = tempfile.mkstemp(prefix=".tinyengine_probe_", dir=d)
        os.close(fd)
        os.unlink(tmp)
    except OSError as err:
        raise TinyEngineError(f"cannot write {what}: {d or '.'} is not writable ({err.strerror})") from None


def check_output_dir(path: str) -> None:
    """Before any work: the output folder (made later, with its missing parents) can be written."""
    from .errors import TinyEngineError

    path = os.path.abspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise TinyEngineError(f"output directory {path} is a file")
    probe = path
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        raise TinyEngineError(f"cannot create output directory {path}: {probe} is a file, not a directory")
    _probe_dir(probe, f"output directory {path}")


def check_output_file(path: str, what: str) -> None:
    """Before any work: the folder of an output file exists and can be written."""
    from .errors import TinyEngineError

    d = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise TinyEngineError(f"{what} {path} is a directory; give a file name")
    if not os.path.isdir(d):
        why = "is a file, not a folder" if os.path.exists(d) else "does not exist"
        raise TinyEngineError(f"cannot write {what} {path}: {d} {why}")
    _probe_dir(d, f"{what} {path}")


def _load_inputs(path: str, specs) -> list:
    import numpy as np

    from .errors import TinyEngineError

    if not os.path.isfile(path):
        raise TinyEngineError(f"input file not found: {path}")
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as err:
        raise TinyEngineError(f"cannot read input file {path}: {err}") from None
    if isinstance(data, np.ndarray):
        return [data]
    keys = list(data.keys())
    out = []
    for i, spec in enumerate(specs):
        for k in (f"input_{i}", spec["name"] if isinstance(spec, dict) else spec.name):
            if k in keys:
                out.append(data[k])
                break
        else:
            if len(specs) == 1 and len(keys) == 1:
                out.append(data[keys[0]])
            else:
                raise TinyEngineError(f"{path}: no array for input {i} (expected key 'input_{i}'); found keys {keys}")
    return out


def _nchw_to_nhwc(arrays, specs) -> list:
    """ONNX model files take what onnxruntime takes: 4-D inputs NCHW; the compiled model's are NHWC."""
    from .errors import TinyEngineError

    out = []
    for a, spec in zip(arrays, specs):
        if a.ndim == 4 and len(spec.shape) == 4:
            n, h, w, c = spec.shape
            if list(a.shape) != [n, c, h, w]:
                raise TinyEngineError(f"input '{spec.name}': expected shape {[n, c, h, w]} (NCHW, as onnxruntime takes it), "
                                      f"got {list(a.shape)}")
            a = a.transpose(0, 2, 3, 1)
        out.append(a)
    return out


def _input_shapes(specs):
    """--input-shape NAME:D0,D1,... (repeatable) -> {name: (d0, d1, ...)}."""
    from .errors import TinyEngineError

    shapes = {}
    for spec in specs or []:
        name, sep, dims = spec.rpartition(":")
        try:
            shapes[name] = tuple(int(d) for d in dims.split(","))
        except ValueError:
            sep = ""
        if not sep or not name or any(d <= 0 for d in shapes.get(name, (0,))):
            raise TinyEngineError(f"--input-shape {spec!r}: expected NAME:D0,D1,... with positive integers")
    return shapes or None


def _cmd_compile(args) -> int:
    from .api import compile as te_compile

    out = args.output
    check_output_dir(out)
    cm = te_compile(args.model, target=args.target, calibration=args.calibration, input_shapes=_input_shapes(args.input_shape),
                    calibration_method=args.calibration_method, calibration_engine=args.calibration_engine,
                    tuning_log=args.tuning_log, tuning=not args.no_tuning, **_budget_kw(args))
    cm.export(out)
    rep = cm.report()
    rep.update(_prediction(cm, args))
    rep["output_dir"] = os.path.abspath(out)
    if getattr(cm, "quantization_report", None) is not None:  # float model: post-training quantization
        rep["quantization"] = str(cm.quantization_report)
        if not args.json:
            print(rep["quantization"])
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(rep, f, indent=2)
    if args.json:
        print(json.dumps(rep))
    else:
        print(cm.summary())
        print(f"  wrote {out}/ (model.c, model.h, model_weights.h, kernels/, Makefile)")
    return 0


def _budget_kw(args) -> dict:
    return {k: getattr(args, k, None) for k in ("sram", "flash", "stack", "patch", "max_overhead", "arithmetic")
            if getattr(args, k, None) is not None}


def _check_arrays(arrays, specs) -> list:
    import numpy as np

    from .errors import TinyEngineError

    if len(arrays) != len(specs):
        raise TinyEngineError(f"model takes {len(specs)} input(s), got {len(arrays)}")
    checked = []
    for spec, a in zip(specs, arrays):
        if list(a.shape) != list(spec["shape"]):
            raise TinyEngineError(f"input '{spec['name']}': expected shape {spec['shape']}, got {list(a.shape)}")
        if str(a.dtype) != spec["dtype"]:
            raise TinyEngineError(f"input '{spec['name']}': expected dtype {spec['dtype']}, got {a.dtype}")
        checked.append(np.ascontiguousarray(a))
    return checked


def _run_project_dir(args, target):
    """Run a project written by 'compile' (host gcc, or its firmware on QEMU / a board)."""
    from .codegen.targets import get
    from .errors import TinyEngineError
    from .runners import firmware, host

    rep_path = os.path.join(args.model, "report.json")
    if not os.path.isfile(rep_path):
        raise TinyEngineError(f"{args.model} is not a project written by 'tinyengine-tvm compile' (no report.json)")
    with open(rep_path) as f:
        rep = json.load(f)
    t = get(target or rep.get("target", "host"))
    checked = _check_arrays(_load_inputs(args.input, rep["inputs"]), rep["inputs"])
    out_specs = [(tuple(o["shape"]), o["dtype"]) for o in rep["outputs"]]
    tmp = tempfile.mkdtemp(prefix="tinyengine_build_")
    try:
        proj = os.path.join(tmp, "p")
        shutil.copytree(args.model, proj)
        if t.is_host:
            return rep, host.run(host.build(proj), checked, out_specs), None
        saved = rep.get("budgets") or {}
        budgets = firmware.budgets_for(t, args.sram or saved.get("sram"), args.flash or saved.get("flash"),
                                       args.stack or saved.get("stack"))
        from types import SimpleNamespace as NS

        specs = lambda items: [NS(shape=tuple(i["shape"]), dtype=i["dtype"]) for i in items]  # noqa: E731
        if rep.get("target") != t.name or not os.path.isdir(os.path.join(proj, "firmware")):
            firmware.write(proj, t, specs(rep["inputs"]), specs(rep["outputs"]), int(rep["ops"]), budgets)
        outs, m = _measure(proj, t, budgets, checked, out_specs, None, args)
        m.update(macs=rep["macs"])
        firmware.split_sram(m, rep["arena_bytes"], specs(rep["inputs"]), specs(rep["outputs"]))
        return rep, outs, m
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _measure(proj, t, budgets, arrays, out_specs, ops, args):
    from .runners import firmware

    if (args.runner or "qemu") == "board":
        from .runners import board

        return board.measure(proj, t, budgets, arrays, out_specs, ops, profile=args.profile,
                             probe=args.probe, pyocd_target=args.pyocd_target)
    from .runners import qemu

    elf = firmware.build(proj, t, budgets, profile=args.profile)
    return qemu.measure(elf, t, arrays, out_specs, ops)


def _cmd_run(args) -> int:
    import numpy as np

    from .codegen.targets import get
    from .errors import TinyEngineError

    target = get(args.target).name if args.target is not None else None
    check_output_file(args.output, "output file")
    if args.runner is not None and (target or "") in ("", "host") and not os.path.isdir(args.model):
        raise TinyEngineError(f"--runner {args.runner} needs a Cortex-M --target (e.g. --target cortex-m7)")
    if os.path.isdir(args.model):
        rep, outs, m = _run_project_dir(args, target)
    else:
        from .api import compile as te_compile

        cm = te_compile(args.model, target=target or "host", **_budget_kw(args))
        rep = cm.report()
        arrays = _load_inputs(args.input, cm.inputs)
        nchw = cm.source_layout == "NCHW"
        if nchw:  # an ONNX file: the arrays onnxruntime takes (NCHW images), the compiled program's NHWC inside
            arrays = _nchw_to_nhwc(arrays, cm.inputs)
        if cm.budgets is None:
            outs, m = cm.run(arrays), None
        else:
            arrays = cm.check_inputs(arrays)
            outs, m = _measure(cm._project(), get(cm.target), cm.budgets, arrays,
                               [(t.shape, t.dtype) for t in cm.outputs], cm.graph.ops, args)
            m.update(macs=cm.graph.macs)
            from .runners import firmware

            firmware.split_sram(m, cm.plan.arena_bytes, cm.inputs, cm.outputs)
        if nchw:
            outs = [np.ascontiguousarray(o.transpose(0, 3, 1, 2)) if o.ndim == 4 else o for o in outs]
    np.savez(args.output, **{f"output_{i}": o for i, o in enumerate(outs)})
    if args.json:
        res = {"arena_bytes": rep["arena_bytes"], "weight_bytes": rep["weight_bytes"], "macs": rep["macs"]}
        if m is not None:
            res.update(m)
        res.update(outputs=[o.tolist() for o in outs], output_file=os.path.abspath(args.output))
        print(json.dumps(res))
    else:
        for i, o in enumerate(outs):
            print(f"output_{i} {o.dtype}{list(o.shape)}: {np.array2string(o.reshape(-1)[:16], precision=5)}")
        if m is not None:
            _print_measurement(m)
        print(f"wrote {args.output}")
    return 0


def _print_measurement(m) -> None:
    count = "instructions" if "instructions" in m else "cycles"
    print(f"{m['target']} ({m['runner']}): {m[count]:,} {count}, Flash {m['flash_bytes']:,} B, "
          f"model SRAM {m['model_sram_bytes']:,} B (arena {m['arena_bytes']:,} + I/O buffers {m['io_bytes']:,}), "
          f"measuring harness {m['harness_sram_bytes']:,} B more (stack budget, used {m['stack_used']:,} B); "
          f"firmware SRAM {m['sram_bytes']:,} B")
    for layer in m.get("layers", []):
        per_mac = f"{layer[count] / layer['macs']:6.2f}/MAC" if layer["macs"] else ""
        print(f"  {layer['name']:<28} {layer[count]:>12,} {per_mac}")


def _cmd_profile(args) -> int:
    """Per-layer memory/compute table of the planned model (planner/report.py), optionally the timeline PNG."""
    from .api import compile as te_compile
    from .planner.report import format_table, layer_rows, plot_timeline

    if args.plot:
        check_output_file(args.plot, "plot")
    cm = te_compile(args.model, target=args.target, patch=args.patch, max_overhead=args.max_overhead,
                    tuning_log=args.tuning_log, tuning=not args.no_tuning, arithmetic=args.arithmetic)
    label = os.path.basename(os.fspath(args.model))
    if args.plot:
        plot_timeline(cm.graph, cm.plan, args.plot, f"{label} ({cm.target}): SRAM timeline")
    if args.json:
        rep = cm.report()
        rep["layers"] = layer_rows(cm.graph, cm.plan)
        pred = _prediction(cm, args, per_layer=True)
        per_layer = pred.pop("_layers", {})
        rep.update(pred)
        for row in rep["layers"]:
            if row.get("op") in per_layer:
                row["predicted_instructions"] = int(round(per_layer[row["op"]]))
        rep["plot"] = os.path.abspath(args.plot) if args.plot else None
        print(json.dumps(rep))
    else:
        print(format_table(cm.graph, cm.plan, f"{label} -> {cm.target}"))
        for d in cm.graph.schedule:  # line-buffer stages (patch/)
            print(f"schedule: {d['op']}: line buffers over {d['ops'][0]}..{d['ops'][-1]}, {d['iterations']} "
                  f"iterations of {d['band_rows']} row(s), {d['calls']} band calls, windows {d['windows']} "
                  f"({d['scratch_bytes']:,} B); all stages: est. overhead {d.get('estimated_overhead', 0):.1%}")
        print(f"peak_sram_bytes {cm.report()['peak_sram_bytes']:,} (arena + int8 graph inputs)")
        if args.plot:
            print(f"wrote {args.plot}")
    return 0


def _prediction(cm, args, per_layer: bool = False) -> dict:
    """QEMU targets: the cost model's whole-network (and per-layer) instruction prediction, from the tuning log."""
    if cm.budgets is None:
        return {}
    try:
        from .tuner.cost_model import cost_model
    except ImportError:  # xgboost not installed (the `tune` extra)
        return {}
    model = cost_model(cm.target, args.tuning_log)
    if not model.trained:
        return {}
    from .tuner import space

    pred = model.predict(cm, space.default_configs(cm))
    out = {"predicted_instructions": int(round(pred["total"])), "tuned_layers": len((cm.tuning or {}).get("layers", {}))}
    if per_layer:
        out["_layers"] = pred["layers"]
    return out


def _cmd_tune(args) -> int:
    from .api import compile as te_compile
    from .codegen.targets import get
    from .tuner import log as tlog
    from .tuner.measure import LocalPool, RPCPool
    from .tuner.tune import Tuner

    target = get(args.target)
    if target.is_host:
        from .errors import TinyEngineError

        raise TinyEngineError("tune needs a Cortex-M --target (e.g. --target cortex-m7)")
    pool = (RPCPool(args.tracker, args.key or f"qemu-{target.name}", workers=args.workers) if args.tracker
            else LocalPool(args.workers))
    cm = te_compile(args.model, target=target.name, tuning=False)
    path = args.log or tlog.default_path(target.name)
    name = os.path.basename(os.fspath(args.model))
    tuner = Tuner(cm, path, pool=pool, use_model=not args.no_model, timeout=args.timeout, model_name=name,
                  progress=not args.json)
    try:
        summary = tuner.run(args.max_builds)
    except KeyboardInterrupt:
        summary = tuner.summary()
        summary["interrupted"] = True
    summary["log"] = path
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{name} on {target.name}: {summary['builds']} firmwares, {summary['measured']} layer configurations "
              f"measured ({summary['failed']} failed, {summary['remaining']} left); profiled layers: best "
              f"{summary['best_profiled']:,} vs default {summary['default_profiled']:,} instructions; log {path}")
    return 130 if summary.get("interrupted") else 0


def _cmd_rpc_server(args) -> int:
    from .tuner import rpc_server

    return rpc_server.serve(args.tracker, args.key, host=args.host, port=args.port, port_end=args.port_end,
                            probe=args.probe, pyocd_target=args.pyocd_target)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from .errors import TinyEngineError

    out_dir = getattr(args, "output", None) if args.command == "compile" else None
    existed = out_dir is not None and os.path.exists(out_dir)
    try:
        if args.command == "nas":
            from .nas.cli import run as run_nas

            return run_nas(args)
        return {"compile": _cmd_compile, "run": _cmd_run, "profile": _cmd_profile, "tune": _cmd_tune,
                "rpc-server": _cmd_rpc_server}[args.command](args)
    except TinyEngineError as err:
        if out_dir and not existed:  # leave no partial project behind
            shutil.rmtree(out_dir, ignore_errors=True)
        print(f"tinyengine-tvm: error: {str(err).splitlines()[0] if str(err) else type(err).__name__}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # stdout closed early (| head): nothing more to say
        return 1
    except OSError as err:  # a file system refusal not caught earlier: still one line, nothing left behind
        if out_dir and not existed:
            shutil.rmtree(out_dir, ignore_errors=True)
        where = f" {err.filename}" if getattr(err, "filename", None) else ""
        print(f"tinyengine-tvm: error: cannot write{where}: {err.strerror or err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if out_dir and not existed:
            shutil.rmtree(out_dir, ignore_errors=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
