"""Receptive-field redistribution (MCUNetV2) and the joint choice of patch grid and split point.

A p x q patch stage recomputes, for every patch, the halo its receptive field needs; the halo grows with every
kernel and every block in the stage, so the stage's extra MACs are set by the receptive field of the blocks
it covers. ``redistribute(spec, split)`` moves receptive field out of the stage: the ``split`` blocks that the
patch stage runs keep only their first block per resolution (the one that changes resolution or width) with a
3x3 depthwise kernel, and each block removed comes back right after the stage, at the lower resolution, with the
largest kernel the removed ones had. ``patch_choice(spec)`` is the compiler's patch schedule searched jointly
over the split point (a block boundary) and the grid: the least peak SRAM from the real planner, then the
fewest extra MACs (patch.tiles computes what each patch recomputes).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .graph import kernel_graph
from .spec import ArchSpec, Block

GRIDS = ((2, 2), (3, 3), (4, 4))


def block_last_ops(spec: ArchSpec) -> list:
    """Index in ``kernel_graph(spec).ops`` of each block's last op (quantize is op 0, the stem op 1)."""
    out, i, c = [], 1, spec.stem_c
    for b in spec.blocks:
        i += (b.expand != 1) + 2 + (b.stride == 1 and b.out_c == c)
        out.append(i)
        c = b.out_c
    return out


def redistribute(spec: ArchSpec, split: int) -> tuple[ArchSpec, int]:
    """(``spec`` with the receptive field of its first ``split`` blocks (the patch stage) moved after them,
    the number of blocks its patch stage keeps)."""
    head, tail = list(spec.blocks[:split]), list(spec.blocks[split:])
    kept, moved, c = [], [], spec.stem_c
    for b in head:
        if b.stride != 1 or b.out_c != c or not kept:
            kept.append(replace(b, kernel=3))
        else:
            moved.append(b)
        c = b.out_c
    if moved and tail:
        k = max(b.kernel for b in moved)
        extra = [Block(k, b.expand, tail[0].out_c, 1) for b in moved]
        tail = tail[:1] + extra + tail[1:]
    elif moved:  # nothing after the stage: the blocks stay, with small kernels
        kept += [replace(b, kernel=3) for b in moved]
    return replace(spec, blocks=tuple(kept + tail)), len(kept)


@dataclass
class PatchChoice:
    split: int              # blocks in the patch stage
    grid: tuple             # (p, q)
    peak_sram_bytes: int
    macs: int               # the stage's MACs layer by layer
    computed_macs: int      # what its patches compute (halos included)

    @property
    def extra_macs(self) -> int:
        return self.computed_macs - self.macs


def stage_cost(spec: ArchSpec, split: int, grid, target: str = "host", exact: bool = False) -> PatchChoice:
    """Peak SRAM with stem + the first ``split`` blocks run as p x q patches: the compiled program's
    (``te.compile(..., patch="PxQ@OP")``) with ``exact``, else the greedy placement's (an upper bound)."""
    from ..patch import apply
    from ..planner import plan as make_plan

    g = kernel_graph(spec)
    last = block_last_ops(spec)[split - 1]
    staged = apply(g, [(1, last, tuple(grid))])
    st = next(op.stage for op in staged.ops if op.kernel == "stream_stage")
    p = make_plan(staged, target=target, method="auto" if exact else "greedy-size")
    return PatchChoice(split, tuple(grid), p.peak_sram_bytes, st.macs, st.computed_macs)


def patch_choice(spec: ArchSpec, target: str = "host", grids=GRIDS, min_res: int = 4, splits=None) -> PatchChoice:
    """The split point and grid with the least peak SRAM (then the fewest extra MACs), stage outputs of at least
    ``min_res`` pixels a side; ``splits``: the block counts to try (default: every block boundary allowed)."""
    from ..patch import StageError

    hw, cands = (spec.resolution + spec.stem_stride - 1) // spec.stem_stride, []
    for i, b in enumerate(spec.blocks):
        hw = (hw + b.stride - 1) // b.stride
        if hw >= min_res:
            cands.append(i + 1)
    best = None
    for split in (splits or cands):
        for grid in grids:
            try:
                c = stage_cost(spec, split, grid, target)
            except StageError:
                continue
            if best is None or (c.peak_sram_bytes, c.extra_macs) < (best.peak_sram_bytes, best.extra_macs):
                best = c
    return best
