"""XGBoost cost model: per-layer features (kind, geometry, knobs) -> measured instructions, one model per target.

Trained on the layer records of autotune_logs/<target>.jsonl (``fit``); the tuner retrains it every
round. It predicts log(cost) (costs span five orders of magnitude); a network's prediction is the sum
of its layers plus the harness's per-layer mark overhead removed (``predict_network``). TinyNAS calls
``te.cost_model(target).predict(graph_or_layers)``: no C, no QEMU, a batched XGBoost call.
"""

from __future__ import annotations

import math

import numpy as np

from . import log as tlog
from . import space

# Instructions the profiling firmware's per-layer mark adds (te_profile_mark: call, SysTick read, store),
# measured: a network's timed total without marks vs the sum of its marked layers (vww, M7).
MARK_OVERHEAD = 30

_NUM = ("in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w", "stride_h", "stride_w", "pad_top", "pad_left",
        "n", "in_n", "out_n", "c", "outer", "reduce", "inner", "clamps", "ort", "in_bytes", "out_bytes", "macs")


def _variant_names():
    from ..codegen import variants

    return [variants.PORTABLE] + [v.name for v in variants.variants()]


NORMALISE = True  # learn log(cost per unit of work): trees do not extrapolate absolute costs to bigger layers


def work(desc: dict) -> float:
    """A layer's unit of work: its MACs, or for MAC-free kernels the bytes it touches."""
    macs = float(desc.get("macs", 0))
    return macs if macs > 0 else max(float(desc.get("out_bytes", 0)) + float(desc.get("in_bytes", 0)), 1.0)


def features(desc: dict, cfg: dict) -> list[float]:
    """One layer's feature row."""
    from ..codegen import variants

    row = [float(desc.get(k, 0)) for k in _NUM]
    macs, out_b = float(desc.get("macs", 0)), float(desc.get("out_bytes", 0))
    pix = float(desc.get("out_h", 0)) * float(desc.get("out_w", 0))
    row += [math.log1p(macs), math.log1p(out_b), math.log1p(float(desc.get("in_bytes", 0))), pix,
            float(desc.get("k_h", 0)) * float(desc.get("k_w", 0))]
    row += [1.0 if desc.get("kind") == k else 0.0 for k in space.KINDS]
    v = cfg.get("variant", variants.PORTABLE)
    row += [1.0 if v == name else 0.0 for name in _variant_names()]
    band = cfg.get("band")
    row += [float(band) if band is not None else -1.0]
    row += [1.0 if cfg.get("opt", variants.DEFAULT_OPT) == o else 0.0 for o in variants.OPT_LEVELS]
    return row


class CostModel:
    """Predicts a layer's measured cost (instructions under QEMU) on one target."""

    def __init__(self, target: str):
        self.target = target
        self.booster = None
        self.n_train = 0

    def fit(self, records, rounds: int = 400) -> "CostModel":
        import xgboost as xgb

        rows, ys = [], []
        self.normalise = NORMALISE
        for r in records:
            if r.get("type") == "layer" and r.get("status") == "ok" and r.get("target", self.target) == self.target:
                rows.append(features(r["layer"], r["config"]))
                unit = work(r["layer"]) if self.normalise else 1.0
                ys.append(math.log(max(float(r["cost"]), 1.0) / unit))
        self.n_train = len(rows)
        if not rows:
            self.booster = None
            return self
        d = xgb.DMatrix(np.asarray(rows, np.float32), label=np.asarray(ys, np.float32))
        params = {"max_depth": 6, "eta": 0.1, "subsample": 1.0, "min_child_weight": 1, "objective": "reg:squarederror",
                  "nthread": 1, "verbosity": 0}
        self.booster = xgb.train(params, d, num_boost_round=rounds)
        return self

    @property
    def trained(self) -> bool:
        return self.booster is not None

    def predict_rows(self, rows, descs=None) -> np.ndarray:
        """Predicted cost of feature rows; ``descs``: the layers' descriptions (the model learns cost per work)."""
        import xgboost as xgb

        if not self.trained:
            raise RuntimeError(f"cost model for {self.target} has no training data (autotune_logs/{self.target}.jsonl)")
        if len(rows) == 0:
            return np.zeros(0)
        y = np.exp(self.booster.inplace_predict(np.asarray(rows, np.float32)))  # no DMatrix: NAS-speed
        if getattr(self, "normalise", False):
            y = y * np.asarray([work(d) for d in descs], np.float64)
        return y

    def predict_layers(self, layers) -> np.ndarray:
        """layers: [(layer desc, config)] -> predicted instructions per layer (marks excluded)."""
        return np.maximum(self.predict_rows([features(d, c) for d, c in layers], [d for d, _ in layers]) - MARK_OVERHEAD,
                          0.0)

    def predict(self, graph_or_layers, configs: dict | None = None):
        """A KernelGraph or CompiledModel (-> {"total", "layers": {op: instructions}}) or a list of (desc, config)
        (-> array). Untuned layers are predicted with the default configuration."""
        if isinstance(graph_or_layers, list):
            return self.predict_layers(graph_or_layers)
        cm = graph_or_layers
        graph = getattr(cm, "graph", cm)
        if configs is None:
            configs = space.default_configs(cm) if hasattr(cm, "plan") else {}
        from ..codegen.targets import get

        target = get(self.target)
        items = []
        for op in graph.ops:
            stage = getattr(op, "stage", None)
            if stage is not None:  # a line-buffer stage: its layers (default configuration), band recompute not modelled
                inner = type("T", (), {"tensors": stage.tensors})()
                for o in stage.ops:
                    items.append((op.name, space.layer_desc(o, inner), space.default_layer_config(o, inner, target)))
                continue
            items.append((op.name, space.layer_desc(op, graph), configs.get(op.name, {"variant": "portable", "opt": "O2"})))
        pred = self.predict_layers([(d, c) for _, d, c in items])
        layers: dict = {}
        for (n, _, _), p in zip(items, pred):
            layers[n] = layers.get(n, 0.0) + float(p)
        return {"total": float(sum(layers.values())), "layers": layers}


_CACHE: dict = {}


def cost_model(target: str, log_path: str | None = None) -> CostModel:
    """The cost model of ``target`` trained on its log (default: the shipped autotune_logs/<target>.jsonl)."""
    from ..codegen.targets import get

    name = get(target).name
    key = (name, log_path)
    if key not in _CACHE:
        _CACHE[key] = CostModel(name).fit(tlog.read(log_path or tlog.default_path(name)))
    return _CACHE[key]
