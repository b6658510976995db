"""Patch-based inference and line buffers (MCUNetV2's half of the mission): run a model's high-resolution stage
band by band so its tensors never exist whole.

Modules: rows (row geometry of band calls), stream (a stage's line-buffer schedule), collapse (stages into the
KernelGraph as ``stream_stage`` ops), check (independent verification of a stage's schedule), search (the
automatic choice of stages under an overhead budget). ``schedule(graph, spec, target)`` applies ``--patch``.
"""

from __future__ import annotations

import re

from ..errors import TinyEngineError
from .collapse import apply, expand
from .stream import StageError, build_stage

__all__ = ["StageError", "apply", "build_stage", "expand", "parse_spec", "schedule"]


def parse_spec(spec):
    """--patch value -> "off" | "auto" | [(first, last, band)] | [("patches", p, q, last)]. Explicit stages:
    "lines:1-5,6-15" (op indices of the layer-by-layer graph, inclusive; optional "/B" band rows, e.g.
    "lines:1-5/2"); "PxQ@OP": p x q patches with recomputed halos over the streamable ops ending at OP."""
    if spec is None or spec is False:
        return "off"
    if isinstance(spec, (list, tuple)):
        return [tuple(s) if len(s) == 3 else (int(s[0]), int(s[1]), 1) for s in spec]
    s = str(spec).strip().lower()
    if s in ("off", "none", "auto"):
        return "off" if s == "none" else s
    m = re.fullmatch(r"lines:(.+)", s)
    if m:
        out = []
        for part in m.group(1).split(","):
            mm = re.fullmatch(r"\s*(?:op)?(\d+)\s*-\s*(?:op)?(\d+)\s*(?:/(\d+))?\s*", part)
            if not mm:
                raise TinyEngineError(f"--patch {spec!r}: expected lines:FIRST-LAST[/BAND],...")
            out.append((int(mm.group(1)), int(mm.group(2)), int(mm.group(3) or 1)))
        return out
    m = re.fullmatch(r"(\d+)x(\d+)@(?:op)?(\d+)", s)
    if m:
        p, q, last = (int(v) for v in m.groups())
        if not (1 <= p <= 8 and 1 <= q <= 8):
            raise TinyEngineError(f"--patch {spec!r}: the grid is 1..8 per axis")
        return [("patches", p, q, last)]
    raise TinyEngineError(f"--patch {spec!r}: expected auto, off, or lines:FIRST-LAST[/BAND],...")


def schedule(graph, spec="auto", target: str = "host", max_overhead: float = 0.10, sram=None):
    """The graph with the stages ``spec`` asks for (see parse_spec); "auto" lets patch.search choose."""
    p = parse_spec(spec)
    if p == "off":
        return graph
    if p == "auto":
        from .search import choose

        return choose(graph, target, max_overhead=max_overhead, sram=sram)
    if p and p[0][0] == "patches":  # PxQ@OP: the stage runs from the first op of the streamable run ending at OP
        _, pp, qq, last = p[0]
        if not 0 <= last < len(graph.ops):
            raise TinyEngineError(f"--patch: op{last} is outside the graph's {len(graph.ops)} ops")
        from .rows import streamable

        first = last
        while first > 0 and streamable(graph.ops[first - 1], graph) is None:
            first -= 1
        if streamable(graph.ops[last], graph) is not None:
            raise TinyEngineError(f"--patch: op{last} ({graph.ops[last].kernel}) cannot end a patch stage")
        p = [(first, last, (pp, qq))]
    for first, last, _ in p:
        if not (0 <= first <= last < len(graph.ops)):
            raise TinyEngineError(f"--patch: stage op{first}..op{last} is outside the graph's {len(graph.ops)} ops")
    try:
        return apply(graph, p)
    except StageError as err:
        raise TinyEngineError(f"--patch: {err}") from None
