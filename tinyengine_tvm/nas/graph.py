"""An architecture spec straight to the kernel graph the planner reads: no export, no weights, no C.

The graph has the ops, tensors and structural parameters (shapes, kernel, stride, padding,
MACs) that ``kernel_graph.extract`` finds in the compiled model of the same spec
(``export.to_tflite``: float input -> QUANTIZE -> ... -> FULLY_CONNECTED -> DEQUANTIZE), and
weight arrays of the kernels' sizes (uninitialised: only their byte counts are read). It
carries no quantization parameters, so it is for planning and pricing, not for emitting C.
"""

from __future__ import annotations

import numpy as np

from ..kernel_graph import KernelGraph, KernelOp, Tensor
from .spec import ArchSpec


def _pad(k: int) -> int:
    """Zero padding on every side: k // 2, as PyTorch's Conv2d(padding=k // 2) pads (and the exported
    TFLite model: SAME at stride 1, an explicit PAD before a VALID conv at stride 2). Output size is
    ceil(size / stride) either way."""
    return k // 2


class _Builder:
    def __init__(self):
        self.tensors: dict = {}
        self.ops: list = []

    def op(self, kernel, inputs, shape, dtype, params, constants=None) -> str:
        idx = len(self.ops)
        out = f"t{idx}_{kernel}"
        self.tensors[out] = Tensor(out, tuple(shape), dtype)
        self.ops.append(KernelOp(f"op{idx}_{kernel}", kernel, list(inputs), out, params, constants or {}))
        return out

    def conv(self, x, kind, in_hw, in_c, out_hw, out_c, k, stride) -> str:
        depthwise = kind == "depthwise"
        pad = _pad(k)
        params = {"in_h": in_hw, "in_w": in_hw, "in_c": in_c, "out_h": out_hw, "out_w": out_hw, "out_c": out_c,
                  "k_h": k, "k_w": k, "stride_h": stride, "stride_w": stride, "dil_h": 1, "dil_w": 1,
                  "pad_top": pad, "pad_left": pad, "depth_multiplier": 1,
                  "macs": out_hw * out_hw * out_c * k * k * (1 if depthwise else in_c)}
        w_shape = (k, k, out_c) if depthwise else (out_c, k, k, in_c)
        consts = {"weights": np.empty(w_shape, np.int8), "bias": np.empty(out_c, np.int32)}
        kernel = "depthwise_conv2d" if depthwise else "conv2d"
        return self.op(kernel, [x], (1, out_hw, out_hw, out_c), "int8", params, consts)


def kernel_graph(spec: ArchSpec) -> KernelGraph:
    """The KernelGraph of ``spec`` compiled from its exported TFLite model (structure only)."""
    b = _Builder()
    r, c = spec.resolution, spec.in_c
    b.tensors["input_0"] = Tensor("input_0", (1, r, r, c), "float32")
    x = b.op("quantize", ["input_0"], (1, r, r, c), "int8", {"n": r * r * c})
    hw = (r + spec.stem_stride - 1) // spec.stem_stride
    x = b.conv(x, "stem", r, c, hw, spec.stem_c, spec.stem_kernel, spec.stem_stride)
    c = spec.stem_c
    for blk in spec.blocks:
        block_in, mid = x, c * blk.expand
        if blk.expand != 1:
            x = b.conv(x, "expand", hw, c, hw, mid, 1, 1)
        out_hw = (hw + blk.stride - 1) // blk.stride
        x = b.conv(x, "depthwise", hw, mid, out_hw, mid, blk.kernel, blk.stride)
        x = b.conv(x, "project", out_hw, mid, out_hw, blk.out_c, 1, 1)
        if blk.stride == 1 and blk.out_c == c:
            x = b.op("add", [x, block_in], (1, out_hw, out_hw, c), "int8", {"n": out_hw * out_hw * c})
        hw, c = out_hw, blk.out_c
    if spec.head_c:
        x, c = b.conv(x, "head", hw, c, hw, spec.head_c, 1, 1), spec.head_c
    x = b.op("mean", [x], (1, c), "int8", {"outer": 1, "reduce": hw * hw, "inner": c, "macs": hw * hw * c})
    x = b.op("fully_connected", [x], (1, spec.classes), "int8",
             {"batches": 1, "in_n": c, "out_n": spec.classes, "macs": c * spec.classes},
             {"weights": np.empty((spec.classes, c), np.int8), "bias": np.empty(spec.classes, np.int32)})
    y = b.op("dequantize", [x], (1, spec.classes), "float32", {"n": spec.classes})
    return KernelGraph(b.tensors, b.ops, ["input_0"], [y])
