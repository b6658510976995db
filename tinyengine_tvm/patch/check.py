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


def _needed_cols(op, w_in: int, c0: int, c1: int) -> tuple[int, int]:
    p = op.params
    if op.kernel in ("conv2d", "depthwise_conv2d", "avg_pool2d", "max_pool2d"):
        s, k, d, pad = int(p["stride_w"]), int(p["k_w"]), max(int(p.get("dil_w", 1)), 1), int(p["pad_left"])
        return max(c0 * s - pad, 0), min(c1 * s - pad + (k - 1) * d, w_in - 1)
    return c0, c1


def check_patch_stage(stage, scratch_bytes: int) -> list:
    """p x q patches: every call reads the rectangle its layer needs for its output rectangle (recomputed here),
    from a buffer still holding it (a write to a buffer sharing its bytes invalidates it), at the offset that
    rectangle has there; every access stays inside its buffer or tensor; every byte of Y is written."""
    problems = []
    for w in stage.windows.values():
        if w.offset < 0 or w.offset + w.nbytes > scratch_bytes:
            problems.append(f"buffer {w.tensor} is outside the scratch")
    chans, width = stage.chans, {t: stage.row_bytes[t] // stage.chans[t] for t in stage.row_bytes}
    held: dict = {}  # buffer -> (tensor, r0, c0, stride) or None
    y_written = [[False] * width[stage.output] for _ in range(stage.heights[stage.output])]

    def span(where, t, off, stride, rows, cols):
        size = stage.windows[where[2:]].nbytes if where.startswith("B:") else stage.heights[t] * stage.row_bytes[t]
        end = off + (rows - 1) * stride + cols * chans[t]
        return off >= 0 and end <= size

    def write(where, t, rect, off, stride):
        name = where[2:]
        w = stage.windows[name]
        for other, ow in stage.windows.items():
            if other != name and ow.offset < w.offset + w.nbytes and w.offset < ow.offset + ow.nbytes:
                held[other] = None
        r0 = rect[0] - off // stride
        c0 = rect[2] - (off % stride) // chans[t]
        prev = held.get(name)
        if prev is not None and prev[0] == t and prev[3] == stride and (prev[1], prev[2]) == (r0, c0):
            return
        held[name] = (t, r0, c0, stride)

    def read_ok(where, t, rect, off, stride):
        h = held.get(where[2:])
        if h is None or h[0] != t or h[3] != stride:
            return False
        return off == (rect[0] - h[1]) * stride + (rect[2] - h[2]) * chans[t]

    for n, act in enumerate(a for it in stage.iterations for a in it):
        if not hasattr(act, "op"):  # Copy
            rows, cols = act.rows, act.row_bytes // chans[act.tensor]
            for (where, off, stride) in (act.src, act.dst):
                if not span(where, act.tensor, off, stride, rows, cols):
                    problems.append(f"copy {n} of {act.tensor} runs outside its buffer")
            if act.src[0].startswith("B:") and not read_ok(act.src[0], act.tensor, act.rect, act.src[1], act.src[2]):
                problems.append(f"copy {n} reads {act.tensor} from a buffer that no longer holds it")
            if act.dst[0].startswith("B:"):
                write(act.dst[0], act.tensor, act.rect, act.dst[1], act.dst[2])
            if act.dst[0] == "Y":
                for r in range(act.rect[0], act.rect[1] + 1):
                    for c in range(act.rect[2], act.rect[3] + 1):
                        y_written[r][c] = True
            continue
        op = stage.ops[act.op]
        r0, r1, c0, c1 = act.out_rect
        for k, (t, rect, where, off, stride) in enumerate(act.ins):
            if t != op.inputs[k]:
                problems.append(f"{op.name}: input {k} is {t}")
                continue
            want = _needed(op, stage.heights[t], r0, r1) + _needed_cols(op, width[t], c0, c1)
            want = (want[0], want[1], want[2], want[3])
            if tuple(rect) != want:
                problems.append(f"{op.name} {act.out_rect}: reads {t} {rect}, needs {want}")
            if not span(where, t, off, stride, rect[1] - rect[0] + 1, rect[3] - rect[2] + 1):
                problems.append(f"{op.name}: reads {t} outside its buffer")
            if where.startswith("B:") and not read_ok(where, t, rect, off, stride):
                problems.append(f"{op.name} {act.out_rect}: buffer {where[2:]} does not hold {t} {rect} there")
        t, where, off, stride = act.out
        if not span(where, t, off, stride, r1 - r0 + 1, c1 - c0 + 1):
            problems.append(f"{op.name}: writes {t} outside its buffer")
        if where.startswith("B:"):
            write(where, t, act.out_rect, off, stride)
        elif where == "Y":
            for r in range(r0, r1 + 1):
                for c in range(c0, c1 + 1):
                    y_written[r][c] = True
    if not all(all(row) for row in y_written):
        problems.append("some bytes of the stage output are never written")
    return problems
