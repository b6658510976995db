"""SRAM planner: operator order, tensor and scratch lifetimes, kernel overlap contracts, one static arena.

``plan(graph)`` is a pure function of the KernelGraph, so TinyNAS and reports can
call it without generating any C. Graph inputs and outputs live in the caller's
buffers; every other tensor and every kernel scratch buffer lives in the arena.
``check(graph, plan)`` independently verifies a plan (run on every compile).

Modules: lifetimes (buffers, lifetimes), contracts (kernel functions, scratch,
overlap contracts), problem (placement problem, lower bound), order (operator
order), greedy / exact (placement), plan (MemoryPlan), check (verifier).
"""

from .check import PlanError, check, verify
from .plan import MemoryPlan, plan

__all__ = ["MemoryPlan", "PlanError", "check", "plan", "verify"]
