"""The Armv7E-M pooling kernels (pool_s8_dsp.c) against the portable ones and LiteRT.

* host: both kernels in one C program (the DSP instructions as their exact C models), random
  shapes, windows, strides, padding and clamps, plain -O2 and ASan + UBSan, byte for byte;
* QEMU: single-op TFLite pooling models compiled for Cortex-M7 / M4 (the compiler then picks the
  DSP kernels) and run on the emulated board, byte for byte against LiteRT's reference kernels.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

import tinyengine_tvm as te
from tinyengine_tvm.codegen.emitter import kernel_dir
from tinyengine_tvm.testing import tflite_builder as tb
from tinyengine_tvm.testing.reference import run_litert

from .mcu_tools import require_arm_tools

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tinyengine_kernels.h"

static uint32_t rng = 12345u;
static int32_t rnd(int32_t lo, int32_t hi) { /* [lo, hi] */
  rng = rng * 1664525u + 1013904223u;
  return lo + (int32_t)((rng >> 8) % (uint32_t)(hi - lo + 1));
}

int main(int argc, char** argv) {
  int32_t cases = argc > 1 ? atoi(argv[1]) : 200, bad = 0, t, i;
  for (t = 0; t < cases; ++t) {
    te_pool_params p;
    int8_t *in, *a, *b;
    int32_t n_in, n_out, kind = t & 1;
    p.c = rnd(1, 19); p.in_h = rnd(1, 9); p.in_w = rnd(1, 9);
    p.k_h = rnd(1, 4); p.k_w = rnd(1, 4); p.stride_h = rnd(1, 3); p.stride_w = rnd(1, 3);
    p.pad_top = rnd(0, p.k_h - 1); p.pad_left = rnd(0, p.k_w - 1);
    p.out_h = (p.in_h + p.pad_top - p.k_h) / p.stride_h + 1;
    p.out_w = (p.in_w + p.pad_left - p.k_w) / p.stride_w + 1;
    if (p.out_h < 1 || p.out_w < 1) { --t; continue; }
    p.act_min = rnd(0, 3) ? -128 : rnd(-128, 0); p.act_max = rnd(0, 3) ? 127 : rnd(p.act_min, 127);
    n_in = p.in_h * p.in_w * p.c; n_out = p.out_h * p.out_w * p.c;
    in = (int8_t*)malloc((size_t)n_in); a = (int8_t*)malloc((size_t)n_out); b = (int8_t*)malloc((size_t)n_out);
    for (i = 0; i < n_in; ++i) in[i] = (int8_t)(rnd(0, 7) ? rnd(-128, 127) : (rnd(0, 1) ? -128 : 127));
    if (kind) { te_max_pool_s8(&p, in, a); te_max_pool_s8_dsp(&p, in, b); }
    else { te_avg_pool_s8(&p, in, a); te_avg_pool_s8_dsp(&p, in, b); }
    if (memcmp(a, b, (size_t)n_out) != 0) {
      if (bad < 5) printf("mismatch case %d kind %d c %d k %dx%d\n", (int)t, (int)kind, (int)p.c, (int)p.k_h, (int)p.k_w);
      ++bad;
    }
    free(in); free(a); free(b);
  }
  printf("%d %d\n", (int)cases, (int)bad);
  return bad != 0;
}
"""


@pytest.mark.parametrize("sanitize", [False, True], ids=["O2", "asan_ubsan"])
def test_dsp_pools_equal_portable_on_host(tmp_path, sanitize):
    src = tmp_path / "pool_driver.c"
    src.write_text(DRIVER)
    kd = kernel_dir()
    flags = (["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
             if sanitize else ["-O2"])
    exe = tmp_path / "pool_driver"
    r = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", *flags, "-I", kd, str(src),
                        f"{kd}/pool_s8.c", f"{kd}/pool_s8_dsp.c", "-o", str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(exe), "400"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip().endswith("400 0"), r.stdout + r.stderr


QEMU_CASES = [  # kind, input shape, filter, stride, padding, activation, target
    ("MAX", (1, 9, 10, 12), (3, 3), (2, 2), "SAME", "NONE", "cortex-m7"),
    ("AVG", (1, 8, 8, 7), (2, 2), (2, 2), "VALID", "RELU6", "cortex-m7"),
    ("AVG", (1, 7, 9, 16), (3, 3), (1, 1), "SAME", "NONE", "cortex-m4"),
    ("MAX", (1, 6, 6, 5), (2, 2), (1, 1), "VALID", "RELU", "cortex-m4"),
]


@pytest.mark.parametrize("case", QEMU_CASES, ids=[f"{c[0]}_{c[6]}_{i}" for i, c in enumerate(QEMU_CASES)])
def test_dsp_pools_on_qemu_match_litert(case, tmp_path):
    require_arm_tools()
    kind, shape, filt, stride, padding, act, target = case
    model = tb.pool_model(kind, shape, filter=filt, stride=stride, padding=padding, activation=act)
    cm = te.compile(bytes(model), target=target)
    x = np.random.default_rng(sum(shape)).integers(-128, 128, size=shape, dtype=np.int8)
    ours = cm.run([x])[0]
    ref = run_litert(bytes(model), [x])[0]
    np.testing.assert_array_equal(ours, ref)
    cm.export(tmp_path / "p")
    assert f"te_{'max' if kind == 'MAX' else 'avg'}_pool_s8_dsp(" in (tmp_path / "p" / "model.c").read_text()  # the DSP kernel ran
