"""TinyNAS latency from the spec (nas.latency) against the compiled program of the same network, and the
``--latency`` budget in the search. The reference is a full compile (TFLite export with its own quantization
through the frontend, passes, planner and emitter): the spec-only path must choose every layer's kernel
configuration as the compile does, so the cost model prices the same program."""

import numpy as np
import pytest

import tinyengine_tvm as te
from tinyengine_tvm.nas import SearchSpace, latency
from tinyengine_tvm.nas.export import to_tflite
from tinyengine_tvm.tuner import space as tspace
from tinyengine_tvm.tuner.cost_model import cost_model

from . import needs

needs.module("xgboost")

SMALL = dict(depths=(1, 2), stages=((24, 2), (40, 2), (80, 2)))


@pytest.mark.parametrize("width,res,seed,target", [(0.5, 24, 0, "cortex-m4"), (0.35, 32, 5, "cortex-m7")])
def test_spec_prediction_prices_the_compiled_program(width, res, seed, target):
    spec = SearchSpace(width=width, resolution=res, classes=10, **SMALL).sample(np.random.default_rng(seed))
    cm = te.compile(to_tflite(spec, seed=seed), target=target, patch="off")
    want = tspace.default_configs(cm)
    pred = latency.predict(spec, target, layers=True)
    g = latency.quantized_graph(spec)
    from tinyengine_tvm.planner import plan

    got = latency.configs(g, plan(g, target=target), target)
    assert got == want
    ref = cost_model(target).predict(cm)
    assert pred["total"] == pytest.approx(ref["total"], rel=1e-9)


def test_latency_budget_in_the_search():
    from tinyengine_tvm.nas.search import Budgets, Evolution

    sp = SearchSpace(width=0.3, resolution=24, classes=4, **SMALL)
    preds = [latency.predict(sp.sample(np.random.default_rng(i)), "cortex-m4") for i in range(3)]
    budget = int(np.median(preds))
    b = Budgets(sram=1 << 20, flash=1 << 20, target="cortex-m4", latency=budget)
    evo = Evolution(sp, b, lambda g: sp.spec_of(g).macs / 1e7, population=4, parents=2, seed=1)
    evo.run(1)
    assert evo.scores and any("instructions" in r for r in evo.rejected.values())
    for key, s in list(evo.scores.items())[:2]:
        from tinyengine_tvm.nas.search import _genome

        assert s["instructions"] <= budget
        assert s["instructions"] == round(latency.predict(sp.spec_of(_genome(key)), "cortex-m4"))
