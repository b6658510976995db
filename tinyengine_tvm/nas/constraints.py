"""What TinyNAS asks of a candidate, answered from the compiler's own planner: peak SRAM, Flash, MACs, latency.

``estimate(spec, target)`` builds the spec's kernel graph directly (``graph.kernel_graph``)
and plans it with the same planner (and the same options) a compile uses, so
``peak_sram_bytes`` and ``arena_bytes`` are the compiled program's. No export, no
weights, no C: milliseconds per candidate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..planner import plan as make_plan
from .graph import kernel_graph
from .spec import ArchSpec


@dataclass
class Estimate:
    arena_bytes: int          # the static arena the compiled program declares
    peak_sram_bytes: int      # highest arena byte in use
    weight_bytes: int         # weights + bias in Flash
    macs: int
    ops: int

    def to_dict(self) -> dict:
        return asdict(self)


def estimate(spec: ArchSpec, target: str = "host") -> Estimate:
    g = kernel_graph(spec)
    p = make_plan(g, target=target)
    return Estimate(arena_bytes=p.arena_bytes, peak_sram_bytes=p.peak_sram_bytes, weight_bytes=g.weight_bytes,
                    macs=g.macs, ops=len(g.ops))
