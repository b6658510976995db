"""The C kernels honour the overlap contracts the planner relies on (planner/contracts.py).

Each case runs a real kernel from codegen/kernels twice in one C program: once with
separate input and output buffers (the layout test_kernels.py proves bit-exact with
LiteRT), and once with input and output in the same buffer at a planner offset
(``out - in = delta``). The outputs must be identical byte for byte, in an -O2 and
an ASan+UBSan build. Deltas: the contract's exact bound ``lo``, the aligned offset
the planner actually uses, ``hi`` and in-place points, plus every overlap in the real
vww plan at the planner's own offsets. One byte past ``lo`` must (almost always)
corrupt the output: the bound is tight, not merely safe.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from tinyengine_tvm.codegen.emitter import _c_array, _struct, kernel_dir
from tinyengine_tvm.planner import contracts

try:
    from tests.planner_graphs import random_graph
except ImportError:
    from planner_graphs import random_graph

FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
ASAN = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]


def _call(op, fn, ins, out, n):
    p = op.params
    if fn in ("te_conv2d_s8", "te_conv2d_1x1_s8", "te_depthwise_conv2d_s8"):
        return f"{fn}(&{n}_p, {ins[0]}, {n}_w, {n}_b, {n}_m, {n}_s, {out});"
    if fn == "te_depthwise_conv2d_s8_inplace":
        return f"{fn}(&{n}_p, {ins[0]}, {n}_w, {n}_b, {n}_m, {n}_s, {out}, {n}_scratch);"
    if fn == "te_add_s8":
        return f"{fn}(&{n}_p, {ins[0]}, {ins[1]}, {out});"
    if fn in ("te_avg_pool_s8", "te_max_pool_s8", "te_mean_s8"):
        return f"{fn}(&{n}_p, {ins[0]}, {out});"
    if fn == "te_fully_connected_s8_dscale":
        return f"{fn}(&{n}_p, {ins[0]}, {n}_w, NULL, {n}_scale, {out});"
    if fn == "te_requantize_s8":
        return f"{fn}({p['n']}, {ins[0]}, {out}, {p['in_zp']}, {p['out_zp']}, {p['mult']}, {p['shift']});"
    raise NotImplementedError(fn)


_STRUCTS = {"te_conv2d_s8": "te_conv_params", "te_conv2d_1x1_s8": "te_conv_params",
            "te_depthwise_conv2d_s8_inplace": "te_conv_params",
            "te_depthwise_conv2d_s8": "te_conv_params", "te_add_s8": "te_add_params",
            "te_avg_pool_s8": "te_pool_params", "te_max_pool_s8": "te_pool_params", "te_mean_s8": "te_mean_params",
            "te_fully_connected_s8_dscale": "te_fc_params"}


def _case_c(i, op, fn, in_sizes, k, delta, rng):
    """C text of one case: returns 1 when the overlapped run equals the separate run."""
    n = f"c{i}"
    out_bytes = op.out_bytes
    lines = []
    if fn in _STRUCTS:
        lines.append(_struct(_STRUCTS[fn], f"{n}_p", op.params))
    if "weights" in op.constants:
        lines.append(_c_array("int8_t", f"{n}_w", op.constants["weights"]))
    if fn == "te_depthwise_conv2d_s8_inplace":
        lines.append(f"static int8_t {n}_scratch[{contracts.scratch_bytes(fn, op.params)}];")
    if fn in ("te_conv2d_s8", "te_conv2d_1x1_s8", "te_depthwise_conv2d_s8", "te_depthwise_conv2d_s8_inplace"):
        bias = op.constants.get("bias", np.zeros(op.params["out_c"], np.int32))
        lines.append(_c_array("int32_t", f"{n}_b", bias))
        lines.append(_c_array("int32_t", f"{n}_m", np.asarray(op.params["mult"])))
        lines.append(_c_array("int32_t", f"{n}_s", np.asarray(op.params["shift"])))
    if fn == "te_fully_connected_s8_dscale":
        lines.append(f"static const double {n}_scale[1] = {{{op.params['scale'][0]!r}}};")
    datas = [rng.integers(-128, 128, s).astype(np.int8) for s in in_sizes]
    for j, d in enumerate(datas):
        lines.append(_c_array("int8_t", f"{n}_in{j}", d))
    in_off = max(0, -delta)
    out_off = in_off + delta
    total = max(in_off + in_sizes[k], out_off + out_bytes)
    lines.append(f"static int8_t {n}_ref[{out_bytes}];")
    lines.append(f"static int8_t {n}_buf[{total}];")
    ins_sep = [f"{n}_in{j}" for j in range(len(datas))]
    ins_ov = list(ins_sep)
    ins_ov[k] = f"{n}_buf + {in_off}"
    lines.append(f"static int {n}(void) {{")
    lines.append(f"  {_call(op, fn, ins_sep, f'{n}_ref', n)}")
    lines.append(f"  memcpy({n}_buf + {in_off}, {n}_in{k}, {in_sizes[k]});")
    lines.append(f"  {_call(op, fn, ins_ov, f'{n}_buf + {out_off}', n)}")
    lines.append(f"  return memcmp({n}_ref, {n}_buf + {out_off}, {out_bytes}) == 0;")
    lines.append("}")
    return "\n".join(lines)


def _run(cases, tmp_path, sanitize):
    """cases: [(op, fn, in_sizes, k, delta)] -> list of bool (overlapped == separate)."""
    rng = np.random.default_rng(11)
    body = ["#include <stdio.h>", "#include <string.h>", "#include <stddef.h>", '#include "tinyengine_kernels.h"']
    for i, (op, fn, in_sizes, k, delta) in enumerate(cases):
        body.append(_case_c(i, op, fn, in_sizes, k, delta, rng))
    body.append("int main(void) {")
    body += [f'  printf("%d\\n", c{i}());' for i in range(len(cases))]
    body += ["  return 0;", "}", ""]
    src = tmp_path / ("cases_asan.c" if sanitize else "cases.c")
    src.write_text("\n".join(body))
    exe = tmp_path / ("cases_asan" if sanitize else "cases")
    kd = kernel_dir()
    kernels = [f"{kd}/{f}" for f in ("conv2d_s8.c", "conv2d_1x1_s8.c", "depthwise_conv2d_s8.c",
                                     "depthwise_conv2d_s8_inplace.c", "add_s8.c", "pool_s8.c",
                                     "mean_s8.c", "fully_connected_s8.c", "quantize.c", "te_requantize.c")]
    r = subprocess.run(["gcc", *FLAGS, *(ASAN if sanitize else ["-O2"]), "-I", kd, str(src), *kernels, "-o", str(exe)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "runtime error" not in r.stderr, r.stderr[-3000:]
    return [line == "1" for line in r.stdout.split()]


class _Op:
    """A KernelOp plus its tensor sizes (what a case needs)."""

    def __init__(self, op, g):
        self.kernel, self.params, self.constants, self.name = op.kernel, op.params, op.constants, op.name
        self.out_bytes = g.tensors[op.output].nbytes
        self.in_sizes = [g.tensors[t].nbytes for t in op.inputs]


def _synthetic_cases():
    rng = np.random.default_rng(12)
    ops, seen = [], {}
    for i in range(80):
        g = random_graph(rng, ("chain", "residual", "multi")[i % 3])
        for op in g.ops:
            fn = contracts.kernel_function(op)
            if fn is None or op.kernel == "reshape":
                continue
            key = (fn, op.params.get("k_h"), op.params.get("stride_h"))
            if seen.get(key, 0) >= 15:  # a few of each kernel / window / stride
                continue
            seen[key] = seen.get(key, 0) + 1
            ops.append((_Op(op, g), fn))
            var = contracts.INPLACE_VARIANTS.get(fn)
            if var and op.params.get("depth_multiplier", 1) == 1 and seen[key] <= 8:
                ops.append((_Op(op, g), var))
    safe, tight = [], []
    for op, fn in ops:
        for k, si in enumerate(op.in_sizes):
            ov = contracts.overlap(fn, op.params, k, si, op.out_bytes)
            deltas = {ov.lo, (ov.lo // 8) * 8, *ov.points}
            if ov.hi < si:
                deltas.add(ov.hi)
            for d in deltas:
                if -op.out_bytes < d < si:
                    safe.append((op, fn, op.in_sizes, k, d))
            if -op.out_bytes < ov.lo + 1 < si and ov.lo + 1 not in ov.points:
                tight.append((op, fn, op.in_sizes, k, ov.lo + 1))
    return safe, tight


@pytest.mark.parametrize("sanitize", [False, True])
def test_kernels_honour_their_overlap_contracts(tmp_path, sanitize):
    safe, tight = _synthetic_cases()
    kinds = {c[1] for c in safe}
    assert {"te_conv2d_s8", "te_conv2d_1x1_s8", "te_depthwise_conv2d_s8", "te_depthwise_conv2d_s8_inplace",
            "te_add_s8", "te_avg_pool_s8",
            "te_max_pool_s8", "te_mean_s8", "te_fully_connected_s8_dscale"} <= kinds
    assert len(safe) >= 100
    res = _run(safe + tight, tmp_path, sanitize)
    ok, bad_tight = res[: len(safe)], res[len(safe):]
    failed = [(c[1], c[0].params, c[3], c[4]) for c, r in zip(safe, ok) if not r]
    assert not failed, failed[:3]
    if not sanitize:
        # one byte past the bound clobbers a still-unread input byte: the output changes in most cases
        assert sum(not r for r in bad_tight) >= 0.6 * len(bad_tight), (sum(not r for r in bad_tight), len(bad_tight))


def test_vww_kernels_at_the_planners_offsets(compiled, tmp_path):
    cm = compiled("vww.tflite")
    g, p = cm.graph, cm.plan
    assert len(p.overlaps) >= 8
    cases = []
    for opname, t_in, delta in p.overlaps:
        op = next(o for o in g.ops if o.name == opname)
        fn = p.kernel_fns[opname]
        assert fn == contracts.kernel_function(op)
        cases.append((_Op(op, g), fn, [g.tensors[t].nbytes for t in op.inputs], op.inputs.index(t_in), delta))
    res = _run(cases, tmp_path, sanitize=False)
    assert all(res), [(c[0].name, c[4]) for c, r in zip(cases, res) if not r]


def _io(g):
    from tinyengine_tvm.api import IOSpec

    return ([IOSpec(t, g.tensors[t].shape, g.tensors[t].dtype) for t in g.inputs],
            [IOSpec(t, g.tensors[t].shape, g.tensors[t].dtype) for t in g.outputs])


def test_random_graphs_run_the_same_with_and_without_overlap():
    """Whole random graphs through the emitter and gcc: the overlapping, reordered plan (with in-place
    depthwise variants) computes the same bytes as a plan that keeps every tensor apart."""
    from tinyengine_tvm.api import CompiledModel
    from tinyengine_tvm.planner import plan

    rng = np.random.default_rng(13)
    n_overlaps = n_variants = 0
    for i in range(3):
        g = random_graph(rng, ("residual", "mixed", "multi", "chain")[i % 4], n_blocks=3)
        ins, outs = _io(g)
        tight = plan(g, inplace="all" if i % 2 else "auto")
        apart = plan(g, overlap=False, reorder=False)
        n_overlaps += len(tight.overlaps)
        n_variants += len(tight.scratch_bytes)
        x = rng.integers(-128, 128, ins[0].shape).astype(np.int8)
        a = CompiledModel(g, tight, ins, outs).run([x], sanitize=(i == 0))
        b = CompiledModel(g, apart, ins, outs).run([x])
        for u, v in zip(a, b):
            assert u.tobytes() == v.tobytes(), f"graph {i}"
    assert n_overlaps >= 3 and n_variants >= 1


def test_vww_with_every_inplace_variant_is_bit_exact(compiled):
    """vww planned with the in-place depthwise kernel (scratch in the arena) wherever it is cheaper."""
    from tinyengine_tvm.api import CompiledModel
    from tinyengine_tvm.planner import check, plan
    from tinyengine_tvm.testing.reference import run_litert

    try:
        from tests.conftest import model_path
    except ImportError:
        from conftest import model_path
    cm = compiled("vww.tflite")
    p = plan(cm.graph, inplace="all")
    assert len(p.scratch_bytes) >= 10 and check(cm.graph, p) == []
    assert p.arena_bytes <= 77_000
    alt = CompiledModel(cm.graph, p, cm.inputs, cm.outputs)
    rng = np.random.default_rng(14)
    for j in range(3):
        x = rng.uniform(-1, 1, cm.inputs[0].shape).astype(np.float32)
        ours = alt.run([x])
        ref = run_litert(model_path("vww.tflite"), [x])
        assert all(o.tobytes() == r.tobytes() for o, r in zip(ours, ref))
