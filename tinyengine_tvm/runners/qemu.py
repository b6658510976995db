"""QEMU runner: run the measuring firmware on an emulated Cortex-M board and count instructions.

``run(project_dir, target, inputs, ...)`` builds ``firmware/`` (see ``runners.firmware``)
with arm-none-eabi-gcc, starts ``qemu-system-arm -M <board> -icount shift=0`` with
semihosting in a scratch directory holding the input file, and reads back the outputs,
the timed inference's SysTick ticks (one warm-up inference runs first) and, with
``profile=True``, per-kernel ticks. Under ``-icount shift=0`` every retired instruction
advances virtual time by 1 ns, so ticks x (1e9 / SysTick clock Hz) are instructions:
40 per tick on the 25 MHz MPS2 boards (the counting granularity). Flash and SRAM
figures come from the ELF's sections.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import numpy as np

from ..codegen.targets import Target
from ..errors import TinyEngineError
from . import firmware

QEMU = "qemu-system-arm"
DEFAULT_TIMEOUT = 600


def qemu_binary() -> str:
    exe = shutil.which(QEMU)
    if exe is None:
        raise TinyEngineError(f"{QEMU} not found; install it with 'apt-get install qemu-system-arm'")
    return exe


def qemu_command(target: Target, elf: str) -> list[str]:
    if not target.qemu_machine:
        raise TinyEngineError(f"target {target.name} has no QEMU board")
    return [qemu_binary(), "-M", target.qemu_machine, "-nographic", "-monitor", "none", "-serial", "none",
            "-semihosting-config", "enable=on,target=native", "-icount", "shift=0", "-kernel", os.path.abspath(elf)]


def run_elf(elf: str, target: Target, input_bytes: bytes, timeout: float = DEFAULT_TIMEOUT) -> tuple[bytes, bytes]:
    """Run a measuring-firmware ELF under QEMU; returns (output file bytes, result record bytes)."""
    with tempfile.TemporaryDirectory(prefix="tinyengine_qemu_") as tmp:
        with open(os.path.join(tmp, firmware.INPUT_FILE), "wb") as f:
            f.write(input_bytes)
        try:
            r = subprocess.run(qemu_command(target, elf), cwd=tmp, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TinyEngineError(f"QEMU ({target.qemu_machine}) did not finish within {timeout} s") from None
        out_path, res_path = os.path.join(tmp, firmware.OUTPUT_FILE), os.path.join(tmp, firmware.RESULT_FILE)
        if r.returncode != 0 or not os.path.exists(res_path):
            msg = (r.stdout + r.stderr).strip()[-2000:]
            raise TinyEngineError(f"firmware failed under QEMU {target.qemu_machine} (exit {r.returncode}): {msg}")
        return open(out_path, "rb").read(), open(res_path, "rb").read()


def unpack_outputs(data: bytes, output_specs) -> list[np.ndarray]:
    outs, pos = [], 0
    for shape, dtype in output_specs:
        n = int(np.prod(shape)) * np.dtype(dtype).itemsize
        outs.append(np.frombuffer(data[pos: pos + n], dtype=dtype).reshape(shape).copy())
        pos += n
    if pos != len(data):
        raise TinyEngineError(f"firmware wrote {len(data)} output bytes, expected {pos}")
    return outs


def measure(elf: str, target: Target, inputs, output_specs, ops=None, timeout: float = DEFAULT_TIMEOUT):
    """Run ``elf`` on ``inputs``; returns (outputs, measurements dict)."""
    payload = b"".join(np.ascontiguousarray(a).tobytes() for a in inputs)
    out_data, res_data = run_elf(elf, target, payload, timeout)
    res = firmware.parse_result(res_data, ops)
    per_tick = target.insns_per_tick
    m = {"runner": "qemu", "target": target.name, "board": target.qemu_machine,
         "instructions": int(round(res["ticks"] * per_tick)), "ticks": res["ticks"],
         "instructions_per_tick": per_tick, "stack_used": res["stack_used"]}
    m.update(firmware.elf_sizes(elf))
    if res["layers"]:
        m["layers"] = [dict(layer, instructions=int(round(layer["ticks"] * per_tick))) for layer in res["layers"]]
    return unpack_outputs(out_data, output_specs), m
