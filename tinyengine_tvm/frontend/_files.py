"""Reading a model given as a path or as bytes, with one-line errors for missing files."""

from __future__ import annotations

import os

from ..errors import TinyEngineError


def read_bytes(model) -> tuple[bytes, str]:
    """(raw bytes, label for messages) of a model given as a path or bytes-like object."""
    if isinstance(model, (bytes, bytearray, memoryview)):
        return bytes(model), "<bytes>"
    path = os.fspath(model)
    if not os.path.exists(path):
        raise TinyEngineError(f"model file not found: {path}")
    if not os.path.isfile(path):
        raise TinyEngineError(f"model path is not a file: {path}")
    with open(path, "rb") as f:
        return f.read(), path
