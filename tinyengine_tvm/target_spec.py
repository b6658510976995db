"""Target names from what users pass: ``"cortex-m7"``, ``"m7"``, ``"host"``, or a ``tvm.target.Target``.

``target_name(target)`` returns the canonical name the rest of the compiler uses.
A ``tvm.target.Target`` is read by its ``mcpu`` (``Target({"kind": "c", "mcpu": "cortex-m7"})``
-> ``"cortex-m7"``; TVM 0.27 no longer parses the string form, which is accepted here as a
string: ``"c -mcpu=cortex-m7"``); a C/LLVM target without ``mcpu`` means the host. Names are
checked against ``codegen.targets`` when that module exists, else against ``host``.
No TVM import unless a ``tvm.target.Target`` object is passed.
"""

from __future__ import annotations

import re

from .errors import TinyEngineError


def _from_tvm_target(target) -> str:
    kind = str(target.kind.name)
    if kind not in ("c", "llvm"):
        raise TinyEngineError(f"target '{target}': only 'c' or 'llvm' TVM targets with -mcpu=<core> map to a tinyengine target")
    mcpu = target.attrs.get("mcpu") if hasattr(target, "attrs") else None
    return str(mcpu) if mcpu else "host"


def target_name(target) -> str:
    """Canonical target name for a string or ``tvm.target.Target`` (see module docstring)."""
    if target is None:
        return "host"
    if not isinstance(target, str) and type(target).__module__.startswith("tvm.") and type(target).__name__ == "Target":
        target = _from_tvm_target(target)
    if hasattr(target, "name") and hasattr(target, "cflags"):  # a codegen.targets.Target
        return str(target.name)
    if not isinstance(target, str):
        raise TinyEngineError(f"target must be a name like 'cortex-m7' or a tvm.target.Target, got {type(target).__name__}")
    text = target.strip()
    if text.startswith(("c ", "llvm ")) or text in ("c", "llvm"):
        # TVM's old CLI form, which tvm.target.Target(str) no longer parses in 0.27
        m = re.search(r"-mcpu=(\S+)", text)
        return target_name(m.group(1) if m else "host")
    try:
        from .codegen.targets import get
    except ImportError:
        get = None
    if get is not None:
        return get(text).name
    if text.lower() != "host":
        raise TinyEngineError(f"unknown target '{target}'; supported: host")
    return "host"
