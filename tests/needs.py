"""What a test needs from its environment, and what happens when it is missing.

On a developer machine a missing optional dependency (onnxruntime, torch, LiteRT, the Cortex-M
toolchain, a shared model file) skips the test. Under ``CI=true`` it FAILS it: ``.ci/run`` installs
all of them, so a missing one there is a broken set-up that would otherwise hide every claim the
skipped test backs.
"""

from __future__ import annotations

import importlib
import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(msg: str):
    """Skip with ``msg``, or fail with it under CI=true."""
    if in_ci():
        pytest.fail(f"{msg} (CI=true: .ci/run installs every test dependency, so this is a broken set-up)")
    pytest.skip(msg, allow_module_level=True)


def module(name: str, install: str | None = None):
    """``pytest.importorskip`` that fails under CI=true; returns the imported module."""
    try:
        return importlib.import_module(name)
    except ImportError as e:
        missing(f"cannot import {name} ({e}); pip install -e '.[test]'" + (f" or {install}" if install else ""))
