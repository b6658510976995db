"""Bisect a wrong result of a fuzz model: make each operator's output the model's output in turn and compare
the compiled model with LiteRT BUILTIN_REF on one stored sample (the first operator with a difference is
the culprit). The flatbuffer's output indices are patched in place; later operators still run in LiteRT.

    python scripts/fuzz_bisect.py DIR/model_0045.tflite SAMPLE
"""
import sys, numpy as np, tflite
from tinyengine_tvm.frontend.tflite import _builtin_names
from tinyengine_tvm.testing.corpus import load_case
from tinyengine_tvm.testing.reference import run_litert
import tinyengine_tvm as te
path, sample = sys.argv[1], int(sys.argv[2])
buf = bytearray(open(path, 'rb').read())
m = tflite.Model.GetRootAsModel(buf, 0); sg = m.Subgraphs(0); names = _builtin_names()
o = sg._tab.Offset(8)  # Subgraph.outputs field (vtable slot 8)
vec = sg._tab.Vector(o)
case = load_case(path)
xs = case.samples[sample][0]
for i in range(sg.OperatorsLength()):
    op = sg.Operators(i)
    oc = m.OperatorCodes(op.OpcodeIndex()); name = names[max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())]
    t = int(op.OutputsAsNumpy()[0])
    b = bytearray(buf)
    for k in range(sg.OutputsLength()):
        b[vec + 4 * k: vec + 4 * k + 4] = np.int32(t).tobytes()
    try:
        ref = run_litert(bytes(b), xs)[0]
        cm = te.compile(bytes(b))
        got = cm.run(xs)[0]
        d = np.abs(got.astype(np.int64) - ref.astype(np.int64)) if got.dtype != np.float32 else np.abs(got - ref)
        per = [int((d[j] > 0).sum()) for j in range(d.shape[0])] if d.ndim > 1 else int((d > 0).sum())
        print(i, name, ref.dtype, ref.shape, "max diff", d.max(), "per batch", per, flush=True)
    except Exception as e:
        print(i, name, "ERR", str(e)[:150], flush=True)
