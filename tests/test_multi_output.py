"""Models with several outputs (detection heads): model_run gets output_0..output_{N-1}.

Covers an output that another op also reads, the same tensor returned twice, and outputs of
different kernels; every output compared byte for byte with LiteRT's reference kernels."""

import numpy as np

import tinyengine_tvm as te
from tinyengine_tvm.testing import tflite_builder as tb
from tinyengine_tvm.testing.reference import run_litert


def _conv(b, rng, name, x, cin, cout, k=1, stride=1, out_q=(0.04, 1)):
    w = b.const(name + "_w", rng.integers(-127, 128, (cout, k, k, cin), dtype=np.int8),
                scale=np.full(cout, 0.01, np.float32), zero_point=0)
    bias = b.const(name + "_b", rng.integers(-500, 500, cout, dtype=np.int32),
                   scale=tb.choose_bias_scale(0.05, np.full(cout, 0.01)))
    h, wd = b.tensor_shape(x)[1:3]
    y = b.tensor(name, (1, -(-h // stride), -(-wd // stride), cout), scale=out_q[0], zero_point=out_q[1])
    b.op("CONV_2D", [x, w, bias], [y], padding="SAME", stride_h=stride, stride_w=stride)
    return y


def _check(model, n=2, sanitize=False):
    cm = te.compile(bytes(model))
    rng = np.random.default_rng(3)
    for _ in range(n):
        xs = [rng.integers(-128, 128, size=s.shape, dtype=np.int8) for s in cm.inputs]
        ours, ref = cm.run(xs, sanitize=sanitize), run_litert(bytes(model), xs)
        assert len(ours) == len(ref)
        for o, r in zip(ours, ref):
            assert o.shape == r.shape
            np.testing.assert_array_equal(o, r)
    return cm


def test_two_outputs_one_also_read_by_a_conv():
    rng = np.random.default_rng(0)
    b = tb.ModelBuilder()
    x = b.input("x", (1, 8, 8, 3), scale=0.05, zero_point=-3)
    y1 = _conv(b, rng, "y1", x, 3, 4)
    y2 = _conv(b, rng, "y2", y1, 4, 5, k=3, stride=2)
    b.output(y1)
    b.output(y2)
    cm = _check(b.finish(), sanitize=True)
    assert [list(o.shape) for o in cm.inputs + cm.outputs] == [[1, 8, 8, 3], [1, 8, 8, 4], [1, 4, 4, 5]]


def test_same_tensor_returned_twice_and_three_heads():
    rng = np.random.default_rng(1)
    b = tb.ModelBuilder()
    x = b.input("x", (1, 12, 12, 4), scale=0.05, zero_point=-3)
    f1 = _conv(b, rng, "f1", x, 4, 8, k=3, stride=2)
    f2 = _conv(b, rng, "f2", f1, 8, 8, k=3, stride=2)
    h1, h2 = _conv(b, rng, "h1", f1, 8, 3), _conv(b, rng, "h2", f2, 8, 3)
    for t in (h1, h2, h1, f2):
        b.output(t)
    m = b.finish()
    cm = _check(m)
    assert len(cm.outputs) == 4
    with open(cm._project() + "/model.h") as f:
        assert "int8_t* output_3)" in f.read()
