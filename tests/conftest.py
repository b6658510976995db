"""Shared fixtures: the real models in ../shared/models and compiled-model caching."""

import os

import pytest

MODELS_DIR = os.environ.get(
    "TINYENGINE_MODELS", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "models")
)


def model_path(name: str) -> str:
    path = os.path.normpath(os.path.join(MODELS_DIR, name))
    if not os.path.exists(path):
        pytest.fail(f"shared model {path} is missing (set TINYENGINE_MODELS to the folder holding it)")
    return path


_COMPILED = {}


@pytest.fixture(scope="session")
def compiled():
    """compiled(name) -> CompiledModel (layer by layer: --patch off), compiled once per session."""
    import tinyengine_tvm as te

    def get(name):
        if name not in _COMPILED:
            _COMPILED[name] = te.compile(model_path(name), patch="off")
        return _COMPILED[name]

    return get
