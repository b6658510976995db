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


@pytest.mark.parametrize("name", ["model_0027", "model_0046"])
def test_line_buffer_search_on_graphs_with_concat_views(name):
    """patch.collapse.apply built its KernelGraph with the schedule list in the ``views`` field (added by the
    zero-copy concat work), so the automatic line-buffer search crashed (AttributeError: 'list' object has no
    attribute 'items') on 12 of the 156 corpus models; views now carry over and a band stage never writes a
    strided concat slice. Checked against the corpus's stored LiteRT outputs."""
    import os

    from tinyengine_tvm.testing.corpus import check_case, load_case

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "tflite", name + ".tflite")
    o = check_case(load_case(path))
    assert o.status == "exact", (o.status, o.message, o.detail)
