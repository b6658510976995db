"""TinyNAS: search for the network that the compiler can fit, with the compiler's own numbers.

``spec`` holds an architecture as plain data (an MCUNet-style MBConv network), ``space``
the search spaces (width x resolution, kernel / expansion / depth choices) and their
sampling, ``graph`` turns a spec straight into the kernel graph the planner reads (no
export, no weights, no C), ``constraints`` answers a candidate's peak SRAM (the real
planner), Flash, MACs and latency, and ``export`` writes a spec as an int8 TFLite model
(random weights) so a full compile can be checked against the fast path.
"""

from .spec import ArchSpec, Block
from .space import SearchSpace
from .constraints import Estimate, estimate

__all__ = ["ArchSpec", "Block", "SearchSpace", "Estimate", "estimate"]
