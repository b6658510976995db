"""TinyNAS's MobileNetV2 baseline and scripts/nas_vs_mobilenet.py on a tiny setting (its fast path, so it cannot rot).

The baseline spec is checked against an independent MobileNetV2 (``testing.torch_models``: the
same layer shapes) and its fast constraint path against a full compile of its TFLite export; the
script's choices against the planner (the baseline is the grid's largest network that fits).
"""

import json
import os
import sys

import numpy as np
import pytest

from . import needs

torch = needs.module("torch")

import tinyengine_tvm as te  # noqa: E402
from tinyengine_tvm.nas import ArchSpec, estimate  # noqa: E402
from tinyengine_tvm.nas.baseline import largest_fitting, mobilenet_v2_spec  # noqa: E402
from tinyengine_tvm.nas.export import to_tflite  # noqa: E402
from tinyengine_tvm.nas.graph import kernel_graph  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_baseline_spec_is_mobilenet_v2():
    from tinyengine_tvm.nas.supernet import MBNet
    from tinyengine_tvm.testing.torch_models import mobilenet_v2

    shapes = lambda m: [tuple(p.shape) for p in m.parameters()]  # noqa: E731
    for width in (0.35,):
        assert shapes(MBNet(mobilenet_v2_spec(width, 16, 10))) == shapes(mobilenet_v2(width, 10, 0, 16))


def test_baseline_fast_path_equals_full_compile():
    spec = mobilenet_v2_spec(0.25, 32, 10)
    cm = te.compile(to_tflite(spec, seed=2), target="cortex-m4", patch="off")
    g = kernel_graph(spec)
    assert [op.kernel for op in g.ops] == [op.kernel for op in cm.graph.ops]
    for a, b in zip(g.ops, cm.graph.ops):
        assert {k: b.params.get(k) for k in a.params} == a.params, a.name
    e = estimate(spec, "cortex-m4")
    assert (e.arena_bytes, e.peak_sram_bytes, e.weight_bytes, e.macs) == (
        cm.plan.arena_bytes, cm.plan.peak_sram_bytes, cm.graph.weight_bytes, cm.graph.macs)


def test_largest_fitting_is_the_largest_that_fits():
    widths, ress = (0.1, 0.2, 0.35), (16, 32, 48)
    spec, e, grid = largest_fitting(widths, ress, 10, 16 * 1024, 256 * 1024, "cortex-m4", 32 * 1024)
    assert len(grid) == 9 and e.peak_sram_bytes <= 16 * 1024 and e.weight_bytes + 32 * 1024 <= 256 * 1024
    for g in grid:
        spec_g = mobilenet_v2_spec(g["width"], g["resolution"], 10)
        exact = estimate(spec_g, "cortex-m4")
        fit = exact.peak_sram_bytes <= 16 * 1024 and exact.weight_bytes + 32 * 1024 <= 256 * 1024
        assert g["fits"] == fit
        if fit:
            assert g["macs"] <= e.macs
    assert any(not g["fits"] for g in grid)    # the budget binds: the choice is not simply the biggest


def test_script_fast_path(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    try:
        import nas_vs_mobilenet as script
    finally:
        sys.path.pop(0)
    out = tmp_path / "out"
    args = ["-o", str(out), "--budgets", "8K,16K", "--widths", "0.25", "--resolutions", "16",
            "--mobilenet-widths", "0.1,0.2", "--depths", "1", "--stages", "24:2,40:2", "--space-samples", "4",
            "--supernet-epochs", "1", "--finetune-epochs", "1", "--population", "4", "--parents", "2",
            "--generations", "1", "--no-deploy"]
    assert script.main(args) == 0
    res = json.load(open(out / "results.json"))
    assert res["budgets"] == 2 and res["key"] == "accuracy_float"
    assert len(list(out.glob("supernet_w*.pt"))) == 1           # one supernet shared by both budgets
    for row in res["rows"]:
        b, n, m = row["budget"], row["nas"], row["mobilenet"]
        assert n["epochs"] == m["epochs"] == 2
        for d in (n, m):
            assert d["predicted_peak_sram_bytes"] <= b and 0.0 <= d["accuracy_float"] <= 1.0
            spec = ArchSpec.from_dict(d["architecture"])
            assert d["predicted_peak_sram_bytes"] == estimate(spec, "cortex-m4").peak_sram_bytes
        assert row["nas_wins"] == (n["accuracy_float"] > m["accuracy_float"])
    a, b = (row["mobilenet"] for row in res["rows"])
    assert a["architecture"] == b["architecture"] and a["accuracy_float"] == b["accuracy_float"]  # trained once
    assert "TinyNAS beats MobileNetV2" in (out / "table.md").read_text()
    assert script.main(args) == 0                               # resumes from its JSON, same table
    assert json.load(open(out / "results.json"))["rows"] == res["rows"]
