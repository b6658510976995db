"""Test helpers for Cortex-M work: require arm-none-eabi-gcc and qemu-system-arm.

Missing tools skip the test on a developer machine, but FAIL it when CI=true
(.ci/run installs them, so a missing tool there is a broken set-up, not a reason to skip).
"""

from __future__ import annotations

import os
import shutil

import pytest

ARM_TOOLS = ("arm-none-eabi-gcc", "qemu-system-arm")


def require_arm_tools() -> None:
    missing = [t for t in ARM_TOOLS if shutil.which(t) is None]
    if not missing:
        return
    msg = f"missing {', '.join(missing)} (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(msg)
    pytest.skip(msg)
