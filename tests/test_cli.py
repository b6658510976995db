"""The tinyengine-tvm command: compile/run on a real model, JSON output, and one-line errors for bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tinyengine_tvm.testing.reference import run_litert
from tinyengine_tvm.testing.tflite_builder import ModelBuilder

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
    b = ModelBuilder()
    x = b.input("x", (1, 8), "float32")
    h = b.tensor("hidden", (1, 8), "float32")
    y = b.tensor("y", (1, 8), "float32")
    b.op("RELU", [x], [h])
    b.op("TANH", [h], [y])
    b.output(y)
    path = tmp_path / "tanh.tflite"
    path.write_bytes(b.finish())
    r = cli("compile", path, "-o", tmp_path / "out")
    assert_clean_error(r, "TANH", "operator #1", "'y'", "RELU")
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
