"""Stage 1 of TinyNAS: choose the search space (width multiplier x resolution) that fits the budgets best.

MCUNet's rule: sample networks from each space, keep those whose compiled program fits the
SRAM and Flash budgets, and prefer the space whose fitting networks have the most
computation (a higher FLOPs CDF: more capacity, so more accuracy, within the same memory).
Here every sample is priced by the compiler's own planner (``constraints.estimate``), not
by a proxy. Flash is the weights' bytes plus a per-target allowance for code and tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .constraints import fits
from .space import SearchSpace

WIDTHS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
RESOLUTIONS = (48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224)


@dataclass
class SpaceResult:
    width: float
    resolution: int
    samples: int
    fitting: int
    macs: list = field(default_factory=list)         # MACs of the fitting samples, sorted

    @property
    def fit_ratio(self) -> float:
        return self.fitting / self.samples if self.samples else 0.0

    @property
    def mean_macs(self) -> float:
        return float(np.mean(self.macs)) if self.macs else 0.0

    def to_dict(self) -> dict:
        return {"width": self.width, "resolution": self.resolution, "samples": self.samples,
                "fitting": self.fitting, "fit_ratio": round(self.fit_ratio, 4), "mean_macs": self.mean_macs}


def evaluate_space(space: SearchSpace, sram: int, flash: int, samples: int, seed: int = 0,
                   target: str = "host", flash_overhead: int = 0) -> SpaceResult:
    rng = np.random.default_rng(seed)
    res = SpaceResult(space.width, space.resolution, samples, 0)
    for _ in range(samples):
        ok, e = fits(space.sample(rng), sram, flash, target, flash_overhead, quick_reject=True)
        if ok:
            res.fitting += 1
            res.macs.append(e.macs)
    res.macs.sort()
    return res


def optimize_space(sram: int, flash: int, widths=WIDTHS, resolutions=RESOLUTIONS, samples: int = 200,
                   classes: int = 2, seed: int = 0, target: str = "host", flash_overhead: int = 0,
                   progress=None, space_kw=None) -> list:
    """Every (width, resolution) space's result, best first (highest mean MACs among fitting samples;
    a space needs at least 10% of its samples to fit to count)."""
    results = []
    for w in widths:
        for r in resolutions:
            results.append(evaluate_space(SearchSpace(width=w, resolution=r, classes=classes, **(space_kw or {})),
                                          sram, flash,
                                          samples, seed, target, flash_overhead))
            if progress is not None:
                progress(results[-1])
    return sorted(results, key=lambda s: (s.fit_ratio >= 0.1, s.mean_macs), reverse=True)


def plot_cdf(results, path: str, top: int = 8) -> str:
    """The FLOPs CDF of the best ``top`` spaces' fitting samples, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for s in results[:top]:
        if not s.macs:
            continue
        x = np.asarray(s.macs) / 1e6
        ax.plot(x, np.arange(1, len(x) + 1) / len(x), label=f"w{s.width} r{s.resolution} ({s.fitting}/{s.samples} fit)")
    ax.set_xlabel("MMACs of networks that fit the budgets")
    ax.set_ylabel("cumulative fraction")
    ax.set_title("TinyNAS stage 1: MACs CDF per search space (right = more capacity)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
