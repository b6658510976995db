"""Independent check of a stream stage's schedule (run by planner.check on every plan).

Replays the stage's actions with its own bookkeeping (not stream.py's): which row of which tensor each window
slot holds, moves included; then requires, for every band call, that the input rows its layer needs for its
output rows (recomputed here from the layer's parameters) sit exactly where the call reads them, that it writes
inside its window or in order into the stage output, that every row is computed at most once and in order, every row of the stage output exactly once,
and that the windows fit the scratch the plan gives the stage without overlapping one another.
"""

from __future__ import annotations


def _needed(op, h_in: int, a: int, b: int) -> tuple[int, int]:
    p = op.params
    if op.kernel in ("conv2d", "depthwise_conv2d", "avg_pool2d", "max_pool2d"):
        s, k, d, pad = int(p["stride_h"]), int(p["k_h"]), max(int(p.get("dil_h", 1)), 1), int(p["pad_top"])
        return max(a * s - pad, 0), min(b * s - pad + (k - 1) * d, h_in - 1)
    return a, b


def check_stage(stage, scratch_bytes: int) -> list:
    problems = []
    wins = sorted(stage.windows.values(), key=lambda w: w.offset)
    for w in wins:
        if w.offset < 0 or w.offset + w.rows * w.row_bytes > scratch_bytes:
            problems.append(f"window of {w.tensor} [{w.offset}, {w.offset + w.nbytes}) is outside the scratch")
    for u, v in zip(wins, wins[1:]):
        if u.offset + u.nbytes > v.offset:
            problems.append(f"windows of {u.tensor} and {v.tensor} overlap")
    slots = {t: [None] * w.rows for t, w in stage.windows.items()}
    made = {op.output: 0 for op in stage.ops}
    y_next = 0
    for it in stage.iterations:
        for act in it:
            if not hasattr(act, "op"):  # a move
                w = stage.windows[act.tensor]
                rb = w.row_bytes
                if act.src % rb or act.dst % rb or act.nbytes % rb or act.src + act.nbytes > w.nbytes:
                    return problems + [f"move in {act.tensor} is not whole rows inside its window"]
                s = slots[act.tensor]
                moved = s[act.src // rb: (act.src + act.nbytes) // rb]
                s[act.dst // rb: act.dst // rb + len(moved)] = moved
                continue
            op = stage.ops[act.op]
            if act.a != made[op.output]:
                problems.append(f"{op.name}: computes rows {act.a}..{act.b}, next due is {made[op.output]}")
            for k, (t, lo, hi, where, off) in enumerate(act.ins):
                if t != op.inputs[k]:
                    problems.append(f"{op.name}: input {k} is {t}, not {op.inputs[k]}")
                    continue
                want = _needed(op, stage.heights[t], act.a, act.b)
                if (lo, hi) != want:
                    problems.append(f"{op.name} rows {act.a}..{act.b}: reads {t} rows {lo}..{hi}, needs {want}")
                if where == "X":
                    if t not in stage.inputs or off != lo * stage.row_bytes[t]:
                        problems.append(f"{op.name}: reads stage input {t} at the wrong place")
                    continue
                rb = stage.row_bytes[t]
                if off % rb:
                    problems.append(f"{op.name}: reads {t} off a row boundary")
                    continue
                first = off // rb
                held = slots[t][first:first + hi - lo + 1]
                if held != list(range(lo, hi + 1)):
                    problems.append(f"{op.name} rows {act.a}..{act.b}: window of {t} holds {held}, not rows {lo}..{hi}")
            t, where, off = act.out
            n = act.b - act.a + 1
            if t != op.output:
                problems.append(f"{op.name}: writes {t}")
            elif where == "Y":
                if t != stage.output or off != act.a * stage.row_bytes[t] or act.a != y_next:
                    problems.append(f"{op.name}: writes the stage output out of order")
                y_next = act.b + 1
            else:
                rb = stage.row_bytes[t]
                first = off // rb
                if off % rb or first + n > stage.windows[t].rows:
                    problems.append(f"{op.name}: rows {act.a}..{act.b} do not fit the window of {t}")
                else:
                    slots[t][first:first + n] = list(range(act.a, act.b + 1))
            made[op.output] = act.b + 1
    if y_next != stage.heights[stage.output]:
        problems.append(f"the stage writes {y_next} of its output's {stage.heights[stage.output]} rows")
    return problems
