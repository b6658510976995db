"""Measurements: the measure function (firmware in, ticks out) and the pools that run it.

``measure_elf(elf, target, input, timeout)`` runs a profiling firmware (``runners.firmware`` built with
``-DTE_PROFILE``) under QEMU ``-icount shift=0`` and returns its SysTick ticks and per-kernel marks;
a firmware that does not finish in ``timeout`` seconds is a result with status "timeout", not an
error to retry. It is what an RPC server exposes (``rpc_server``) and what the local pool runs.

``LocalPool(workers)``: one QEMU process per worker thread (default: one per core).
``RPCPool(tracker, key)``: every free server of ``key`` on a TVM RPC tracker; a job whose server
dies is given to another server (each job yields exactly one result).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field

MEASURE_FUNC = "tinyengine.measure"
DEFAULT_TIMEOUT = 120.0


def measure_elf(elf: bytes, target_name: str, input_bytes: bytes, timeout: float = DEFAULT_TIMEOUT) -> dict:
    """Run a measuring firmware under QEMU; {"status": "ok", "ticks", "marks": [[step, tick]...], ...},
    or {"status": "timeout" | "error", "error": ...}."""
    from ..codegen.targets import get
    from ..runners import firmware, qemu

    target = get(target_name)
    base = {"runner": "qemu", "board": target.qemu_machine, "instructions_per_tick": target.insns_per_tick}
    with tempfile.TemporaryDirectory(prefix="tinyengine_measure_") as tmp:
        path = os.path.join(tmp, "fw.elf")
        with open(path, "wb") as f:
            f.write(bytes(elf))
        with open(os.path.join(tmp, firmware.INPUT_FILE), "wb") as f:
            f.write(bytes(input_bytes))
        t0 = time.time()
        try:
            r = subprocess.run(qemu.qemu_command(target, path), cwd=tmp, capture_output=True, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            return dict(base, status="timeout", error=f"did not finish within {timeout:g} s")
        res_path = os.path.join(tmp, firmware.RESULT_FILE)
        if r.returncode != 0 or not os.path.exists(res_path):
            return dict(base, status="error", error=(r.stdout + r.stderr).strip()[-500:] or f"exit {r.returncode}")
        try:
            res = firmware.parse_result(open(res_path, "rb").read(), None)
        except Exception as err:  # noqa: BLE001 - a corrupt record is this candidate's failure
            return dict(base, status="error", error=str(err))
    marks = [[int(layer["step"]), int(layer["ticks"])] for layer in res["layers"]]
    return dict(base, status="ok", ticks=int(res["ticks"]), layer_ticks=marks, seconds=round(time.time() - t0, 3))


@dataclass
class Job:
    """One firmware to measure; ``meta`` travels with it back to the caller."""
    elf: bytes
    target: str
    input: bytes
    timeout: float = DEFAULT_TIMEOUT
    meta: dict = field(default_factory=dict)


class LocalPool:
    """Run jobs on this machine, ``workers`` QEMU processes at a time."""

    def __init__(self, workers: int | None = None):
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.name = "local"

    def run(self, jobs):
        """Yield (job, result) as each finishes."""
        from concurrent.futures import ThreadPoolExecutor, as_completed

        with ThreadPoolExecutor(self.workers) as ex:
            futs = {ex.submit(measure_elf, j.elf, j.target, j.input, j.timeout): j for j in jobs}
            for fut in as_completed(futs):
                res = fut.result()
                res["server"] = "local"
                yield futs[fut], res


def parse_tracker(addr: str) -> tuple[str, int]:
    from ..errors import TinyEngineError

    host, _, port = str(addr).rpartition(":")
    if not host or not port.isdigit():
        raise TinyEngineError(f"--tracker {addr!r}: expected HOST:PORT")
    return host, int(port)


class RPCPool:
    """Run jobs on the servers of ``key`` registered with a TVM RPC tracker (one job per server at a time).

    A server that fails mid-job (connection lost, killed) costs that attempt only: the job goes back to the
    queue for any server (at most ``retries`` times, then it is reported as an error)."""

    def __init__(self, tracker: str, key: str, workers: int | None = None, retries: int = 4,
                 request_timeout: float = 60.0):
        self.addr, self.key, self.retries = parse_tracker(tracker), key, retries
        self.request_timeout = request_timeout
        self.workers = workers or max(1, self.server_count())
        self.name = f"rpc:{key}"

    def _tracker(self):
        from tvm import rpc

        return rpc.connect_tracker(*self.addr)

    def server_count(self) -> int:
        try:
            summary = self._tracker().summary()
        except Exception:  # noqa: BLE001
            return 1
        return sum(1 for s in summary.get("server_info", []) if str(s.get("key", "")).split(":")[-1] == self.key)

    def run(self, jobs):
        jobs = list(jobs)
        todo: queue.Queue = queue.Queue()
        for j in jobs:
            todo.put((j, 0))
        done: queue.Queue = queue.Queue()
        left = [len(jobs)]
        lock = threading.Lock()

        def worker():
            while True:
                with lock:
                    if left[0] == 0:
                        return
                try:
                    job, tries = todo.get(timeout=0.2)
                except queue.Empty:
                    continue
                try:
                    sess = self._tracker().request(self.key, priority=1, session_timeout=job.timeout + 60)
                    f = sess.get_function(MEASURE_FUNC)
                    res = json.loads(f(bytearray(job.elf), job.target, bytearray(job.input), float(job.timeout)))
                    res["server"] = f"{self.key}@{getattr(sess, '_server_addr', '') or 'rpc'}"
                except Exception as err:  # noqa: BLE001 - the server died or refused: give the job to another one
                    if tries + 1 < self.retries:
                        todo.put((job, tries + 1))
                        time.sleep(0.5)
                        continue
                    res = {"status": "error", "error": f"RPC: {str(err).splitlines()[0][:200]}", "server": self.name}
                with lock:
                    left[0] -= 1
                done.put((job, res))

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(self.workers)]
        for t in threads:
            t.start()
        for _ in range(len(jobs)):
            yield done.get()
        for t in threads:
            t.join(timeout=1)


def build_elf(cm, tuning: dict, work_dir: str) -> bytes:
    """Export cm with ``tuning`` into work_dir, build its profiling firmware; returns the ELF bytes."""
    from ..codegen.targets import get
    from ..runners import firmware

    saved = cm.tuning
    cm.tuning = tuning
    try:
        shutil.rmtree(work_dir, ignore_errors=True)
        cm.export(work_dir)
    finally:
        cm.tuning = saved
    elf = firmware.build(work_dir, get(cm.target), cm.budgets, profile=True)
    with open(elf, "rb") as f:
        return f.read()


def toolchain_id() -> str:
    try:
        from ..runners.firmware import toolchain

        out = subprocess.run([toolchain("gcc"), "--version"], capture_output=True, text=True).stdout
        return out.splitlines()[0].strip()
    except Exception:  # noqa: BLE001
        return "arm-none-eabi-gcc (unknown)"
