"""The random-model corpus: reading a case and judging what the compiler did with it.

A case is ``NAME.tflite`` plus ``NAME.npz`` beside it, written by ``scripts/fuzz_tflite.py``
(which needs TensorFlow); reading and checking a case needs only numpy and the compiler.
The npz holds ``x{s}_{i}`` (input ``i`` of sample ``s``), ``y{s}_{o}`` (LiteRT BUILTIN_REF's
output ``o`` for that sample) and ``meta`` (a JSON string: seed and layer recipe).

``check_case`` sorts the outcome into one of:
``exact`` (compiled, every output of every sample equal byte for byte), ``rejected`` (a
TinyEngineError at compile time whose message is one line naming the operator and its place),
``bad_message`` (rejected, but the message is not such a line), ``mismatch`` (compiled, a wrong
result), ``run_error`` (compiled, then failed to build or run) and ``traceback`` (any other
exception: a compiler bug).
"""

from __future__ import annotations

import glob
import json
import os
import re
import traceback
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Case", "Outcome", "load_case", "list_cases", "check_case", "message_names_operator", "group_key"]


@dataclass
class Case:
    name: str
    model_path: str
    samples: list          # list of (inputs list, outputs list)
    meta: dict = field(default_factory=dict)


@dataclass
class Outcome:
    name: str
    status: str            # exact | rejected | bad_message | mismatch | run_error | traceback
    message: str = ""      # the error message / mismatch description
    detail: str = ""       # traceback text for 'traceback' / 'run_error'
    meta: dict = field(default_factory=dict)


def list_cases(folder: str) -> list[str]:
    """Model paths (NAME.tflite that have a NAME.npz beside them), sorted."""
    return [p for p in sorted(glob.glob(os.path.join(folder, "*.tflite")))
            if os.path.exists(p[: -len(".tflite")] + ".npz")]


def load_case(model_path: str) -> Case:
    base = model_path[: -len(".tflite")]
    with np.load(base + ".npz") as z:
        keys = set(z.files)
        meta = json.loads(str(z["meta"])) if "meta" in keys else {}
        samples = []
        s = 0
        while f"x{s}_0" in keys:
            xs = [z[f"x{s}_{i}"] for i in range(_count(keys, f"x{s}_"))]
            ys = [z[f"y{s}_{o}"] for o in range(_count(keys, f"y{s}_"))]
            samples.append((xs, ys))
            s += 1
    return Case(os.path.basename(base), model_path, samples, meta)


def _count(keys, prefix) -> int:
    n = 0
    while f"{prefix}{n}" in keys:
        n += 1
    return n


# A TFLite operator name (CONV_2D, FULLY_CONNECTED, ...) and a place (operator #3, operator 3, index 3).
_OP_NAME = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b|\b(?:ADD|SUB|MUL|MEAN|PAD|RELU6?|LOGISTIC|SOFTMAX|TANH|"
                      r"CONCATENATION|RESHAPE|TRANSPOSE|SPLIT|QUANTIZE|DEQUANTIZE|SQUEEZE|TILE|GATHER|SLICE|PACK|"
                      r"UNPACK|MAXIMUM|MINIMUM|CAST|SUM|RSQRT|SQRT|EXP|LOG|ABS|NEG|DIV|POW|SHAPE|FILL)\b")
_PLACE = re.compile(r"#\s*\d+|\boperator\s+\d+|\bindex\s+\d+|\bop\s+\d+", re.IGNORECASE)


def message_names_operator(msg: str) -> bool:
    """One line, naming a TFLite operator and its place (operator index)."""
    return "\n" not in msg.strip() and bool(_OP_NAME.search(msg)) and bool(_PLACE.search(msg))


def group_key(msg: str) -> str:
    """The message with the model name, quoted names and numbers blanked, to group rejections."""
    msg = msg.strip().splitlines()[0] if msg.strip() else msg
    msg = re.sub(r"^\S*\.tflite:\s*", "", msg)
    m = re.match(r"unsupported operators?: ", msg)
    if m:  # one key per set of operator names, places dropped
        return "unsupported operator(s): " + ", ".join(sorted(set(re.findall(r"\b([A-Z][A-Z0-9_]+) \(operator #", msg))))
    msg = re.sub(r"'[^']*'", "'…'", msg)
    msg = re.sub(r"\d+", "N", msg)
    return msg[:200]


def check_case(case: Case, compile_fn=None) -> Outcome:
    """Compile ``case`` for the host and compare with the stored LiteRT outputs.

    ``compile_fn`` (default ``tinyengine_tvm.compile``) is taken as a parameter so a test can
    count calls; it must raise TinyEngineError for a model it refuses."""
    from tinyengine_tvm.errors import TinyEngineError

    if compile_fn is None:
        import tinyengine_tvm as te

        compile_fn = te.compile
    try:
        cm = compile_fn(case.model_path)
    except TinyEngineError as err:
        msg = str(err)
        status = "rejected" if message_names_operator(msg) else "bad_message"
        return Outcome(case.name, status, msg, meta=case.meta)
    except Exception as err:  # noqa: BLE001 - any other exception is a compiler bug
        return Outcome(case.name, "traceback", f"{type(err).__name__}: {err}".splitlines()[0][:300],
                       traceback.format_exc(), case.meta)
    try:
        for s, (xs, ys) in enumerate(case.samples):
            outs = cm.run(xs)
            if len(outs) != len(ys):
                return Outcome(case.name, "mismatch", f"sample {s}: {len(outs)} outputs, LiteRT has {len(ys)}",
                               meta=case.meta)
            for o, (got, ref) in enumerate(zip(outs, ys)):
                if got.dtype != ref.dtype or got.shape != ref.shape:
                    return Outcome(case.name, "mismatch", f"sample {s} output {o}: {got.dtype}{list(got.shape)} "
                                   f"vs LiteRT {ref.dtype}{list(ref.shape)}", meta=case.meta)
                if got.tobytes() != ref.tobytes():
                    return Outcome(case.name, "mismatch", _describe_mismatch(s, o, got, ref), meta=case.meta)
    except Exception as err:  # noqa: BLE001 - a compiled model must build and run
        return Outcome(case.name, "run_error", f"{type(err).__name__}: {err}".splitlines()[0][:300],
                       traceback.format_exc(), case.meta)
    return Outcome(case.name, "exact", meta=case.meta)


def _describe_mismatch(s, o, got, ref) -> str:
    g, r = got.astype(np.float64), ref.astype(np.float64)
    diff = np.abs(g - r)
    bad = diff > 0
    msg = f"sample {s} output {o} {list(ref.shape)}: {int(bad.sum())}/{ref.size} values differ, max |diff| {diff.max():g}"
    if ref.ndim >= 2 and ref.shape[0] > 1:
        per = [int(bad[b].sum()) for b in range(ref.shape[0])]
        msg += f", per batch element {per}"
    return msg
