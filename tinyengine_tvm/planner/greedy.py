"""Greedy-by-size placement of buffers into one arena (the TFLite Micro GreedyMemoryPlanner idea).

Buffers are placed largest first, each at the lowest aligned offset where it does
not overlap any already placed buffer whose lifetime intersects its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .lifetimes import Buffer, buffers

ALIGN = 8


def _align(x: int) -> int:
    return (x + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class MemoryPlan:
    arena_bytes: int
    offsets: dict                     # tensor name -> arena offset, or None when external
    buffers: dict = field(default_factory=dict)   # root -> Buffer
    roots: dict = field(default_factory=dict)     # tensor -> root
    live_bytes: list = field(default_factory=list)  # per step: bytes of arena buffers alive

    @property
    def peak_live_bytes(self) -> int:
        return max(self.live_bytes, default=0)


def place(bufs: list[Buffer]) -> tuple[dict[str, int], int]:
    """Offsets for arena buffers; returns (root -> offset, arena size)."""
    placed: list[tuple[int, Buffer]] = []
    offsets: dict[str, int] = {}
    for b in sorted(bufs, key=lambda b: (-b.size, b.first, b.root)):
        busy = sorted((off, off + o.size) for off, o in placed if o.overlaps_in_time(b))
        off = 0
        for lo, hi in busy:
            if off + b.size <= lo:
                break
            off = max(off, _align(hi))
        offsets[b.root] = off
        placed.append((off, b))
    size = max((off + b.size for off, b in placed), default=0)
    return offsets, _align(size)


def plan(graph) -> MemoryPlan:
    """Plan the arena for a KernelGraph."""
    bufs, roots = buffers(graph)
    internal = [b for b in bufs.values() if not b.external]
    root_off, arena = place(internal)
    offsets = {t: (None if bufs[r].external else root_off[r]) for t, r in roots.items() if r in bufs}
    live = [sum(b.size for b in internal if b.first <= s <= b.last) for s in range(len(graph.ops))]
    return MemoryPlan(arena, offsets, bufs, roots, live)
