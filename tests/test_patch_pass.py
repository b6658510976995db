"""WrapPatchStages (relay_passes/patch_stages.py): TVMScript before/after, and the numbers through the compiler."""

from __future__ import annotations

import numpy as np
import tvm
from tvm.script import ir as I
from tvm.script import relax as R

from tinyengine_tvm.relay_passes.patch_stages import WrapPatchStages


@I.ir_module
class Before:
    @R.function(private=True)
    def k1(x: R.Tensor((1, 8, 8, 4), "int8")) -> R.Tensor((1, 8, 8, 4), "int8"):
        R.func_attr({"Composite": "tinyengine.requantize"})
        return x

    @R.function(private=True)
    def k2(x: R.Tensor((1, 8, 8, 4), "int8"), y: R.Tensor((1, 8, 8, 4), "int8")) -> R.Tensor((1, 8, 8, 4), "int8"):
        R.func_attr({"Composite": "tinyengine.add"})
        return x

    @R.function
    def main(x: R.Tensor((1, 8, 8, 4), "int8")) -> R.Tensor((1, 8, 8, 4), "int8"):
        cls = Before
        with R.dataflow():
            a = cls.k1(x)
            b = cls.k1(a)
            c = cls.k2(b, a)
            d = cls.k1(c)
            R.output(d)
        return d


@I.ir_module
class Expected:
    @R.function(private=True)
    def k1(x: R.Tensor((1, 8, 8, 4), "int8")) -> R.Tensor((1, 8, 8, 4), "int8"):
        R.func_attr({"Composite": "tinyengine.requantize"})
        return x

    @R.function(private=True)
    def k2(x: R.Tensor((1, 8, 8, 4), "int8"), y: R.Tensor((1, 8, 8, 4), "int8")) -> R.Tensor((1, 8, 8, 4), "int8"):
        R.func_attr({"Composite": "tinyengine.add"})
        return x

    @R.function(private=True)
    def stage_1_2(a: R.Tensor((1, 8, 8, 4), "int8")) -> R.Tensor((1, 8, 8, 4), "int8"):
        R.func_attr({"tinyengine.stage": "patches", "tinyengine.first": 1, "tinyengine.last": 2,
                     "tinyengine.band_rows": 0, "tinyengine.grid": [2, 3]})
        cls = Expected
        with R.dataflow():
            b = cls.k1(a)
            c = cls.k2(b, a)
            R.output(c)
        return c

    @R.function
    def main(x: R.Tensor((1, 8, 8, 4), "int8")) -> R.Tensor((1, 8, 8, 4), "int8"):
        cls = Expected
        with R.dataflow():
            a = cls.k1(x)
            c = cls.stage_1_2(a)
            d = cls.k1(c)
            R.output(d)
        return d


def test_wrap_patch_stages_structure():
    after = WrapPatchStages([(1, 2, (2, 3))])(Before)
    tvm.ir.assert_structural_equal(after, Expected)


def test_wrap_patch_stages_refuses_a_stage_whose_inner_tensor_escapes():
    import pytest

    with pytest.raises(Exception, match="exactly one tensor"):
        WrapPatchStages([(0, 1, 1)])(Before)  # a (op0) is read by op2 outside the stage


def test_stage_functions_compile_to_the_same_bytes(tmp_path):
    """A small conv -> depthwise -> conv net: the stage function in the IR, read back as a stream stage, gives
    LiteRT's bytes, like the layer-by-layer build."""
    import tinyengine_tvm as te
    from tinyengine_tvm.testing.reference import run_litert
    from tinyengine_tvm.testing.tflite_builder import ModelBuilder, choose_bias_scale

    rng = np.random.default_rng(0)
    mb = ModelBuilder()
    x = mb.input("x", (1, 12, 10, 4), scale=0.05, zero_point=-3)
    t = x
    for i, (kind, c) in enumerate([("CONV_2D", 8), ("DEPTHWISE_CONV_2D", 8), ("CONV_2D", 4)]):
        cin = 4 if i == 0 else 8
        k = 1 if (kind == "CONV_2D" and i == 2) else 3
        shape = (1, k, k, c) if kind == "DEPTHWISE_CONV_2D" else (c, k, k, cin)
        w = mb.const(f"w{i}", rng.integers(-60, 60, shape).astype(np.int8), scale=[0.01] * c, zero_point=[0] * c,
                     quantized_dimension=3 if kind == "DEPTHWISE_CONV_2D" else 0)
        b = mb.const(f"b{i}", rng.integers(-200, 200, c).astype(np.int32), scale=choose_bias_scale(0.05, [0.01] * c))
        y = mb.tensor(f"y{i}", (1, 12, 10, c), scale=0.06, zero_point=1)
        opts = dict(padding="SAME", fused_activation="RELU6")
        if kind == "DEPTHWISE_CONV_2D":
            opts["depth_multiplier"] = 1
        mb.op(kind, [t, w, b], [y], **opts)
        t = y
    mb.output(t)
    model = mb.finish()
    cm = te.compile(model, patch="lines:0-2")
    assert "stage_0_2" in cm.ir.script() and cm.graph.ops[0].kernel == "stream_stage"
    spec = cm.inputs[0]
    xin = rng.integers(-128, 128, spec.shape).astype(spec.dtype) if spec.dtype == "int8" else \
        rng.uniform(-1, 1, spec.shape).astype(spec.dtype)
    assert cm.run([xin])[0].tobytes() == run_litert(model, [xin])[0].tobytes()
