"""Board runner past the flashing call: ``board.flash_and_run`` and ``board.measure`` against a scripted
fake of the probe-connected board, with pyOCD's own semihosting agent and file handler in between.

What is faked is only what needs a board on USB: pyOCD's session (``ConnectHelper``), the flash
programmer and the target core. The core is a small memory + register model that halts at a
``BKPT 0xAB`` for each semihosting call the measuring firmware makes, in the harness's order
(runners/firmware.py: open / read / close the input, open / write / close the outputs and the result
record, exit), with the argument blocks in its memory. pyOCD's real ``SemihostAgent`` decodes each
call from that memory and registers (DFSR, PC, the BKPT instruction, R0 / R1) and its
``InternalSemihostIOHandler`` does the file I/O, so the runner's loop, pyOCD's API as it is called,
and the result decoding (DWT cycles, per-kernel marks) all run. The "inference" between the reads and
the writes is the model's host build, so outputs can be checked against LiteRT.

The board firmware itself (DWT cycle counter, M7 cache start-up) runs under QEMU at the end.
"""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest

import tinyengine_tvm as te
from tinyengine_tvm.codegen.targets import get
from tinyengine_tvm.errors import TinyEngineError
from tinyengine_tvm.runners import board, firmware, qemu
from tinyengine_tvm.testing.reference import run_litert

from . import needs
from .conftest import model_path
from .mcu_tools import require_arm_tools

SYS_OPEN, SYS_CLOSE, SYS_WRITE0, SYS_WRITE, SYS_READ, SYS_EXIT = 0x01, 0x02, 0x04, 0x05, 0x06, 0x18
ADP_APPLICATION_EXIT, ADP_RUNTIME_ERROR = 0x20026, 0x20023
RAM, RAM_SIZE, BKPT_PC = 0x20000000, 1 << 20, 0x08000200


class FakeCore:
    """The probe's view of a halted / running Cortex-M: the calls pyOCD's DebugContext gets from a
    probe (memory, core registers, DFSR), and a script of the firmware's semihosting calls."""

    def __init__(self, script):
        self.mem = bytearray(RAM_SIZE)
        self.regs = {"pc": 0x08000000, "r0": 0, "r1": 0}
        self.halted_at_bkpt = False
        self.state = None
        self.script = script
        self.program = None
        self.session = type("S", (), {"log_tracebacks": False})()
        self.core = self
        self.flashed = []

    # -- memory / registers, as pyOCD's DebugContext (MemoryInterface) exposes them
    def _off(self, addr, n):
        assert RAM <= addr and addr + n <= RAM + RAM_SIZE, hex(addr)
        return addr - RAM

    def read32(self, addr):
        if addr == 0xE000ED30:  # DFSR: BKPT bit when halted by a BKPT instruction
            return 0x2 if self.halted_at_bkpt else 0x0
        o = self._off(addr, 4)
        return struct.unpack_from("<I", self.mem, o)[0]

    def read16(self, addr):
        return 0xBEAB if addr == BKPT_PC else struct.unpack_from("<H", self.mem, self._off(addr, 2))[0]

    def read_memory_block8(self, addr, n):
        o = self._off(addr, n)
        return list(self.mem[o:o + n])

    def read_memory_block32(self, addr, n):
        return list(struct.unpack_from(f"<{n}I", self.mem, self._off(addr, 4 * n)))

    def write_memory_block8(self, addr, data):
        o = self._off(addr, len(data))
        self.mem[o:o + len(data)] = bytes(data)

    def read_core_register(self, name):
        return self.regs[name]

    def write_core_register(self, name, value):
        self.regs[name] = value & 0xFFFFFFFF

    def find_breakpoint(self, pc):
        return None

    # -- the target object pyOCD's session hands out
    def get_target_context(self):
        return self

    def reset_and_halt(self):
        assert self.flashed, "reset before the ELF was programmed"
        self.program = self.script(self)
        self.state = "halted"

    def resume(self):
        if self.halted_at_bkpt:
            assert self.regs["pc"] == BKPT_PC + 2, "resumed without stepping over the BKPT"
        try:
            op, arg = next(self.program) if not self.halted_at_bkpt else self.program.send(self._result())
        except StopIteration:  # the firmware spins after SYS_EXIT
            self.state, self.halted_at_bkpt = "running", False
            return
        if op is None:  # a fault: halted, but not at a semihosting BKPT
            self.state, self.halted_at_bkpt = "halted", False
            self.regs["pc"] = 0x08000100
            return
        self.regs.update(pc=BKPT_PC, r0=op, r1=arg)
        self.state, self.halted_at_bkpt = "halted", True

    def _result(self):
        r = self.regs["r0"]
        return r - (1 << 32) if r & 0x80000000 else r

    def get_state(self):
        from pyocd.core.target import Target

        return Target.State.HALTED if self.state == "halted" else Target.State.RUNNING


class Firmware:
    """Helpers for a script: lay out strings / argument blocks in the fake RAM and issue calls."""

    def __init__(self, core):
        self.core, self.top = core, RAM + 0x1000

    def alloc(self, data: bytes) -> int:
        addr = self.top
        self.core.write_memory_block8(addr, data)
        self.top += (len(data) + 7) & ~7
        return addr

    def args(self, *words) -> int:
        return self.alloc(struct.pack(f"<{len(words)}I", *words))

    def open(self, name: str, mode: int):
        fn = self.alloc(name.encode() + b"\0")
        return SYS_OPEN, self.args(fn, mode, len(name))


def harness_script(cm_host, n_in, cycles, ticks, marks, exit_reason=ADP_APPLICATION_EXIT, fault_after_read=False):
    """The measuring firmware's semihosting calls, in the generated harness's order."""

    def script(core):
        fw = Firmware(core)
        fh = yield fw.open(firmware.INPUT_FILE, 1)  # "rb"
        assert fh > 2, fh
        buf = fw.alloc(bytes(n_in))
        not_read = yield SYS_READ, fw.args(fh, buf, n_in)
        assert not_read == 0
        yield SYS_CLOSE, fw.args(fh)
        if fault_after_read:
            yield None, None
            return
        x = np.frombuffer(bytes(core.read_memory_block8(buf, n_in)), np.float32).reshape(cm_host.inputs[0].shape)
        out = cm_host.run([x])[0].tobytes()  # the inference: the same C, built for the host
        fh = yield fw.open(firmware.OUTPUT_FILE, 5)  # "wb"
        assert (yield SYS_WRITE, fw.args(fh, fw.alloc(out), len(out))) == 0
        yield SYS_CLOSE, fw.args(fh)
        if exit_reason != ADP_APPLICATION_EXIT:
            msg = fw.alloc(b"inference failed\n\0")
            yield SYS_WRITE0, msg
            yield SYS_EXIT, exit_reason
            return
        rec = struct.pack("<8I", firmware.RESULT_MAGIC, ticks & 0xFFFFFFFF, ticks >> 32, cycles, 2048, len(marks), 0, 0)
        rec_marks = b"".join(struct.pack("<3I", step, t & 0xFFFFFFFF, t >> 32) for step, t in marks)
        fh = yield fw.open(firmware.RESULT_FILE, 5)
        assert (yield SYS_WRITE, fw.args(fh, fw.alloc(rec), len(rec))) == 0
        assert (yield SYS_WRITE, fw.args(fh, fw.alloc(rec_marks), len(rec_marks))) == 0
        yield SYS_CLOSE, fw.args(fh)
        yield SYS_EXIT, exit_reason  # te_sh_exit(main()) passes the reason code in r1 itself

    return script


@pytest.fixture
def fake_probe(monkeypatch):
    """Install a fake probe: returns a function taking the firmware script, giving the FakeCore."""
    needs.module("pyocd", "pip install pyocd")
    from pyocd.core import helpers
    from pyocd.flash import file_programmer

    made = {}

    class Session:
        def __init__(self, core):
            self.board = type("B", (), {"target": core})()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    class Programmer:
        def __init__(self, session):
            self.core = session.board.target

        def program(self, path, **kw):
            assert os.path.exists(path) and open(path, "rb").read(4) == b"\x7fELF", path
            self.core.flashed.append(path)

    def install(script, probes=("0670FF123",)):
        core = FakeCore(script)
        made["core"] = core

        def session_with_chosen_probe(blocking=True, unique_id=None, target_override=None, options=None, **kw):
            # pyOCD's default blocking=True would wait for a probe to be plugged in: the runner must not ask that
            assert blocking is False
            made["asked"] = dict(unique_id=unique_id, target_override=target_override, options=options)
            if unique_id is not None and unique_id not in probes:
                return None
            return Session(core) if probes else None

        monkeypatch.setattr(helpers.ConnectHelper, "session_with_chosen_probe", staticmethod(session_with_chosen_probe))
        monkeypatch.setattr(file_programmer, "FileProgrammer", Programmer)
        return made

    return install


@pytest.fixture(scope="module")
def lenet():
    return (te.compile(model_path("lenet_mnist.tflite"), target="cortex-m7"),
            te.compile(model_path("lenet_mnist.tflite"), target="host"))


def _measure(cm, tmp_path, x, **kw):
    proj = cm.export(tmp_path / "p")
    return board.measure(proj, get("cortex-m7"), cm.budgets, [x], [(o.shape, o.dtype) for o in cm.outputs],
                         cm.graph.ops, pyocd_target="stm32f746zgtx", **kw)


def test_measure_on_fake_board_profile(fake_probe, lenet, tmp_path):
    require_arm_tools()
    cm, host = lenet
    n_ops = len(cm.graph.ops)
    marks = [(i, 1000 + 7 * i * i) for i in range(n_ops)] + [(n_ops, 1000 + 7 * n_ops * n_ops)]
    made = fake_probe(harness_script(host, int(np.prod(cm.inputs[0].shape)) * 4, cycles=345_600, ticks=345_600,
                                     marks=marks))
    x = np.random.default_rng(3).uniform(0, 1, cm.inputs[0].shape).astype(np.float32)
    outs, m = _measure(cm, tmp_path, x, profile=True, probe="0670FF123")
    assert outs[0].tobytes() == run_litert(model_path("lenet_mnist.tflite"), [x])[0].tobytes()
    assert made["asked"]["unique_id"] == "0670FF123" and made["asked"]["target_override"] == "stm32f746zgtx"
    assert made["core"].flashed == [str(tmp_path / "p" / "firmware" / "fw_board_profile.elf")]
    assert m["runner"] == "board" and m["board"] == "stm32f746zgtx" and m["cycles"] == 345_600
    assert m["milliseconds"] == pytest.approx(1000 * 345_600 / 216_000_000) and m["stack_used"] == 2048
    assert [layer["name"] for layer in m["layers"]] == [op.name for op in cm.graph.ops]
    assert [layer["cycles"] for layer in m["layers"]] == [7 * (2 * i + 1) for i in range(n_ops)]
    assert m["flash_bytes"] > cm.graph.weight_bytes
    # the firmware left the core spinning after its SYS_EXIT: the loop stopped at the exit, not at a timeout
    assert made["core"].regs["pc"] == BKPT_PC + 2


def test_fake_board_firmware_failure_is_reported(fake_probe, lenet, tmp_path):
    require_arm_tools()
    cm, host = lenet
    n_in = int(np.prod(cm.inputs[0].shape)) * 4
    x = np.zeros(cm.inputs[0].shape, np.float32)
    fake_probe(harness_script(host, n_in, 1, 1, [], exit_reason=ADP_RUNTIME_ERROR))
    with pytest.raises(TinyEngineError, match=r"board firmware failed \(semihosting exit reason 0x20023"):
        _measure(cm, tmp_path, x)
    fake_probe(harness_script(host, n_in, 1, 1, [], fault_after_read=True))
    with pytest.raises(TinyEngineError, match="wrote no result"):
        _measure(cm, tmp_path, x)
    fake_probe(harness_script(host, n_in, 1, 1, []), probes=())
    with pytest.raises(TinyEngineError, match="no debug probe found"):
        _measure(cm, tmp_path, x)


def test_board_firmware_dwt_and_caches_under_qemu(lenet, tmp_path):
    """The board build (TE_USE_DWT, TE_ENABLE_CACHES on M7) linked for QEMU's mps2-an500 memory map: its
    start-up (TRCENA, DWT unlock / CYCCNTENA, I/D cache invalidate + enable) runs without a fault and the
    outputs stay exact. QEMU 7.2 does not emulate the DWT cycle counter (CYCCNT reads 0) nor caches
    (CCSIDR reads as no sets / ways), so the cycle figure itself is only checked on the fake above."""
    require_arm_tools()
    cm, _ = lenet
    proj = cm.export(tmp_path / "p")
    elf = firmware.build(proj, get("cortex-m7"), cm.budgets, profile=True, board=True)
    x = np.random.default_rng(4).uniform(0, 1, cm.inputs[0].shape).astype(np.float32)
    outs, m = qemu.measure(elf, get("cortex-m7"), [x], [(o.shape, o.dtype) for o in cm.outputs], cm.graph.ops)
    assert outs[0].tobytes() == run_litert(model_path("lenet_mnist.tflite"), [x])[0].tobytes()
    _, res = qemu.run_elf(elf, get("cortex-m7"), x.tobytes())
    assert firmware.parse_result(res, cm.graph.ops)["cycles"] == 0  # QEMU: DWT CYCCNT not emulated
    assert m["instructions"] > 0 and {layer["kernel"] for layer in m["layers"]} >= {"fully_connected", "log_softmax"}
    assert (0xC5ACCE55).to_bytes(4, "little") in open(elf, "rb").read()  # the DWT unlock is in this build
