"""Zero-copy concatenation: which inputs of a concat are written in place, as views of its output.

A concat's output is one buffer; an input that is a *view* of it is never stored on its own:
its producer writes straight into its slice. Concatenating along ``axis`` lays each input out as
``rows`` runs of ``width`` contiguous elements, ``stride`` elements apart, starting at element
``offset`` of the output (``concat_view``). Along the outermost non-unit axis (``rows == 1``, e.g. H
of a batch-1 NHWC map) a slice is an ordinary contiguous tensor at an offset, so any producer can
write it and anything may read it. Along channels a slice is strided (every pixel's channels
interleave with the other inputs'), so only a kernel taking an output pixel stride
(``params["out_stride"]``, elements between consecutive output pixels: conv2d, depthwise) can
produce it, and nothing else may read it.

Every other input is copied by the concat kernel itself (copy_rows_s8.c, with onnxruntime's
requantization where its quantization differs from the output's): graph inputs and outputs,
tensors produced by a view kernel (reshape) or another concat, a tensor given twice or already a
slice of another concat, and strided slices whose producer cannot write strided or that have
other readers.

The planner (planner/lifetimes.py) maps every view to its concat's buffer, which so lives from
its first slice's producer to its last reader; no kernel overlap contract applies to a view, and
planner/check.py verifies the layout independently.
"""

from __future__ import annotations

from dataclasses import dataclass

# kernels whose portable C honours params["out_stride"] (tinyengine_kernels.h: te_conv_params.out_stride)
STRIDED_PRODUCERS = frozenset({"conv2d", "depthwise_conv2d"})
VIEW_SOURCE_EXCLUDED = frozenset({"reshape", "concat"})
VIEW_ALIGN = 8  # a contiguous slice starts where the planner could have put a buffer (planner ALIGN)


@dataclass(frozen=True)
class View:
    root: str     # the concatenated tensor
    offset: int   # element offset of the slice's first element in root
    rows: int     # runs of contiguous elements
    width: int    # elements per run
    stride: int   # elements from one run's start to the next's (== width * ... when contiguous)

    @property
    def contiguous(self) -> bool:
        return self.rows == 1 or self.stride == self.width


def _strided_ok(op, view_rows: int, width: int) -> bool:
    p = op.params
    if op.kernel not in STRIDED_PRODUCERS or p.get("ort_float"):
        return False
    return p.get("out_h", 0) * p.get("out_w", 0) == view_rows and p.get("out_c") == width


def assign_views(graph) -> None:
    """Decide the views of every concat in ``graph`` (sets graph.views, concat params["copy"] and the
    producers' params["out_stride"]); concat inputs are put in field order first."""
    producer = {op.output: op for op in graph.ops}
    readers: dict = {}
    for op in graph.ops:
        for t in op.inputs:
            readers[t] = readers.get(t, 0) + 1
    io = set(graph.inputs) | set(graph.outputs)
    for op in graph.ops:
        if op.kernel != "concat":
            continue
        p = op.params
        if "srcs" in p:  # composite parameters -> one input per concatenated field
            op.inputs = [op.inputs[i] for i in p.pop("srcs")]
        outer, row = int(p["outer"]), int(p["row"])
        copy, col = [], 0
        for k, t in enumerate(op.inputs):
            width = int(p["inner"][k])
            src = producer.get(t)
            ok = (t not in io and t not in graph.views and t not in op.inputs[:k] and src is not None
                  and src.kernel not in VIEW_SOURCE_EXCLUDED and not p["rescale"][k]
                  and graph.tensors[t].dtype == "int8")
            if ok and outer > 1:
                ok = readers.get(t) == 1 and _strided_ok(src, outer, width)
            elif ok:  # other kernels (the DSP ones) may read a contiguous slice: keep the arena's alignment
                ok = col % VIEW_ALIGN == 0
            if ok:
                graph.views[t] = View(op.output, col, outer, width, row)
                if outer > 1:
                    src.params["out_stride"] = row
            copy.append(int(not ok))
            col += width
        p["copy"] = copy
        p["col"] = [sum(p["inner"][:k]) for k in range(len(op.inputs))]


def byte_offsets(graph, roots: dict) -> dict:
    """tensor -> byte offset inside its root's storage (0 for every non-view tensor; a reshape of a view
    shares its input's offset)."""
    from .kernel_graph import _DTYPE_BYTES

    off = {t: 0 for t in graph.tensors}
    for t, v in graph.views.items():
        off[t] = v.offset * _DTYPE_BYTES[graph.tensors[t].dtype]
    for op in graph.ops:  # views of views (reshape of a slice), in graph order
        if roots.get(op.output) != op.output and op.kernel == "reshape":
            off[op.output] = off[op.inputs[0]]
    return off
