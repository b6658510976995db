"""Test-only helpers for the DSP kernels: build tests/dsp_driver.c for the host (exact C models of
the DSP instructions, plain and ASan+UBSan) or for a Cortex-M target (run under QEMU), and run a
kernel_harness.Batch of cases on either."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from tinyengine_tvm.codegen.targets import get
from tinyengine_tvm.runners import firmware, qemu

from . import kernel_harness as kh

DRIVER = Path(__file__).resolve().parent / "dsp_driver.c"
OPS = {"conv": 1, "conv_1x1": 2, "dwconv": 3, "fc": 4, "fc_dscale": 14, "pw_dsp": 100, "dw_dsp": 101, "conv_dsp": 102,
       "fc_dsp": 103, "add": 5, "add_dsp": 104, "dw_hwc_dsp": 105, "quant": 10, "quant_dsp": 106,
       "add_lin_dsp": 200, "pw_small_dsp": 201, "conv_kw_dsp": 202, "pw_nc_dsp": 203,
       "dw_rows_dsp": 107, "dw_rows_shared": 108, "dw_cg_dsp": 109, "dw_ring4_dsp": 110, "dw_ring4_shared": 111, "pw_w16_dsp": 112,
       "mul_gate": 300, "mul_gate_dsp": 301, "mean_se": 302, "mean_se_dsp": 303}


def kernel_sources() -> list[Path]:
    return kh.kernel_sources()


SINGLE_ROUNDING_FLAGS = ["-DTE_SINGLE_ROUNDING=1"]  # onnxruntime's requantization, as the emitter builds ORT graphs


def build_host(out_dir: Path, sanitize: bool, single_rounding: bool = False) -> Path:
    exe = Path(out_dir) / (("dsp_driver_asan" if sanitize else "dsp_driver") + ("_sr" if single_rounding else ""))
    flags = kh.WARN_FLAGS + (kh.SANITIZE_FLAGS if sanitize else ["-O2"])
    flags += SINGLE_ROUNDING_FLAGS if single_rounding else []
    cmd = ["gcc", *flags, "-I", str(kh.KERNEL_DIR), *map(str, kernel_sources()), str(DRIVER), "-o", str(exe), "-lm"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"dsp driver build failed:\n{r.stderr}")
    return exe


def build_arm(out_dir: Path, target_name: str, single_rounding: bool = False) -> Path:
    target = get(target_name)
    d = Path(out_dir) / (f"arm_{target.name}" + ("_sr" if single_rounding else ""))
    d.mkdir(parents=True, exist_ok=True)
    for f in firmware.STATIC_FILES:
        shutil.copyfile(os.path.join(firmware.firmware_dir(), f), d / f)
    (d / "link.ld").write_text(firmware._linker_script(target, firmware.Budgets(target.sram_size, target.flash_size, 8192)))
    cmd = ["arm-none-eabi-gcc", *firmware.WARN_FLAGS, *firmware.OPT_FLAGS, *target.cflags(),
           *(SINGLE_ROUNDING_FLAGS if single_rounding else []), "-ffunction-sections",
           "-fdata-sections", "-I", str(kh.KERNEL_DIR), "-I", str(d), *map(str, kernel_sources()), str(DRIVER),
           str(d / "startup.c"), str(d / "semihost.c"), "-o", str(d / "dsp_driver.elf"), "-nostartfiles", "-T",
           str(d / "link.ld"), "-Wl,--gc-sections", "--specs=nano.specs", "--specs=nosys.specs", "-lm"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"arm dsp driver build failed:\n{r.stderr}")
    return d / "dsp_driver.elf"


def run(exe: Path, batch: kh.Batch, target_name: str | None = None) -> list[np.ndarray]:
    """Run the cases on a host driver (target_name None) or an ARM driver under QEMU."""
    if target_name is None:
        return batch.run(exe)
    out, _ = qemu.run_elf(str(exe), get(target_name), batch.serialize(), timeout=300)
    outs, pos = [], 0
    for c in batch.cases:
        n = int(np.prod(c.out_shape, dtype=np.int64)) * c.out_dtype.itemsize
        outs.append(np.frombuffer(out[pos:pos + n], dtype=c.out_dtype).reshape(c.out_shape).copy())
        pos += n
    assert pos == len(out), (pos, len(out))
    return outs


def add(batch: kh.Batch, op: str, params, bufs, out_dtype, out_shape) -> int:
    """Batch.add with this driver's op codes."""
    kh.OPS.setdefault(op, OPS[op])
    assert kh.OPS[op] == OPS[op], f"op code clash for {op}"
    return batch.add(op, params, bufs, out_dtype, out_shape)


def compare(port, fast, host_drivers, arm_exe, targets, what):
    """The fast (DSP) batch's outputs byte-equal to the portable batch's on every host driver (plain,
    ASan/UBSan: the host emulation of te_dsp.h) and, under QEMU, on every target (``arm_exe(target)``
    gives its driver), where the portable batch must also equal the host's."""
    expected = run(host_drivers[0], port)
    for exe in host_drivers:
        for i, (g, e) in enumerate(zip(run(exe, fast), expected)):
            assert g.tobytes() == e.tobytes(), f"{what} case {i} on host ({exe.name})"
    for t in targets:
        exe = arm_exe(t)
        got_port, got = run(exe, port, t), run(exe, fast, t)
        for i, (g, gp, e) in enumerate(zip(got, got_port, expected)):
            assert gp.tobytes() == e.tobytes(), f"portable {what} case {i} differs on {t}"
            assert g.tobytes() == e.tobytes(), f"{what} case {i} on {t}"
