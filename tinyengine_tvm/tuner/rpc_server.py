"""``tinyengine-tvm rpc-server``: a TVM RPC server, registered at a tracker under a key, exposing one function.

``tinyengine.measure(elf: bytes, target: str, input: bytes, timeout: float) -> str (JSON)``: QEMU servers
(key ``qemu-<target>``) run ``measure.measure_elf``; board servers (any other key, ``--pyocd-target``)
flash the ELF with pyOCD and run it (``runners.board.flash_and_run``). The function is registered in
the server's process by ``server_init_callback`` (TVM forks a session process per client from there).
"""

from __future__ import annotations

import functools
import json

from .measure import MEASURE_FUNC, measure_elf, parse_tracker


def measure_board(elf: bytes, target_name: str, input_bytes: bytes, timeout: float, pyocd_target=None, probe=None) -> dict:
    """Flash and run a board firmware (built with -DTE_USE_DWT for the board's memory map); cycles, not instructions."""
    import os
    import tempfile

    from ..codegen.targets import get
    from ..runners import board, firmware

    target = get(target_name)
    b = board.board_for(target, pyocd_target)
    with tempfile.TemporaryDirectory(prefix="tinyengine_board_") as tmp:
        path = os.path.join(tmp, "fw.elf")
        with open(path, "wb") as f:
            f.write(bytes(elf))
        try:
            _, res_data = board.flash_and_run(board.session_plan(path, b, probe), bytes(input_bytes), timeout)
        except TimeoutError as err:
            return {"status": "timeout", "error": str(err), "runner": "board", "board": b.pyocd_target}
        except Exception as err:  # noqa: BLE001 - no probe, pyOCD missing, flashing failed: this job's error
            return {"status": "error", "error": str(err).splitlines()[0] if str(err) else type(err).__name__,
                    "runner": "board", "board": b.pyocd_target}
    res = firmware.parse_result(res_data, None)
    return {"status": "ok", "runner": "board", "board": b.pyocd_target, "unit": "cycles", "instructions_per_tick": 1.0,
            "ticks": int(res["cycles"]), "layer_ticks": [[int(x["step"]), int(x["ticks"])] for x in res["layers"]]}


def register(key: str, pyocd_target=None, probe=None) -> None:
    """server_init_callback: register tinyengine.measure for this server's key."""
    import tvm

    def measure(elf, target, inp, timeout):
        if key.startswith("qemu-"):
            res = measure_elf(bytes(elf), str(target), bytes(inp), float(timeout))
        else:
            res = measure_board(bytes(elf), str(target), bytes(inp), float(timeout), pyocd_target, probe)
        return json.dumps(res)

    tvm.register_global_func(MEASURE_FUNC, measure, override=True)


def start(tracker: str, key: str, host: str = "127.0.0.1", port: int = 9091, port_end: int = 9199,
          probe=None, pyocd_target=None):
    """Start the server (a TVM PopenWorker process); returns the tvm.rpc.Server."""
    from tvm import rpc

    return rpc.Server(host, port, port_end, key=key, tracker_addr=parse_tracker(tracker), silent=True,
                      server_init_callback=functools.partial(register, key, pyocd_target, probe))


def serve(tracker: str, key: str, **kw) -> int:
    server = start(tracker, key, **kw)
    print(f"tinyengine-tvm rpc-server: key {key} registered at {tracker} (port {server.port})", flush=True)
    try:
        server.proc.join()
    except KeyboardInterrupt:
        server.terminate()
        return 130
    return 0
