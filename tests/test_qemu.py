"""Cortex-M targets under QEMU: the shared models run bit-exact with the host build and LiteRT on
M4 (mps2-an386) and M7 (mps2-an500); budgets fail at compile time; CLI reports measurements."""

import json
import subprocess
import sys

import numpy as np
import pytest

import tinyengine_tvm as te
from tinyengine_tvm.codegen import targets
from tinyengine_tvm.errors import TinyEngineError
from tinyengine_tvm.runners import firmware
from tinyengine_tvm.testing.reference import run_litert

from .conftest import model_path
from .mcu_tools import require_arm_tools

_MCU = {}


def mcu_compiled(name, target):
    if (name, target) not in _MCU:
        _MCU[(name, target)] = te.compile(model_path(name), target=target)
    return _MCU[(name, target)]


def _input(spec, seed):
    lo, hi = (0.0, 1.0) if spec.shape[-1] == 1 else (-1.0, 1.0)
    return np.random.default_rng(seed).uniform(lo, hi, size=spec.shape).astype(np.float32)


def test_target_names_and_budgets():
    assert targets.get("M7").name == "cortex-m7" and targets.get("cortex-m4").qemu_machine == "mps2-an386"
    assert targets.get("cortex-m55").mve and not targets.get("cortex-m4").mve
    assert all(targets.get(t).dsp for t in ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55"))
    assert "-mcpu=cortex-m7" in targets.get("cortex-m7").cflags() and targets.get("host").cflags() == []
    with pytest.raises(TinyEngineError, match="unknown target 'cortex-m99'"):
        targets.get("cortex-m99")
    assert [targets.parse_bytes(x) for x in ("4096", "64K", "1M", "512kB", 100)] == [4096, 65536, 1 << 20, 524288, 100]
    with pytest.raises(TinyEngineError, match="memory budget"):
        targets.parse_bytes("lots")


@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m7"])
@pytest.mark.parametrize("name", ["vww.tflite", "lenet_mnist.tflite"])
def test_model_on_qemu_is_bit_exact(compiled, name, target):
    require_arm_tools()
    cm = mcu_compiled(name, target)
    x = _input(cm.inputs[0], seed={"cortex-m4": 1, "cortex-m7": 2}[target])
    outs = cm.run([x])
    m = cm.last_measurement
    host = compiled(name).run([x])
    ref = run_litert(model_path(name), [x])
    for o, h, r in zip(outs, host, ref):
        assert o.tobytes() == h.tobytes() == r.tobytes()
    assert m["target"] == target and m["instructions"] > cm.graph.macs / 4
    assert m["arena_bytes"] == cm.plan.arena_bytes
    assert m["sram_bytes"] >= m["arena_bytes"] + m["stack"] and m["flash_bytes"] >= cm.graph.weight_bytes
    assert 0 < m["stack_used"] <= m["stack"]


def test_sram_and_flash_budgets_fail_at_compile_time():
    vww = model_path("vww.tflite")
    with pytest.raises(firmware.BudgetError, match=r"SRAM budget.*needs at least [\d,]+ bytes.*--sram is 65,536 bytes; arena peak at step 4 \(op4_conv2d"):
        te.compile(vww, target="cortex-m7", sram="64K", patch="off")
    with pytest.raises(firmware.BudgetError, match=r"Flash budget.*--flash is 262,144 bytes"):
        te.compile(vww, target="cortex-m7", flash="256K")
    with pytest.raises(TinyEngineError, match="exceeds the cortex-m4 board"):
        te.compile(vww, target="cortex-m4", sram="64M")


def test_linker_overflow_is_reported_as_budget_error():
    """Arena and weights fit, but code + tables do not: the link fails with the same clear message."""
    require_arm_tools()
    lenet = model_path("lenet_mnist.tflite")
    cm = te.compile(lenet, target="cortex-m4", flash=mcu_compiled("lenet_mnist.tflite", "cortex-m4").graph.weight_bytes)
    with pytest.raises(firmware.BudgetError, match=r"Flash budget \(--flash\) is [\d,]+ bytes but the firmware needs"):
        cm.run([_input(cm.inputs[0], 0)])


def test_elf_sizes_match_binutils():
    require_arm_tools()
    cm = mcu_compiled("lenet_mnist.tflite", "cortex-m7")
    cm.run([_input(cm.inputs[0], 1)])
    elf = cm._exes[("qemu", False)]
    sizes = firmware.elf_sizes(elf)
    out = subprocess.run(["arm-none-eabi-size", "-A", elf], capture_output=True, text=True, check=True).stdout
    table = {ln.split()[0]: int(ln.split()[1]) for ln in out.splitlines() if ln.startswith(".")}
    assert sizes["rodata"] == table[".rodata"] and sizes["bss"] == table[".bss"]
    assert sizes["flash_bytes"] == table[".text"] + table[".rodata"] + table.get(".ARM.exidx", 0) + table.get(".data", 0)


def test_cli_run_cortex_m7_json_and_profile(tmp_path):
    require_arm_tools()
    x = tmp_path / "x.npy"
    np.save(x, _input(mcu_compiled("lenet_mnist.tflite", "cortex-m7").inputs[0], 2))
    y = tmp_path / "y.npz"
    r = subprocess.run([sys.executable, "-m", "tinyengine_tvm.cli", "run", model_path("lenet_mnist.tflite"),
                        "--target", "cortex-m7", "--input", str(x), "--output", str(y), "--json", "--profile"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    for key in ("instructions", "arena_bytes", "flash_bytes", "sram_bytes", "outputs", "layers"):
        assert key in rep
    ref = run_litert(model_path("lenet_mnist.tflite"), [np.load(x)])
    assert np.load(y)["output_0"].tobytes() == ref[0].tobytes()
    total = sum(layer["instructions"] for layer in rep["layers"])
    # profile build: the marks themselves cost a little; kernels account for the whole run
    assert 0.9 * rep["instructions"] <= total <= 1.1 * rep["instructions"]
    assert {layer["kernel"] for layer in rep["layers"]} >= {"fully_connected"}


def test_cli_compile_then_run_directory_for_m4(tmp_path):
    require_arm_tools()
    out = tmp_path / "proj"
    r = subprocess.run([sys.executable, "-m", "tinyengine_tvm.cli", "compile", model_path("lenet_mnist.tflite"),
                        "-o", str(out), "--target", "cortex-m4", "--sram", "64K", "--flash", "512K"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "LENGTH = 65536" in (out / "firmware" / "link.ld").read_text()
    x = tmp_path / "x.npy"
    np.save(x, _input(mcu_compiled("lenet_mnist.tflite", "cortex-m4").inputs[0], 3))
    r = subprocess.run([sys.executable, "-m", "tinyengine_tvm.cli", "run", str(out), "--input", str(x),
                        "--output", str(tmp_path / "y.npz"), "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["target"] == "cortex-m4" and rep["instructions"] > 0 and rep["sram_bytes"] <= 65536
    ref = run_litert(model_path("lenet_mnist.tflite"), [np.load(x)])
    assert np.load(tmp_path / "y.npz")["output_0"].tobytes() == ref[0].tobytes()


def test_cli_budget_error_is_one_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "tinyengine_tvm.cli", "compile", model_path("vww.tflite"), "-o",
                        str(tmp_path / "p"), "--target", "cortex-m7", "--sram", "32K",
                        "--patch", "off"], capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.startswith("tinyengine-tvm: error: vww.tflite: model does not fit the SRAM budget") and "32,768" in r.stderr
    assert "peak at step 4" in r.stderr and "\n" not in r.stderr.strip()
    assert not (tmp_path / "p").exists()


@pytest.mark.parametrize("target", ["cortex-m33", "cortex-m55"])
def test_lenet_on_armv8m_boards(target):
    """The same firmware on MPS2 AN505 (Cortex-M33) and MPS3 AN547 (Cortex-M55, ITCM/DTCM)."""
    require_arm_tools()
    cm = mcu_compiled("lenet_mnist.tflite", target)
    x = _input(cm.inputs[0], seed=3)
    assert cm.run([x])[0].tobytes() == run_litert(model_path("lenet_mnist.tflite"), [x])[0].tobytes()
    assert cm.last_measurement["board"] == targets.get(target).qemu_machine
