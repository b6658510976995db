"""Graph passes over TVM Relax that turn an imported quantized model into the kernel graph.

Each pass is a public ``tvm.transform.Pass``; ``pipeline()`` returns them in order
as one ``tvm.transform.Sequential`` so users can compose it with their own passes.
"""

from __future__ import annotations

import tvm

from .annotate import AnnotateKernelParams
from .canonicalize_clip import CanonicalizeClip
from .fold_bias_into_batchnorm import FoldConvBiasIntoBatchnorm
from .fold_flatten_transpose import FoldFlattenTransposeIntoDense
from .fold_const_layout import FoldConstantLayout
from .fold_pad import FoldPadIntoConv
from .layout_nhwc import ConvertToNHWC
from .lower_split import LowerSplitToSlices
from .partition import PartitionKernels
from .simplify_qdq import RemoveIdentityRequantize
from .split_pool_requantize import SplitPoolRequantize
from .sink_transpose import SinkTransposeThroughMean
from .unshare_dequantize import UnshareDequantize

__all__ = [
    "AnnotateKernelParams",
    "CanonicalizeClip",
    "ConvertToNHWC",
    "FoldConstantLayout",
    "FoldConvBiasIntoBatchnorm",
    "FoldFlattenTransposeIntoDense",
    "FoldPadIntoConv",
    "LowerSplitToSlices",
    "PartitionKernels",
    "RemoveIdentityRequantize",
    "SinkTransposeThroughMean",
    "SplitPoolRequantize",
    "UnshareDequantize",
    "canonicalize",
    "pipeline",
]


def canonicalize() -> tvm.transform.Sequential:
    """ONNX/PyTorch graphs -> the TFLite-like form: clip spelling, NHWC layout, folded constant layouts, NHWC flatten
    before a dense layer, pools keeping their input's quantization, no identity requantize.

    Every pass here is a no-op on TFLite-imported graphs.
    """
    return tvm.transform.Sequential(
        [CanonicalizeClip, ConvertToNHWC, FoldConstantLayout, FoldFlattenTransposeIntoDense, SplitPoolRequantize,
         RemoveIdentityRequantize],
        name="tinyengine.canonicalize",
    )


def pipeline(target=None) -> tvm.transform.Sequential:
    """canonicalize (clip, NHWC layout, constant layouts, identity requantize, pads, transposes, shared dequantize)
    -> partition -> annotate.

    ``target`` (a name such as ``"cortex-m7"`` or a ``tvm.target.Target``) is checked and
    recorded; the passes themselves are target-independent (kernel variants are chosen by
    the C emitter).
    """
    if target is not None:
        from ..target_spec import target_name

        target_name(target)  # raises a clear error for an unknown target
    return tvm.transform.Sequential(
        [canonicalize(), FoldPadIntoConv, SinkTransposeThroughMean, UnshareDequantize, LowerSplitToSlices,
         PartitionKernels(), AnnotateKernelParams],
        name="tinyengine.pipeline",
    )
