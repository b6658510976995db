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
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("compile", help="compile a model into a C project")
    c.add_argument("model", help="model file (.tflite)")
    c.add_argument("-o", "--output", required=True, help="output directory for the C project (must not exist or be empty)")
    c.add_argument("--target", default="host", help="target (default: host)")
    c.add_argument("--json", action="store_true", help="print a JSON report instead of the summary")

    r = sub.add_parser("run", help="compile (if needed), build and run a model on inputs")
    r.add_argument("model", help="model file (.tflite) or a directory written by 'compile'")
    r.add_argument("--target", default="host", help="target (default: host)")
    r.add_argument("--input", required=True, help="inputs: .npy (one input) or .npz (input_0, input_1, ... or the model's input names)")
    r.add_argument("--output", required=True, help="where to write the outputs (.npz with output_0, output_1, ...)")
    r.add_argument("--json", action="store_true", help="print a JSON report with the outputs")
    return p


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


def _cmd_compile(args) -> int:
    from .api import compile as te_compile

    out = args.output
    cm = te_compile(args.model, target=args.target)
    cm.export(out)
    rep = cm.report()
    rep["output_dir"] = os.path.abspath(out)
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(rep, f, indent=2)
    if args.json:
        print(json.dumps(rep))
    else:
        print(cm.summary())
        print(f"  wrote {out}/ (model.c, model.h, model_weights.h, kernels/, Makefile)")
    return 0


def _cmd_run(args) -> int:
    import numpy as np

    from .errors import TinyEngineError
    from .runners import host

    if args.target != "host":
        raise TinyEngineError(f"unknown target '{args.target}'; supported: host")
    if os.path.isdir(args.model):
        rep_path = os.path.join(args.model, "report.json")
        if not os.path.isfile(rep_path):
            raise TinyEngineError(f"{args.model} is not a project written by 'tinyengine-tvm compile' (no report.json)")
        with open(rep_path) as f:
            rep = json.load(f)
        arrays = _load_inputs(args.input, rep["inputs"])
        checked = []
        for spec, a in zip(rep["inputs"], arrays):
            if list(a.shape) != spec["shape"]:
                raise TinyEngineError(f"input '{spec['name']}': expected shape {spec['shape']}, got {list(a.shape)}")
            if str(a.dtype) != spec["dtype"]:
                raise TinyEngineError(f"input '{spec['name']}': expected dtype {spec['dtype']}, got {a.dtype}")
            checked.append(np.ascontiguousarray(a))
        if len(arrays) != len(rep["inputs"]):
            raise TinyEngineError(f"model takes {len(rep['inputs'])} input(s), got {len(arrays)}")
        tmp = tempfile.mkdtemp(prefix="tinyengine_build_")
        try:
            proj = os.path.join(tmp, "p")
            shutil.copytree(args.model, proj)
            exe = host.build(proj)
            outs = host.run(exe, checked, [(tuple(o["shape"]), o["dtype"]) for o in rep["outputs"]])
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    else:
        from .api import compile as te_compile

        cm = te_compile(args.model, target=args.target)
        rep = cm.report()
        outs = cm.run(_load_inputs(args.input, cm.inputs))
    np.savez(args.output, **{f"output_{i}": o for i, o in enumerate(outs)})
    if args.json:
        print(json.dumps({"arena_bytes": rep["arena_bytes"], "weight_bytes": rep["weight_bytes"], "macs": rep["macs"],
                          "outputs": [o.tolist() for o in outs], "output_file": os.path.abspath(args.output)}))
    else:
        for i, o in enumerate(outs):
            print(f"output_{i} {o.dtype}{list(o.shape)}: {np.array2string(o.reshape(-1)[:16], precision=5)}")
        print(f"wrote {args.output}")
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from .errors import TinyEngineError

    out_dir = getattr(args, "output", None) if args.command == "compile" else None
    existed = out_dir is not None and os.path.exists(out_dir)
    try:
        return {"compile": _cmd_compile, "run": _cmd_run}[args.command](args)
    except TinyEngineError as err:
        if out_dir and not existed:  # leave no partial project behind
            shutil.rmtree(out_dir, ignore_errors=True)
        print(f"tinyengine-tvm: error: {str(err).splitlines()[0] if str(err) else type(err).__name__}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if out_dir and not existed:
            shutil.rmtree(out_dir, ignore_errors=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
