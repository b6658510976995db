"""The tinyengine-tvm command: compile/run on a real model, JSON output, and one-line errors for bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tinyengine_tvm.testing.reference import run_litert
from tinyengine_tvm.testing.tflite_builder import ModelBuilder

from . import needs
from .conftest import model_path

CLI = [sys.executable, "-m", "tinyengine_tvm.cli"]


def cli(*args, cwd=None):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd)


def assert_clean_error(r, *needles):
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    err = r.stderr.strip()
    assert err.startswith("tinyengine-tvm: error: ") and "\n" not in err, err  # one line, no traceback
    for n in needles:
        assert n in err, err


def test_compile_json_and_run_project_dir(tmp_path):
    out = tmp_path / "lenet"
    r = cli("compile", model_path("lenet_mnist.tflite"), "-o", out, "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    for key in ("arena_bytes", "weight_bytes", "macs", "ops"):
        assert key in rep
    assert rep["macs"] == 784 * 300 + 300 * 100 + 100 * 10
    assert rep["weight_bytes"] == 784 * 300 + 300 * 100 + 100 * 10 + 4 * (300 + 100 + 10)
    assert (out / "model.c").is_file() and (out / "model.h").is_file() and (out / "kernels").is_dir()

    x = np.random.default_rng(3).uniform(0, 1, (1, 28, 28, 1)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    r = cli("run", out, "--target", "host", "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npz", "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["arena_bytes"] > 0 and len(rep["outputs"]) == 1
    y = np.load(tmp_path / "y.npz")
    assert list(y.keys()) == ["output_0"] and y["output_0"].dtype == np.float32
    assert y["output_0"].tobytes() == run_litert(model_path("lenet_mnist.tflite"), [x])[0].tobytes()


def test_run_model_file_with_npz(tmp_path):
    x = np.random.default_rng(4).uniform(-1, 1, (1, 80, 80, 3)).astype(np.float32)
    np.savez(tmp_path / "x.npz", input_0=x)
    r = cli("run", model_path("vww.tflite"), "--input", tmp_path / "x.npz", "--output", tmp_path / "y.npz")
    assert r.returncode == 0, r.stderr
    y = np.load(tmp_path / "y.npz")["output_0"]
    assert y.tobytes() == run_litert(model_path("vww.tflite"), [x])[0].tobytes()


def test_missing_model(tmp_path):
    r = cli("compile", tmp_path / "nope.tflite", "-o", tmp_path / "out")
    assert_clean_error(r, "not found", "nope.tflite")
    assert not (tmp_path / "out").exists()


def test_corrupt_model_leaves_no_output_dir(tmp_path):
    bad = tmp_path / "bad.tflite"
    data = open(model_path("lenet_mnist.tflite"), "rb").read()
    bad.write_bytes(data[:4] + b"XXXX" + data[8:200])
    r = cli("compile", bad, "-o", tmp_path / "out")
    assert_clean_error(r, "bad.tflite", "TFLite")
    assert not (tmp_path / "out").exists()
    trunc = tmp_path / "trunc.tflite"
    trunc.write_bytes(data[:64])
    r = cli("compile", trunc, "-o", tmp_path / "out2")
    assert_clean_error(r, "trunc.tflite")
    assert not (tmp_path / "out2").exists()


def test_unsupported_op_is_named_with_location(tmp_path):
    b = ModelBuilder()  # int8 (a float model is refused earlier, as not int8-quantized); RELU has a kernel
    x = b.input("x", (1, 8), "int8", 0.05, 0)
    h = b.tensor("hidden", (1, 8), "int8", 0.05, -128)
    y = b.tensor("y", (1, 8), "int8", 1 / 128, 0)
    b.op("RELU", [x], [h])
    b.op("TANH", [h], [y])
    b.output(y)
    path = tmp_path / "tanh.tflite"
    path.write_bytes(b.finish())
    r = cli("compile", path, "-o", tmp_path / "out")
    assert_clean_error(r, "TANH", "operator #1", "'y'")
    assert "RELU" not in r.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("bad_input,needle", [
    (np.zeros((1, 28, 28), np.float32), "expected shape [1, 28, 28, 1]"),
    (np.zeros((1, 28, 28, 1), np.float64), "expected dtype float32"),
])
def test_wrong_input_shape_or_dtype(tmp_path, bad_input, needle):
    np.save(tmp_path / "x.npy", bad_input)
    r = cli("run", model_path("lenet_mnist.tflite"), "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npz")
    assert_clean_error(r, needle)
    assert not (tmp_path / "y.npz").exists()


def test_existing_nonempty_output_dir_is_refused_and_kept(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    r = cli("compile", model_path("lenet_mnist.tflite"), "-o", out)
    assert_clean_error(r, "not empty")
    assert (out / "keep.txt").read_text() == "mine"


def test_missing_input_file_and_unknown_target(tmp_path):
    r = cli("run", model_path("lenet_mnist.tflite"), "--input", tmp_path / "none.npy", "--output", tmp_path / "y.npz")
    assert_clean_error(r, "input file not found")
    r = cli("compile", model_path("lenet_mnist.tflite"), "-o", tmp_path / "o", "--target", "gpu")
    assert_clean_error(r, "unknown target 'gpu'")
    assert not (tmp_path / "o").exists()


def test_console_script_is_installed():
    exe = os.path.join(os.path.dirname(sys.executable), "tinyengine-tvm")
    r = subprocess.run([exe, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "compile" in r.stdout and "run" in r.stdout


def test_recompiling_into_own_project_dir_replaces_it(tmp_path):
    out = tmp_path / "proj"
    assert cli("compile", model_path("lenet_mnist.tflite"), "-o", out).returncode == 0
    (out / "stale.c").write_text("left over")
    r = cli("compile", model_path("lenet_mnist.tflite"), "-o", out, "--json")
    assert r.returncode == 0, r.stderr
    assert not (out / "stale.c").exists() and (out / "model.c").is_file()
    assert json.loads((out / "report.json").read_text())["macs"] == json.loads(r.stdout)["macs"]


# -- issue 10 defect 3: file system refusals are one line, exit 1, nothing left behind --------------

def _readonly_cli(tmp_path, *args):
    """Run the CLI with tmp_path/ro a read-only folder. As root, permission bits do not stop writes, so
    the folder is a read-only bind mount in a private mount namespace (unshare -m); otherwise chmod 555."""
    ro = tmp_path / "ro"
    ro.mkdir(exist_ok=True)
    if os.geteuid() != 0:
        ro.chmod(0o555)
        try:
            return cli(*args)
        finally:
            ro.chmod(0o755)
    import shlex
    import shutil

    if shutil.which("unshare") is None:
        needs.missing("root without unshare: no way to make a folder read-only here")
    cmd = " ".join(shlex.quote(str(a)) for a in [*CLI, *args])
    script = f"mount --bind {shlex.quote(str(ro))} {shlex.quote(str(ro))} && mount -o remount,bind,ro {shlex.quote(str(ro))} && exec {cmd}"
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount --bind {ro} {ro} && mount -o remount,bind,ro {ro}"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        needs.missing(f"root without mount namespaces ({probe.stderr.strip()}): no way to make a folder read-only here")
    return subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True)


def test_compile_into_unwritable_places(tmp_path):
    lenet = model_path("lenet_mnist.tflite")
    (tmp_path / "file").write_text("a regular file")
    r = cli("compile", lenet, "-o", tmp_path / "file" / "out")
    assert_clean_error(r, "is a file, not a directory")
    assert (tmp_path / "file").read_text() == "a regular file"
    assert_clean_error(cli("compile", lenet, "-o", tmp_path / "file"), "is a file")
    r = _readonly_cli(tmp_path, "compile", lenet, "-o", tmp_path / "ro" / "sub" / "out")  # under a read-only parent
    assert_clean_error(r, "not writable")
    r = _readonly_cli(tmp_path, "compile", lenet, "-o", tmp_path / "ro")  # the (empty) folder itself read-only
    assert_clean_error(r, "not writable")
    assert list((tmp_path / "ro").iterdir()) == []


def test_run_and_profile_outputs_into_missing_or_readonly_folders(tmp_path):
    lenet = model_path("lenet_mnist.tflite")
    np.save(tmp_path / "x.npy", np.zeros((1, 28, 28, 1), np.float32))
    r = cli("run", lenet, "--input", tmp_path / "x.npy", "--output", tmp_path / "missing" / "y.npz")
    assert_clean_error(r, "does not exist")
    r = _readonly_cli(tmp_path, "run", lenet, "--input", tmp_path / "x.npy", "--output", tmp_path / "ro" / "y.npz")
    assert_clean_error(r, "not writable")
    r = cli("profile", lenet, "--plot", tmp_path / "missing" / "mem.png")
    assert_clean_error(r, "does not exist")
    assert not (tmp_path / "missing").exists() and list((tmp_path / "ro").iterdir()) == []


def test_calibration_with_tflite_and_empty_file_as_output(tmp_path):
    lenet = model_path("lenet_mnist.tflite")
    np.savez(tmp_path / "calib.npz", x=np.zeros((2, 1, 28, 28), np.float32))
    r = cli("compile", lenet, "-o", tmp_path / "o", "--calibration", tmp_path / "calib.npz")
    assert_clean_error(r, "drop --calibration")
    assert not (tmp_path / "o").exists()
    (tmp_path / "empty").write_bytes(b"")
    r = cli("compile", lenet, "-o", tmp_path / "empty")
    assert_clean_error(r, "is a file")
    assert "not empty" not in r.stderr


def test_export_onto_an_empty_file_says_what_it_is(tmp_path):
    import tinyengine_tvm as te
    from tinyengine_tvm.errors import TinyEngineError

    (tmp_path / "empty").write_bytes(b"")
    cm = te.compile(model_path("lenet_mnist.tflite"))
    with pytest.raises(TinyEngineError, match="is a file, not a directory"):
        cm.export(tmp_path / "empty")


def test_run_onnx_file_takes_and_returns_what_onnxruntime_does(tmp_path):
    """`run MODEL.onnx`: NCHW arrays in and out, as onnxruntime; the compiled C interface stays NHWC."""
    from tinyengine_tvm.testing import onnx_models as om
    from tinyengine_tvm.testing.qdq_graph import QDQGraph

    g = QDQGraph()  # Q -> DQ -> MaxPool 2x2 -> Q -> DQ: int8 all the way, exact
    d, _, _ = g.qdq("x", 0.02, -3)
    y, _, _ = g.qdq(g.op("MaxPool", [d], kernel_shape=[2, 2], strides=[2, 2]), 0.02, -3)
    q = g.model(y, [1, 3, 6, 8], [1, 3, 3, 4])
    rng = np.random.default_rng(5)
    (tmp_path / "pool.onnx").write_bytes(q.SerializeToString())
    x = rng.uniform(-1, 1, (1, 3, 6, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    r = cli("run", tmp_path / "pool.onnx", "--input", tmp_path / "x.npy", "--output", tmp_path / "y.npz")
    assert r.returncode == 0, r.stderr
    y = np.load(tmp_path / "y.npz")["output_0"]
    ref = om.ort_run(q, [x])[0]
    assert y.shape == ref.shape == (1, 3, 3, 4)
    np.testing.assert_array_equal(y, ref)
    np.save(tmp_path / "x_nhwc.npy", x.transpose(0, 2, 3, 1))
    r = cli("run", tmp_path / "pool.onnx", "--input", tmp_path / "x_nhwc.npy", "--output", tmp_path / "y2.npz")
    assert_clean_error(r, "NCHW, as onnxruntime takes it")
    r = cli("compile", tmp_path / "pool.onnx", "-o", tmp_path / "proj")
    assert r.returncode == 0, r.stderr
    assert "NHWC" in (tmp_path / "proj" / "model.h").read_text()


def test_version_and_help_texts():
    import tinyengine_tvm

    r = cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"tinyengine-tvm {tinyengine_tvm.__version__}"
    h = " ".join(cli("compile", "--help").stdout.split())
    assert "deleted and replaced" in h and "refused and left as it is" in h
    assert "host included" in h  # --sram is checked on the host too


def test_profile_table_words_and_plot(tmp_path):
    """The per-step column is the top of the arena in use (not a high-water mark), overlaps are described in
    words, and the plot is written; hatched 'shared' bytes are what lifts a bar above the arena."""
    from tinyengine_tvm.planner.report import layer_rows

    import tinyengine_tvm as te

    r = cli("profile", model_path("vww.tflite"), "--plot", tmp_path / "mem.png", "--patch", "off")  # layer by layer
    assert r.returncode == 0, r.stderr
    assert "arena top" in r.stdout and "HWM" not in r.stdout and "overlaps in (" not in r.stdout
    assert "output starts 64,008 B below its input, sharing" in r.stdout
    assert "output written in place over its input" in r.stdout
    assert (tmp_path / "mem.png").stat().st_size > 50_000
    cm = te.compile(model_path("vww.tflite"), patch="off")
    rows = layer_rows(cm.graph, cm.plan)
    for row in rows:  # each byte once: never more than the arena, nor than the stacked bars
        assert row["distinct_bytes"] <= min(row["live_bytes"], cm.plan.arena_bytes)
    above = [row for row in rows if row["live_bytes"] > cm.plan.arena_bytes]
    assert above and all(row["overlap"] is not None for row in above)  # only shared bytes lift a bar past the arena


def test_run_cortex_m7_json_reports_model_sram_apart_from_harness(tmp_path):
    from .mcu_tools import require_arm_tools

    require_arm_tools()
    x = np.random.default_rng(3).uniform(0, 1, (1, 28, 28, 1)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    r = cli("run", model_path("lenet_mnist.tflite"), "--target", "cortex-m7", "--input", tmp_path / "x.npy",
            "--output", tmp_path / "y.npz", "--json")
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    io = 28 * 28 * 4 + 10 * 4  # model_run(const float* input_0 [1,28,28,1], float* output_0 [1,10])
    assert m["io_bytes"] == io and m["model_sram_bytes"] == m["arena_bytes"] + io
    assert m["harness_sram_bytes"] == m["sram_bytes"] - m["model_sram_bytes"] >= 4096  # the stack budget is the harness's
    assert np.load(tmp_path / "y.npz")["output_0"].tobytes() == run_litert(model_path("lenet_mnist.tflite"), [x])[0].tobytes()
