"""Board runner, up to the flashing call: board selection, the board's memory map in the linker
script, the DWT firmware build, the pyOCD session plan, and clear errors without pyOCD or a probe."""

import os

import numpy as np
import pytest

import tinyengine_tvm as te
from tinyengine_tvm.codegen.targets import get
from tinyengine_tvm.errors import TinyEngineError
from tinyengine_tvm.runners import board, firmware

from .conftest import model_path
from .mcu_tools import require_arm_tools


def test_board_selection_errors():
    m7 = get("cortex-m7")
    with pytest.raises(TinyEngineError, match="needs --pyocd-target .*stm32f746zgtx"):
        board.board_for(m7, None)
    with pytest.raises(TinyEngineError, match="unknown board 'nrf9999'"):
        board.board_for(m7, "nrf9999")
    with pytest.raises(TinyEngineError, match="has a cortex-m4, not a cortex-m7"):
        board.board_for(m7, "stm32f411retx")
    assert board.board_for(m7, "STM32F746ZGTX").flash_origin == 0x08000000


def test_board_firmware_builds_for_the_board_memory_map(tmp_path):
    require_arm_tools()
    cm = te.compile(model_path("lenet_mnist.tflite"), target="cortex-m7")
    proj = cm.export(tmp_path / "p")
    b = board.board_for(get("cortex-m7"), "stm32f746zgtx")
    elf = board.prepare(proj, get("cortex-m7"), cm.budgets, cm.inputs, cm.outputs, len(cm.graph.ops), b, profile=True)
    assert os.path.basename(elf) == "fw_board_profile.elf"
    ld = (tmp_path / "p" / "firmware" / "link.ld").read_text()
    assert "ORIGIN = 0x08000000" in ld and "ORIGIN = 0x20000000" in ld and f"LENGTH = {320 * 1024}" in ld
    sizes = firmware.elf_sizes(elf)
    assert sizes["flash_bytes"] <= b.flash_size and sizes["sram_bytes"] <= b.sram_size
    # the DWT counter code is in the board build (not in the QEMU one)
    text = open(elf, "rb").read()
    assert (0xC5ACCE55).to_bytes(4, "little") in text  # DWT lock-access key written by te_timer_start
    plan = board.session_plan(elf, b, probe="0670FF123")
    assert plan["target_override"] == "stm32f746zgtx" and plan["unique_id"] == "0670FF123"
    assert plan["elf"] == os.path.abspath(elf) and firmware.INPUT_FILE in plan["files"]


def test_board_run_without_pyocd_or_probe_is_a_clear_error(tmp_path):
    require_arm_tools()
    try:
        import pyocd  # noqa: F401
        expected = "no debug probe found"
    except ImportError:
        expected = "needs pyOCD"
    cm = te.compile(model_path("lenet_mnist.tflite"), target="cortex-m7")
    proj = cm.export(tmp_path / "p")
    x = np.zeros(cm.inputs[0].shape, np.float32)
    with pytest.raises(TinyEngineError, match=expected):
        board.measure(proj, get("cortex-m7"), cm.budgets, [x], [(o.shape, o.dtype) for o in cm.outputs],
                      cm.graph.ops, pyocd_target="stm32f746zgtx")
