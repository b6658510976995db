"""Board runner: the measuring firmware on a real Cortex-M board, flashed and driven with pyOCD.

The firmware is the one the QEMU runner uses (``runners.firmware``), built with
``-DTE_USE_DWT`` (the DWT cycle counter times the inference; SysTick, clocked by
the core, times the per-kernel marks, so its ticks are cycles too) and linked
for the board's memory map (``BOARDS``; the ``--flash``/``--sram`` budgets still
size the regions). pyOCD programs the ELF, resets the core and serves its
semihosting calls (the harness reads ``te_input.bin`` and writes
``te_output.bin`` / ``te_result.bin`` in a scratch directory on the host).

    tinyengine-tvm run vww.tflite --target cortex-m7 --runner board \\
        --pyocd-target stm32f746zgtx --input x.npy --output y.npz --json

``flash_and_run`` needs a probe (``pip install pyocd``, a board on USB); the tests run it,
its semihosting loop and the result handling against a scripted fake probe behind pyOCD's
own semihosting agent (tests/test_board_runner.py), and the board firmware's DWT / cache
start-up code under QEMU's Cortex-M7.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, replace

import numpy as np

from ..codegen.targets import Target
from ..errors import TinyEngineError
from . import firmware


@dataclass(frozen=True)
class Board:
    pyocd_target: str
    core: str                   # our target name
    flash_origin: int
    flash_size: int
    sram_origin: int
    sram_size: int
    core_hz: int


BOARDS = {
    # ST NUCLEO-F746ZG / DISCO-F746NG: Cortex-M7 216 MHz, 1 MB Flash, 320 kB SRAM (DTCM + SRAM1/2 contiguous)
    "stm32f746zgtx": Board("stm32f746zgtx", "cortex-m7", 0x08000000, 1024 * 1024, 0x20000000, 320 * 1024, 216_000_000),
    "stm32f746nghx": Board("stm32f746nghx", "cortex-m7", 0x08000000, 1024 * 1024, 0x20000000, 320 * 1024, 216_000_000),
    # ST NUCLEO-F767ZI: Cortex-M7 216 MHz, 2 MB Flash, 512 kB SRAM
    "stm32f767zitx": Board("stm32f767zitx", "cortex-m7", 0x08000000, 2048 * 1024, 0x20000000, 512 * 1024, 216_000_000),
    # ST NUCLEO-F411RE: Cortex-M4 100 MHz, 512 kB Flash, 128 kB SRAM
    "stm32f411retx": Board("stm32f411retx", "cortex-m4", 0x08000000, 512 * 1024, 0x20000000, 128 * 1024, 100_000_000),
    # ST NUCLEO-L4R5ZI: Cortex-M4 120 MHz, 2 MB Flash, 640 kB SRAM (SRAM1+2+3 contiguous)
    "stm32l4r5zitx": Board("stm32l4r5zitx", "cortex-m4", 0x08000000, 2048 * 1024, 0x20000000, 640 * 1024, 120_000_000),
}


def board_for(target: Target, pyocd_target: str | None) -> Board:
    if pyocd_target is None:
        names = [b.pyocd_target for b in BOARDS.values() if b.core == target.name]
        raise TinyEngineError(f"--runner board needs --pyocd-target (known for {target.name}: {', '.join(names) or 'none'})")
    b = BOARDS.get(pyocd_target.lower())
    if b is None:
        raise TinyEngineError(f"unknown board '{pyocd_target}'; known: {', '.join(BOARDS)}")
    if b.core != target.name:
        raise TinyEngineError(f"board {b.pyocd_target} has a {b.core}, not a {target.name}")
    return b


def board_target(target: Target, board: Board) -> Target:
    """The target with the board's memory map (for the linker script)."""
    return replace(target, flash_origin=board.flash_origin, flash_size=board.flash_size,
                   sram_origin=board.sram_origin, sram_size=board.sram_size)


def prepare(project_dir: str, target: Target, budgets, inputs, outputs, n_ops: int, board: Board,
            profile: bool = False) -> str:
    """Write the board firmware (board memory map, DWT) into project_dir and build it; returns the ELF path."""
    bt = board_target(target, board)
    b = firmware.Budgets(min(budgets.sram, board.sram_size), min(budgets.flash, board.flash_size), budgets.stack)
    firmware.write(project_dir, bt, inputs, outputs, n_ops, b)
    return firmware.build(project_dir, bt, b, profile=profile, board=True)


def session_plan(elf: str, board: Board, probe: str | None) -> dict:
    """What flash_and_run asks pyOCD for (kept separate so it can be checked without a probe)."""
    return {"target_override": board.pyocd_target, "unique_id": probe, "elf": os.path.abspath(elf),
            "semihosting": True, "files": [firmware.INPUT_FILE, firmware.OUTPUT_FILE, firmware.RESULT_FILE]}


SYS_EXIT, ADP_APPLICATION_EXIT = 0x18, 0x20026  # the firmware's last semihosting call (semihost.c te_sh_exit)


def flash_and_run(plan: dict, input_bytes: bytes, timeout: float = 120.0) -> tuple[bytes, bytes]:
    """Program the ELF, run it and serve its semihosting calls; returns (outputs, result record)."""
    try:
        from pyocd.core.helpers import ConnectHelper
        from pyocd.core.target import Target as PyocdTarget
        from pyocd.debug import semihost
        from pyocd.flash.file_programmer import FileProgrammer
    except ImportError:
        raise TinyEngineError("the board runner needs pyOCD: pip install pyocd") from None
    with tempfile.TemporaryDirectory(prefix="tinyengine_board_") as tmp:
        with open(os.path.join(tmp, firmware.INPUT_FILE), "wb") as f:
            f.write(input_bytes)
        cwd = os.getcwd()
        # blocking=False: without a probe pyOCD would otherwise wait for one to be plugged in, forever
        session = ConnectHelper.session_with_chosen_probe(blocking=False, unique_id=plan["unique_id"],
                                                          target_override=plan["target_override"],
                                                          options={"semihost_console_type": "console"})
        if session is None:
            raise TinyEngineError("no debug probe found (connect the board, or pass --probe UID)")
        try:
            os.chdir(tmp)  # the semihosting file handler opens names relative to the working directory
            with session:
                tgt = session.board.target
                FileProgrammer(session).program(plan["elf"])
                tgt.reset_and_halt()
                ctx = tgt.get_target_context()
                agent = semihost.SemihostAgent(ctx, io_handler=semihost.InternalSemihostIOHandler(),
                                               console=semihost.InternalSemihostIOHandler())
                tgt.resume()
                deadline = time.monotonic() + timeout
                exit_reason = None
                while time.monotonic() < deadline:
                    if tgt.get_state() == PyocdTarget.State.HALTED:
                        # the request's number and argument, before the agent overwrites r0 with its result
                        op, arg = ctx.read_core_register("r0"), ctx.read_core_register("r1")
                        if not agent.check_and_handle_semihost_request():
                            break  # halted for another reason: no result file, reported below
                        if op == SYS_EXIT:  # main returned (files written and closed) or a fault handler ran
                            exit_reason = arg
                            break
                        tgt.resume()
                    time.sleep(0.001)
                else:
                    raise TinyEngineError(f"board did not finish within {timeout} s")
                agent.cleanup()
                if exit_reason not in (None, ADP_APPLICATION_EXIT):
                    raise TinyEngineError(f"the board firmware failed (semihosting exit reason 0x{exit_reason:X}; "
                                          "its message is on the semihosting console)")
        finally:
            os.chdir(cwd)
        res_path, out_path = os.path.join(tmp, firmware.RESULT_FILE), os.path.join(tmp, firmware.OUTPUT_FILE)
        if not os.path.exists(res_path):
            raise TinyEngineError("the board firmware wrote no result (fault? see the semihosting console)")
        return open(out_path, "rb").read(), open(res_path, "rb").read()


def measure(project_dir: str, target: Target, budgets, inputs, output_specs, ops=None, profile: bool = False,
            probe: str | None = None, pyocd_target: str | None = None):
    """Build, flash and run on a board; returns (outputs, measurements) like qemu.measure."""
    from types import SimpleNamespace as NS

    from .qemu import unpack_outputs

    board = board_for(target, pyocd_target)
    specs_in = [NS(shape=a.shape, dtype=str(a.dtype)) for a in inputs]
    specs_out = [NS(shape=s, dtype=d) for s, d in output_specs]
    elf = prepare(project_dir, target, budgets, specs_in, specs_out, len(ops) if ops else 1024, board, profile)
    payload = b"".join(np.ascontiguousarray(a).tobytes() for a in inputs)
    out_data, res_data = flash_and_run(session_plan(elf, board, probe), payload)
    res = firmware.parse_result(res_data, ops)
    m = {"runner": "board", "target": target.name, "board": board.pyocd_target, "cycles": res["cycles"],
         "systick_cycles": res["ticks"], "milliseconds": 1000.0 * res["cycles"] / board.core_hz,
         "stack_used": res["stack_used"]}
    m.update(firmware.elf_sizes(elf))
    if res["layers"]:
        m["layers"] = [dict(layer, cycles=layer["ticks"]) for layer in res["layers"]]
    return unpack_outputs(out_data, output_specs), m
