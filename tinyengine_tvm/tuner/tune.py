"""The search loop: per-layer configurations measured a whole firmware at a time, ranked by the cost model.

Every layer of a network is measured in one profiling firmware (its real shape, weights and arena
placement; SysTick marks between kernels), so one build measures one candidate of every layer. A build
uses one optimisation level for all kernel files (the knob is per file, shared by the layers using it);
per layer it takes the candidate the cost model ranks best among those not yet measured (the default
configuration first when no model is trained), measures a batch of builds (one per free worker), logs
every layer, retrains the model and goes on: AutoTVM's loop with the layers as independent tasks.
Stopping at any point loses nothing: each result is appended to the log as it arrives, and a new run
skips every (layer signature, configuration) already in the log.
"""

from __future__ import annotations

import datetime
import os
import sys
import tempfile
import time

import numpy as np

from . import log as tlog
from . import space
from .cost_model import CostModel, features
from .measure import DEFAULT_TIMEOUT, Job, LocalPool, build_elf, toolchain_id


def _input_bytes(cm, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    parts = []
    for spec in cm.inputs:
        dt = np.dtype(spec.dtype)
        a = rng.uniform(-1, 1, spec.shape).astype(dt) if dt.kind == "f" else rng.integers(-128, 128, spec.shape).astype(dt)
        parts.append(np.ascontiguousarray(a).tobytes())
    return b"".join(parts)


class Tuner:
    def __init__(self, cm, log_path: str, pool=None, opts=None, use_model: bool = True, timeout: float = DEFAULT_TIMEOUT,
                 model_name: str | None = None, progress=None, records=None):
        from ..codegen import variants

        self.cm, self.pool = cm, pool or LocalPool()
        self.opts = tuple(opts or variants.OPT_LEVELS)
        self.log = tlog.Log(log_path)
        self.records = list(records) if records is not None else tlog.read(log_path)
        self.done = tlog.measured(self.records)
        self.use_model, self.timeout = use_model, timeout
        self.model_name = model_name or cm.source
        self.cands = space.configs(cm, self.opts)
        self.descs = {op.name: space.layer_desc(op, cm.graph) for op in cm.graph.ops}
        self.sigs = {n: space.signature(d) for n, d in self.descs.items()}
        self.default = space.default_configs(cm)
        self.model = CostModel(cm.target)
        self.input = _input_bytes(cm)
        self.toolchain = toolchain_id()
        self.builds = 0
        self.failed = 0
        self.progress = progress if progress is not None else sys.stderr.isatty()
        self.n_measured = 0
        self.unreachable = set()  # planned but emitted otherwise (the emitter fell back): never planned again

    # -- what is left ----------------------------------------------------------------------------------
    def remaining(self, name: str, level: str, pending=()) -> list:
        from ..codegen import variants

        out = []
        for c in self.cands[name]:
            key = (self.sigs[name], space.config_key(c))
            if key in self.done or key in pending or key in self.unreachable:
                continue
            if variants.source_of(c["variant"]) is not None and c["opt"] != level:
                continue
            out.append(c)
        return out

    def total_remaining(self) -> int:
        keys = {(self.sigs[n], space.config_key(c)) for n, cs in self.cands.items() for c in cs}
        return len(keys - self.done - self.unreachable)

    def _rank(self, name: str, cands: list) -> list:
        if len(cands) <= 1:
            return cands
        if self.use_model and self.model.trained:
            pred = self.model.predict_rows([features(self.descs[name], c) for c in cands], [self.descs[name]] * len(cands))
            return [cands[i] for i in np.argsort(pred, kind="stable")]
        d = space.config_key(dict(self.default[name]))
        return sorted(cands, key=lambda c: space.config_key(c) != d)

    def _best_known(self, name: str, level: str):
        from ..codegen import variants

        table = tlog.best_table(self.records, self.cm.target).get(self.sigs[name], [])
        ok = {space.config_key(c) for c in self.cands[name]}
        for cost, c in table:
            if space.config_key(c) in ok and (variants.source_of(c["variant"]) is None or c["opt"] == level):
                return c
        d = dict(self.default[name])
        if variants.source_of(d["variant"]) is not None:
            d["opt"] = level
        return d

    def plan_build(self, level: str, pending: set):
        """One build's choice {op: config} at ``level``, and the (sig, config) pairs it measures for the first time."""
        choice, new = {}, set()
        for op in self.cm.graph.ops:
            n = op.name
            rem = self.remaining(n, level, pending | new)
            if rem:
                c = self._rank(n, rem)[0]
                new.add((self.sigs[n], space.config_key(c)))
            else:
                c = self._best_known(n, level)
            choice[n] = c
        return choice, new

    # -- the loop ------------------------------------------------------------------------------------------
    def run(self, max_builds: int | None = None, stop_when_done: bool = True) -> dict:
        t_start = time.time()
        work = tempfile.mkdtemp(prefix="tinyengine_tune_")
        level_i = 0
        try:
            while max_builds is None or self.builds < max_builds:
                if self.use_model:
                    self.model.fit(self.records, rounds=150)
                batch, pending = [], set()
                for _ in range(self.pool.workers):
                    if max_builds is not None and self.builds + len(batch) >= max_builds:
                        break
                    for _try in range(len(self.opts)):
                        level = self.opts[level_i % len(self.opts)]
                        level_i += 1
                        choice, new = self.plan_build(level, pending)
                        if new:
                            break
                    if not new:
                        break
                    pending |= new
                    d = os.path.join(work, f"b{self.builds + len(batch)}")
                    elf = build_elf(self.cm, space.tuning_from(choice), d)
                    emitted = space.with_opt(self.cm.chosen, space.tuning_from(choice)["files"])
                    batch.append(Job(elf, self.cm.target, self.input, self.timeout,
                                     meta={"emitted": emitted, "new": new, "level": level}))
                if not batch:
                    break
                for job, res in self.pool.run(batch):
                    self._record(job, res)
                    self.unreachable |= job.meta["new"] - self.done
                self.builds += len(batch)
                self._report(t_start)
        finally:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
        if self.progress:
            sys.stderr.write("\n")
        return self.summary()

    def _record(self, job: Job, res: dict) -> None:
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        from ..runners.firmware import OPT_FLAGS, WARN_FLAGS
        from ..codegen.targets import get

        flags = " ".join(WARN_FLAGS + OPT_FLAGS + get(self.cm.target).cflags() + ["-DTE_PROFILE"])
        common = {"target": self.cm.target, "runner": res.get("runner", "qemu"), "board": res.get("board"),
                  "server": res.get("server"), "toolchain": self.toolchain, "flags": flags, "model": self.model_name,
                  "date": now, "status": res["status"]}
        per_tick = float(res.get("instructions_per_tick", 40.0))
        emitted = job.meta["emitted"]
        recs = []
        ops = self.cm.graph.ops
        if res["status"] == "ok":
            seen = set()
            for step, ticks in res["layer_ticks"]:
                if step >= len(ops):
                    continue
                op = ops[step]
                cfg = emitted.get(op.name)
                if cfg is None:  # a line-buffer stream stage: its layers run in the registry's default configuration
                    continue
                key = (self.sigs[op.name], space.config_key(cfg))
                if key in self.done or key in seen:
                    continue  # measured before (same signature): one record per (layer, configuration)
                seen.add(key)
                recs.append(dict(common, type="layer", sig=self.sigs[op.name], layer=self.descs[op.name], config=cfg,
                                 cost=int(round(ticks * per_tick)), unit="instructions", ticks=int(ticks), op=op.name))
            recs.append(dict(common, type="network", cost=int(round(res["ticks"] * per_tick)), unit="instructions",
                             layers=len(res["layer_ticks"]), level=job.meta["level"]))
        else:  # the firmware hung or failed: its new configurations are logged as failed, never retried
            self.failed += 1
            for op in ops:
                cfg = emitted.get(op.name)
                if cfg is None:
                    continue
                key = (self.sigs[op.name], space.config_key(cfg))
                if key in job.meta["new"] and key not in self.done:
                    recs.append(dict(common, type="layer", sig=self.sigs[op.name], layer=self.descs[op.name],
                                     config=cfg, cost=None, unit="instructions", op=op.name, error=res.get("error")))
            recs.append(dict(common, type="network", cost=None, unit="instructions", error=res.get("error")))
        self.log.append(recs)
        self.records += recs
        for r in recs:
            if r["type"] == "layer":
                self.done.add((r["sig"], space.config_key(r["config"])))
                self.n_measured += 1

    def best_total(self) -> tuple[int, int]:
        """(default total, best-known total) over the profiled layers, from the log."""
        table = tlog.best_table(self.records, self.cm.target)
        default = best = 0
        for op in self.cm.graph.ops:
            rows = table.get(self.sigs[op.name], [])
            dkey = space.config_key(self.default[op.name])
            d = next((c for c, cfg in rows if space.config_key(cfg) == dkey), None)
            default += d or 0
            best += rows[0][0] if rows else (d or 0)
        return default, best

    def _report(self, t_start: float) -> None:
        if not self.progress:
            return
        default, best = self.best_total()
        left = self.total_remaining()
        total = self.n_measured + left
        bar = int(30 * self.n_measured / max(total, 1))
        sys.stderr.write(f"\r[{'#' * bar}{'.' * (30 - bar)}] builds {self.builds}  layer configs {self.n_measured}"
                         f" (+{left} left)  best {best:,} vs default {default:,} instructions"
                         f"  failed {self.failed}  {time.time() - t_start:5.0f}s ")
        sys.stderr.flush()

    def summary(self) -> dict:
        default, best = self.best_total()
        return {"builds": self.builds, "measured": self.n_measured, "failed": self.failed,
                "remaining": self.total_remaining(), "default_profiled": default, "best_profiled": best}


def tune(model, target: str, log_path: str | None = None, pool=None, max_builds: int | None = None,
         use_model: bool = True, opts=None, timeout: float = DEFAULT_TIMEOUT, progress=None) -> dict:
    """Tune ``model`` (a path or a CompiledModel) on ``target``; returns the summary dict."""
    from ..api import CompiledModel
    from ..api import compile as te_compile

    cm = model if isinstance(model, CompiledModel) else te_compile(model, target=target)
    path = log_path or tlog.default_path(cm.target)
    name = os.path.basename(os.fspath(model)) if not isinstance(model, CompiledModel) else cm.source
    t = Tuner(cm, path, pool=pool, opts=opts, use_model=use_model, timeout=timeout, model_name=name, progress=progress)
    out = t.run(max_builds=max_builds)
    out["log"] = path
    return out
