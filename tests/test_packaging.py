"""One import namespace, shipped both ways: a built wheel and the editable install both import tinyengine_tvm.*"""

import os
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_editable_install_maps_folders_into_namespace():
    import tinyengine_tvm.codegen as cg
    import tinyengine_tvm.relay_passes as rp

    assert os.path.samefile(os.path.dirname(cg.__file__), os.path.join(ROOT, "codegen"))
    assert os.path.samefile(os.path.dirname(rp.__file__), os.path.join(ROOT, "relay_passes"))
    from tinyengine_tvm.codegen.emitter import kernel_dir

    assert os.path.isfile(os.path.join(kernel_dir(), "tinyengine_kernels.h"))


def test_wheel_contains_one_namespace_and_imports(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), ROOT],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (whl,) = [p for p in tmp_path.iterdir() if p.suffix == ".whl"]
    names = zipfile.ZipFile(whl).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"tinyengine_tvm"}  # no bare 'codegen' or 'relay_passes' packages
    assert "tinyengine_tvm/codegen/kernels/tinyengine_kernels.h" in names
    assert "tinyengine_tvm/relay_passes/partition.py" in names
    shipped = sorted(f for f in os.listdir(os.path.join(ROOT, "autotune_logs")) if f.endswith(".jsonl"))
    assert shipped and all(f"tinyengine_tvm/autotune_logs/{f}" in names for f in shipped)
    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(whl)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import tinyengine_tvm.codegen.emitter as e, tinyengine_tvm.relay_passes as p; "
            "import os; assert e.__file__.startswith(sys.argv[1]), e.__file__; "
            "assert os.path.isfile(os.path.join(e.kernel_dir(), 'conv2d_s8.c')); "
            "from tinyengine_tvm.tuner import log; assert log.default_path('cortex-m7').startswith(sys.argv[1]); "
            "assert log.read(log.default_path('cortex-m7')), 'shipped tuning log missing'; print(p.pipeline().name if hasattr(p.pipeline(), 'name') else 'ok')")
    # run outside the source tree so the checkout cannot shadow the installed wheel
    r = subprocess.run([sys.executable, "-S", "-c", code, str(site)], capture_output=True, text=True, cwd=tmp_path,
                       env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if "site-packages" in p and "tinyengine" not in p)))
    assert r.returncode == 0, r.stderr
