"""TinyNAS's fast constraint path against a full compile of the same network.

The spec is exported as an int8 TFLite model (random weights) and compiled through the
frontend, passes and ``kernel_graph.extract``; the fast path builds the kernel graph from
the spec alone. They must agree on every op, tensor shape and structural parameter, and on
the planner's arena, peak SRAM, weight bytes and MACs.
"""

import json

import numpy as np
import pytest

import tinyengine_tvm as te
from tinyengine_tvm.nas import ArchSpec, Block, SearchSpace, estimate
from tinyengine_tvm.nas.export import to_tflite
from tinyengine_tvm.nas.graph import kernel_graph

CASES = [  # (width, resolution, seed, target)
    (0.35, 48, 1, "host"),
    (0.25, 40, 7, "cortex-m7"),
    (0.5, 32, 3, "host"),
]


@pytest.mark.parametrize("width,res,seed,target", CASES)
def test_fast_path_equals_full_compile(width, res, seed, target):
    spec = SearchSpace(width=width, resolution=res, classes=5).sample(np.random.default_rng(seed))
    cm = te.compile(to_tflite(spec, seed=seed), target=target, patch="off")
    g, full = kernel_graph(spec), cm.graph
    assert [op.kernel for op in g.ops] == [op.kernel for op in full.ops]
    for a, b in zip(g.ops, full.ops):
        assert a.inputs == b.inputs and a.output == b.output
        assert {k: b.params.get(k) for k in a.params} == a.params, a.name
        assert {k: v.nbytes for k, v in a.constants.items()} == {k: v.nbytes for k, v in b.constants.items()}
    assert {n: t.shape for n, t in g.tensors.items()} == {n: t.shape for n, t in full.tensors.items()}
    e = estimate(spec, target)
    assert (e.arena_bytes, e.peak_sram_bytes) == (cm.plan.arena_bytes, cm.plan.peak_sram_bytes)
    assert (e.weight_bytes, e.macs, e.ops) == (full.weight_bytes, full.macs, len(full.ops))


def test_spec_json_round_trip_and_validation():
    spec = SearchSpace(width=0.5, resolution=64).sample(np.random.default_rng(0))
    again = ArchSpec.from_json(spec.to_json())
    assert again == spec and json.loads(again.to_json()) == json.loads(spec.to_json())
    with pytest.raises(ValueError, match="odd"):
        Block(kernel=4, expand=3, out_c=8)
    with pytest.raises(ValueError, match="below 8"):
        ArchSpec(resolution=4, stem_c=8)


def test_space_samples_stay_in_the_space():
    sp = SearchSpace(width=0.3, resolution=96)
    rng = np.random.default_rng(5)
    for _ in range(20):
        s = sp.sample(rng)
        assert s.resolution == 96 and s.stem_c % 8 == 0
        assert all(b.kernel in sp.kernels and b.expand in sp.expands for b in s.blocks[1:])
        assert sp.smallest().macs <= s.macs <= sp.largest().macs


def test_fits_decides_as_the_exact_planner_does():
    from tinyengine_tvm.nas.constraints import fits

    sp = SearchSpace(width=0.3, resolution=40)
    rng = np.random.default_rng(11)
    for _ in range(4):
        spec = sp.sample(rng)
        exact = estimate(spec)
        for budget in (exact.peak_sram_bytes - 1, exact.peak_sram_bytes, exact.lower_bound_bytes):
            ok, e = fits(spec, budget)
            assert ok == (exact.peak_sram_bytes <= budget)
        assert not fits(spec, 1 << 20, flash=exact.weight_bytes - 1)[0]


def test_space_optimisation_ranks_fitting_spaces_first(tmp_path):
    from tinyengine_tvm.nas.space_opt import optimize_space, plot_cdf

    res = optimize_space(24 * 1024, 1 << 20, widths=(0.25, 1.0), resolutions=(32,), samples=4)
    assert [r.width for r in res] == [0.25, 1.0]      # width 1.0 at 32 px never fits 24 kB
    assert res[1].fitting == 0 and res[0].fitting > 0 and res[0].mean_macs > 0
    png = plot_cdf(res, str(tmp_path / "cdf.png"))
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_line_buffer_stages_predicted_as_compiled():
    spec = SearchSpace(width=0.35, resolution=64, classes=3).sample(np.random.default_rng(1))
    cm = te.compile(to_tflite(spec), patch="auto")
    assert cm.graph.schedule, "this network's first stage should stream"
    e, off = estimate(spec, patch="auto"), estimate(spec)
    assert (e.arena_bytes, e.peak_sram_bytes) == (cm.plan.arena_bytes, cm.plan.peak_sram_bytes)
    assert e.peak_sram_bytes < off.peak_sram_bytes


def test_quick_reject_answers_as_the_planner():
    from tinyengine_tvm.nas.constraints import fits

    rng = np.random.default_rng(3)
    for w, r in ((0.35, 48), (0.75, 32)):
        spec = SearchSpace(width=w, resolution=r).sample(rng)
        peak = estimate(spec).peak_sram_bytes
        for sram in (peak - 1, 2 * 1024):
            for flash in (None, 10 * 1024):
                assert fits(spec, sram, flash, quick_reject=True)[0] == fits(spec, sram, flash)[0]
