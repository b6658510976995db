"""autotune_logs/<target>.jsonl: one JSON line per measurement, and the best known configuration per layer.

A layer record: {"type": "layer", "sig", "layer" (space.layer_desc), "config" ({"variant", knobs, "opt"}),
"cost", "unit" ("instructions" on QEMU, "cycles" on boards), "status" ("ok" | "timeout" | "error"),
"runner", "board", "server", "target", "toolchain", "flags", "model", "op", "date"}. A network record
({"type": "network", ...}) holds a whole firmware's total. Lines are appended and flushed one at a time,
so an interrupted tune loses nothing it has measured; ``measured`` is what a resumed tune skips.
"""

from __future__ import annotations

import json
import os

from . import space

from .. import autotune_logs as _shipped

# the source tree's autotune_logs/, installed as the data package tinyengine_tvm.autotune_logs
LOG_DIR = os.path.dirname(os.path.abspath(_shipped.__file__))


def default_path(target: str) -> str:
    """The shipped log of ``target`` (autotune_logs/ beside the package, or TINYENGINE_TUNING_LOGS)."""
    return os.path.join(os.environ.get("TINYENGINE_TUNING_LOGS", LOG_DIR), f"{target}.jsonl")


def read(path: str) -> list[dict]:
    if not path or not os.path.isfile(path):
        return []
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a kill mid-write: the measurement is redone
                continue
    return out


class Log:
    """An append-only log file."""

    def __init__(self, path: str):
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    def append(self, records) -> None:
        with open(self.path, "a") as f:
            for r in records:
                f.write(json.dumps(r, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())


def measured(records) -> set:
    """(signature, config key) of every finished layer measurement (ok or failed: neither is retried)."""
    return {(r["sig"], space.config_key(r["config"])) for r in records if r.get("type") == "layer"}


def best_table(records, target: str | None = None) -> dict:
    """{signature: [(cost, config), ...] sorted by cost} over the successful layer records."""
    table: dict = {}
    for r in records:
        if r.get("type") != "layer" or r.get("status") != "ok" or (target and r.get("target") != target):
            continue
        table.setdefault(r["sig"], {})
        key = space.config_key(r["config"])
        prev = table[r["sig"]].get(key)
        if prev is None or r["cost"] < prev[0]:
            table[r["sig"]][key] = (r["cost"], r["config"])
    return {s: sorted(d.values(), key=lambda x: x[0]) for s, d in table.items()}


def best_choice(cm, records) -> dict:
    """{op name: configuration} of cm from the log: per layer the cheapest measured configuration that is exact
    for this layer under this plan; then one level per kernel file (the one minimising its layers' summed
    measured cost), and layers re-chosen under those levels."""
    from ..codegen import variants

    table = best_table(records, cm.target)
    em = space.scratch_emitter(cm)
    em.tuning = None
    costs = {}  # op -> {config key: (cost, config)}, the logged configurations exact for this layer and plan
    for op in cm.graph.ops:
        rows = table.get(space.signature(space.layer_desc(op, cm.graph)), [])
        exact, costs[op.name], levels = {}, {}, set()
        for cost, c in rows:  # cheapest first: keep the cheapest exact configuration per (-O level, kernel file)
            lvl = (c.get("opt"), variants.source_of(c.get("variant")))
            if lvl in levels:
                continue
            bare = space.config_key({k: v for k, v in c.items() if k != "opt"})
            if bare not in exact:
                exact[bare] = _exact(em, op, c)
            if exact[bare]:
                costs[op.name][space.config_key(c)] = (cost, c)
                levels.add(lvl)
    choice = {n: min(d.values(), key=lambda x: x[0])[1] for n, d in costs.items() if d}
    # one optimisation level per file: the level whose best layers under it sum to the least
    files = {}
    for n, c in choice.items():
        src = variants.source_of(c["variant"])
        if src is not None:
            files.setdefault(src, []).append(n)
    shared = _unmeasured_sources(em, cm.graph, choice)
    for src, names in files.items():
        best = None
        for lvl in (() if shared is None or src in shared else variants.OPT_LEVELS):
            total, picks = 0, {}
            for n in names:
                under = [(cost, c) for cost, c in costs[n].values()
                         if c.get("opt") == lvl and variants.source_of(c["variant"]) == src]
                if not under:
                    total = None
                    break
                picks[n] = min(under, key=lambda x: x[0])
                total += picks[n][0]
            if total is not None and (best is None or total < best[0]):
                best = (total, picks)
        if best is not None:
            for n, (_, c) in best[1].items():
                choice[n] = c
        else:  # levels not measured alike for every layer of this file: keep the default level
            for n in names:
                under = [(cost, c) for cost, c in costs[n].values() if c.get("opt") == variants.DEFAULT_OPT]
                choice[n] = min(under, key=lambda x: x[0])[1] if under else None
    return {n: c for n, c in choice.items() if c is not None}


def _unmeasured_sources(em, graph, choice):
    """Kernel files whose code also runs where the log has no measurement: the default file of every layer with no
    logged configuration. None (every file) when the graph has line-buffer / patch stages: their band calls are
    not what the tuner measured (a level right for a whole layer can be wrong for a band: vww's depthwise band
    file at Os cost its stages 1.0 M instructions on M7). Such files keep the build's level."""
    from ..codegen import variants

    if any(op.kernel == "stream_stage" for op in graph.ops):
        return None
    out = set()
    for op in graph.ops:
        if op.name in choice:
            continue
        em.chosen = {}
        variants.specialize(em, op)
        src = variants.source_of(em.chosen.get(op.name, {}).get("variant", variants.PORTABLE))
        if src is not None:
            out.add(src)
    return out


def _exact(em, op, cfg) -> bool:
    """Does cfg's variant emit (exactly) for op under em's plan?"""
    from ..codegen import variants

    name = cfg.get("variant")
    if name == variants.PORTABLE:
        return True
    try:
        v = variants.get(name)
    except KeyError:
        return False
    if not variants.usable(v, op, em.target):
        return False
    return v.emit(em, op, {k: cfg.get(k, vals[0]) for k, vals in v.knobs.items()}) is not None


def apply(cm, path: str | None = None, records=None) -> dict:
    """Set cm.tuning from the log at ``path`` (default: the shipped log of cm's target); returns the choice."""
    if cm.budgets is None:
        return {}
    recs = records if records is not None else read(path or default_path(cm.target))
    if not recs:
        return {}
    choice = best_choice(cm, recs)
    if choice:
        cm.tuning = space.tuning_from(choice)
    return choice
