"""The QEMU instruction counter: SysTick under -icount shift=0 ticks once per 40 retired instructions
(25 MHz MPS2 boards), measured on a loop of known length, with and without 24-bit wraps."""

import os
import shutil
import struct
import subprocess

import pytest

from tinyengine_tvm.codegen.targets import get
from tinyengine_tvm.runners import firmware, qemu

from .mcu_tools import require_arm_tools

SPIN_MAIN = r"""
#include <stdint.h>
#include "semihost.h"
#include "te_timer.h"

/* exactly 2 instructions per iteration: SUBS + BNE */
static void spin(uint32_t n) { __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc"); }

int main(void) {
  uint32_t rec[8] = {0};
  uint64_t t0, t1;
  int32_t fh;
  te_timer_start();
  t0 = te_ticks();
  spin(SPIN_N);
  t1 = te_ticks();
  rec[0] = 0x524D4554u;
  rec[1] = (uint32_t)(t1 - t0);
  rec[2] = (uint32_t)((t1 - t0) >> 32);
  rec[4] = te_stack_used();
  fh = te_sh_open("te_result.bin", 5);
  if (fh < 0) return 1;
  te_sh_write(fh, rec, sizeof rec);
  te_sh_close(fh);
  fh = te_sh_open("te_output.bin", 5);
  te_sh_close(fh);
  return 0;
}
"""


def _spin_ticks(tmp_path, target_name, n, bits=24):
    target = get(target_name)
    d = tmp_path / f"{target_name}_{n}_{bits}"
    d.mkdir()
    for f in firmware.STATIC_FILES:
        shutil.copyfile(os.path.join(firmware.firmware_dir(), f), d / f)
    (d / "main.c").write_text(SPIN_MAIN)
    (d / "link.ld").write_text(firmware._linker_script(target, firmware.Budgets(64 * 1024, 64 * 1024, 1024)))
    cmd = ["arm-none-eabi-gcc", *firmware.WARN_FLAGS, "-O2", *target.cflags(), f"-DSPIN_N={n}u",
           f"-DTE_SYSTICK_BITS={bits}", "-o", "spin.elf", "startup.c", "semihost.c", "main.c",
           "-nostartfiles", "-T", "link.ld", "--specs=nano.specs", "--specs=nosys.specs"]
    r = subprocess.run(cmd, cwd=d, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    _, res = qemu.run_elf(str(d / "spin.elf"), target, b"", timeout=120)
    lo, hi = struct.unpack_from("<2I", res, 4)
    return lo | (hi << 32)


@pytest.mark.parametrize("target,per_tick", [("cortex-m4", 40.0), ("cortex-m7", 40.0), ("cortex-m33", 50.0),
                                             ("cortex-m55", 31.25)])
def test_systick_counts_instructions(tmp_path, target, per_tick):
    """25 MHz MPS2 AN386/AN500: 40 instructions per tick; AN505 20 MHz: 50; AN547 32 MHz: 31.25."""
    require_arm_tools()
    n = 1_000_000  # 2 M instructions
    ticks = _spin_ticks(tmp_path, target, n)
    assert get(target).insns_per_tick == per_tick
    # 2n instructions plus a handful around the reads; resolution is one tick
    assert abs(ticks * per_tick - 2 * n) <= 2 * per_tick, ticks
    if target in ("cortex-m4", "cortex-m7"):
        # linear: twice the loop, twice the ticks
        ticks2 = _spin_ticks(tmp_path, target, 2 * n)
        assert abs((ticks2 - ticks) * per_tick - 2 * n) <= 2 * per_tick, (ticks, ticks2)


def test_systick_wraps_are_counted(tmp_path):
    """A 10-bit period wraps every 1024 ticks (~49 times here); the total must still be right."""
    require_arm_tools()
    n = 1_000_000
    ticks = _spin_ticks(tmp_path, "cortex-m4", n, bits=10)
    assert ticks > 40 * 1024
    # each wrap runs the SysTick handler (a few instructions): allow 1 %
    assert abs(ticks * 40 - 2 * n) <= 0.01 * 2 * n, ticks
