"""The baseline TinyNAS is measured against: MobileNetV2 scaled by width and input resolution, as an ArchSpec.

``mobilenet_v2_spec(width, resolution, classes)`` is MobileNetV2 (Sandler et al.; torchvision's
channel rounding): stem 3x3/2 to 32w, inverted residual blocks of 3x3 depthwise and expansion
6 (the first 1), last 1x1 conv to 1280 channels, global pool, classifier. As a spec it is priced by
the same planner (``constraints.fits``), trained as the same ``MBNet`` and deployed by the same
PTQ as the searched networks. ``largest_fitting`` is the width x resolution grid's network with
the most MACs that fits the budgets.
"""

from __future__ import annotations

from .constraints import fits
from .spec import ArchSpec, Block, make_divisible

# (expansion, channels, blocks, first stride): MobileNetV2's table after its stem
MOBILENET_V2 = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1))


def mobilenet_v2_spec(width: float, resolution: int, classes: int) -> ArchSpec:
    blocks = []
    for t, c, n, s in MOBILENET_V2:
        blocks += [Block(3, t, make_divisible(c * width), s if i == 0 else 1) for i in range(n)]
    return ArchSpec(resolution, make_divisible(32 * width), tuple(blocks), classes,
                    head_c=make_divisible(1280 * max(1.0, width)))


def largest_fitting(widths, resolutions, classes: int, sram: int, flash: int | None, target: str,
                    flash_overhead: int = 0, patch: str = "off"):
    """(spec, Estimate, grid) for the MobileNetV2 with the most MACs that fits; spec None when none does.
    ``grid``: every (width, resolution, fits, peak SRAM, weight bytes, MACs) priced."""
    grid, best = [], None
    for w in widths:
        for r in resolutions:
            spec = mobilenet_v2_spec(w, r, classes)
            ok, e = fits(spec, sram, flash, target, flash_overhead, patch)
            grid.append({"width": w, "resolution": r, "fits": ok, "peak_sram_bytes": e.peak_sram_bytes,
                         "weight_bytes": e.weight_bytes, "macs": e.macs})
            if ok and (best is None or e.macs > best[1].macs):
                best = (spec, e)
    return (best[0], best[1], grid) if best else (None, None, grid)
