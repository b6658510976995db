"""Python API: ``compile`` a model (path, bytes or Relax IRModule) into a ``CompiledModel``.

The flow is frontend -> relay_passes.pipeline() -> kernel graph -> planner -> C
emitter. A CompiledModel holds the kernel graph and memory plan; ``export`` writes
the C project, ``run`` builds it for the host and runs it on numpy inputs, and
``report`` summarises ops, MACs, weights and memory.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass

import numpy as np

from .errors import TinyEngineError, UnsupportedOperatorError

PROJECT_MARKER = "report.json"  # written into every exported project

TARGETS = ("host", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55")


@dataclass
class IOSpec:
    name: str
    shape: tuple
    dtype: str
    scale: float | None = None
    zero_point: int | None = None


def _check_target(target) -> str:
    """Canonical target name from a name ("cortex-m7") or a tvm.target.Target("c -mcpu=cortex-m7")."""
    from .target_spec import target_name

    return target_name(target)


class CompiledModel:
    """A model compiled to a kernel graph and an arena plan, ready to emit as C."""

    def __init__(self, graph, plan, inputs, outputs, target="host", source="<module>", budgets=None):
        self.graph, self.plan, self.target, self.source = graph, plan, target, source
        self.inputs, self.outputs = inputs, outputs
        self.budgets = budgets          # runners.firmware.Budgets for Cortex-M targets, else None
        self.last_measurement = None    # set by run() on a Cortex-M target
        self.tuning = None              # {"layers": {op: config}, "files": {kernel file: opt}} (codegen/variants.py)
        self.chosen = {}                # op name -> kernel configuration the last export emitted
        self._build_dir = None
        self._exes = {}
        self.source_layout = "NHWC"     # layout of the source model's 4-D I/O (ONNX / PyTorch: NCHW); C I/O is NHWC
        self.arithmetic = None          # "int8" / "onnxruntime" (ONNX / PyTorch graphs), "tflite" (build sets it)

    # -- reporting -------------------------------------------------------------------
    def report(self) -> dict:
        from collections import Counter

        g = self.graph
        return {
            "model": self.source,
            "target": self.target,
            "ops": len(g.ops),
            "op_counts": dict(Counter(op.kernel for op in g.ops)),
            "macs": g.macs,
            "weight_bytes": g.weight_bytes,
            "arena_bytes": self.plan.arena_bytes,
            "peak_live_bytes": self.plan.peak_live_bytes,
            "peak_sram_bytes": peak_sram_bytes(g, self.plan),
            "schedule": list(getattr(g, "schedule", [])),
            "lower_bound_bytes": getattr(self.plan, "lower_bound_bytes", 0),
            "planner": _planner_dict(self.plan),
            "inputs": [_io_dict(t) for t in self.inputs],
            "outputs": [_io_dict(t) for t in self.outputs],
            **({"budgets": vars(self.budgets)} if self.budgets is not None else {}),
            **({"arithmetic": self.arithmetic} if self.arithmetic else {}),
            **_onnxruntime_host(g),
        }

    def summary(self) -> str:
        r = self.report()
        ops = ", ".join(f"{k} x{v}" for k, v in sorted(r["op_counts"].items()))
        return (f"{r['model']} -> {r['target']}: {r['ops']} kernels ({ops})\n"
                f"  MACs {r['macs']:,}   weights {r['weight_bytes']:,} B   arena {r['arena_bytes']:,} B"
                f" (lower bound {r['lower_bound_bytes']:,} B)")

    # -- C project -------------------------------------------------------------------
    def export(self, out_dir: str) -> str:
        """Write the C project into out_dir (created; must be empty or absent). Returns out_dir."""
        from .codegen.emitter import emit

        out_dir = os.fspath(out_dir)
        if os.path.exists(out_dir) and not os.path.isdir(out_dir):
            raise TinyEngineError(f"output directory {out_dir} is a file, not a directory")
        if os.path.exists(out_dir) and os.listdir(out_dir):
            # Re-exporting over a project this compiler wrote is fine; anything else is the user's.
            if not os.path.isfile(os.path.join(out_dir, PROJECT_MARKER)):
                raise TinyEngineError(f"output directory {out_dir} exists and is not empty (and is not a tinyengine-tvm project)")
            shutil.rmtree(out_dir)
        created = not os.path.exists(out_dir)
        try:
            os.makedirs(out_dir, exist_ok=True)
            self.chosen = {}
            emit(self.graph, self.plan, out_dir, target=self._target_obj(), tuning=self.tuning, chosen=self.chosen)
            if self.budgets is not None:  # Cortex-M: measuring firmware, linker script sized by the budgets
                from .codegen.targets import get
                from .runners import firmware

                firmware.write(out_dir, get(self.target), self.inputs, self.outputs, len(self.graph.ops), self.budgets)
            with open(os.path.join(out_dir, PROJECT_MARKER), "w") as f:  # lets `tinyengine-tvm run DIR` run it
                json.dump(self.report(), f, indent=2)
        except BaseException:
            if created:
                shutil.rmtree(out_dir, ignore_errors=True)
            raise
        return out_dir

    def _target_obj(self):
        from .codegen.targets import get

        return get(self.target)

    def _project(self) -> str:
        if self._build_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="tinyengine_")
            self._build_dir = self.export(os.path.join(self._tmp.name, "project"))
        return self._build_dir

    def check_inputs(self, inputs) -> list[np.ndarray]:
        """Validate user inputs against the model's input specs; return them as contiguous arrays."""
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        elif isinstance(inputs, dict):
            inputs = [inputs[k] for k in sorted(inputs)]
        inputs = list(inputs)
        if len(inputs) != len(self.inputs):
            raise TinyEngineError(f"model takes {len(self.inputs)} input(s), got {len(inputs)}")
        out = []
        for spec, a in zip(self.inputs, inputs):
            a = np.asarray(a)
            if tuple(a.shape) != tuple(spec.shape):
                raise TinyEngineError(f"input '{spec.name}': expected shape {list(spec.shape)}, got {list(a.shape)}")
            if a.dtype != np.dtype(spec.dtype):
                raise TinyEngineError(f"input '{spec.name}': expected dtype {spec.dtype}, got {a.dtype}")
            out.append(np.ascontiguousarray(a))
        return out

    def run(self, inputs, sanitize: bool = False) -> list[np.ndarray]:
        """Build (once) and run one inference; returns the outputs in model order.

        On the host this is gcc; on a Cortex-M target the firmware runs under QEMU, and the
        measurements (instructions, Flash, SRAM) are kept in ``last_measurement``."""
        from .runners import host

        if self.budgets is not None:
            outs, self.last_measurement = self.measure(inputs)
            return outs
        arrays = self.check_inputs(inputs)
        key = "asan" if sanitize else "o2"
        if key not in self._exes:
            self._exes[key] = host.build(self._project(), sanitize=sanitize)
        return host.run(self._exes[key], arrays, [(t.shape, t.dtype) for t in self.outputs])


    def measure(self, inputs, profile: bool = False, runner: str = "qemu"):
        """Cortex-M targets: build the firmware (once) and run it; returns (outputs, measurements).

        ``runner='qemu'`` counts instructions (one warm-up, one timed inference); ``profile=True``
        adds per-kernel figures under ``layers``."""
        from .codegen.targets import get
        from .runners import firmware, qemu

        if self.budgets is None:
            raise TinyEngineError(f"measure() needs a Cortex-M target; this model was compiled for {self.target}")
        if runner != "qemu":
            raise TinyEngineError(f"unknown runner '{runner}' for run(); use runners.board for a real board")
        arrays = self.check_inputs(inputs)
        target = get(self.target)
        key = ("qemu", profile)
        if key not in self._exes:
            self._exes[key] = firmware.build(self._project(), target, self.budgets, profile=profile)
        outs, m = qemu.measure(self._exes[key], target, arrays, [(t.shape, t.dtype) for t in self.outputs],
                               self.graph.ops)
        m.update(macs=self.graph.macs)
        firmware.split_sram(m, self.plan.arena_bytes, self.inputs, self.outputs)
        return outs, m


def peak_sram_bytes(graph, plan) -> int:
    """Highest arena byte in use (activations, every scratch and line buffer, an image quantized into it) plus every int8 graph
    input (an image the caller holds in SRAM, counted at its int8 size)."""
    ext = sum(graph.tensors[t].nbytes for t in graph.inputs if graph.tensors[t].dtype in ("int8", "uint8"))
    return int(getattr(plan, "peak_sram_bytes", plan.arena_bytes)) + ext


def _onnxruntime_host(graph) -> dict:
    """For graphs with onnxruntime's float paths: the onnxruntime configuration their summation order
    reproduces (intra-op threads for float convs, NCHWc block for float average pools; see codegen.quant)."""
    host = {}
    for op in graph.ops:
        for key, name in (("ort_threads", "intra_op_threads"), ("ort_nchwc_block", "nchwc_block")):
            if key in op.params:
                host[name] = int(op.params[key])
    return {"onnxruntime_host": host} if host else {}


def _planner_dict(plan) -> dict:
    """How the arena was planned: method, every method's result, bound, gap, time (planner/plan.py)."""
    return {"method": getattr(plan, "method", None), "methods": dict(getattr(plan, "methods", {})),
            "gap_bytes": getattr(plan, "gap_bytes", None), "order_exact": getattr(plan, "order_exact", None),
            "placement_optimal": getattr(plan, "placement_optimal", None),
            "seconds": round(getattr(plan, "planner_seconds", 0.0), 3)}


def _io_dict(t: IOSpec) -> dict:
    d = {"name": t.name, "shape": list(t.shape), "dtype": t.dtype}
    if t.scale is not None:
        d.update(scale=t.scale, zero_point=t.zero_point)
    return d


def _relocate(err, located, label: str, unit: str):
    """Re-raise kernel_graph's rejection of a Relax call as one naming the model's operator / node."""
    from .frontend.tflite import locate

    where = locate(located, getattr(err, "relax_op", None), getattr(err, "shape", None), unit) if located else None
    if where is None:
        if getattr(err, "reason", None):  # a kernel's refusal: at least the model's name
            raise UnsupportedOperatorError(f"{label}: {err.reason}") from None
        raise err
    if getattr(err, "reason", None):  # a kernel's own refusal (annotate.take_refusal): its reason, at the node
        raise UnsupportedOperatorError(f"{label}: {where}: {err.reason}") from None
    raise UnsupportedOperatorError(f"{label}: {where} has no tinyengine kernel in this form "
                                   f"(it became {err.relax_op} over {list(err.shape or ())}, which no kernel takes)") from None


def _with_arithmetic(mod, arithmetic, source: str):
    """Mark a graph with onnxruntime's arithmetic (main's ``tinyengine.rounding = "exact"``: ONNX / PyTorch)
    with ``arithmetic``: "int8" (None: the default) or "onnxruntime" (relay_passes/annotate.py ARITHMETIC_ATTR).
    TFLite graphs keep TFLite's int8 arithmetic; "onnxruntime" is refused for them."""
    from .relay_passes.annotate import ARITHMETIC_ATTR, ARITHMETICS, ROUNDING_ATTR

    if arithmetic is not None and arithmetic not in ARITHMETICS:
        raise TinyEngineError(f"unknown arithmetic '{arithmetic}'; choose one of {', '.join(ARITHMETICS)}")
    main = mod["main"] if any(gv.name_hint == "main" for gv in mod.get_global_vars()) else None
    if main is None or str((main.attrs or {}).get(ROUNDING_ATTR, "")) != "exact":
        if arithmetic == "onnxruntime":
            raise TinyEngineError(f"{source}: arithmetic 'onnxruntime' applies to ONNX / PyTorch models; "
                                  "a TFLite model computes TFLite's int8 arithmetic")
        return mod
    mod = mod.clone()
    mod["main"] = main.with_attr(ARITHMETIC_ATTR, arithmetic or "int8")
    return mod


def _arithmetic_of(mod) -> str:
    """"int8" / "onnxruntime" for a graph _with_arithmetic marked, "tflite" otherwise."""
    from .relay_passes.annotate import ARITHMETIC_ATTR

    main = mod["main"] if any(gv.name_hint == "main" for gv in mod.get_global_vars()) else None
    return str((main.attrs or {}).get(ARITHMETIC_ATTR, "tflite")) if main is not None else "tflite"


def build(mod, target="host", source: str = "<module>", sram=None, flash=None, stack=None, patch="auto",
          max_overhead=0.10, tuning_log=None, tuning: bool = True, arithmetic=None) -> CompiledModel:
    """Compile a Relax IRModule (as the frontends produce: quantize/dequantize around float ops).

    For Cortex-M targets ``sram``/``flash`` (bytes, or '256K', '1M') are the budgets the
    firmware's linker script gets (default: the QEMU board's memories); a model whose arena
    or weights alone exceed them fails here, naming the budget and the need.

    ``patch``: "auto" (default: line-buffer stages chosen by patch.search, at most ``max_overhead`` extra
    instructions estimated), "off" (layer by layer), or explicit stages "lines:FIRST-LAST[/BAND],...".

    ``arithmetic`` (ONNX / PyTorch graphs): "int8" (default: every QDQ group as an int8 kernel with
    onnxruntime's fused QLinear formula, the same bytes whatever host onnxruntime runs on) or "onnxruntime"
    (onnxruntime's own bytes on this host: float convs where it leaves a QDQ group unfused; verification)."""
    from . import relay_passes
    from .kernel_graph import extract
    from .planner import plan as make_plan
    from .planner import verify as verify_plan

    target = _check_target(target)
    mod = _with_arithmetic(mod, arithmetic, source)
    try:
        lowered = relay_passes.pipeline()(mod)
    except TinyEngineError:
        raise
    except Exception as err:  # surface TVM failures as one line
        from .relay_passes.annotate import take_refusal

        refused = take_refusal()  # a kernel's refusal inside a pass, with the Relax call it concerns
        if refused is not None:
            raise refused from None
        lines = [ln for ln in str(err).strip().splitlines() if ln.strip()]
        raise TinyEngineError(f"{source}: graph passes failed: {lines[-1] if lines else type(err).__name__}") from None
    graph = extract(lowered)
    from .patch import schedule

    staged = schedule(graph, patch, target, max_overhead=_overhead(max_overhead), sram=sram)
    if staged.schedule:  # the chosen stages go into the IR (WrapPatchStages), and the kernel graph reads them back
        from .relay_passes.patch_stages import WrapPatchStages

        lowered = WrapPatchStages([(d["first"], d["last"], d["how"]) for d in staged.schedule])(lowered)
        graph = extract(lowered)
        for d, e in zip(graph.schedule, staged.schedule):  # the search's own figures
            d.update({k: v for k, v in e.items() if k not in d})
    mem = make_plan(graph, target=target)
    verify_plan(graph, mem, target)  # independent check of every plan (raises PlanError)
    ins = [IOSpec(t, graph.tensors[t].shape, graph.tensors[t].dtype) for t in graph.inputs]
    outs = [IOSpec(t, graph.tensors[t].shape, graph.tensors[t].dtype, graph.tensors[t].scale, graph.tensors[t].zero_point)
            for t in graph.outputs]
    budgets = None
    if target != "host":
        from .codegen.targets import get
        from .runners import firmware

        budgets = firmware.budgets_for(get(target), sram, flash, stack)
        try:
            firmware.check_budgets(mem.arena_bytes, graph.weight_bytes, ins, outs, budgets)
        except firmware.BudgetError as err:
            if "SRAM" in str(err):  # name the step that sets the arena size, as on the host
                from .planner.report import peak_description

                raise firmware.BudgetError(f"{source}: {err}; arena {peak_description(graph, mem)}") from None
            raise
    elif flash is not None:
        raise TinyEngineError("--flash budgets apply to Cortex-M targets, not to the host")
    elif sram is not None:  # host: the arena must fit; the one-line message names the peak step
        from .planner.report import check_sram

        check_sram(graph, mem, sram, source)
    cm = CompiledModel(graph, mem, ins, outs, target, source, budgets)
    cm.arithmetic = _arithmetic_of(mod)
    cm.ir = lowered  # the Relax module the kernel graph was read from (stage functions included)
    if budgets is not None and tuning:  # the best measured configuration per layer (autotune_logs/<target>.jsonl)
        from .tuner import log as tuning_logs

        if tuning_log is not None and not os.path.isfile(os.fspath(tuning_log)):
            raise TinyEngineError(f"tuning log not found: {tuning_log}")
        tuning_logs.apply(cm, os.fspath(tuning_log) if tuning_log is not None else None)
    return cm


def _overhead(v) -> float:
    """0.1 from 0.1, "10%" or "0.1"."""
    if isinstance(v, str):
        s = v.strip()
        try:
            return float(s[:-1]) / 100 if s.endswith("%") else float(s)
        except ValueError:
            raise TinyEngineError(f"--max-overhead {v!r}: expected e.g. 10% or 0.1") from None
    return float(v)


def compile(model, target="host", sram=None, flash=None, stack=None, calibration=None, input_shapes=None,  # noqa: A001
            calibration_method="minmax", calibration_engine="tvm", patch="auto", max_overhead=0.10, tuning_log=None,
            tuning: bool = True, arithmetic=None) -> CompiledModel:
    """Compile a model file (.tflite, .onnx), its bytes, an onnx.ModelProto, a torch.nn.Module or a Relax
    IRModule for ``target`` (host, cortex-m4, cortex-m7, cortex-m33, cortex-m55, or a tvm.target.Target;
    budgets as in ``build``). Float ONNX / PyTorch models are quantized on ``calibration`` (inputs in the
    model's own layout, or a .npz file / directory; see ``frontend.load``), the float model run in TVM or,
    with ``calibration_engine="onnxruntime"``, in onnxruntime (onnxruntime ``quantize_static``'s ranges
    to the last bit); ``input_shapes`` fixes dynamic ONNX input shapes (a TFLite model's dynamic batch:
    only to its stored shape). The compiled model's image inputs
    are NHWC. On Cortex-M targets each layer gets the best configuration measured in ``tuning_log`` (default:
    the shipped autotune_logs/<target>.jsonl) where it is exact; ``tuning=False`` keeps the default kernels.
    ``arithmetic`` (ONNX / PyTorch): "int8" (None: the default) or "onnxruntime", see ``build``."""
    import tvm

    budget_kw = dict(sram=sram, flash=flash, stack=stack, patch=patch, max_overhead=max_overhead, tuning_log=tuning_log,
                     tuning=tuning, arithmetic=arithmetic)
    target = _check_target(target)
    from .frontend import load

    if load.handles(model):
        mod, label, names, qreport, located = load.to_relax(model, calibration, input_shapes, calibration_method,
                                                             calibration_engine=calibration_engine, with_locator=True)
        try:
            cm = build(mod, target, source=label, **budget_kw)
        except UnsupportedOperatorError as err:  # name the ONNX node, not the Relax call it became
            _relocate(err, located, label, "node")
        for spec, name in zip(cm.inputs, names):
            spec.name = name
        cm.quantization_report = qreport  # float vs int8 on the calibration set (None for QDQ models)
        cm.source_layout = "NCHW"  # the source model's 4-D tensors; the compiled C interface is NHWC
        return cm
    if isinstance(model, tvm.IRModule):
        return build(model, target, **budget_kw)
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        ext = os.path.splitext(path)[1].lower()
        if not os.path.exists(path):
            raise TinyEngineError(f"model file not found: {path}")
        if ext != ".tflite":
            raise TinyEngineError(f"{path}: unsupported model format '{ext or '(none)'}'; supported: .tflite")
    elif not isinstance(model, (bytes, bytearray, memoryview)):
        raise TinyEngineError(f"cannot compile a {type(model).__name__}; give a .tflite path, its bytes, or a tvm.IRModule")
    from .frontend.tflite import from_tflite

    if calibration is not None:
        what = os.path.basename(os.fspath(model)) if isinstance(model, (str, os.PathLike)) else "<bytes>"
        raise TinyEngineError(f"{what}: calibration data applies to float ONNX / PyTorch models; a TFLite model carries "
                              "its own int8 quantization (drop --calibration)")
    mod, inputs, outputs, located = from_tflite(model, input_shapes, with_locator=True)
    label = os.path.basename(os.fspath(model)) if isinstance(model, (str, os.PathLike)) else "<bytes>"
    try:
        cm = build(mod, target, source=label, **budget_kw)
    except UnsupportedOperatorError as err:  # name the TFLite operator, not the Relax call it became
        _relocate(err, located, label, "operator")
    # Keep the model's own tensor names and quantization on the I/O specs.
    for spec, info in zip(cm.inputs, inputs):
        spec.name = info.name
        spec.scale, spec.zero_point = info.scale, info.zero_point
    for spec, info in zip(cm.outputs, outputs):
        spec.name = info.name
    return cm
