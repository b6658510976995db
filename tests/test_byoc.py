"""BYOC bridge: tinyengine composites offloaded through relax.transform.RunCodegen run inside TVM's VM.

The second, independent execution path: the module is partitioned with
``partition_for_tinyengine``, ``RunCodegen`` calls ``relax.ext.tinyengine`` (our C per kernel
plus a tvm-ffi wrapper), TVM builds the rest for llvm, ``export_library`` compiles the C with
g++, and the Relax VM runs it. The outputs must be the same bytes as the standalone C project.
"""

from __future__ import annotations

import numpy as np
import pytest

from . import needs
import tvm
from tvm import relax

import tinyengine_tvm as te
from tinyengine_tvm import byoc
from tinyengine_tvm.frontend.tflite import from_tflite
from tinyengine_tvm.testing import tflite_builder as tb


def _byoc_vm(mod, tmp_path, arithmetic=None):
    pm = byoc.partition_for_tinyengine(mod, arithmetic)
    funcs = [f for _, f in pm.functions.items() if isinstance(f, relax.Function) and f.attrs is not None
             and str(f.attrs.get("Codegen", "")) == "tinyengine"]
    assert funcs, "nothing offloaded"
    pm = relax.transform.RunCodegen()(pm)
    ex = tvm.compile(pm, target="llvm")
    path = str(tmp_path / "lib.so")
    ex.export_library(path)
    return relax.VirtualMachine(tvm.runtime.load_module(path), tvm.cpu()), len(funcs)


def test_byoc_tflite_residual_block_same_bytes(tmp_path):
    m = tb.conv2d_model((1, 9, 9, 3), 8, kernel=(3, 3), stride=(2, 2), padding="SAME", activation="RELU6", seed=3)
    mod, _, _ = from_tflite(bytes(m))
    cm = te.build(mod)
    vm, n = _byoc_vm(mod, tmp_path)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.integers(-128, 128, (1, 9, 9, 3), dtype=np.int8)
        np.testing.assert_array_equal(vm["main"](tvm.runtime.tensor(x)).numpy(), cm.run([x])[0])


def test_byoc_onnx_qdq_same_bytes(tmp_path):
    """A QDQ ONNX model (one-rounding requantization carried to the offloaded kernels)."""
    needs.module("onnxruntime")
    from tinyengine_tvm.frontend.onnx import from_onnx
    from tinyengine_tvm.testing import onnx_models as om

    rng = np.random.default_rng(1)
    cal = [rng.uniform(-1, 1, (1, 3, 16, 16)).astype(np.float32) for _ in range(8)]
    mod = from_onnx(om.ort_quantize(om.small_cnn(), cal)).mod
    cm = te.build(mod, arithmetic="onnxruntime")
    vm, n = _byoc_vm(mod, tmp_path, "onnxruntime")
    assert n == len(cm.graph.ops)  # every kernel offloaded
    for _ in range(3):
        x = rng.uniform(-1, 1, (1, 16, 16, 3)).astype(np.float32)
        np.testing.assert_array_equal(vm["main"](tvm.runtime.tensor(x)).numpy(), cm.run([x])[0])


def test_byoc_onnx_residual_same_bytes_as_standalone_and_onnxruntime(tmp_path):
    """A residual block whose conv and add onnxruntime runs unfused, in float: the offloaded kernels
    see one kernel each, and must still take the whole graph's onnxruntime path."""
    needs.module("onnxruntime")
    from tinyengine_tvm.frontend.onnx import from_onnx

    from .test_ort_arith import _compare, _residual

    m = _residual(2, 48, 10, 0.011, -4)
    rng = np.random.default_rng(3)
    xs = [rng.uniform(-1.4, 1.4, (1, 48, 10, 10)).astype(np.float32) for _ in range(2)]
    ours, ref, ops = _compare(m, xs)
    np.testing.assert_array_equal(ours, ref)
    mod = from_onnx(m).mod
    cm = te.build(mod, arithmetic="onnxruntime")
    assert any(op.params.get("ort_float") for op in cm.graph.ops)
    from tinyengine_tvm.relay_passes.annotate import PARAMS_ATTR

    pm = byoc.partition_for_tinyengine(mod, "onnxruntime")
    offloaded = [f for _, f in pm.functions.items() if isinstance(f, relax.Function) and f.attrs is not None
                 and str(f.attrs.get("Codegen", "")) == "tinyengine"]
    one = [byoc._one_kernel_module(f) for f in offloaded]
    assert any(int(f.attrs[PARAMS_ATTR].get("ort_float", 0)) for m1 in one for gv, f in m1.functions.items()
               if gv.name_hint != "main")  # the codegen's one-kernel view still takes the float path
    vm, _ = _byoc_vm(mod, tmp_path, "onnxruntime")
    for x in xs:
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        np.testing.assert_array_equal(vm["main"](tvm.runtime.tensor(x)).numpy(), cm.run([x])[0])
    # the default, --arithmetic int8: every group fused in the one-kernel views too, the standalone build's bytes
    cm8 = te.build(mod)
    assert not any(op.params.get("ort_float") for op in cm8.graph.ops)
    (tmp_path / "int8").mkdir()
    vm8, _ = _byoc_vm(mod, tmp_path / "int8")
    for x in xs:
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        np.testing.assert_array_equal(vm8["main"](tvm.runtime.tensor(x)).numpy(), cm8.run([x])[0])
