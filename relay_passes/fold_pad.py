"""FoldPadIntoConv: merge an int8 PAD whose value is the input zero point into the conv's padding.

Rewrites ``conv2d(dequantize(pad(x, value=zp)), w, padding=p)`` into
``conv2d(dequantize(x), w, padding=p + pad)``. A pad value equal to the zero point
dequantizes to exactly 0.0, which is what conv2d pads with, so the result is the
same bit for bit; the kernels then skip padded taps instead of reading a padded
copy of the input (one fewer tensor in SRAM). Pads with another value, or over
the batch/channel axes, are left alone (they become a pad kernel).
"""

from __future__ import annotations

import numpy as np
from tvm import relax
from tvm.relax.dpl import is_op, wildcard

from ._util import const_value, function_pass, rewrite_to_fixpoint, shape_of


def _rewrite(func: relax.Function) -> relax.Function:
    x = wildcard()
    pad = is_op("relax.nn.pad")(x)
    scale, zp = wildcard(), wildcard()
    deq = is_op("relax.dequantize")(pad, scale, zp)
    conv = is_op("relax.nn.conv2d")(deq, wildcard())

    def rewriter(expr, m):
        p, c, d = m[pad], m[conv], m[deq]
        if str(p.attrs.pad_mode) != "constant" or str(c.attrs.data_layout) != "NHWC":
            return expr
        pw = [int(v) for v in p.attrs.pad_width]
        if len(pw) != 8 or any(pw[i] for i in (0, 1, 6, 7)):
            return expr
        try:  # every (per-channel) zero point must equal the pad value
            if not np.all(const_value(d.args[2]) == float(p.attrs.pad_value)):
                return expr
        except TypeError:  # zero point is not a constant
            return expr
        top, bottom, left, right = pw[2], pw[3], pw[4], pw[5]
        old = [int(v) for v in c.attrs.padding]
        new_padding = [old[0] + top, old[1] + left, old[2] + bottom, old[3] + right]
        a = c.attrs
        layout, w_shape = str(a.kernel_layout), shape_of(c.args[1])
        k_hw = [w_shape[layout.index("H")], w_shape[layout.index("W")]]
        if (k_hw == [1, 1] and [int(v) for v in a.strides] == [1, 1] and new_padding[:2] == [0, 0]
                and any(new_padding[2:])):
            # a 1x1 stride-1 conv padded only at the bottom / right would still look pointwise to the
            # kernel choice (which reads pad_top / pad_left only) and leave its padded rows unwritten
            return expr
        return relax.op.nn.conv2d(
            relax.op.dequantize(p.args[0], d.args[1], d.args[2], axis=int(d.attrs.axis), out_dtype=str(d.attrs.out_dtype)),
            c.args[1],
            strides=[int(v) for v in a.strides],
            padding=new_padding,
            dilation=[int(v) for v in a.dilation],
            groups=int(a.groups),
            data_layout=str(a.data_layout),
            kernel_layout=str(a.kernel_layout),
            out_layout=str(a.out_layout),
            out_dtype=a.out_dtype,
        )

    return rewrite_to_fixpoint(conv, rewriter, func)


FoldPadIntoConv = function_pass("tinyengine.FoldPadIntoConv", _rewrite)
FoldPadIntoConv.__doc__ = __doc__
