"""Calibration: run the float model on user data and turn observed ranges into int8 parameters.

``collect(mod, tensors, data)`` builds ``main`` with its outputs replaced by the tensors
to observe, runs it on TVM's Relax VM (llvm) for every calibration input and keeps, per
tensor, the running min/max and a bounded random sample of values (for the percentile
and MSE methods). ``activation_qparams`` turns a range into TFLite's per-tensor
asymmetric int8 parameters; ``weight_qparams`` gives per-channel symmetric ones.

Range methods:

* ``minmax`` (default): the observed min and max;
* ``percentile``: the ``percentile`` and ``100 - percentile`` quantiles of the values;
* ``mse``: the clipping range (a fraction of min/max) that minimises the mean squared
  quantization error on the sampled values.
"""

from __future__ import annotations

import numpy as np

from ..errors import TinyEngineError

METHODS = ("minmax", "percentile", "mse")
_SAMPLE = 1 << 18  # values kept per tensor for percentile / mse


class RangeObserver:
    """Running min/max and a bounded uniform sample of one tensor's values."""

    def __init__(self, rng):
        self.lo, self.hi = np.inf, -np.inf
        self.sample = []
        self.kept = 0
        self.rng = rng

    def update(self, a: np.ndarray) -> None:
        a = np.asarray(a, np.float32).reshape(-1)
        if a.size == 0:
            return
        self.lo = min(self.lo, float(a.min()))
        self.hi = max(self.hi, float(a.max()))
        if a.size > _SAMPLE // 16:
            a = self.rng.choice(a, _SAMPLE // 16, replace=False)
        self.sample.append(a)
        self.kept += a.size
        if self.kept > _SAMPLE:
            allv = np.concatenate(self.sample)
            self.sample = [self.rng.choice(allv, _SAMPLE // 2, replace=False)]
            self.kept = _SAMPLE // 2

    def range(self, method: str = "minmax", percentile: float = 99.99) -> tuple[float, float]:
        if not np.isfinite(self.lo):
            raise TinyEngineError("calibration saw no data for a tensor")
        if method == "minmax":
            return self.lo, self.hi
        values = np.concatenate(self.sample)
        if method == "percentile":
            return float(np.percentile(values, 100.0 - percentile)), float(np.percentile(values, percentile))
        if method == "mse":
            return _mse_range(values, self.lo, self.hi)
        raise TinyEngineError(f"unknown calibration method '{method}'; choose one of {', '.join(METHODS)}")


def _mse_range(values, lo, hi):
    best, best_err = (lo, hi), np.inf
    for f in np.linspace(0.3, 1.0, 36):
        a, b = lo * f, hi * f
        s, z = activation_qparams(a, b)
        q = np.clip(np.round(values / s) + z, -128, 127)
        err = float(np.mean(((q - z) * s - values) ** 2))
        if err < best_err:
            best, best_err = (a, b), err
    return best


def activation_qparams(rmin: float, rmax: float) -> tuple[float, int]:
    """Per-tensor asymmetric int8 (scale, zero point) covering [rmin, rmax] and 0 (the TFLite/ORT rule)."""
    rmin, rmax = min(float(np.float32(rmin)), 0.0), max(float(np.float32(rmax)), 0.0)
    scale = (np.float64(rmax) - np.float64(rmin)) / 255.0
    if scale < np.finfo(np.float32).tiny:
        return 1.0, 0
    zp = int(np.clip(np.round(-128.0 - rmin / scale), -128, 127))
    return float(np.float32(scale)), zp


def weight_qparams(w: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel symmetric int8: (int8 weights, float32 scales) with scale = max|w| / 127 along ``axis``."""
    w = np.asarray(w, np.float32)
    red = tuple(i for i in range(w.ndim) if i != axis)
    absmax = np.abs(w).max(axis=red).astype(np.float64)
    scale = (absmax / 127.0).astype(np.float32)
    scale[scale < np.finfo(np.float32).tiny] = 1.0
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
    return q, scale


def collect(mod, tensors, data, seed: int = 0, onnx_model=None, onnx_inputs=None) -> list[RangeObserver]:
    """Observe ``tensors`` (vars of mod['main']) while running every input of ``data`` (each a list of arrays).

    ``mod['main']`` must hold no dataflow vars (run ``relax.transform.ToNonDataflow`` first). With
    ``onnx_model`` (the same network as a float ONNX model) the values come from onnxruntime running
    it on ``onnx_inputs`` (``data`` in the ONNX model's layout), see ``ort_observer``."""
    import tvm
    from tvm import relax

    main = mod["main"]
    out = relax.Tuple(list(tensors))
    new_main = _with_outputs(main, out)
    probe = tvm.IRModule({"main": new_main})
    for gv, f in mod.functions.items():
        if gv.name_hint != "main":
            probe[gv] = f
    try:
        ex = tvm.compile(probe, target="llvm")
    except Exception as err:
        lines = [ln for ln in str(err).strip().splitlines() if ln.strip()]
        raise TinyEngineError(f"cannot build the float model for calibration: {lines[-1] if lines else err}") from None
    vm = relax.VirtualMachine(ex, tvm.cpu())
    rng = np.random.default_rng(seed)
    data = list(data)
    if not data:
        raise TinyEngineError("calibration data is empty; give at least one input")

    def run(inputs):
        return [r.numpy() for r in vm["main"](*[tvm.runtime.tensor(np.ascontiguousarray(a)) for a in inputs])]

    if onnx_model is not None:
        from . import ort_observer

        ours = [run(inputs) for inputs in data[:ort_observer.MATCH_SAMPLES]]
        return ort_observer.observe(onnx_model, tensors, ours, onnx_inputs, lambda: RangeObserver(rng))
    obs = [RangeObserver(rng) for _ in tensors]
    for inputs in data:
        for o, r in zip(obs, run(inputs)):
            o.update(r)
    return obs


def _with_outputs(func, out):
    """A copy of func (bindings without dataflow vars, see ``relax.transform.ToNonDataflow``) returning ``out``."""
    from tvm import relax

    out = relax.Tuple(list(out.fields))
    body = relax.SeqExpr(list(func.body.blocks), out)
    ret = relax.TupleType([f.ty for f in out.fields])
    return relax.Function(list(func.params), body, ret_ty=ret, attrs=func.attrs)
