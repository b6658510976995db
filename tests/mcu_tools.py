"""Test helpers for Cortex-M work: require arm-none-eabi-gcc and qemu-system-arm.

Missing tools skip the test on a developer machine, but FAIL it when CI=true
(.ci/run installs them, so a missing tool there is a broken set-up, not a reason to skip).
"""

from __future__ import annotations

import shutil

from .needs import missing

ARM_TOOLS = ("arm-none-eabi-gcc", "qemu-system-arm")


def require_arm_tools() -> None:
    absent = [t for t in ARM_TOOLS if shutil.which(t) is None]
    if absent:
        missing(f"missing {', '.join(absent)} (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)")
