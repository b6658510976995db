"""Search spaces: MCUNet's MBConv space at one width multiplier and one input resolution.

A space is a backbone (ProxylessNAS/MobileNetV2 stage plan: channels and first-block
stride per stage) scaled by ``width``, at ``resolution``, with per-block choices of
depthwise kernel and expansion ratio and per-stage depth. ``sample`` draws a uniform
random architecture; stage-1 space optimisation compares spaces by the FLOPs of the
samples that fit the budgets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .spec import ArchSpec, Block, make_divisible

# (base channels, stride of the stage's first block), MobileNetV2's stages after its first block
STAGES = ((24, 2), (40, 2), (80, 2), (96, 1), (192, 2), (320, 1))


@dataclass(frozen=True)
class Genome:
    depths: tuple       # blocks per stage
    kernels: tuple      # depthwise kernel per block slot (max depth slots per stage)
    expands: tuple      # expansion ratio per block slot


@dataclass(frozen=True)
class SearchSpace:
    width: float = 1.0
    resolution: int = 128
    classes: int = 2
    kernels: tuple = (3, 5, 7)
    expands: tuple = (3, 4, 6)
    depths: tuple = (2, 3, 4)
    stages: tuple = STAGES
    stem: int = 32
    first: int = 16
    rf_stages: int = 0   # receptive-field redistribution (MCUNetV2): the first rf_stages stages (the patch stage)
                         # take only the smallest kernel and depth; the stages after keep every choice

    def kernel_choices(self, slot: int) -> tuple:
        return (min(self.kernels),) if slot // max(self.depths) < self.rf_stages else tuple(self.kernels)

    def depth_choices(self, stage: int) -> tuple:
        return (min(self.depths),) if stage < self.rf_stages else tuple(self.depths)

    def channels(self, base: int) -> int:
        return make_divisible(base * self.width)

    def spec(self, depths, kernels, expands) -> ArchSpec:
        """The architecture with per-stage ``depths`` and per-block ``kernels`` / ``expands``
        (lists over the blocks actually present, in order)."""
        if len(depths) != len(self.stages):
            raise ValueError(f"{len(depths)} depths for {len(self.stages)} stages")
        n = sum(depths)
        if len(kernels) != n or len(expands) != n:
            raise ValueError(f"{n} blocks need {n} kernels and expands, got {len(kernels)} and {len(expands)}")
        blocks = [Block(3, 1, self.channels(self.first), 1)]
        i = 0
        for (base, stride), d in zip(self.stages, depths):
            for j in range(d):
                blocks.append(Block(int(kernels[i]), int(expands[i]), self.channels(base), stride if j == 0 else 1))
                i += 1
        return ArchSpec(self.resolution, self.channels(self.stem), tuple(blocks), self.classes)

    # -- genomes: what evolution mutates (choices for every block slot, the first d used per stage)
    @property
    def slots(self) -> int:
        return max(self.depths) * len(self.stages)

    def sample_genome(self, rng: np.random.Generator) -> Genome:
        return Genome(tuple(int(rng.choice(self.depth_choices(s))) for s in range(len(self.stages))),
                      tuple(int(rng.choice(self.kernel_choices(i))) for i in range(self.slots)),
                      tuple(int(rng.choice(self.expands)) for _ in range(self.slots)))

    def active(self, genome: Genome) -> list:
        """Slot indices of the blocks ``genome`` uses, in order."""
        per = max(self.depths)
        return [s * per + j for s, d in enumerate(genome.depths) for j in range(d)]

    def spec_of(self, genome: Genome) -> ArchSpec:
        idx = self.active(genome)
        return self.spec(genome.depths, [genome.kernels[i] for i in idx], [genome.expands[i] for i in idx])

    def sample(self, rng: np.random.Generator) -> ArchSpec:
        return self.spec_of(self.sample_genome(rng))

    def largest(self) -> ArchSpec:
        n = max(self.depths) * len(self.stages)
        return self.spec([max(self.depths)] * len(self.stages), [max(self.kernels)] * n, [max(self.expands)] * n)

    def smallest(self) -> ArchSpec:
        n = min(self.depths) * len(self.stages)
        return self.spec([min(self.depths)] * len(self.stages), [min(self.kernels)] * n, [min(self.expands)] * n)
