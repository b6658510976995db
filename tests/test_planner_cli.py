"""The planner's user-facing side: compile --json memory fields, --sram budgets, and `tinyengine-tvm profile`."""

from __future__ import annotations

import json
import re

import pytest

from tinyengine_tvm import cli
from tinyengine_tvm.errors import TinyEngineError
from tinyengine_tvm.planner.report import format_table, layer_rows, parse_bytes, plot_timeline

from .conftest import model_path


def _main(capsys, *argv):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_compile_json_reports_memory_and_fits_77k(capsys, tmp_path):
    rc, out, err = _main(capsys, "compile", model_path("vww.tflite"), "-o", tmp_path / "p", "--json", "--sram", "77K",
                            "--patch", "off")
    assert rc == 0, err
    rep = json.loads(out)
    assert rep["arena_bytes"] == 76_808 and rep["peak_sram_bytes"] == 76_808 and rep["lower_bound_bytes"] == 76_807
    assert rep["planner"]["gap_bytes"] == 1 and rep["planner"]["seconds"] <= 5.0
    assert set(rep["planner"]["methods"]) >= {"greedy-size", "greedy-conflicts"}
    # the generated C uses exactly that arena
    assert "int8_t bytes[76808]" in (tmp_path / "p" / "model.c").read_text()


def test_sram_budget_fails_naming_the_peak_step(capsys, tmp_path):
    rc, out, err = _main(capsys, "compile", model_path("vww.tflite"), "-o", tmp_path / "p", "--sram", "70K",
                            "--patch", "off")
    assert rc == 1 and not (tmp_path / "p").exists()
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert re.search(r"needs 76,808 bytes of SRAM .* budget of 71,680 bytes; peak at step 4 \(op4_conv2d: conv2d "
                     r"1x40x40x8 -> 1x40x40x48", lines[0]), lines[0]


def test_profile_prints_the_table_and_draws_the_timeline(capsys, tmp_path, monkeypatch, compiled):
    import tinyengine_tvm.api as api

    # the CLI path is real; the model compile is the session's cached one
    cache = {n: compiled(n) for n in ("vww.tflite", "lenet_mnist.tflite")}
    monkeypatch.setattr(api, "compile", lambda path, target="host", **kw: cache[str(path).rsplit("/", 1)[-1]])
    png = tmp_path / "mem.png"
    rc, out, err = _main(capsys, "profile", model_path("vww.tflite"), "--plot", png)
    assert rc == 0, err
    rows = [ln for ln in out.splitlines() if re.match(r"\s+\d+\s+op\d+_", ln)]
    assert len(rows) == 58
    peak = next(ln for ln in rows if "<- peak" in ln)
    assert re.match(r"\s+4\s+op4_conv2d\s+1x40x40x48\s+614,400\s+89,600\s+76,808\s+576", peak), peak
    assert "arena 76,808 B (peak 76,808 B at step 4), lower bound 76,807 B, gap 1 B" in out
    from PIL import Image

    with Image.open(png) as im:
        assert im.format == "PNG" and im.size[0] >= 900 and im.size[1] >= 600
    # JSON rows carry the same numbers
    rc, out, err = _main(capsys, "profile", model_path("lenet_mnist.tflite"), "--json")
    rep = json.loads(out)
    assert rc == 0 and len(rep["layers"]) == rep["ops"]
    assert max(r["high_water"] for r in rep["layers"]) == rep["peak_sram_bytes"]


def test_report_helpers_on_a_random_graph(tmp_path):
    import numpy as np

    try:
        from tests.planner_graphs import random_graph
    except ImportError:
        from planner_graphs import random_graph
    from tinyengine_tvm.planner import plan

    g = random_graph(np.random.default_rng(0), "residual", n_blocks=3)
    p = plan(g)
    rows = layer_rows(g, p)
    assert [r["op"] for r in rows] == [g.ops[i].name for i in p.order]
    assert max(r["high_water"] for r in rows) == p.peak_sram_bytes
    assert "lower bound" in format_table(g, p)
    assert plot_timeline(g, p, str(tmp_path / "t.png"))


def test_parse_bytes():
    assert parse_bytes("77K") == 78_848 and parse_bytes("1M") == 1 << 20 and parse_bytes(500) == 500
    assert parse_bytes("64kB") == 65_536
    for bad in ("-1", "lots", "0"):
        with pytest.raises(TinyEngineError):
            parse_bytes(bad)
