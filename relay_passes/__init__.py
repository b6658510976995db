"""Graph passes over TVM Relax that turn an imported quantized model into the kernel graph.

Each pass is a public ``tvm.transform.Pass``; ``pipeline()`` returns them in order
as one ``tvm.transform.Sequential`` so users can compose it with their own passes.
"""

from __future__ import annotations

import tvm

from .annotate import AnnotateKernelParams
from .fold_pad import FoldPadIntoConv
from .partition import PartitionKernels
from .sink_transpose import SinkTransposeThroughMean
from .unshare_dequantize import UnshareDequantize

__all__ = [
    "AnnotateKernelParams",
    "FoldPadIntoConv",
    "PartitionKernels",
    "SinkTransposeThroughMean",
    "UnshareDequantize",
    "pipeline",
]


def pipeline() -> tvm.transform.Sequential:
    """canonicalize (fold pads, sink transposes, unshare dequantize) -> partition -> annotate."""
    return tvm.transform.Sequential(
        [FoldPadIntoConv, SinkTransposeThroughMean, UnshareDequantize, PartitionKernels(), AnnotateKernelParams],
        name="tinyengine.pipeline",
    )
