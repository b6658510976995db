"""Random int8 TFLite models from TensorFlow's own converter, and how tinyengine-tvm does on them.

Each model is a seeded random Keras graph (Conv2D with kernels 1..7 / strides / dilation /
same-valid padding, DepthwiseConv2D with depth multiplier 1 or 2, Dense after Flatten and on
rank-3/4 tensors, max/average pooling with big windows, global average pooling, Add, Subtract,
Multiply (also SE-style [B,1,1,C] gates), Concatenate along channels and along H/W, relu, relu6,
sigmoid, hard_sigmoid, hard_swish, softmax, tanh, nearest upsampling, Flatten, Reshape,
ZeroPadding2D, SE blocks, 1..3 output heads), float32 or int8 I/O, batch 1..4, odd shapes (1x1
maps, 1 channel, large padding, extreme weight and input ranges), inputs 8..96 px, converted with
``TFLiteConverter`` full-integer quantization on a representative dataset. Nearest upsampling is
a Resizing layer: Keras's UpSampling2D lowers to TILE, which LiteRT's reference kernels cannot run.

  --emit DIR --count N --seed S     write DIR/model_XXXX.tflite + .npz (inputs and LiteRT BUILTIN_REF
                                    outputs, 3 samples; tinyengine_tvm.testing.corpus reads them)
  --check DIR                       compile every model of DIR with tinyengine-tvm for the host, run it on
                                    the stored inputs and compare byte for byte
  --check --count N --seed S        the same on N fresh models (generated into a temporary folder)
  --check DIR --log FILE [--recheck]  record each outcome (and the compiler's git commit) in FILE and skip the
                                    models it holds: a long run resumes, and can check DIR while --emit fills it

Generation needs TensorFlow (``pip install tinyengine-tvm[fuzz]``); checking needs only the compiler.
The report: compiled %, exact % of compiled, rejections grouped by message, every mismatch, and
the traceback of every Python exception that is not a TinyEngineError (each one is a bug).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict

import numpy as np

N_SAMPLES = 3

PROFILES = {
    # name: (min px, max px, max channels, max batch)
    "full": (8, 96, 16, 4),
    "small": (8, 24, 8, 4),     # for the committed corpus: small inputs keep it under 5 MB
}


# ----------------------------------------------------------------------------------------------
# random Keras graphs
# ----------------------------------------------------------------------------------------------
class _Gen:
    """One random model: a chain of random blocks over a 4-D tensor, with side taps for heads."""

    ACTS = ["relu", "relu6", "sigmoid", "hard_sigmoid", "hard_swish", "softmax"]

    def __init__(self, rng: np.random.Generator, profile: str, tanh: bool = False):
        import keras

        self.k = keras
        self.L = keras.layers
        self.rng = rng
        self.lo, self.hi, self.cmax, self.bmax = PROFILES[profile]
        self.recipe: list[str] = []
        self.taps = []
        if tanh:  # TANH is not in issue 10's operator list: opt-in (--tanh)
            self.ACTS = self.ACTS + ["tanh"]

    # helpers ----------------------------------------------------------------------------------
    def r(self, a, b):  # inclusive int
        return int(self.rng.integers(a, b + 1))

    def p(self, prob):
        return bool(self.rng.random() < prob)

    def ch(self):
        return int(self.rng.choice([c for c in (1, 2, 3, 4, 5, 8, 12, 16) if c <= self.cmax]))

    @staticmethod
    def hw(x):
        return int(x.shape[1]), int(x.shape[2]), int(x.shape[3])

    def act_layer(self, x, name=None):
        a = name or str(self.rng.choice(self.ACTS))
        self.recipe.append(f"act:{a}")
        if a == "relu6":
            return self.L.ReLU(max_value=6.0)(x)
        if a == "softmax":
            return self.L.Softmax(axis=-1)(x)
        return self.L.Activation(a)(x)

    def fused_act(self):
        return str(self.rng.choice([None, None, "relu", "relu6", "relu", "hard_swish", "sigmoid"]))

    # blocks -----------------------------------------------------------------------------------
    def conv(self, x, filters=None, kernel=None, act="rand"):
        h, w, c = self.hw(x)
        padding = "same" if self.p(0.6) else "valid"
        k = kernel or self.r(1, 7)
        dil = 1
        stride = self.r(1, 3) if self.p(0.4) else 1
        if stride == 1 and k > 1 and self.p(0.2):
            dil = self.r(2, 3)
        eff = (k - 1) * dil + 1
        if padding == "valid" and eff > min(h, w):
            padding = "same"
        f = filters or self.ch()
        a = self.fused_act() if act == "rand" else act
        self.recipe.append(f"conv{k}x{k}/s{stride}/d{dil}/{padding}/{c}->{f}/{a}")
        return self.L.Conv2D(f, k, strides=stride, padding=padding, dilation_rate=dil,
                             activation=None if a == "None" else a)(x)

    def dwconv(self, x):
        h, w, c = self.hw(x)
        padding = "same" if self.p(0.6) else "valid"
        k = self.r(1, 5)
        stride = self.r(1, 2) if self.p(0.4) else 1
        dil = self.r(2, 3) if stride == 1 and k > 1 and self.p(0.15) else 1
        if padding == "valid" and (k - 1) * dil + 1 > min(h, w):
            padding = "same"
        dm = 1 if self.p(0.7) else 2
        a = self.fused_act()
        self.recipe.append(f"dw{k}x{k}/s{stride}/d{dil}/{padding}/c{c}/dm{dm}/{a}")
        return self.L.DepthwiseConv2D(k, strides=stride, padding=padding, depth_multiplier=dm, dilation_rate=dil,
                                      activation=None if a == "None" else a)(x)

    def pool(self, x):
        h, w, c = self.hw(x)
        kind = "max" if self.p(0.5) else "avg"
        big = self.p(0.25)
        ph = min(h, self.r(2, 8) if big else self.r(1, 3))
        pw = min(w, self.r(2, 8) if big else self.r(1, 3))
        sh, sw = (self.r(1, 3), self.r(1, 3)) if self.p(0.3) else (max(ph, 1), max(pw, 1))
        padding = "same" if self.p(0.3) else "valid"
        self.recipe.append(f"{kind}pool{ph}x{pw}/s{sh}x{sw}/{padding}")
        P = self.L.MaxPooling2D if kind == "max" else self.L.AveragePooling2D
        return P((ph, pw), strides=(sh, sw), padding=padding)(x)

    def residual(self, x):
        h, w, c = self.hw(x)
        y = self.conv_same(x, c)
        kind = str(self.rng.choice(["add", "add", "sub"]))
        self.recipe.append(kind)
        return (self.L.Add() if kind == "add" else self.L.Subtract())([x, y])

    def conv_same(self, x, f):
        k = int(self.rng.choice([1, 3]))
        a = self.fused_act()
        self.recipe.append(f"conv{k}x{k}/same/->{f}/{a}")
        return self.L.Conv2D(f, k, padding="same", activation=None if a == "None" else a)(x)

    def concat(self, x):
        h, w, c = self.hw(x)
        axis = int(self.rng.choice([3, 3, 1, 2]))
        n = self.r(2, 3)
        parts = [x]
        for _ in range(n - 1):
            f = c if axis != 3 else self.ch()
            parts.append(self.conv_same(x, f))
        self.recipe.append(f"concat{n}/axis{axis}")
        return self.L.Concatenate(axis=axis)(parts)

    def multiply(self, x):
        h, w, c = self.hw(x)
        if self.p(0.5):
            y = self.conv_same(x, c)
            self.recipe.append("mul")
            return self.L.Multiply()([x, y])
        # broadcast gate [B,1,1,C] (keras.ops: the Multiply layer would tile it)
        g = self.L.GlobalAveragePooling2D(keepdims=True)(x)
        g = self.L.Activation(str(self.rng.choice(["sigmoid", "hard_sigmoid"])))(g)
        self.recipe.append("mul-broadcast-gate")
        return self.k.ops.multiply(x, g)

    def se(self, x):
        h, w, c = self.hw(x)
        mid = max(1, c // self.r(1, 4))
        g = self.L.GlobalAveragePooling2D(keepdims=True)(x)
        g = self.L.Conv2D(mid, 1, activation="relu")(g)
        gate = str(self.rng.choice(["hard_sigmoid", "sigmoid"]))
        g = self.L.Conv2D(c, 1, activation=gate)(g)
        self.recipe.append(f"se/c{c}/mid{mid}/{gate}")
        return self.k.ops.multiply(x, g)

    def upsample(self, x):
        h, w, c = self.hw(x)
        fh, fw = int(self.rng.choice([1, 2, 2, 3])), int(self.rng.choice([2, 2, 3]))
        if h * fh > 2 * self.hi or w * fw > 2 * self.hi:
            return x
        self.recipe.append(f"upsample{fh}x{fw}")
        return self.L.Resizing(h * fh, w * fw, interpolation="nearest")(x)

    def zeropad(self, x):
        big = self.p(0.3)
        pads = tuple((self.r(0, 6 if big else 2), self.r(0, 6 if big else 2)) for _ in range(2))
        if not any(sum(p) for p in pads):
            pads = ((1, 1), (1, 1))
        self.recipe.append(f"zeropad{pads}")
        return self.L.ZeroPadding2D(pads)(x)

    def dense4(self, x):
        f = self.ch()
        a = self.fused_act()
        self.recipe.append(f"dense-rank4->{f}/{a}")
        return self.L.Dense(f, activation=None if a == "None" else a)(x)

    def reshape(self, x):
        h, w, c = self.hw(x)
        if h % 2 == 0:
            self.recipe.append("reshape-h/2,w*2")
            return self.L.Reshape((h // 2, w * 2, c))(x)
        self.recipe.append("reshape-w,h")
        return self.L.Reshape((w, h, c))(x)

    def squeeze_map(self, x):  # to a 1x1 map
        self.recipe.append("gap-keepdims")
        return self.L.GlobalAveragePooling2D(keepdims=True)(x)

    def block(self, x):
        h, w, c = self.hw(x)
        choices = [("conv", 5), ("dw", 3), ("pool", 2), ("res", 2), ("concat", 1.5), ("mul", 1.2), ("se", 1.2),
                   ("act", 1.5), ("up", 0.8), ("pad", 1), ("dense4", 0.8), ("reshape", 0.5), ("1x1", 0.3)]
        if h * w * c > 48 * 48 * 8:  # keep models small: shrink big maps
            return self.pool(x) if self.p(0.5) else self.conv(x, act="relu")
        names, wts = zip(*choices)
        pick = str(self.rng.choice(names, p=np.array(wts) / sum(wts)))
        return {"conv": self.conv, "dw": self.dwconv, "pool": self.pool, "res": self.residual, "concat": self.concat,
                "mul": self.multiply, "se": self.se, "act": self.act_layer, "up": self.upsample, "pad": self.zeropad,
                "dense4": self.dense4, "reshape": self.reshape, "1x1": self.squeeze_map}[pick](x)

    def head(self, x):
        h, w, c = self.hw(x)
        kind = str(self.rng.choice(["gap-dense", "flatten-dense", "dense-rank3", "map", "conv1x1", "flatten"]))
        if kind == "flatten-dense" and h * w * c > 4096:
            kind = "gap-dense"
        if kind == "flatten" and h * w * c > 4096:
            kind = "conv1x1"
        n = self.r(1, 10)
        if kind == "gap-dense":
            y = self.L.Dense(n)(self.L.GlobalAveragePooling2D()(x))
        elif kind == "flatten-dense":
            y = self.L.Dense(n)(self.L.Flatten()(x))
        elif kind == "dense-rank3":
            y = self.L.Dense(n)(self.L.Reshape((h * w, c))(x))
        elif kind == "conv1x1":
            y = self.L.Conv2D(n, 1)(x)
        elif kind == "flatten":
            y = self.L.Flatten()(x)
        else:
            y = x
        if kind in ("gap-dense", "flatten-dense", "dense-rank3") and self.p(0.4):
            y = self.L.Softmax(axis=-1)(y) if self.p(0.6) else self.L.Activation("sigmoid")(y)
            kind += "+act"
        self.recipe.append(f"head:{kind}/{n}")
        return y

    def build(self):
        rng = self.rng
        batch = int(rng.choice([b for b in (1, 1, 1, 2, 3, 4) if b <= self.bmax]))
        odd = self.p(0.1)
        h = 1 if odd and self.p(0.3) else self.r(self.lo, self.hi)
        w = h if self.p(0.6) else self.r(self.lo, self.hi)
        if odd and h == 1:
            w = 1
        c = 1 if self.p(0.2) else int(rng.choice([c for c in (2, 3, 3, 4, 8) if c <= self.cmax]))
        self.recipe.append(f"input {batch}x{h}x{w}x{c}")
        inp = self.L.Input((h, w, c), batch_size=batch)
        x = inp
        for _ in range(self.r(1, 7)):
            x = self.block(x)
            if self.p(0.2):
                self.taps.append(x)
        outs = [self.head(x)]
        for t in self.taps[: self.r(0, 2)]:
            outs.append(self.head(t))
        return self.k.Model(inp, outs if len(outs) > 1 else outs[0]), batch

    def extreme_weights(self, model):
        """Some layers get weights scaled by 1e-3..1e2 (extreme per-channel scales)."""
        for layer in model.layers:
            ws = layer.get_weights()
            if ws and self.p(0.2):
                f = float(10 ** self.rng.uniform(-3, 2))
                self.recipe.append(f"scale-weights:{layer.name}x{f:.3g}")
                layer.set_weights([w * f for w in ws])


def _input_values(rng, shape, dtype, in_scale, extreme):
    if dtype == np.int8:
        if extreme:
            return rng.choice(np.array([-128, 127, 0, -1], np.int8), size=shape)
        return rng.integers(-128, 128, size=shape, dtype=np.int8)
    x = rng.uniform(-1, 1, size=shape) * in_scale
    if extreme:  # past the calibrated range: saturating inputs
        x = x * 4 + rng.choice([-1, 1], size=shape) * in_scale * 2
    return x.astype(np.float32)


def make_model(seed: int, profile: str = "full", tanh: bool = False):
    """(tflite bytes, meta dict) for ``seed``; deterministic for a seed and a TensorFlow version."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    g = _Gen(rng, profile, tanh)
    model, batch = g.build()
    g.extreme_weights(model)
    in_shape = tuple(int(d) for d in model.inputs[0].shape)
    in_scale = float(10 ** rng.uniform(-2, 2)) if g.p(0.3) else 1.0
    int8_io = g.p(0.4)
    g.recipe.append(f"input-range {in_scale:.3g}, {'int8' if int8_io else 'float32'} I/O")

    def rep():
        r = np.random.default_rng(seed + 1)
        for _ in range(16):
            yield [(r.uniform(-1, 1, size=in_shape) * in_scale).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if int8_io:
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    with _quiet_stdout():  # the converter prints its SavedModel signature
        blob = conv.convert()
    meta = {"seed": seed, "profile": profile, "batch": batch, "io": "int8" if int8_io else "float32",
            "in_scale": in_scale, "recipe": g.recipe, "tf": tf.__version__}
    return blob, meta


class _quiet_stdout:
    """Silence file descriptor 1 (Python prints and the converter's C++ logging alike)."""

    def __enter__(self):
        sys.stdout.flush()
        self.saved = os.dup(1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)

    def __exit__(self, *exc):
        sys.stdout.flush()
        os.dup2(self.saved, 1)
        os.close(self.saved)


def emit_one(folder: str, index: int, seed: int, profile: str, tanh: bool = False) -> str:
    from tinyengine_tvm.testing.reference import model_io_details

    blob, meta = make_model(seed, profile, tanh)
    ins, _ = model_io_details(blob)
    rng = np.random.default_rng(seed + 2)
    data = {"meta": np.array(json.dumps(meta))}
    for s in range(N_SAMPLES):
        for i, t in enumerate(ins):
            data[f"x{s}_{i}"] = _input_values(rng, t.shape, t.dtype.type, meta["in_scale"], extreme=(s == N_SAMPLES - 1))
    base = os.path.join(folder, f"model_{index:04d}")
    with open(base + ".tflite", "wb") as f:
        f.write(blob)
    np.savez_compressed(base + ".npz", **data)
    try:
        data.update(_litert_in_child(base))
    except BaseException:
        os.remove(base + ".tflite")
        os.remove(base + ".npz")
        raise
    np.savez_compressed(base + ".npz", **data)
    return base + ".tflite"


_CHILD = """
import sys, numpy as np
from tinyengine_tvm.testing.reference import run_litert
base = sys.argv[1]
z = dict(np.load(base + '.npz'))
out = {}
s = 0
while f'x{s}_0' in z:
    n = 0
    while f'x{s}_{n}' in z:
        n += 1
    for o, y in enumerate(run_litert(base + '.tflite', [z[f'x{s}_{i}'] for i in range(n)])):
        out[f'y{s}_{o}'] = y
    s += 1
np.savez(base + '.ref.npz', **out)
"""


def _litert_in_child(base: str) -> dict:
    """LiteRT BUILTIN_REF outputs, computed in a child process: some random graphs make LiteRT's
    reference kernels abort the process (a failed check in C++), which must not end the run."""
    import subprocess

    r = subprocess.run([sys.executable, "-c", _CHILD, base], capture_output=True, text=True)
    if r.returncode != 0:
        tail = ((r.stderr + r.stdout).strip().splitlines() or ["(no message)"])[-1][:200]
        raise RuntimeError(f"LiteRT BUILTIN_REF failed (exit {r.returncode}): {tail}")
    with np.load(base + ".ref.npz") as z:
        out = {k: z[k] for k in z.files}
    os.remove(base + ".ref.npz")
    return out


def emit(folder: str, count: int, seed: int, profile: str, start: int = 0, quiet=False, tanh=False) -> list[str]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.makedirs(folder, exist_ok=True)
    paths, failed = [], []
    for i in range(start, start + count):
        t = time.time()
        try:
            paths.append(emit_one(folder, i, seed * 100003 + i, profile, tanh))
        except Exception as err:  # noqa: BLE001 - the converter or LiteRT refused this random graph
            failed.append((i, f"{type(err).__name__}: {str(err).strip().splitlines()[-1][:200] if str(err).strip() else ''}"))
            continue
        if not quiet:
            print(f"  model_{i:04d}  {time.time() - t:.1f}s", file=sys.stderr, flush=True)
    for i, why in failed:
        print(f"  generator: seed index {i} not emitted (TensorFlow/LiteRT refused it): {why}", file=sys.stderr)
    return paths


# ----------------------------------------------------------------------------------------------
# checking
# ----------------------------------------------------------------------------------------------
def _compiler_commit() -> str:
    import subprocess

    here = os.path.dirname(os.path.abspath(__file__))
    r = subprocess.run(["git", "-C", here, "describe", "--always", "--dirty"], capture_output=True, text=True)
    return r.stdout.strip() or "?"


def _read_log(path):
    """name -> (Outcome, commit) from a --log file (the last line for a model wins)."""
    from tinyengine_tvm.testing.corpus import Outcome

    done = {}
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                d = json.loads(line)
                done[d["name"]] = (Outcome(d["name"], d["status"], d["message"], d["detail"], d["meta"]), d["commit"])
    return done


def check(paths: list[str], verbose=True, log=None, recheck=False, patch=None) -> dict:
    """Check every model of ``paths``. ``log``: a JSON-lines file of outcomes, appended to as models are
    checked (a long run on a shared machine can stop and resume); models it already holds are not compiled
    again, except the ones that were not exact with ``recheck``. ``patch``: te.compile's patch argument."""
    from tinyengine_tvm.testing.corpus import check_case, group_key, load_case

    compile_fn = None
    if patch is not None:
        import tinyengine_tvm as te

        compile_fn = lambda m: te.compile(m, patch=patch)  # noqa: E731
    done = _read_log(log)
    commit = _compiler_commit() if log else None
    outcomes, commits, incomplete = [], Counter(), []
    t0 = time.time()
    for p in paths:
        name = os.path.basename(p)[: -len(".tflite")]
        if name in done and not (recheck and done[name][0].status != "exact"):
            outcomes.append(done[name][0])
            commits[done[name][1]] += 1
            continue
        try:
            case = load_case(p)
        except Exception:  # noqa: BLE001 - being written by a running --emit
            case = None
        if case is None or not case.samples or not all(ys for _, ys in case.samples):
            incomplete.append(name)  # no LiteRT outputs (yet): nothing to compare with
            continue
        t = time.time()
        o = check_case(case, compile_fn)
        outcomes.append(o)
        if log:
            commits[commit] += 1
            with open(log, "a") as f:
                f.write(json.dumps({"name": o.name, "status": o.status, "message": o.message, "detail": o.detail,
                                    "meta": o.meta, "commit": commit, "seconds": round(time.time() - t, 1)}) + "\n")
        if verbose:
            print(f"  {o.name}: {o.status}{'  ' + o.message[:160] if o.message else ''}  ({time.time() - t:.1f}s)",
                  file=sys.stderr, flush=True)
    n = len(outcomes)
    by = Counter(o.status for o in outcomes)
    compiled = n - by["rejected"] - by["bad_message"] - by["traceback"]
    groups = defaultdict(list)
    blocking = Counter()  # operator name -> models it blocks
    for o in outcomes:
        if o.status in ("rejected", "bad_message"):
            groups[group_key(o.message)].append(o.name)
            for op in set(re.findall(r"\b([A-Z][A-Z0-9_]+) \(operator #", o.message)):
                blocking[op] += 1
    summary = {
        "models": n,
        "compiled": compiled,
        "compiled_pct": round(100.0 * compiled / n, 2) if n else 0.0,
        "exact": by["exact"],
        "exact_pct_of_compiled": round(100.0 * by["exact"] / compiled, 2) if compiled else 0.0,
        "status": dict(by),
        "rejections": {k: {"count": len(v), "models": v[:8]} for k, v in
                       sorted(groups.items(), key=lambda kv: -len(kv[1]))},
        "models_blocked_by_operator": dict(blocking.most_common()),
        "mismatches": [{"model": o.name, "message": o.message, "recipe": o.meta.get("recipe")}
                       for o in outcomes if o.status == "mismatch"],
        "run_errors": [{"model": o.name, "message": o.message} for o in outcomes if o.status == "run_error"],
        "bad_messages": [{"model": o.name, "message": o.message} for o in outcomes if o.status == "bad_message"],
        "tracebacks": [{"model": o.name, "message": o.message, "traceback": o.detail}
                       for o in outcomes if o.status == "traceback"],
        "seconds": round(time.time() - t0, 1),
    }
    if log:
        summary["checked_with_commit"] = dict(commits)
    if incomplete:
        summary["skipped_without_litert_outputs"] = incomplete
    return summary


def print_summary(s: dict) -> None:
    if s.get("skipped_without_litert_outputs"):
        print(f"skipped (no LiteRT outputs stored yet): {s['skipped_without_litert_outputs']}")
    if s.get("checked_with_commit"):
        print(f"checked with compiler commit(s): {s['checked_with_commit']}")
    print(f"models {s['models']}: compiled {s['compiled']} ({s['compiled_pct']}%), exact {s['exact']} "
          f"({s['exact_pct_of_compiled']}% of compiled); status {s['status']}; {s['seconds']} s")
    if s["rejections"]:
        print("rejections (grouped by message):")
        for k, v in s["rejections"].items():
            print(f"  {v['count']:4d}  {k}   e.g. {', '.join(v['models'][:3])}")
    if s["models_blocked_by_operator"]:
        print("models blocked by each unsupported operator: " +
              ", ".join(f"{k} {v}" for k, v in s["models_blocked_by_operator"].items()))
    for m in s["mismatches"]:
        print(f"WRONG RESULT {m['model']}: {m['message']}\n    recipe: {m['recipe']}")
    for m in s["run_errors"]:
        print(f"RUN ERROR {m['model']}: {m['message']}")
    for m in s["bad_messages"]:
        print(f"BAD MESSAGE (not one line naming operator and place) {m['model']}: {m['message'][:300]!r}")
    for m in s["tracebacks"]:
        print(f"TRACEBACK {m['model']}: {m['message']}\n{m['traceback']}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--emit", metavar="DIR", help="write N models with inputs and LiteRT outputs into DIR")
    ap.add_argument("--check", metavar="DIR", nargs="?", const="", help="check the models of DIR (or N fresh ones with --count)")
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=int, default=0, help="first model index (with --emit)")
    ap.add_argument("--profile", choices=sorted(PROFILES), default="full")
    ap.add_argument("--tanh", action="store_true", help="also use tanh (TANH is not in issue 10's operator list)")
    ap.add_argument("--json", metavar="FILE", nargs="?", const="-", help="write the summary as JSON (to FILE or stdout)")
    ap.add_argument("--log", metavar="FILE", help="with --check: append each outcome to FILE (JSON lines) and skip the "
                    "models FILE already holds (resume a long run)")
    ap.add_argument("--recheck", action="store_true", help="with --log: compile again the models FILE holds as not exact")
    ap.add_argument("--patch", help="with --check: te.compile's patch argument (default: the compile default, auto)")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)
    if a.emit:
        paths = emit(a.emit, a.count, a.seed, a.profile, a.start, a.quiet, a.tanh)
        print(f"wrote {len(paths)} models to {a.emit}")
        return 0
    if a.check is None:
        ap.error("give --emit DIR or --check [DIR]")
    if a.check:
        from tinyengine_tvm.testing.corpus import list_cases

        paths = list_cases(a.check)
        s = check(paths, not a.quiet, a.log, a.recheck, a.patch)
    else:
        with tempfile.TemporaryDirectory(prefix="fuzz_tflite_") as tmp:
            paths = emit(tmp, a.count, a.seed, a.profile, a.start, a.quiet, a.tanh)
            s = check(paths, not a.quiet, a.log, a.recheck, a.patch)
    if a.json == "-":
        print(json.dumps(s, indent=1))
    else:
        print_summary(s)
        if a.json:
            with open(a.json, "w") as f:
                json.dump(s, f, indent=1)
    return 0 if not (s["mismatches"] or s["tracebacks"] or s["run_errors"] or s["bad_messages"]) else 1


if __name__ == "__main__":
    sys.exit(main())
