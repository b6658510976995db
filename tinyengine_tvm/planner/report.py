"""Memory reports from a (KernelGraph, MemoryPlan): the per-layer table, the timeline plot, SRAM budgets.

``layer_rows`` gives one row per step (op, output shape, MACs, live bytes, the top of
the arena in use at that step, weight bytes, tensors alive); ``format_table`` prints them
like STM32Cube.AI's analyze report; ``plot_timeline`` draws live bytes per step stacked
by tensor (coloured by the kernel that wrote it, bytes an output shares with the input it
overwrites hatched), the arena top per step, the arena and the lower bound, with the peak
marked (matplotlib, Agg backend). ``check_sram`` fails a plan that does not fit a
budget with one line naming the peak step. ``parse_bytes`` reads "77K", "1M", 78848.
"""

from __future__ import annotations

import re

from ..errors import TinyEngineError


def parse_bytes(value) -> int:
    """Bytes from an int or a string such as '78848', '77K', '77kB', '1M' (K = 1024)."""
    if isinstance(value, int):
        n = value
    else:
        m = re.fullmatch(r"\s*(\d+)\s*([kKmM]?)(i?[bB])?\s*", str(value))
        if not m:
            raise TinyEngineError(f"cannot read '{value}' as a byte count (use e.g. 78848, 77K or 1M)")
        n = int(m.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2).lower()]
    if n <= 0:
        raise TinyEngineError(f"byte budget must be positive, got {value}")
    return n


def _shape(t) -> str:
    return "x".join(str(d) for d in t.shape)


def layer_rows(graph, plan) -> list:
    """One dict per step in execution order."""
    rows = []
    ops = plan.ops(graph)
    for s, op in enumerate(ops):
        alive = sorted((r for r, b in plan.buffers.items()
                        if not b.external and b.size > 0 and b.first <= s <= b.last), key=lambda r: plan.buffers[r].first)
        rows.append({
            "step": s, "op": op.name, "kernel": op.kernel,
            "in_shape": _shape(graph.tensors[op.inputs[0]]) if op.inputs else "",
            "out_shape": _shape(graph.tensors[op.output]), "macs": op.macs,
            "live_bytes": plan.live_bytes[s] if s < len(plan.live_bytes) else 0,
            "high_water": plan.high_water[s] if s < len(plan.high_water) else 0,
            "weight_bytes": op.weight_bytes, "alive": alive,
            "overlap": next((d for o, _, d in plan.overlaps if o == op.name), None),
            "overlap_note": _overlap_note(graph, plan, op),
            "distinct_bytes": _distinct_bytes(plan, s),
            "scratch_bytes": plan.scratch_bytes.get(op.name, 0),
        })
    return rows


def _overlap_note(graph, plan, op):
    """Words for an output placed over the input it consumes: where it starts and how much it shares."""
    for o, t_in, d in plan.overlaps:
        if o != op.name:
            continue
        n_in, n_out = graph.tensors[t_in].nbytes, graph.tensors[op.output].nbytes
        shared = max(0, min(n_in, d + n_out) - max(0, d))
        if d == 0:
            return f"output written in place over its input ({shared:,} B shared)"
        where = f"{-d:,} B below" if d < 0 else f"{d:,} B above"
        return f"output starts {where} its input, sharing {shared:,} B with it"
    return None


def _distinct_bytes(plan, s: int) -> int:
    """Arena bytes in use at step s, each byte once (an output sharing bytes with its input counts them once)."""
    spans = []
    for r, b in plan.buffers.items():
        if b.external or b.size <= 0 or not (b.first <= s <= b.last):
            continue
        off = plan.scratch_offsets.get(r[len("scratch:"):]) if b.kind == "scratch" else plan.offsets.get(r)
        if off is not None:
            spans.append((off, off + b.size))
    total, end = 0, None
    for lo, hi in sorted(spans):
        if end is None or lo >= end:
            total += hi - lo
            end = hi
        elif hi > end:
            total += hi - end
            end = hi
    return total


def format_table(graph, plan, title: str = "") -> str:
    rows = layer_rows(graph, plan)
    head = f"{'step':>4}  {'op':<24} {'output':<12} {'MACs':>11} {'live B':>8} {'arena top':>9} {'weights B':>9}  note"
    lines = [title] if title else []
    lines += [head, "-" * len(head)]
    peak = plan.peak_step
    for r in rows:
        note = []
        if r["overlap_note"] is not None:
            note.append(r["overlap_note"])
        if r["scratch_bytes"]:
            note.append(f"scratch {r['scratch_bytes']} B")
        if r["step"] == peak:
            note.append("<- peak")
        lines.append(f"{r['step']:>4}  {r['op']:<24} {r['out_shape']:<12} {r['macs']:>11,} {r['live_bytes']:>8,} "
                     f"{r['high_water']:>9,} {r['weight_bytes']:>9,}  {', '.join(note)}")
    lines.append("-" * len(head))
    lines.append("live B: bytes of the tensors alive at the step (shared bytes counted for each tensor); arena top: the "
                 "highest arena byte in use at the step (the arena is the largest)")
    lines.append(f"total: {len(rows)} ops, {graph.macs:,} MACs, {graph.weight_bytes:,} weight bytes")
    lines.append(f"arena {plan.arena_bytes:,} B (peak {plan.peak_sram_bytes:,} B at step {peak}), lower bound "
                 f"{plan.lower_bound_bytes:,} B, gap {plan.gap_bytes:,} B; placement {plan.method} "
                 f"({', '.join(f'{k} {v:,}' for k, v in plan.methods.items())}), planner {plan.planner_seconds:.2f} s")
    return "\n".join(lines)


def plot_timeline(graph, plan, path: str, title: str = "") -> str:
    """Draw the memory timeline into path (PNG); returns path.

    Top: live bytes per step stacked by tensor, each coloured by the kind of kernel that wrote it
    (the key); the bytes an output shares with the input it overwrites (kernel overlap contracts) are
    counted for both tensors and hatched, which is why bars may rise above the arena line. The
    arena top per step, the arena, the lower bound and the peak are marked. Bottom: the arena
    itself, each live tensor drawn at its offset, so the overlaps are visible as shared address ranges.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch, Rectangle

    rows = layer_rows(graph, plan)
    steps = list(range(len(rows)))
    fig, (ax, mx) = plt.subplots(2, 1, figsize=(max(11, 0.32 * len(rows) + 4), 11), dpi=100, sharex=True,
                                 gridspec_kw={"height_ratios": [3, 2]})
    names = [r for r, b in sorted(plan.buffers.items(), key=lambda kv: (kv[1].first, kv[0]))
             if not b.external and b.size > 0]
    producer = {op.output: op.kernel for op in graph.ops}
    kind = {n: ("scratch" if plan.buffers[n].kind == "scratch" else producer.get(n, "input")) for n in names}
    kinds = list(dict.fromkeys(kind[n] for n in names))
    # tab20 without its reds and greens: those mark the arena and the lower bound
    palette = [plt.get_cmap("tab20")(i) for i in (0, 2, 8, 10, 12, 14, 16, 18, 1, 3, 9, 11, 13, 15, 17, 19)]
    kcolor = {k: palette[i % len(palette)] for i, k in enumerate(kinds)}
    bottom = [0] * len(rows)
    for name in names:
        b = plan.buffers[name]
        h = [b.size if b.first <= s <= b.last else 0 for s in steps]
        ax.bar(steps, h, bottom=bottom, width=0.85, color=kcolor[kind[name]], edgecolor="white", linewidth=0.4)
        bottom = [x + y for x, y in zip(bottom, h)]
    shared = [r["live_bytes"] - r["distinct_bytes"] for r in rows]
    if any(v > 0 for v in shared):
        ax.bar(steps, shared, bottom=[t - v for t, v in zip(bottom, shared)], width=0.85, facecolor="none",
               edgecolor="black", hatch="////", linewidth=0)
    ax.plot(steps, [r["high_water"] for r in rows], color="black", marker=".", lw=1.2)
    ax.axhline(plan.lower_bound_bytes, color="tab:green", ls=(0, (1, 1)), lw=3, alpha=0.8)
    ax.axhline(plan.arena_bytes, color="tab:red", ls="-", lw=1.3)
    x_text = len(rows) - 0.5
    gap = plan.arena_bytes - plan.lower_bound_bytes
    ax.text(x_text, plan.arena_bytes, f"arena {plan.arena_bytes:,} B ", color="tab:red", ha="right", va="bottom", fontsize=10)
    ax.text(x_text, plan.lower_bound_bytes, f"lower bound {plan.lower_bound_bytes:,} B ({gap:,} B below the arena) ",
            color="tab:green", ha="right", va="top", fontsize=10)
    peak = plan.peak_step
    if rows:
        ax.plot([peak], [rows[peak]["high_water"]], "o", ms=10, mfc="none", mec="tab:red", mew=2)
        ax.annotate(f"peak: step {peak} ({rows[peak]['op']}), {rows[peak]['high_water']:,} B",
                    xy=(peak, rows[peak]["high_water"]), xytext=(peak + 2, max(bottom + [1]) * 1.05),
                    arrowprops=dict(arrowstyle="->", color="tab:red"), color="tab:red", fontsize=10)
    handles = [Patch(facecolor=kcolor[k], label=f"tensor written by {k}" if k not in ("input", "scratch") else
                     ("kernel scratch" if k == "scratch" else "model input copy")) for k in kinds]
    handles += [Patch(facecolor="white", edgecolor="black", hatch="////",
                      label="shared by an output and the input it overwrites\n(counted twice: why bars pass the arena)"),
                plt.Line2D([], [], color="black", marker=".", label="arena top in use at the step"),
                plt.Line2D([], [], color="tab:red", lw=1.3, label="arena (static, bytes)"),
                plt.Line2D([], [], color="tab:green", ls=(0, (1, 1)), lw=3, label="lower bound (no plan can use less)")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=9, title="key", title_fontsize=10)
    ax.set_ylabel("live bytes (stacked by tensor)", fontsize=11)
    ax.set_title(title or "SRAM timeline", fontsize=12)
    ax.set_ylim(0, max(bottom + [plan.arena_bytes, 1]) * 1.15)
    ax.tick_params(labelsize=9)
    # arena map: each tensor at its offset while alive
    for name in names:
        b = plan.buffers[name]
        off = plan.scratch_offsets.get(name[len("scratch:"):]) if b.kind == "scratch" else plan.offsets.get(name)
        if off is None:
            continue
        mx.add_patch(Rectangle((b.first - 0.42, off), b.last - b.first + 0.84, b.size, facecolor=kcolor[kind[name]],
                               edgecolor="black", linewidth=0.3, alpha=0.75))
    mx.axhline(plan.arena_bytes, color="tab:red", lw=1.3)
    mx.axvline(peak, color="tab:red", lw=0.8, alpha=0.6)
    mx.set_ylim(0, max(plan.arena_bytes, 1) * 1.05)
    mx.set_xlim(-1, len(rows))
    mx.set_ylabel("arena offset (bytes)", fontsize=11)
    mx.set_xticks(steps)
    mx.set_xticklabels([f"{s} {r['kernel']}" for s, r in zip(steps, rows)], rotation=90, fontsize=9)
    mx.tick_params(axis="y", labelsize=9)
    mx.set_xlabel("step (operator, in execution order)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def check_sram(graph, plan, budget, source: str = "model") -> None:
    """Raise a one-line TinyEngineError when the arena does not fit ``budget`` bytes."""
    limit = parse_bytes(budget)
    if plan.arena_bytes <= limit:
        return
    raise TinyEngineError(
        f"{source}: needs {plan.arena_bytes:,} bytes of SRAM (arena), over the budget of {limit:,} bytes; "
        f"{peak_description(graph, plan)}")


def peak_description(graph, plan) -> str:
    """'peak at step S (op: kernel shapes, N bytes in use); lower bound B bytes', for budget errors."""
    s = plan.peak_step
    op = plan.ops(graph)[s]
    ins = ", ".join(_shape(graph.tensors[t]) for t in op.inputs)
    return (f"peak at step {s} ({op.name}: {op.kernel} {ins} -> {_shape(graph.tensors[op.output])}, "
            f"{plan.high_water[s]:,} bytes in use); lower bound {plan.lower_bound_bytes:,} bytes")
