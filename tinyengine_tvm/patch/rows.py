"""Row geometry of the kernels a stream stage runs band by band: which input rows a band of output rows reads,
and the kernel parameters of a call that computes only that band.

A call for output rows [a, b] of a conv / depthwise / pool gets the input rows it reads, clipped to the image,
as its whole input (``in_h``), with ``pad_top`` the padding rows left above them (non-zero only at the image's
top) and ``out_h = b - a + 1``; rows past the clipped window count as padding inside the kernel exactly as rows
past the image's bottom do, so a band computes the same bytes as the full layer. Elementwise kernels (add,
requantize) get ``n`` = the band's elements.
"""

from __future__ import annotations

WINDOWED = ("conv2d", "depthwise_conv2d", "avg_pool2d", "max_pool2d")
ELEMENTWISE = ("add", "requantize")
STREAMABLE = WINDOWED + ELEMENTWISE


def streamable(op, graph) -> str | None:
    """None when op can run band by band, else why not (one phrase)."""
    p = op.params
    if op.kernel not in STREAMABLE:
        return f"{op.kernel} has no band kernel"
    if p.get("ort_float") or "ort_pool" in p:
        return "onnxruntime float path"
    if "out_stride" in p or any(t in getattr(graph, "views", {}) for t in list(op.inputs) + [op.output]):
        return "writes or reads a concat slice in place"
    for t in list(op.inputs) + [op.output]:
        ten = graph.tensors[t]
        if ten.dtype != "int8" or len(ten.shape) != 4 or ten.shape[0] != 1:
            return f"tensor {t} is not a batch-1 int8 NHWC tensor"
    if op.kernel in ELEMENTWISE and any(graph.tensors[t].shape != graph.tensors[op.output].shape for t in op.inputs):
        return "broadcasting elementwise op"
    return None


def geometry(op) -> tuple[int, int, int, int]:
    """(kernel rows, stride, dilation, pad_top) along H."""
    p = op.params
    if op.kernel in WINDOWED:
        return int(p["k_h"]), int(p["stride_h"]), max(int(p.get("dil_h", 1)), 1), int(p["pad_top"])
    return 1, 1, 1, 0


def in_rows(op, in_h: int, a: int, b: int) -> tuple[int, int]:
    """Input rows [lo, hi] (clipped to [0, in_h)) that output rows [a, b] read; lo > hi when none."""
    k, s, d, pad = geometry(op)
    lo = a * s - pad
    hi = b * s - pad + (k - 1) * d
    return max(lo, 0), min(hi, in_h - 1)


def band_params(op, in_h: int, width_elems: int, a: int, b: int) -> dict:
    """op.params for a call computing output rows [a, b] from its clipped input rows (see module docstring).
    ``width_elems``: out_w * out_c (elementwise ops)."""
    p = dict(op.params)
    rows = b - a + 1
    if op.kernel in WINDOWED:
        k, s, d, pad = geometry(op)
        lo, hi = in_rows(op, in_h, a, b)
        p["in_h"] = hi - lo + 1
        p["pad_top"] = lo - (a * s - pad)
        p["out_h"] = rows
        full = int(op.params["out_h"])
        p["full_out_h"] = full
        if "macs" in p:
            p["macs"] = int(op.params["macs"]) * rows // full
    else:
        p["n"] = rows * width_elems
    return p
