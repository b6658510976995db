"""Receptive-field redistribution (nas.redistribute): the spec transform, and the patch stage it is priced by
against a full compile of the same network with the same explicit patch schedule."""

import numpy as np

import tinyengine_tvm as te
from tinyengine_tvm.nas import SearchSpace
from tinyengine_tvm.nas.export import to_tflite
from tinyengine_tvm.nas.graph import kernel_graph
from tinyengine_tvm.nas.redistribute import block_last_ops, patch_choice, redistribute, stage_cost


def _resolutions(spec):
    hw, out = (spec.resolution + 1) // 2, []
    for b in spec.blocks:
        hw = (hw + b.stride - 1) // b.stride
        out.append(hw)
    return out


def test_block_ends_are_the_kernel_graphs():
    spec = SearchSpace(width=0.35, resolution=32).sample(np.random.default_rng(2))
    g = kernel_graph(spec)
    ends = block_last_ops(spec)
    assert len(ends) == len(spec.blocks) and ends[-1] == len(g.ops) - 4   # then mean, FC, dequantize
    for i, b in zip(ends, spec.blocks):
        assert g.tensors[g.ops[i].output].shape[-1] == b.out_c


def test_redistribution_moves_receptive_field_after_the_stage():
    sp = SearchSpace(width=0.35, resolution=48)
    g = sp.sample_genome(np.random.default_rng(1))
    spec = sp.spec_of(g)
    split = 1 + g.depths[0] + g.depths[1]
    red, kept = redistribute(spec, split)
    assert kept == 3 and len(red.blocks) == len(spec.blocks)          # one block per resolution stays
    assert all(b.kernel == 3 for b in red.blocks[:kept])
    assert _resolutions(red)[kept - 1] == _resolutions(spec)[split - 1]  # the stage ends at the same resolution
    assert red.blocks[kept - 1].out_c == spec.blocks[split - 1].out_c
    assert _resolutions(red)[-1] == _resolutions(spec)[-1] and red.blocks[-1] == spec.blocks[-1]
    moved = red.blocks[kept + 1: kept + 1 + split - kept]
    assert all(b.stride == 1 and b.out_c == spec.blocks[split].out_c for b in moved)
    before, after = stage_cost(spec, split, (3, 3)), stage_cost(red, kept, (3, 3))
    assert after.extra_macs * 2 <= before.extra_macs


def test_patch_stage_priced_as_compiled():
    spec = SearchSpace(width=0.35, resolution=40, classes=3).sample(np.random.default_rng(4))
    choice = patch_choice(spec, splits=[2, 3], grids=((2, 2), (3, 3)))
    last = block_last_ops(spec)[choice.split - 1]
    p, q = choice.grid
    cm = te.compile(to_tflite(spec), patch=f"{p}x{q}@{last}")
    st = next(op.stage for op in cm.graph.ops if op.kernel == "stream_stage")
    exact = stage_cost(spec, choice.split, choice.grid, exact=True)
    assert (st.macs, st.computed_macs) == (exact.macs, exact.computed_macs)
    assert exact.peak_sram_bytes == cm.plan.peak_sram_bytes
    assert choice.peak_sram_bytes >= exact.peak_sram_bytes   # greedy placement: an upper bound


def test_rf_stages_knob_restricts_the_patch_stage_only():
    from tinyengine_tvm.nas.search import Budgets, Evolution

    sp = SearchSpace(width=0.25, resolution=16, classes=4, rf_stages=2)
    rng = np.random.default_rng(0)
    per = max(sp.depths)
    for _ in range(20):
        g = sp.sample_genome(rng)
        assert g.depths[:2] == (2, 2) and all(k == 3 for k in g.kernels[:2 * per])
    evo = Evolution(sp, Budgets(sram=1 << 20), lambda g: sp.spec_of(g).macs, population=6, parents=2, seed=0)
    evo.run(2)
    seen = [g for g in evo.pop]
    assert all(g.depths[:2] == (2, 2) and all(k == 3 for k in g.kernels[:2 * per]) for g in seen)
    assert any(k != 3 for g in seen for k in g.kernels[2 * per:])   # receptive field is spent after the stage
