"""Test-only helpers for the portable C kernel library (codegen/kernels).

* :func:`build_driver` compiles every kernel plus ``tests/kernel_driver.c`` into an executable,
  either optimised (``-O2``) or instrumented (ASan + UBSan, no recovery);
* :class:`Batch` collects kernel invocations, runs them all in one driver process and returns
  the outputs as numpy arrays;
* :func:`header_struct_fields` reads a struct's field names from ``tinyengine_kernels.h`` so that
  parameter dicts (e.g. from ``codegen.quant``) are checked against the real C API;
* :func:`read_op` extracts one operator's tensors (shape, quantization, constant data) and
  builtin options straight from ``.tflite`` bytes with the ``tflite`` package.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
KERNEL_DIR = ROOT / "codegen" / "kernels"
HEADER = KERNEL_DIR / "tinyengine_kernels.h"
DRIVER_SRC = Path(__file__).resolve().parent / "kernel_driver.c"

WARN_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
SANITIZE_FLAGS = ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined",
                  "-fno-sanitize-recover=all"]

OPS = {
    "requant_array": 0, "conv": 1, "conv_1x1": 2, "dwconv": 3, "fc": 4, "add": 5,
    "avgpool": 6, "maxpool": 7, "mean": 8, "pad": 9, "quant": 10, "dequant": 11,
    "requant_s8": 12, "log_softmax": 13, "fc_dscale": 14,
}


def kernel_sources() -> list[Path]:
    return sorted(KERNEL_DIR.glob("*.c"))


def build_driver(out_dir: Path, sanitize: bool) -> Path:
    """Compile the kernels and the driver; returns the executable's path."""
    exe = Path(out_dir) / ("kernel_driver_asan" if sanitize else "kernel_driver")
    flags = WARN_FLAGS + (SANITIZE_FLAGS if sanitize else ["-O2"])
    cmd = ["gcc", *flags, "-I", str(KERNEL_DIR), *map(str, kernel_sources()), str(DRIVER_SRC),
           "-o", str(exe), "-lm"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"kernel build failed:\n{' '.join(cmd)}\n{res.stderr}")
    return exe


# ---------------------------------------------------------------------------------------------
# header introspection


def header_struct_fields(name: str) -> list[str]:
    """Field names, in order, of ``typedef struct { ... } name;`` in tinyengine_kernels.h."""
    text = re.sub(r"/\*.*?\*/", "", HEADER.read_text(), flags=re.S)
    m = re.search(r"typedef\s+struct\s*\{(?P<body>[^}]*)\}\s*" + re.escape(name) + r"\s*;", text)
    if not m:
        raise KeyError(f"struct {name} not found in {HEADER}")
    fields: list[str] = []
    for decl in m.group("body").split(";"):
        decl = decl.strip()
        if not decl:
            continue
        parts = decl.split(None, 1)
        fields += [f.strip() for f in parts[1].split(",")]
    return fields


# fields the drivers leave 0 unless a case gives them (contiguous output, not grouped, symmetric weights)
_OPTIONAL_FIELDS = {"out_stride": 0, "groups": 0, "w_offset": 0}


def struct_values(name: str, values: dict) -> list[int]:
    """``values`` (a dict keyed by field name) as a list in the struct's field order."""
    fields = [f for f in header_struct_fields(name) if f not in _OPTIONAL_FIELDS or f in values]
    missing = [f for f in fields if f not in values]
    extra = [k for k in values if k not in fields]
    if missing or extra:
        raise KeyError(f"{name}: missing fields {missing}, unknown fields {extra}")
    return [int(values[f]) for f in fields]


# ---------------------------------------------------------------------------------------------
# running kernels


@dataclass
class _Case:
    op: int
    params: list[int]
    bufs: list[bytes]
    out_dtype: np.dtype
    out_shape: tuple


@dataclass
class Batch:
    """Kernel invocations to run together in one driver process."""

    cases: list[_Case] = field(default_factory=list)

    def add(self, op: str, params: Sequence[int], bufs: Sequence[Any], out_dtype, out_shape) -> int:
        raw = []
        for b in bufs:
            if b is None:
                raw.append(b"")
            elif isinstance(b, (bytes, bytearray)):
                raw.append(bytes(b))
            else:
                raw.append(np.ascontiguousarray(b).tobytes())
        self.cases.append(_Case(OPS[op], [int(p) for p in params], raw, np.dtype(out_dtype),
                                tuple(int(d) for d in out_shape)))
        return len(self.cases) - 1

    def serialize(self) -> bytes:
        out = bytearray()
        for c in self.cases:
            out += struct.pack("<ii", c.op, len(c.params))
            out += struct.pack(f"<{len(c.params)}i", *c.params)
            out += struct.pack("<i", len(c.bufs))
            for b in c.bufs:
                out += struct.pack("<i", len(b)) + b
            n_out = int(np.prod(c.out_shape, dtype=np.int64)) * c.out_dtype.itemsize
            out += struct.pack("<i", n_out)
        return bytes(out)

    def run(self, exe: Path) -> list[np.ndarray]:
        with tempfile.TemporaryDirectory() as tmp:
            fin, fout = Path(tmp) / "cases.bin", Path(tmp) / "out.bin"
            fin.write_bytes(self.serialize())
            env = dict(os.environ)
            env.setdefault("ASAN_OPTIONS", "detect_leaks=0:abort_on_error=0")
            env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
            res = subprocess.run([str(exe), str(fin), str(fout)], capture_output=True, text=True,
                                 env=env, timeout=120)
            if res.returncode != 0 or res.stderr.strip():
                raise RuntimeError(f"{exe.name} failed (rc={res.returncode}):\n{res.stderr}")
            data = fout.read_bytes()
        outs, pos = [], 0
        for c in self.cases:
            n = int(np.prod(c.out_shape, dtype=np.int64)) * c.out_dtype.itemsize
            outs.append(np.frombuffer(data[pos:pos + n], dtype=c.out_dtype).reshape(c.out_shape).copy())
            pos += n
        if pos != len(data):
            raise RuntimeError(f"driver wrote {len(data)} bytes, expected {pos}")
        return outs


# ---------------------------------------------------------------------------------------------
# reading single-op .tflite models


_NP = {0: np.float32, 2: np.int32, 3: np.uint8, 4: np.int64, 7: np.int16, 9: np.int8}


@dataclass
class TensorDesc:
    index: int
    name: str
    shape: tuple
    dtype: np.dtype
    scales: np.ndarray | None      # float32 array (per-tensor: one entry) or None
    zero_points: np.ndarray | None  # int64 array or None
    data: np.ndarray | None         # constant data, reshaped, or None

    @property
    def scale(self) -> float:
        return float(self.scales[0])

    @property
    def zero_point(self) -> int:
        return int(self.zero_points[0]) if self.zero_points is not None and self.zero_points.size else 0


@dataclass
class OpDesc:
    opname: str
    inputs: list[TensorDesc | None]
    outputs: list[TensorDesc]
    options: dict


def _options(op, opname: str) -> dict:
    import tflite

    table = op.BuiltinOptions()
    if table is None:
        return {}
    cls_name = {
        "CONV_2D": "Conv2DOptions", "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
        "FULLY_CONNECTED": "FullyConnectedOptions", "ADD": "AddOptions",
        "AVERAGE_POOL_2D": "Pool2DOptions", "MAX_POOL_2D": "Pool2DOptions", "MEAN": "ReducerOptions",
    }.get(opname)
    if cls_name is None:
        return {}
    opt = getattr(tflite, cls_name)()
    opt.Init(table.Bytes, table.Pos)
    out = {}
    for meth in ("Padding", "StrideW", "StrideH", "DilationWFactor", "DilationHFactor",
                 "DepthMultiplier", "FusedActivationFunction", "FilterWidth", "FilterHeight",
                 "KeepDims", "KeepNumDims"):
        if hasattr(opt, meth):
            out[meth] = getattr(opt, meth)()
    return out


def read_op(model: bytes, op_index: int = 0) -> OpDesc:
    """Tensors and options of operator ``op_index`` of subgraph 0."""
    import tflite
    from tflite.BuiltinOperator import BuiltinOperator

    names = {v: k for k, v in BuiltinOperator.__dict__.items() if not k.startswith("_")}
    m = tflite.Model.GetRootAsModel(bytes(model), 0)
    sg = m.Subgraphs(0)
    op = sg.Operators(op_index)
    code = m.OperatorCodes(op.OpcodeIndex())
    opname = names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]

    def tensor(i: int) -> TensorDesc | None:
        if i < 0:
            return None
        t = sg.Tensors(i)
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        dtype = np.dtype(_NP[t.Type()])
        q = t.Quantization()
        scales = zps = None
        if q is not None and q.ScaleLength() > 0:
            scales = q.ScaleAsNumpy().astype(np.float32)
            zps = q.ZeroPointAsNumpy().astype(np.int64) if q.ZeroPointLength() else np.zeros(1, np.int64)
        data = None
        buf = m.Buffers(t.Buffer())
        if buf is not None and buf.DataLength() > 0:
            data = np.frombuffer(buf.DataAsNumpy().tobytes(), dtype=dtype).reshape(shape)
        return TensorDesc(i, t.Name().decode(), shape, dtype, scales, zps, data)

    return OpDesc(opname, [tensor(int(i)) for i in op.InputsAsNumpy()],
                  [tensor(int(i)) for i in op.OutputsAsNumpy()], _options(op, opname))
