"""SRAM planner: tensor lifetimes over the operator order and one static arena.

``plan(graph)`` is a pure function of the KernelGraph, so TinyNAS and reports can
call it without generating any C. Graph inputs and outputs live in the caller's
buffers, everything in between lives in the arena.
"""

from .greedy import MemoryPlan, plan

__all__ = ["MemoryPlan", "plan"]
