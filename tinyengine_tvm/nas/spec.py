"""Architecture specs: an MCUNet-style network (stem conv, MBConv blocks, pooled classifier) as data.

A spec is what TinyNAS mutates, crosses over, prices and finally trains: frozen dataclasses
that round-trip through JSON. Shapes follow TFLite's SAME padding, as the exported model and
the compiled program have them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


def make_divisible(v: float, divisor: int = 8) -> int:
    """Channels rounded to a multiple of ``divisor`` (at least one), never below 90% of ``v``
    (MobileNet's rule, so width multipliers scale every layer alike)."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new < 0.9 * v:
        new += divisor
    return new


@dataclass(frozen=True)
class Block:
    """One inverted-residual (MBConv) block: [1x1 expand, ReLU6] -> kxk depthwise, ReLU6 -> 1x1 project.

    ``expand == 1`` has no expansion conv. A residual ADD joins input and output when the
    stride is 1 and the channel counts match."""

    kernel: int
    expand: int
    out_c: int
    stride: int = 1

    def __post_init__(self):
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise ValueError(f"block kernel must be odd and positive, got {self.kernel}")
        if self.expand < 1 or self.out_c < 1 or self.stride not in (1, 2):
            raise ValueError(f"bad block {self}")


@dataclass(frozen=True)
class ArchSpec:
    resolution: int
    stem_c: int
    blocks: tuple = field(default_factory=tuple)
    classes: int = 2
    in_c: int = 3
    stem_kernel: int = 3
    stem_stride: int = 2
    head_c: int = 0        # a last 1x1 conv + ReLU6 before the pool (MobileNetV2's 1280 channels); 0: none

    def __post_init__(self):
        if self.resolution < 8:
            raise ValueError(f"resolution {self.resolution} is below 8")
        object.__setattr__(self, "blocks", tuple(b if isinstance(b, Block) else Block(**b) for b in self.blocks))

    @property
    def macs(self) -> int:
        """Multiply-accumulates as the compiled kernel graph counts them (convs, depthwise, pool, classifier)."""
        from .graph import kernel_graph

        return kernel_graph(self).macs

    # -- JSON -----------------------------------------------------------------------
    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "ArchSpec":
        return cls(**dict(d, blocks=tuple(Block(**b) for b in d.get("blocks", ()))))

    @classmethod
    def from_json(cls, text: str) -> "ArchSpec":
        return cls.from_dict(json.loads(text))

