"""TinyNAS: search for the network that the compiler can fit, with the compiler's own numbers.

``spec`` holds an architecture as plain data (an MCUNet-style MBConv network), ``space``
the search spaces (width x resolution, kernel / expansion / depth choices) and their
sampling, ``graph`` turns a spec straight into the kernel graph the planner reads (no
export, no weights, no C), ``constraints`` answers a candidate's peak SRAM (the real
planner), Flash, MACs and latency, and ``export`` writes a spec as an int8 TFLite model
(random weights) so a full compile can be checked against the fast path.
"""

__all__ = ["ArchSpec", "Block", "SearchSpace", "Genome", "Estimate", "estimate", "fits"]

_HOMES = {"ArchSpec": "spec", "Block": "spec", "SearchSpace": "space", "Genome": "space",
          "Estimate": "constraints", "estimate": "constraints", "fits": "constraints"}


def __getattr__(name):  # lazy: the CLI imports nas.cli without TVM
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    raise AttributeError(f"module 'tinyengine_tvm.nas' has no attribute {name!r}")
