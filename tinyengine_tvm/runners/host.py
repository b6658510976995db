"""Host runner: build the generated C project with the host gcc and run it on numpy inputs.

The harness (``host_main.c``) reads the raw bytes of every input from one file and
writes the raw bytes of every output to another, so this runner only packs and
unpacks numpy arrays. ``sanitize=True`` builds with AddressSanitizer and
UndefinedBehaviorSanitizer and makes any finding a hard error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import numpy as np

from ..errors import TinyEngineError

WARN_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
SANITIZE_FLAGS = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]


def _sources(project_dir: str) -> list[str]:
    kdir = os.path.join(project_dir, "kernels")
    return sorted(os.path.join("kernels", f) for f in os.listdir(kdir) if f.endswith(".c"))


def build(project_dir: str, sanitize: bool = False, opt: str = "-O2", cc: str | None = None) -> str:
    """Compile the project's host harness; return the executable's path."""
    cc = cc or os.environ.get("CC", "gcc")
    if shutil.which(cc) is None:
        raise TinyEngineError(f"C compiler '{cc}' not found; install gcc or set CC")
    exe = os.path.join(project_dir, "model_asan" if sanitize else "model")
    flags = WARN_FLAGS + (SANITIZE_FLAGS if sanitize else [opt])
    cmd = [cc, *flags, "-I.", "-o", os.path.basename(exe), "model.c", *_sources(project_dir), "host_main.c", "-lm"]
    r = subprocess.run(cmd, cwd=project_dir, capture_output=True, text=True)
    if r.returncode != 0:
        raise TinyEngineError(f"building {project_dir} failed: {' '.join(cmd)}\n{r.stderr.strip()}")
    return exe


def run(exe: str, inputs: list[np.ndarray], output_specs: list[tuple[tuple, str]], repeat: int = 1) -> list[np.ndarray]:
    """Run a built harness on inputs (already checked and cast); return the outputs."""
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0", UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    with tempfile.TemporaryDirectory(prefix="tinyengine_run_") as tmp:
        fin, fout = os.path.join(tmp, "in.bin"), os.path.join(tmp, "out.bin")
        with open(fin, "wb") as f:
            for a in inputs:
                f.write(np.ascontiguousarray(a).tobytes())
        r = subprocess.run([exe, fin, fout, str(repeat)], capture_output=True, text=True, env=env)
        if r.returncode != 0 or "runtime error" in r.stderr or "AddressSanitizer" in r.stderr:
            raise TinyEngineError(f"{os.path.basename(exe)} failed (exit {r.returncode}): {r.stderr.strip()[-2000:]}")
        data = open(fout, "rb").read()
    outs, pos = [], 0
    for shape, dtype in output_specs:
        n = int(np.prod(shape)) * np.dtype(dtype).itemsize
        outs.append(np.frombuffer(data[pos : pos + n], dtype=dtype).reshape(shape).copy())
        pos += n
    if pos != len(data):
        raise TinyEngineError(f"harness wrote {len(data)} bytes, expected {pos}")
    return outs
