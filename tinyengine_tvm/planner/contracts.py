"""Kernel memory contracts: which C function runs an op, its scratch size, and how its output may overlap its inputs.

The planner may place an op's output over an input that dies at that op, but only
where the kernel's real access order makes it safe. This module owns a model of
each portable kernel's access order (codegen/kernels/*.c, contract stated in
tinyengine_kernels.h): writes happen at output byte ``write_addr[t]`` for t = 0, 1,
..., and the reads needed by write t happen before it. ``last_read[i]`` is the
last write index t whose computation reads input byte i (-1: never read).

With ``delta = out_offset - in_offset``, write t lands on input byte
``write_addr[t] + delta``; it is harmless iff that byte is outside the input or
``last_read[...] <= t`` (already consumed). From the model:

* ``lo``: the largest delta such that every write lands below every still-unread
  input byte (any delta <= lo is safe: the vMCU-style "output may start before the
  end of the input" offset);
* ``hi``: the smallest delta such that every write lands above every still-unread
  byte (any delta >= hi is safe);
* ``points``: isolated exact offsets in (lo, hi) checked byte by byte (e.g. 0 for
  an in-place kernel).

Functions without a model get no overlap (lo = -out_bytes, hi = in_bytes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

INF = 1 << 62

STAGE_FN = "te_stream_stage"  # pseudo function of a stream_stage op (codegen/stream.py emits its calls)

# Ops whose kernels are modelled here; the planner uses these names in MemoryPlan.kernel_fns.
_ONE_BY_ONE = (1, 1, 1, 1, 0, 0)


def is_pointwise(p) -> bool:
    """A conv the te_conv2d_1x1 kernels compute: 1x1, stride 1, no padding on any side. They read pad_top /
    pad_left only, and a patch or band of a conv padded at the bottom / right (a folded PAD) has pad_top =
    pad_left = 0 but fewer input than output rows or columns there (fuzz seed 5000 model 310)."""
    return ((p["k_h"], p["k_w"], p["stride_h"], p["stride_w"], p["pad_top"], p["pad_left"]) == _ONE_BY_ONE
            and int(p.get("in_h", p.get("out_h", 0))) == int(p.get("out_h", 0))
            and int(p.get("in_w", p.get("out_w", 0))) == int(p.get("out_w", 0)))


def kernel_function(op, target: str = "host") -> str | None:
    """Name of the portable C function the emitter calls for op (None: no modelled kernel)."""
    k, p = op.kernel, op.params
    if k == "stream_stage":  # a line-buffer stage (patch/): its schedule is its access model
        return STAGE_FN
    if k == "conv2d":
        if p.get("ort_float"):  # onnxruntime's unfused float conv (emitter.ort_float_conv)
            return "te_conv2d_s8_f32" if p.get("ort_general") else "te_conv2d_1x1_s8_f32"
        if is_pointwise(p) and not p.get("groups"):
            return "te_conv2d_1x1_s8"
        return "te_conv2d_s8"
    if k == "depthwise_conv2d" and p.get("ort_float"):
        return "te_depthwise_conv2d_s8_f32"
    if p.get("single_rounding") and k in ("mul", "sub", "add_bcast"):  # onnxruntime's Mul / Sub / broadcast Add (emitter.elementwise_call)
        return "te_binary_s8_f32"
    if p.get("single_rounding") and k in ("fully_connected", "add"):  # onnxruntime arithmetic (emitter)
        return {"fully_connected": "te_fully_connected_s8", "add": "te_add_s8_f32"}[k]
    if k == "avg_pool2d" and p.get("single_rounding") and "ort_pool" in p:
        return "te_avg_pool_s8_f32"
    return {
        "depthwise_conv2d": "te_depthwise_conv2d_s8",
        "fully_connected": "te_fully_connected_s8_dscale",
        "add": "te_add_s8",
        "avg_pool2d": "te_avg_pool_s8",
        "max_pool2d": "te_max_pool_s8",
        "mean": "te_mean_s8",
        "requantize": "te_requantize_s8",
        "mul": "te_mul_s8",
        "add_bcast": "te_add_bcast_s8",
        "sub": "te_add_bcast_s8",
        "lut": "te_lut_s8",
    }.get(k)


def scratch_bytes(fn: str | None, params: dict) -> int:
    """Bytes of arena scratch the kernel needs (passed as its last argument); 0 for every current kernel."""
    return int(_SCRATCH.get(fn, lambda p: 0)(params)) if fn else 0


_SCRATCH: dict = {  # fn -> params -> bytes (kernels with a scratch argument register here)
    "te_stream_stage": lambda p: p["scratch_bytes"],  # the stage's row windows
    "te_depthwise_conv2d_s8_inplace": lambda p: p["in_h"] * p["in_w"],
}

INPLACE_VARIANTS = {"te_depthwise_conv2d_s8": "te_depthwise_conv2d_s8_inplace"}


def choose_function(op, sole_reader: bool, in_bytes: int, out_bytes: int, target: str = "host") -> str | None:
    """kernel_function, or its in-place variant when that needs less memory at this op.

    The in-place variant pays ``scratch`` bytes to put the output exactly over the input; the
    streaming kernel pays the distance its contract keeps between them. Only worth it when the
    op is the input's only reader (so the input surely dies here) and the variant applies.
    """
    fn = kernel_function(op, target)
    var = INPLACE_VARIANTS.get(fn)
    if var is None or not sole_reader or op.params.get("depth_multiplier", 1) != 1 or op.params.get("batch", 1) > 1:
        return fn
    if op.params.get("in_c") != op.params.get("out_c") or out_bytes > in_bytes:
        return fn
    std = overlap(fn, op.params, 0, in_bytes, out_bytes)
    std_cost = in_bytes + out_bytes - std.max_overlap(in_bytes, out_bytes)
    var_cost = max(in_bytes, out_bytes) + scratch_bytes(var, op.params)
    return var if var_cost < std_cost else fn


# --------------------------------------------------------------------------------------------
# access-order models: fn -> (params, input index) -> (write_addr, last_read)


def choose_functions(graph, target: str = "host", inplace=None) -> dict:
    """op name -> the C function the plan assumes: kernel_function, or for ops named in ``inplace``
    (None: every op) the in-place variant where choose_function finds it cheaper."""
    from .lifetimes import alias_roots

    roots = alias_roots(graph)
    external = {roots[t] for t in graph.inputs} | set(graph.outputs)
    readers: dict = {}
    for op in graph.ops:
        for t in set(roots[x] for x in op.inputs):
            readers[t] = readers.get(t, 0) + 1
    out = {}
    for op in graph.ops:
        if not op.inputs or (inplace is not None and op.name not in inplace):
            out[op.name] = kernel_function(op, target)
            continue
        r = roots[op.inputs[0]]
        sole = readers.get(r) == 1 and r not in external and roots[op.output] not in external
        sole = sole and not ({op.inputs[0], op.output} & set(getattr(graph, "views", {})))  # in-place: no views
        t_in, t_out = graph.tensors[op.inputs[0]], graph.tensors[op.output]
        out[op.name] = choose_function(op, sole, t_in.nbytes, t_out.nbytes, target)
    return out


def _window_last_read(p):
    """last_read per input pixel for windowed kernels: max over output pixels reading it."""
    in_h, in_w, out_h, out_w = p["in_h"], p["in_w"], p["out_h"], p["out_w"]
    dil_h, dil_w = max(p.get("dil_h", 1), 1), max(p.get("dil_w", 1), 1)
    oy, ox = np.meshgrid(np.arange(out_h), np.arange(out_w), indexing="ij")
    pix = (oy * out_w + ox).ravel()
    last = np.full(in_h * in_w, -1, np.int64)
    for ky in range(p["k_h"]):
        iy = (oy * p["stride_h"] - p["pad_top"] + ky * dil_h).ravel()
        for kx in range(p["k_w"]):
            ix = (ox * p["stride_w"] - p["pad_left"] + kx * dil_w).ravel()
            ok = (iy >= 0) & (iy < in_h) & (ix >= 0) & (ix < in_w)
            np.maximum.at(last, iy[ok] * in_w + ix[ok], pix[ok])
    return last  # output pixel index, -1 if never read


def _conv(p, k):
    """te_conv2d_s8 / te_conv2d_1x1_s8: per output pixel, every out channel reads the whole window (all in_c)."""
    last_pix = _window_last_read(p)
    oc = p["out_c"]
    lr = np.where(last_pix >= 0, last_pix * oc + oc - 1, -1)
    return np.repeat(lr, p["in_c"])


def _conv1x1(p, k):
    q = dict(p, k_h=1, k_w=1, pad_top=0, pad_left=0, dil_h=1, dil_w=1)
    return _conv(q, k)


def _depthwise(p, k):
    """te_depthwise_conv2d_s8: order (oy, ox, ic, m); output ic*dm+m reads input channel ic of the window."""
    dm = max(p.get("depth_multiplier", 1), 1)
    in_c = p["in_c"]
    out_c = in_c * dm
    last_pix = _window_last_read(p)
    ch = np.arange(in_c)
    lr = last_pix[:, None] * out_c + ch[None, :] * dm + dm - 1
    return np.where(last_pix[:, None] >= 0, lr, -1).ravel()


def _depthwise_inplace(p, k):
    """te_depthwise_conv2d_s8_inplace: channel c's plane is copied (read) before its first write;
    writes go channel by channel to (pixel * C + c)."""
    c, pin = p["in_c"], p["in_h"] * p["in_w"]
    pout = p["out_h"] * p["out_w"]
    last = np.broadcast_to(np.arange(c) * pout, (pin, c)).ravel().astype(np.int64)
    write = (np.arange(pout)[None, :] * c + np.arange(c)[:, None]).ravel().astype(np.int64)
    return write, last


def _pool(p, k):
    q = dict(p, in_c=p["c"], depth_multiplier=1, dil_h=1, dil_w=1)
    return _depthwise(q, k)


def _elementwise(p, k):
    return np.arange(p["n"], dtype=np.int64)


def _mean(p, k):
    outer, n, inner = p["outer"], p["reduce"], p["inner"]
    o = np.arange(outer)[:, None, None]
    i = np.arange(inner)[None, None, :]
    return np.broadcast_to(o * inner + i, (outer, n, inner)).ravel().astype(np.int64)


def _fc(p, k):
    b = np.arange(p["batches"])
    return np.repeat(b * p["out_n"] + p["out_n"] - 1, p["in_n"]).astype(np.int64)


def _broadcast(p, k):
    """te_mul_s8 / te_add_bcast_s8: output element t reads element idx(t) of each operand that is input k
    (in*_src; both for x * x); last_read = the last t reading each byte."""
    from ..codegen.lut import bcast_index

    loops = {f: [p[f"bc_{f}{i}"] for i in range(4)] for f in ("d", "s1", "s2")}
    size = 0
    parts = []
    for j, key in ((1, "in1_src"), (2, "in2_src")):
        if p[key] == k:
            idx = bcast_index(loops, j)
            parts.append(idx)
            size = max(size, int(idx.max()) + 1)
    last = np.full(size, -1, np.int64)
    t = np.arange(parts[0].size, dtype=np.int64) if parts else np.zeros(0, np.int64)
    for idx in parts:
        np.maximum.at(last, idx, t)
    return last


_MODELS = {
    "te_mul_s8": _broadcast,
    "te_add_bcast_s8": _broadcast,
    "te_binary_s8_f32": _broadcast,
    "te_lut_s8": _elementwise,
    "te_conv2d_s8": _conv,
    "te_conv2d_1x1_s8": _conv1x1,
    "te_conv2d_1x1_s8_f32": _conv1x1,  # same loop order (onnxruntime's unfused float conv)
    "te_conv2d_s8_f32": _conv,  # same loop order and windows as te_conv2d_s8 (any geometry, 1x1 included)
    "te_depthwise_conv2d_s8_f32": _depthwise,
    "te_depthwise_conv2d_s8": _depthwise,
    "te_depthwise_conv2d_s8_inplace": _depthwise_inplace,
    "te_avg_pool_s8": _pool,
    "te_avg_pool_s8_f32": _pool,  # same loop order (onnxruntime's average pool)
    "te_max_pool_s8": _pool,
    "te_add_s8": _elementwise,
    "te_add_s8_f32": _elementwise,
    "te_requantize_s8": _elementwise,
    "te_mean_s8": _mean,
    "te_fully_connected_s8_dscale": _fc,
    "te_fully_connected_s8": _fc,
}
# a model returns last_read (the kernel writes its output once per byte, in increasing order: out++)
# or (write_addr, last_read) for other write orders


def access_model(fn: str, params: dict, k: int, out_bytes: int):
    """(write_addr, last_read) of input k for fn, or None when fn is not modelled.

    An NHWC kernel over a batch (``params["batch"]`` = N > 1) is the per-image kernel called for
    image 0, 1, ... (codegen/emitter.py batch_loop): the per-image order repeated, image b's writes
    and reads shifted by b images and its write times by b * (writes per image)."""
    if fn == STAGE_FN:
        st = params.get("stage")
        return st.access_model(k) if st is not None else None
    model = _MODELS.get(fn)
    if model is None:
        return None
    n = int(params.get("batch", 1))
    if n > 1:
        if out_bytes % n:
            return None
        one = access_model(fn, {a: v for a, v in params.items() if a != "batch"}, k, out_bytes // n)
        if one is None:
            return None
        write, last = one
        t = write.size
        b = np.arange(n, dtype=np.int64)[:, None]
        write = (write[None, :] + b * (out_bytes // n)).ravel()
        last = np.where(last[None, :] >= 0, last[None, :] + b * t, -1).ravel()
        return write, last
    res = model(params, k)
    if isinstance(res, tuple):
        write, last = res
        if write.size != out_bytes:
            return None
        return np.asarray(write, dtype=np.int64), np.asarray(last, dtype=np.int64)
    return np.arange(out_bytes, dtype=np.int64), np.asarray(res, dtype=np.int64)


def _is_safe(write_addr, last_read, delta):
    """Byte-exact check: no write at delta clobbers an input byte that is read afterwards."""
    a = write_addr + delta
    t = np.arange(write_addr.size)
    ok = (a >= 0) & (a < last_read.size)
    return bool(np.all(last_read[a[ok]] <= t[ok]))


@dataclass(frozen=True)
class Overlap:
    """Allowed out_offset - in_offset for one (op, input): delta <= lo, delta >= hi, or delta in points."""

    lo: int
    hi: int
    points: tuple = field(default=())

    def allows(self, delta: int) -> bool:
        return delta <= self.lo or delta >= self.hi or delta in self.points

    def intervals(self) -> list:
        """The allowed set as closed integer intervals (None = unbounded)."""
        return [(None, self.lo), (self.hi, None)] + [(d, d) for d in self.points]

    def max_overlap(self, in_bytes: int, out_bytes: int) -> int:
        """Most bytes the two buffers can share under this contract."""
        best = max(0, min(in_bytes, out_bytes + self.lo), min(out_bytes, in_bytes - self.hi))
        for d in self.points:
            best = max(best, min(in_bytes, d + out_bytes) - max(0, d))
        return best


def disjoint(in_bytes: int, out_bytes: int) -> Overlap:
    return Overlap(-out_bytes, in_bytes)


def derive(write_addr: np.ndarray, last_read: np.ndarray, in_bytes: int, out_bytes: int) -> Overlap:
    """lo / hi / points from an access model (see module docstring)."""
    T = write_addr.size
    read = last_read >= 0
    # min / max unread input byte after each write: suffix min / max over write times > t
    mins = np.full(T + 1, INF, np.int64)
    maxs = np.full(T + 1, -INF, np.int64)
    idx = np.nonzero(read)[0]
    t = np.minimum(last_read[idx], T)
    np.minimum.at(mins, t, idx)
    np.maximum.at(maxs, t, idx)
    # unread after write t  <=>  last_read > t  -> suffix over t' in (t, T]
    suf_min = np.minimum.accumulate(mins[::-1])[::-1]
    suf_max = np.maximum.accumulate(maxs[::-1])[::-1]
    u_min, u_max = suf_min[1:], suf_max[1:]
    live = u_min < INF
    if not live.any():
        return Overlap(in_bytes, -out_bytes)
    lo = int(np.min(u_min[live] - write_addr[live])) - 1
    hi = int(np.max(u_max[live] - write_addr[live])) + 1
    lo = max(min(lo, in_bytes), -out_bytes)
    hi = min(max(hi, -out_bytes), in_bytes)
    points = (0,) if lo < 0 < hi and _is_safe(write_addr, last_read, 0) else ()
    return Overlap(lo, hi, points)


@lru_cache(maxsize=4096)
def _overlap_cached(fn, key, k, in_bytes, out_bytes):
    params = dict(key)
    m = access_model(fn, params, k, out_bytes)
    if m is None:
        return disjoint(in_bytes, out_bytes)
    wa, lr = m
    if lr.size != in_bytes:  # model and tensor disagree: be safe
        return disjoint(in_bytes, out_bytes)
    return derive(wa, lr, in_bytes, out_bytes)


def overlap(fn: str | None, params: dict, k: int, in_bytes: int, out_bytes: int, in_dtype="int8",
            out_dtype="int8") -> Overlap:
    """The overlap contract of input k of a call to fn (disjoint when not modelled)."""
    if fn == STAGE_FN and in_dtype == out_dtype == "int8":
        m = access_model(fn, params, k, out_bytes)
        if m is None or m[1].size != in_bytes or m[0].size != out_bytes:
            return disjoint(in_bytes, out_bytes)
        memo = params["stage"]._models
        if ("overlap", k) not in memo:
            memo[("overlap", k)] = derive(m[0], m[1], in_bytes, out_bytes)
        return memo[("overlap", k)]
    if fn is None or in_dtype != "int8" or out_dtype != "int8" or fn not in _MODELS:
        return disjoint(in_bytes, out_bytes)
    key = tuple(sorted([(a, v) for a, v in params.items() if isinstance(v, int)]))
    return _overlap_cached(fn, key, k, in_bytes, out_bytes)


def exact_safe(fn: str | None, params: dict, k: int, in_bytes: int, out_bytes: int, delta: int) -> bool:
    """Byte-by-byte check of one delta against the access model (the checker's independent path)."""
    if not (-out_bytes < delta < in_bytes):
        return True
    m = access_model(fn, params, k, out_bytes) if fn else None
    if m is None or m[1].size != in_bytes:
        return False
    return _is_safe(m[0], m[1], delta)
