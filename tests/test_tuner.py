"""The kernel-variant registry, the tuner, its logs, cost model and RPC measurement.

Exactness: every configuration of every layer of small random networks, compiled for Cortex-M7 and built
on the host (te_dsp.h's C models of the DSP instructions) and under QEMU, against LiteRT's BUILTIN_REF.
Registry: the untuned configuration emits exactly what dsp.py's rules (dsp.specialize) emit.
Tuner: resume without duplicates, a hanging firmware logged as failed (not retried), the shipped log applied
by compile; RPC (slow): a tracker and two QEMU servers on 127.0.0.1, one killed mid-tune.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

import tinyengine_tvm as te
from tinyengine_tvm.codegen import dsp, variants
from tinyengine_tvm.runners import host
from tinyengine_tvm.testing import synth_nets
from tinyengine_tvm.testing.reference import run_litert
from tinyengine_tvm.tuner import log as tlog
from tinyengine_tvm.tuner import space

from .conftest import model_path
from .mcu_tools import require_arm_tools

TINY = dict(res=10, stem=8, blocks=((1, 8, 3, 1), (2, 16, 5, 2), (2, 16, 3, 1)), seed=7)


@pytest.fixture(scope="module")
def tiny():
    b = synth_nets.mbnet(**TINY)
    cm = te.compile(b, target="cortex-m7", tuning=False, patch="off")
    x = np.random.default_rng(0).integers(-128, 128, cm.inputs[0].shape).astype(np.int8)
    return b, cm, x, run_litert(b, [x])


def _sweep(cands):
    """Builds that together use every configuration of every layer: build i gives layer L its i-th one."""
    n = max(len(v) for v in cands.values())
    return [{k: v[i % len(v)] for k, v in cands.items()} for i in range(n)]


def test_default_configuration_is_dsp_rules(tiny):
    _, cm, _, _ = tiny
    for op in cm.graph.ops:
        old, new = space.scratch_emitter(cm), space.scratch_emitter(cm)
        new.tuning = None
        want = dsp.specialize(old, op)
        got = variants.specialize(new, op)
        assert (want and want[0]) == (got and got[0]), op.name
        assert old.params == new.params and old.weights == new.weights, op.name


def test_every_configuration_exact_on_host(tiny, tmp_path):
    b, cm, x, ref = tiny
    cands = space.configs(cm, opts=("O2",))
    used = set()
    for i, choice in enumerate(_sweep(cands)):
        cm.tuning = space.tuning_from(choice)
        d = cm.export(str(tmp_path / f"p{i}"))
        y = host.run(host.build(d), [x], [(o.shape, o.dtype) for o in cm.outputs])
        assert all(np.array_equal(a, r) for a, r in zip(y, ref)), choice
        assert space.with_opt(cm.chosen, None) == {n: dict(c, opt="O2") for n, c in choice.items()}
        used |= {c["variant"] for c in cm.chosen.values()}
    cm.tuning = None
    assert {"conv_kw", "conv_pairs", "pw_ic", "pw_nc", "pw", "dw_rows", "dw_cm", "dw_hwc", "add_lin", "add_fast",
            "fc_dscale", "portable", "dw_ring4"} <= used


def _qemu_sweep(tiny, opts, limit=None):
    require_arm_tools()
    b, cm, x, ref = tiny
    cands = space.configs(cm, opts=opts)
    builds = _sweep(cands)[:limit]
    for choice in builds:
        cm.tuning = space.tuning_from(choice)
        cm._build_dir, cm._exes = None, {}
        outs, _ = cm.measure([x])
        assert all(np.array_equal(a, r) for a, r in zip(outs, ref)), choice
    cm.tuning, cm._build_dir, cm._exes = None, None, {}


def test_configurations_exact_on_qemu_small(tiny):
    _qemu_sweep(tiny, ("O3",), limit=3)


@pytest.mark.slow
def test_every_configuration_and_level_exact_on_qemu(tiny):
    _qemu_sweep(tiny, variants.OPT_LEVELS)


def _tuner(cm, path, **kw):
    from tinyengine_tvm.tuner.measure import LocalPool
    from tinyengine_tvm.tuner.tune import Tuner

    return Tuner(cm, path, pool=kw.pop("pool", LocalPool(2)), progress=False, **kw)


def _keys(path):
    recs = [r for r in tlog.read(path) if r["type"] == "layer"]
    return [(r["sig"], space.config_key(r["config"])) for r in recs]


def test_tune_resumes_without_duplicates_and_compile_applies_the_log(tiny, tmp_path):
    require_arm_tools()
    b, cm, x, ref = tiny
    path = str(tmp_path / "m7.jsonl")
    first = _tuner(cm, path, opts=("O2",)).run(max_builds=2)       # stopped early
    assert first["measured"] > 0 and first["remaining"] > 0
    second = _tuner(cm, path, opts=("O2",)).run()                  # resumed from the log
    keys = _keys(path)
    assert len(keys) == len(set(keys)), "a configuration measured twice"
    assert second["remaining"] == 0 and second["measured"] == len(keys) - first["measured"]
    every = {(space.signature(space.layer_desc(op, cm.graph)), space.config_key(c))
             for op in cm.graph.ops if op.kernel != "reshape"   # a reshape is a view: no kernel to time
             for c in space.configs(cm, ("O2",))[op.name]}
    assert set(keys) == every
    tuned = te.compile(b, target="cortex-m7", tuning_log=path, patch="off")
    assert tuned.tuning and tuned.tuning["layers"]
    outs, m = tuned.measure([x])
    assert all(np.array_equal(a, r) for a, r in zip(outs, ref))
    untuned, mu = te.compile(b, target="cortex-m7", tuning=False, patch="off").measure([x])
    assert m["instructions"] <= mu["instructions"]


def test_hanging_firmware_times_out_and_is_logged_failed(tiny, tmp_path, monkeypatch):
    require_arm_tools()
    from tinyengine_tvm.tuner import tune as tune_mod

    b, cm, x, ref = tiny
    real = tune_mod.build_elf

    def hanging(cm_, tuning, work_dir):  # the candidate's firmware never returns from model_run
        real(cm_, tuning, work_dir)
        path = os.path.join(work_dir, "model.c")
        text = open(path).read()
        text = text.replace("int model_run(", "static volatile int te_hang = 1;\nint model_run(", 1)
        text = text.replace("TE_PROFILE_MARK(0);", "TE_PROFILE_MARK(0);\n  while (te_hang) { }", 1)
        open(path, "w").write(text)
        from tinyengine_tvm.codegen.targets import get
        from tinyengine_tvm.runners import firmware

        return open(firmware.build(work_dir, get(cm_.target), cm_.budgets, profile=True), "rb").read()

    monkeypatch.setattr(tune_mod, "build_elf", hanging)
    path = str(tmp_path / "hang.jsonl")
    t0 = time.time()
    s = _tuner(cm, path, opts=("O2",), timeout=3.0).run(max_builds=1)
    assert time.time() - t0 < 120
    recs = tlog.read(path)
    assert s["failed"] == 1 and recs and all(r["status"] == "timeout" for r in recs)
    failed = {(r["sig"], space.config_key(r["config"])) for r in recs if r["type"] == "layer"}
    again = _tuner(cm, path, opts=("O2",), timeout=3.0)
    choice, new = again.plan_build("O2", set())
    assert not (new & failed), "a failed configuration was planned again"


def test_board_server_reaches_the_pyocd_flashing_call(monkeypatch):
    from tinyengine_tvm.runners import board
    from tinyengine_tvm.tuner import rpc_server

    seen = {}

    def fake_flash(plan, input_bytes, timeout=120.0):
        seen.update(plan=plan, input=input_bytes)
        raise RuntimeError("no probe attached")

    monkeypatch.setattr(board, "flash_and_run", fake_flash)
    res = rpc_server.measure_board(b"\x7fELF", "cortex-m7", b"in", 5.0, pyocd_target="stm32f746zgtx", probe="U1")
    assert res["status"] == "error" and "no probe" in res["error"]
    assert seen["plan"]["target_override"] == "stm32f746zgtx" and seen["plan"]["unique_id"] == "U1"
    assert seen["input"] == b"in"


def _logged_default_total(cm, recs) -> int:
    """The sum of cm's layers' QEMU-measured costs in their default configuration, from the log's layer records."""
    table = {(r["sig"], space.config_key(r["config"])): r["cost"] for r in recs if r["type"] == "layer" and r["status"] == "ok"}
    cfg = space.default_configs(cm)
    total = 0
    for op in cm.graph.ops:
        if op.kernel == "reshape":
            continue
        key = (space.signature(space.layer_desc(op, cm.graph)), space.config_key(cfg[op.name]))
        assert key in table, f"{op.name}'s default configuration is not in the log"
        total += table[key]
    return total


def test_shipped_log_cost_model_predicts_vww_default():
    """The shipped M7 log's model against vww's measured default-configuration layers (sum of the logged costs)."""
    recs = tlog.read(tlog.default_path("cortex-m7"))
    cm = te.compile(model_path("vww.tflite"), target="cortex-m7", tuning=False, patch="off")
    measured = _logged_default_total(cm, recs)
    pred = te.cost_model("cortex-m7").predict(cm)["total"]
    assert abs(pred - measured) / measured < 0.05


@pytest.mark.slow
def test_rpc_tracker_two_servers_one_killed(tiny, tmp_path):
    require_arm_tools()
    from tinyengine_tvm.tuner.measure import RPCPool
    from tinyengine_tvm.tuner.tune import Tuner

    b, cm, x, ref = tiny
    py, port = sys.executable, 9590
    tracker = subprocess.Popen([py, "-m", "tvm.exec.rpc_tracker", "--host", "127.0.0.1", "--port", str(port),
                                "--port-end", str(port + 9)])

    def server(i):
        return subprocess.Popen([py, "-m", "tinyengine_tvm.cli", "rpc-server", "--tracker", f"127.0.0.1:{port}",
                                 "--key", "qemu-cortex-m7", "--port", str(port + 20 + 20 * i),
                                 "--port-end", str(port + 39 + 20 * i)])

    servers = [server(0), server(1)]
    try:
        deadline = time.time() + 240
        pool = None
        while time.time() < deadline:
            try:
                pool = RPCPool(f"127.0.0.1:{port}", "qemu-cortex-m7")
                if pool.server_count() >= 2:
                    break
            except Exception:  # noqa: BLE001 - the tracker is still starting
                pass
            time.sleep(2)
        assert pool is not None and pool.server_count() >= 2
        path = str(tmp_path / "rpc.jsonl")
        t = Tuner(cm, path, pool=pool, opts=("O2",), progress=False)
        t.run(max_builds=2)
        servers[0].kill()                      # one server dies mid-tune, then comes back
        servers[0].wait()
        s = t.run(max_builds=4)
        servers[0] = server(0)
        s = Tuner(cm, path, pool=pool, opts=("O2",), progress=False).run()
        keys = _keys(path)
        assert len(keys) == len(set(keys)) and s["remaining"] == 0
        assert all(r["status"] == "ok" for r in tlog.read(path))
        assert any("qemu-cortex-m7" in (r.get("server") or "") for r in tlog.read(path))
    finally:
        for p in servers + [tracker]:
            p.kill()
            p.wait()


def test_cli_compile_json_predicts_lenet_and_no_tuning(tmp_path, capsys):
    """compile --json's predicted_instructions against lenet's QEMU measurement in the shipped M7 log."""
    from tinyengine_tvm import cli

    recs = tlog.read(tlog.default_path("cortex-m7"))
    lenet = model_path("lenet_mnist.tflite")
    measured = _logged_default_total(te.compile(lenet, target="cortex-m7", tuning=False), recs)
    assert cli.main(["compile", lenet, "-o", str(tmp_path / "a"), "--target", "cortex-m7", "--json", "--no-tuning"]) == 0
    rep = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rep["tuned_layers"] == 0
    assert abs(rep["predicted_instructions"] - measured) / measured < 0.05
    assert cli.main(["compile", lenet, "-o", str(tmp_path / "b"), "--target", "cortex-m7", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["tuned_layers"] > 0


def test_file_levels_stay_default_where_stage_band_calls_run():
    """A kernel file's tuned -O level comes from whole-layer measurements; a line-buffer stage calls the same file
    per band, unmeasured (vww's depthwise band file at the level its whole layers preferred cost the stages
    1.0 M instructions on M7). Layer by layer the shipped log moves some file off the default level; with stages
    every file keeps it, while the layers run whole keep their tuned variants."""
    from tinyengine_tvm.codegen import variants

    path = model_path("vww.tflite")
    off = te.compile(path, target="cortex-m7", patch="off")
    auto = te.compile(path, target="cortex-m7")
    assert any(v != variants.DEFAULT_OPT for v in off.tuning["files"].values()), off.tuning["files"]
    assert auto.report()["schedule"]
    assert all(v == variants.DEFAULT_OPT for v in auto.tuning["files"].values()), auto.tuning["files"]
    assert auto.tuning["layers"]
