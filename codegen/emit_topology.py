"""C calls of the detection-head / topology kernels (concat, slices, softmax ...), for emitter.py.

Each emitter takes (emitter, op) and returns the C statement(s) for the op.
"""

from __future__ import annotations


def _concat(em, op) -> str:
    """Copies of the inputs not written in place (concat_views.py); a view input costs nothing."""
    p = op.params
    out = em.ptr(op.output)
    lines = []
    for k, t in enumerate(op.inputs):
        if not p["copy"][k]:
            lines.append(f"/* {t}: written in place by its producer */")
            continue
        if p["rescale"][k]:
            from ..errors import UnsupportedOperatorError

            raise UnsupportedOperatorError(f"{op.name}: concatenating {t}, whose quantization differs from the "
                                           "output's, has no kernel in this arithmetic")
        dst = f"{out} + {p['col'][k]}" if p["col"][k] else out
        lines.append(f"te_copy_rows_s8({p['outer']}, {p['inner'][k]}, {p['inner'][k]}, {p['row']}, "
                     f"{em.ptr(t, const=True)}, {dst});")
    return "\n  ".join(lines)


TOPOLOGY_EMITTERS = {
    "concat": _concat,
}
