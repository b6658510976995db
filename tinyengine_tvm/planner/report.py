"""Memory reports from a (KernelGraph, MemoryPlan): the per-layer table, the timeline plot, SRAM budgets.

``layer_rows`` gives one row per step (op, output shape, MACs, live bytes, arena
high-water mark, weight bytes, tensors alive); ``format_table`` prints them like
STM32Cube.AI's analyze report; ``plot_timeline`` draws live bytes per step stacked
by tensor, the high-water mark, the arena and the lower bound, with the peak
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
            "scratch_bytes": plan.scratch_bytes.get(op.name, 0),
        })
    return rows


def format_table(graph, plan, title: str = "") -> str:
    rows = layer_rows(graph, plan)
    head = f"{'step':>4}  {'op':<24} {'output':<12} {'MACs':>11} {'live B':>8} {'arena HWM':>9} {'weights B':>9}  note"
    lines = [title] if title else []
    lines += [head, "-" * len(head)]
    peak = plan.peak_step
    for r in rows:
        note = []
        if r["overlap"] is not None:
            note.append(f"out overlaps in ({r['overlap']:+d})")
        if r["scratch_bytes"]:
            note.append(f"scratch {r['scratch_bytes']} B")
        if r["step"] == peak:
            note.append("<- peak")
        lines.append(f"{r['step']:>4}  {r['op']:<24} {r['out_shape']:<12} {r['macs']:>11,} {r['live_bytes']:>8,} "
                     f"{r['high_water']:>9,} {r['weight_bytes']:>9,}  {', '.join(note)}")
    lines.append("-" * len(head))
    lines.append(f"total: {len(rows)} ops, {graph.macs:,} MACs, {graph.weight_bytes:,} weight bytes")
    lines.append(f"arena {plan.arena_bytes:,} B (peak {plan.peak_sram_bytes:,} B at step {peak}), lower bound "
                 f"{plan.lower_bound_bytes:,} B, gap {plan.gap_bytes:,} B; placement {plan.method} "
                 f"({', '.join(f'{k} {v:,}' for k, v in plan.methods.items())}), planner {plan.planner_seconds:.2f} s")
    return "\n".join(lines)


def plot_timeline(graph, plan, path: str, title: str = "") -> str:
    """Draw the memory timeline into path (PNG); returns path.

    Top: live bytes per step stacked by tensor (bytes an overlap shares are counted
    for both tensors), the arena high-water mark, the arena, the lower bound and the
    peak. Bottom: the arena itself, each live tensor drawn at its offset, so the
    overlaps the kernel contracts allow are visible as shared address ranges.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    rows = layer_rows(graph, plan)
    steps = list(range(len(rows)))
    fig, (ax, mx) = plt.subplots(2, 1, figsize=(max(9, 0.22 * len(rows) + 3), 9), dpi=100, sharex=True,
                                 gridspec_kw={"height_ratios": [3, 2]})
    cmap = plt.get_cmap("tab20")
    names = [r for r, b in sorted(plan.buffers.items(), key=lambda kv: (kv[1].first, kv[0]))
             if not b.external and b.size > 0]
    color = {n: cmap(i % 20) for i, n in enumerate(names)}
    bottom = [0] * len(rows)
    for name in names:
        b = plan.buffers[name]
        h = [b.size if b.first <= s <= b.last else 0 for s in steps]
        ax.bar(steps, h, bottom=bottom, width=0.85, color=color[name], edgecolor="white", linewidth=0.3)
        bottom = [x + y for x, y in zip(bottom, h)]
    ax.plot(steps, [r["high_water"] for r in rows], color="black", marker=".", lw=1.2,
            label="arena high-water mark")
    ax.axhline(plan.arena_bytes, color="tab:red", ls="--", lw=1, label=f"arena {plan.arena_bytes:,} B")
    ax.axhline(plan.lower_bound_bytes, color="tab:green", ls=":", lw=1.4,
               label=f"lower bound {plan.lower_bound_bytes:,} B")
    peak = plan.peak_step
    if rows:
        ax.plot([peak], [rows[peak]["high_water"]], "o", ms=10, mfc="none", mec="tab:red", mew=2)
        ax.annotate(f"peak: step {peak} ({rows[peak]['op']}), {rows[peak]['high_water']:,} B",
                    xy=(peak, rows[peak]["high_water"]), xytext=(peak + 2, max(bottom) * 1.02),
                    arrowprops=dict(arrowstyle="->", color="tab:red"), color="tab:red", fontsize=9)
    ax.set_ylabel("live bytes (stacked by tensor)")
    ax.set_title(title or "SRAM timeline")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_ylim(0, max(bottom + [plan.arena_bytes, 1]) * 1.12)
    # arena map: each tensor at its offset while alive
    offs = {r: plan.offsets.get(r) for r in names}
    for name in names:
        b = plan.buffers[name]
        off = plan.scratch_offsets.get(name[len("scratch:"):]) if b.kind == "scratch" else offs.get(name)
        if off is None:
            continue
        mx.add_patch(Rectangle((b.first - 0.42, off), b.last - b.first + 0.84, b.size, facecolor=color[name],
                               edgecolor="black", linewidth=0.3, alpha=0.75))
    mx.axhline(plan.arena_bytes, color="tab:red", ls="--", lw=1)
    mx.axvline(peak, color="tab:red", lw=0.8, alpha=0.6)
    mx.set_ylim(0, max(plan.arena_bytes, 1) * 1.05)
    mx.set_xlim(-1, len(rows))
    mx.set_ylabel("arena offset (bytes)")
    mx.set_xticks(steps)
    mx.set_xticklabels([f"{s} {r['kernel'][:9]}" for s, r in zip(steps, rows)], rotation=90, fontsize=6)
    mx.set_xlabel("step (operator, in execution order)")
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
