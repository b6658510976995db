"""Exact placement: a mixed-integer program solved by HiGHS (scipy.optimize.milp) under a time limit.

Variables: one integer offset per buffer (in ALIGN units) and the arena size A.
For every pair alive together, one binary per allowed interval of
``offset[b] - offset[a]`` (disjoint below / above, or a kernel-contract overlap),
exactly one of them active, enforced with big-M rows. Minimise A. Returns the
solver's best placement (if better than the incumbent) and its proven lower bound
(HiGHS's dual bound), so callers can state the gap.
"""

from __future__ import annotations

import numpy as np

from .greedy import ALIGN


def solve(problem, upper_bound: int, time_limit: float = 2.0):
    """(offsets or None, arena end or None, proven lower bound, optimal?)."""
    try:
        from scipy.optimize import Bounds, LinearConstraint, milp
        from scipy.sparse import coo_matrix
    except ImportError:  # pragma: no cover - scipy is a dependency
        return None, None, 0, False
    bufs = problem.bufs
    n = len(bufs)
    if n == 0:
        return [], 0, 0, True
    ub_units = -(-upper_bound // ALIGN)
    M = 2 * ub_units + 2
    # variable layout: x_0..x_{n-1}, A, then binaries
    rows, cols, vals, lo, hi = [], [], [], [], []
    nvar = n + 1
    A = n

    def row(entries, lb, ub):
        r = len(lo)
        for c, v in entries:
            rows.append(r)
            cols.append(c)
            vals.append(v)
        lo.append(lb)
        hi.append(ub)

    for i, b in enumerate(bufs):  # ALIGN*x_i + size_i <= A   (A in bytes)
        row([(i, ALIGN), (A, -1)], -np.inf, -b.size)
    integrality = [1] * n + [0]
    for a, b, ov in problem.pairs:
        ivs = ov.intervals()
        zs = list(range(nvar, nvar + len(ivs)))
        nvar += len(ivs)
        integrality += [1] * len(ivs)
        row([(z, 1) for z in zs], 1, 1)
        for z, (l, h) in zip(zs, ivs):
            # delta_units = x_b - x_a; delta = ALIGN * delta_units
            if l is not None:  # x_b - x_a >= ceil(l/ALIGN) - M (1 - z)
                row([(b, 1), (a, -1), (z, -M)], -(-l // ALIGN) - M, np.inf)
            if h is not None:  # x_b - x_a <= floor(h/ALIGN) + M (1 - z)
                row([(b, 1), (a, -1), (z, M)], -np.inf, (h // ALIGN) + M)
    c = np.zeros(nvar)
    c[A] = 1.0
    lb = np.zeros(nvar)
    ubv = np.ones(nvar)
    ubv[:n] = [max(0, (upper_bound - bb.size) // ALIGN) for bb in bufs]
    lb[A] = max(bb.size for bb in bufs)
    ubv[A] = upper_bound
    mat = coo_matrix((vals, (rows, cols)), shape=(len(lo), nvar)).tocsr()
    res = milp(c, constraints=LinearConstraint(mat, lo, hi), integrality=np.array(integrality),
               bounds=Bounds(lb, ubv), options={"time_limit": float(time_limit), "disp": False, "mip_rel_gap": 0.0})
    bound = getattr(res, "mip_dual_bound", None)
    bound = int(np.ceil(bound - 1e-6)) if bound is not None and np.isfinite(bound) else 0
    if res.x is None:
        return None, None, bound, False
    off = [int(round(v)) * ALIGN for v in res.x[:n]]
    end = max(o + bb.size for o, bb in zip(off, bufs))
    optimal = res.status == 0 and bound >= end
    return off, end, bound, optimal
