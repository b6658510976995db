"""End to end on the real MCUNet-family models: our C output must equal LiteRT's reference kernels byte for byte."""

import numpy as np
import pytest

from tinyengine_tvm.testing.reference import run_litert

from .conftest import model_path

N_INPUTS = 20


def _inputs(spec, n, seed):
    rng = np.random.default_rng(seed)
    lo, hi = (0.0, 1.0) if spec.shape[-1] == 1 else (-1.0, 1.0)  # MNIST pixels vs. normalised RGB
    xs = [rng.uniform(lo, hi, size=spec.shape).astype(np.float32) for _ in range(n - 2)]
    # extremes: saturating values exercise the clamps
    xs.append(np.full(spec.shape, hi * 10, np.float32))
    xs.append(np.full(spec.shape, lo - 5, np.float32))
    return xs


@pytest.mark.parametrize("name,sanitize", [("vww.tflite", False), ("lenet_mnist.tflite", False),
                                           ("vww.tflite", True), ("lenet_mnist.tflite", True)])
def test_bit_exact_with_litert(compiled, name, sanitize):
    cm = compiled(name)
    n = N_INPUTS
    for i, x in enumerate(_inputs(cm.inputs[0], n, seed=100 if sanitize else 0)):
        ours = cm.run([x], sanitize=sanitize)
        ref = run_litert(model_path(name), [x])
        assert len(ours) == len(ref)
        for o, r in zip(ours, ref):
            assert o.dtype == r.dtype and o.shape == r.shape
            # every byte, so -0.0 vs 0.0 or NaN payloads would also be caught
            assert o.tobytes() == r.tobytes(), f"{name} input {i}: {o} != {r}"


def test_vww_report_matches_model_facts(compiled):
    r = compiled("vww.tflite").report()
    # 11.58 M MACs and 444,976 bytes of weights+bias: figures from the model itself (DESIGN.md)
    assert r["macs"] == 11_580_736
    assert r["weight_bytes"] == 444_976
    assert r["op_counts"] == {"conv2d": 30, "depthwise_conv2d": 15, "add": 8, "mean": 2,
                              "fully_connected": 1, "quantize": 1, "dequantize": 1}
    # the widest step (8->48-channel 1x1 expansion at 40x40) needs its 76,800-byte output plus the
    # 8-channel input pixel the kernel still reads (te_conv2d_1x1_s8 overlap contract): 76,807 bytes
    assert r["lower_bound_bytes"] == 76_807
    assert r["lower_bound_bytes"] <= r["peak_sram_bytes"] <= r["arena_bytes"] <= 77_000  # issue 4: <= 77 kB


def test_generated_c_is_warning_free_c99(compiled, tmp_path):
    """The generated project builds with -std=c99 -Wall -Wextra -Werror -pedantic."""
    import subprocess

    for name in ("vww.tflite", "lenet_mnist.tflite"):
        out = compiled(name).export(tmp_path / name)
        out_path = tmp_path / name / "kernels"
        srcs = ["model.c", *[f"kernels/{p.name}" for p in sorted(out_path.glob("*.c"))]]
        r = subprocess.run(["gcc", "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-Wshadow", "-Wconversion",
                            "-Wno-sign-conversion", "-c", *srcs], cwd=out, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        # no heap and no runtime: nothing but the kernel API and string.h/stdint.h in model.c
        text = (tmp_path / name / "model.c").read_text()
        assert "malloc" not in text and "tvm" not in text.lower().replace("tinyengine-tvm", "")
        assert out_path.is_dir()
