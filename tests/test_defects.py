"""Regression tests for the defects of issue 10 outside the CLI: each model is built with the project's
TFLite builder and, where it compiles, compared byte for byte with LiteRT's reference kernels."""

import numpy as np
import pytest

import tinyengine_tvm as te
from tinyengine_tvm.errors import TinyEngineError
from tinyengine_tvm.testing import tflite_builder as tb
from tinyengine_tvm.testing.reference import run_litert


def _check(model, n_inputs=2, seed=0, **kw):
    cm = te.compile(bytes(model), **kw)
    rng = np.random.default_rng(seed)
    for _ in range(n_inputs):
        xs = [rng.integers(-128, 128, size=s.shape, dtype=np.int8) if s.dtype == "int8"
              else rng.uniform(-2, 2, size=s.shape).astype(s.dtype) for s in cm.inputs]
        ours, ref = cm.run(xs), run_litert(bytes(model), xs)
        assert len(ours) == len(ref)
        for o, r in zip(ours, ref):
            assert o.shape == r.shape and o.dtype == r.dtype
            np.testing.assert_array_equal(o, r)
    return cm


def _conv_with_signature(shape, signature):
    b = tb.ModelBuilder()
    rng = np.random.default_rng(0)
    x = b.input("image", shape, scale=0.05, zero_point=-3, shape_signature=signature)
    w = b.const("w", rng.integers(-127, 128, (4, 3, 3, shape[-1]), dtype=np.int8), scale=np.full(4, 0.01, np.float32),
                zero_point=0)
    bias = b.const("b", rng.integers(-300, 300, 4, dtype=np.int32), scale=tb.choose_bias_scale(0.05, np.full(4, 0.01)))
    y = b.tensor("y", shape[:-1] + (4,), scale=0.1, zero_point=0)
    b.op("CONV_2D", [x, w, bias], [y], padding="SAME")
    b.output(y)
    return b.finish()


# -- defect 2: dynamic shapes (TFLite shape_signature) ---------------------------------------------

def test_dynamic_spatial_input_is_refused_naming_the_input():
    m = _conv_with_signature((1, 1, 1, 3), (1, -1, -1, 3))
    with pytest.raises(TinyEngineError) as e:
        te.compile(bytes(m))
    msg = str(e.value)
    assert "input 'image'" in msg and "[1, -1, -1, 3]" in msg and "re-export" in msg and "\n" not in msg
    assert "--input-shape" not in msg  # the stored 1x1 placeholder is no shape to offer


def test_dynamic_batch_is_refused_or_compiled_at_its_stored_shape():
    m = _conv_with_signature((1, 6, 6, 3), (-1, 6, 6, 3))
    with pytest.raises(TinyEngineError, match=r"input 'image' has a dynamic shape \[-1, 6, 6, 3\].*--input-shape image:1,6,6,3"):
        te.compile(bytes(m))
    with pytest.raises(TinyEngineError, match="only at its stored shape"):
        te.compile(bytes(m), input_shapes={"image": (2, 6, 6, 3)})
    _check(m, input_shapes={"image": (1, 6, 6, 3)})  # what LiteRT runs without a resize
