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
    lower_bound_bytes: int = 0  # no order or placement needs less

    def to_dict(self) -> dict:
        return asdict(self)


def estimate(spec: ArchSpec, target: str = "host", exact: bool = True, patch: str = "off") -> Estimate:
    """The compiled program's numbers for ``spec`` compiled with ``patch`` (as ``te.compile(..., patch=)``:
    "off" layer by layer, "auto" the line-buffer stages the compiler would choose: seconds, not
    milliseconds). ``exact=False`` skips the planner's MILP placement: the arena is then the greedy
    placement's, an upper bound on the compiled one (equal to it unless the MILP improves on greedy)."""
    g = kernel_graph(spec)
    if patch != "off":
        from ..patch import schedule

        g = schedule(g, patch, target)
    p = make_plan(g, target=target, method="auto" if exact else "greedy-size")
    return Estimate(arena_bytes=p.arena_bytes, peak_sram_bytes=p.peak_sram_bytes, weight_bytes=g.weight_bytes,
                    macs=g.macs, ops=len(g.ops), lower_bound_bytes=p.lower_bound_bytes)


def fits(spec: ArchSpec, sram: int, flash: int | None = None, target: str = "host",
         flash_overhead: int = 0, patch: str = "off", quick_reject: bool = False) -> tuple[bool, Estimate | None]:
    """Whether the compiled program of ``spec`` fits ``sram`` arena bytes (and ``flash`` bytes of weights
    plus ``flash_overhead``), decided exactly: the greedy plan settles it when it fits or when even the
    planner's lower bound does not; only a budget between the two runs the exact planner.
    ``quick_reject``: a candidate whose weights exceed ``flash``, or (layer by layer) whose largest arena
    tensor alone exceeds ``sram``, is refused before planning, with no Estimate (stage 1 counts only fits)."""
    if quick_reject:
        g = kernel_graph(spec)
        if flash is not None and g.weight_bytes + flash_overhead > flash:
            return False, None
        external = set(g.inputs) | set(g.outputs)
        if patch == "off" and max(t.nbytes for n, t in g.tensors.items() if n not in external) > sram:
            return False, None
    e = estimate(spec, target, exact=False, patch=patch)
    if flash is not None and e.weight_bytes + flash_overhead > flash:
        return False, e
    if e.peak_sram_bytes > sram and (e.lower_bound_bytes <= sram or patch != "off"):
        e = estimate(spec, target, exact=True, patch=patch)
    return e.peak_sram_bytes <= sram, e
