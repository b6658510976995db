"""Greedy placement of a Problem's buffers into one arena.

Buffers are taken one at a time (largest first, "by size", as TFLite Micro's
GreedyMemoryPlanner; or most crowded first, "by conflicts": the buffer whose
lifetime sees the most live bytes) and each goes to an aligned offset that every
already placed buffer it meets in time allows: either disjoint, or at an overlap
the kernel contract permits (the candidates are the edges of the allowed intervals
next to each placed neighbour). Two rules are tried, the better kept: the lowest
offset >= 0 (TFLM), and the offset that grows the placed span least, negative
offsets allowed (so an output can go below an input placed before it).
"""

from __future__ import annotations

ALIGN = 8


def align_up(x: int, a: int = ALIGN) -> int:
    return -(-x // a) * a


def align_down(x: int, a: int = ALIGN) -> int:
    return (x // a) * a


def neighbours(problem) -> list:
    """Per buffer: [(other, Overlap, sign)], sign=+1 if delta = off[self] - off[other] (self is the pair's b)."""
    nb = [[] for _ in problem.bufs]
    for a, b, ov in problem.pairs:
        nb[b].append((a, ov, +1))
        nb[a].append((b, ov, -1))
    return nb


def _allowed(ov, sign: int, off_self: int, off_other: int) -> bool:
    delta = (off_self - off_other) if sign > 0 else (off_other - off_self)
    return ov.allows(delta)


def _candidates(ov, sign: int, off_other: int):
    """Offsets for self at the edges of the allowed set relative to a placed neighbour."""
    if sign > 0:  # off_self = off_other + delta
        yield align_down(off_other + ov.lo)
        yield align_up(off_other + ov.hi)
        for d in ov.points:
            yield off_other + d
    else:  # off_other - off_self = delta  -> off_self = off_other - delta
        yield align_up(off_other - ov.lo)
        yield align_down(off_other - ov.hi)
        for d in ov.points:
            yield off_other - d


def crowding(problem) -> list:
    """Per buffer: the most live bytes at any step of its lifetime."""
    live = problem.live_bytes()
    return [max(live[max(b.first, 0): b.last + 1] or [b.size]) for b in problem.bufs]


def place(problem, key: str = "size", order=None) -> tuple[list, int]:
    """(offset per buffer, arena end): the better of lowest-offset and tightest-span placement."""
    a = _place(problem, key, order, span=False)
    b = _place(problem, key, order, span=True)
    return a if a[1] <= b[1] else b


def _place(problem, key: str = "size", order=None, span: bool = False) -> tuple[list, int]:
    """(offset per buffer, arena end) with the given greedy order ("size" or "conflicts").

    span=False: each buffer at the lowest offset >= 0 its placed neighbours allow (TFLM's rule).
    span=True: offsets may go negative (an output may sit *below* an input placed first, as the
    overlap contracts want), each buffer where the placed buffers' total span grows least; the
    result is shifted back to start at 0."""
    bufs = problem.bufs
    nb = neighbours(problem)
    if order is None:
        if key == "size":
            order = sorted(range(len(bufs)), key=lambda i: (-bufs[i].size, bufs[i].first, i))
        elif key == "conflicts":
            crowd = crowding(problem)
            order = sorted(range(len(bufs)), key=lambda i: (-crowd[i], -bufs[i].size, bufs[i].first, i))
        else:
            raise ValueError(f"unknown greedy key {key}")
    off: list = [None] * len(bufs)
    lo_all, hi_all = 0, 0
    first = True
    for i in order:
        placed = [(j, ov, s) for j, ov, s in nb[i] if off[j] is not None]
        cands = {0}
        for j, ov, s in placed:
            cands.update(c for c in _candidates(ov, s, off[j]) if (span or c >= 0) and c % ALIGN == 0)
        ok = [c for c in cands if all(_allowed(ov, s, c, off[j]) for j, ov, s in placed)]
        if not ok:  # unreachable: above every neighbour is always allowed
            ok = [align_up(max((off[j] + bufs[j].size for j, _, _ in placed), default=0))]
        if span and not first:
            size = bufs[i].size
            off[i] = min(ok, key=lambda c: (max(hi_all, c + size) - min(lo_all, c), abs(c)))
        else:
            off[i] = min(ok)
        lo_all = off[i] if first else min(lo_all, off[i])
        hi_all = off[i] + bufs[i].size if first else max(hi_all, off[i] + bufs[i].size)
        first = False
    base = min((o for o in off if o is not None), default=0)
    off = [o - base for o in off]  # base is a multiple of ALIGN
    end = max((off[i] + b.size for i, b in enumerate(bufs)), default=0)
    return off, end
