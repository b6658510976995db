"""Compilation targets: the host, and the Cortex-M cores the generated C is built for.

A ``Target`` names a core, the arm-none-eabi-gcc flags for it, whether it has the
Armv7E-M DSP extension (SMLAD, SXTB16, SSAT: the ``*_dsp.c`` kernels) or Helium,
and the QEMU board that emulates it with its memory map (where code/constants and
where RAM live) and SysTick clock. ``get(name)`` resolves a user-given name
(``cortex-m7``, ``m7``, ``Cortex-M7`` ...) or raises a clear ``TinyEngineError``.

Pure Python, no TVM import: the CLI and runners read it at start-up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import TinyEngineError


@dataclass(frozen=True)
class Target:
    name: str
    cpu: str | None = None                  # -mcpu value; None for the host
    fpu_flags: tuple = ()                   # float ABI / FPU flags (hard float everywhere)
    dsp: bool = False                       # Armv7E-M DSP extension (__ARM_FEATURE_DSP)
    mve: bool = False                       # Armv8.1-M Helium
    qemu_machine: str | None = None         # qemu-system-arm -M value
    sysclk_hz: int = 25_000_000             # SysTick's processor clock on that board (QEMU)
    flash_origin: int = 0x00000000          # code + constants (read-only memory on a real board)
    flash_size: int = 0x00400000            # largest image the QEMU board can hold there
    sram_origin: int = 0x20000000           # data, bss, arena, stack
    sram_size: int = 0x00400000
    extra_ram: tuple = field(default_factory=tuple)

    @property
    def is_host(self) -> bool:
        return self.cpu is None

    def cflags(self) -> list[str]:
        """Code-generation flags for arm-none-eabi-gcc (empty for the host)."""
        if self.is_host:
            return []
        return [f"-mcpu={self.cpu}", "-mthumb", *self.fpu_flags]

    @property
    def insns_per_tick(self) -> float:
        """Retired instructions per SysTick tick under ``qemu -icount shift=0`` (1 ns per instruction)."""
        return 1e9 / self.sysclk_hz


HOST = Target("host")

TARGETS = {
    "host": HOST,
    # MPS2 AN386: Cortex-M4 with FPv4-SP; ZBT SSRAM1 (4 MB) at 0, SSRAM2/3 (4 MB) at 0x20000000.
    "cortex-m4": Target("cortex-m4", "cortex-m4", ("-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"), dsp=True,
                        qemu_machine="mps2-an386"),
    # MPS2 AN500: Cortex-M7 with FPv5 double precision; same memory map as AN386.
    "cortex-m7": Target("cortex-m7", "cortex-m7", ("-mfloat-abi=hard", "-mfpu=fpv5-d16"), dsp=True,
                        qemu_machine="mps2-an500"),
    # MPS2 AN505 (Armv8-M, runs secure): SSRAM1 secure alias at 0x10000000 (4 MB),
    # SSRAM2/3 secure alias at 0x38000000 (4 MB); 20 MHz system clock.
    "cortex-m33": Target("cortex-m33", "cortex-m33", ("-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"), dsp=True,
                         qemu_machine="mps2-an505", sysclk_hz=20_000_000,
                         flash_origin=0x10000000, flash_size=0x00400000,
                         sram_origin=0x38000000, sram_size=0x00400000),
    # MPS3 AN547 (Armv8.1-M + Helium, runs secure): code + constants in ITCM (secure alias 0x10000000,
    # 512 kB; the reset vector table is read there), data in DTCM (secure alias 0x30000000, 512 kB);
    # 32 MHz system clock.
    "cortex-m55": Target("cortex-m55", "cortex-m55", ("-mfloat-abi=hard",), dsp=True, mve=True,
                         qemu_machine="mps3-an547", sysclk_hz=32_000_000,
                         flash_origin=0x10000000, flash_size=0x00080000,
                         sram_origin=0x30000000, sram_size=0x00080000),
}

_ALIASES = {"m4": "cortex-m4", "m7": "cortex-m7", "m33": "cortex-m33", "m55": "cortex-m55",
            "cm4": "cortex-m4", "cm7": "cortex-m7", "cm33": "cortex-m33", "cm55": "cortex-m55"}


def get(name) -> Target:
    """The Target called ``name`` (or a Target passed through); TinyEngineError when unknown."""
    if isinstance(name, Target):
        return name
    key = str(name if name is not None else "host").strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in TARGETS:
        raise TinyEngineError(f"unknown target '{name}'; supported: {', '.join(TARGETS)}")
    return TARGETS[key]


def parse_bytes(text) -> int:
    """A byte budget: 65536, '64k', '64K', '1M', '512kB' -> bytes; TinyEngineError when malformed."""
    if isinstance(text, int):
        if text <= 0:
            raise TinyEngineError(f"memory budget must be positive, got {text}")
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([km]?)(?:i?b)?\s*", str(text).lower())
    if not m:
        raise TinyEngineError(f"cannot read memory budget '{text}' (use bytes, e.g. 65536, 64K or 1M)")
    value = int(float(m.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2)])
    if value <= 0:
        raise TinyEngineError(f"memory budget must be positive, got '{text}'")
    return value
