"""Regressions found by the random-model corpus (scripts/fuzz_tflite.py), each on a model built with the
project's TFLite builder and compared byte for byte with LiteRT's reference kernels."""

import numpy as np
import pytest

import tinyengine_tvm as te
from tinyengine_tvm.testing import tflite_builder as tb
from tinyengine_tvm.testing.reference import run_litert


def _exact(model, n=2):
    cm = te.compile(bytes(model))
    rng = np.random.default_rng(0)
    for _ in range(n):
        xs = [rng.integers(-128, 128, size=s.shape, dtype=np.int8) if s.dtype == "int8"
              else rng.uniform(-2, 2, size=s.shape).astype(s.dtype) for s in cm.inputs]
        ours, ref = cm.run(xs), run_litert(bytes(model), xs)
        assert len(ours) == len(ref)
        for o, r in zip(ours, ref):
            assert o.shape == r.shape and o.dtype == r.dtype and o.tobytes() == r.tobytes()


@pytest.mark.parametrize("in_shape", [(1, 12), (2, 3, 4)])
def test_fully_connected_without_bias(in_shape):
    """TFLite's converter drops a Dense layer's all-zero bias (input index -1): the importer's per-tensor
    fix-up read .Quantization() of the missing tensor (AttributeError: 'int' object ...)."""
    _exact(tb.fully_connected_model(in_shape, 5, use_bias=False, seed=3))
