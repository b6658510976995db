"""Unfused KxK / depthwise convs (onnxruntime's float Conv path) in whole networks: compiled C vs onnxruntime.

  python scripts/ort_float_conv_vs_ort.py [--inputs 50] [--json]

Two small random-weight networks with residual connections, exported from PyTorch to ONNX and
quantized by onnxruntime ``quantize_static`` (QDQ, int8, per-channel, MinMax):

* ``resnet8``: a CIFAR-style ResNet (3x3 stem, three stages of basic blocks, 1x1 stride-2 shortcuts,
  32x32 input): each block's first 3x3 conv reads the block input, which the shortcut reads too;
* ``convnext_dw``: blocks x -> depthwise 7x7 -> 1x1 expand -> ReLU -> 1x1 project -> + x (40x40 input):
  the depthwise conv reads the block input, which the add reads too.

onnxruntime (x86) leaves those convs unfused (DequantizeLinear -> float Conv -> QuantizeLinear). The
script compiles onnxruntime's QDQ model with tinyengine-tvm and prints, over ``--inputs`` random
images: the convs onnxruntime runs in float, output values differing from onnxruntime's (in LSB of
its output scale) and images with any difference. Run it from checkouts before and after a change
to compare.
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def resnet8(seed=0):
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.c1, self.b1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
            self.c2, self.b2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
            self.short = None
            if stride != 1 or cin != cout:
                self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            y = torch.relu(self.b1(self.c1(x)))
            y = self.b2(self.c2(y))
            return torch.relu(y + (x if self.short is None else self.short(x)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
            self.blocks = nn.Sequential(Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2))
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1), 1))

    torch.manual_seed(seed)
    return _init_bn(Net(), 32)


def convnext_dw(seed=0):
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.dw, self.bn = nn.Conv2d(c, c, 7, 1, 3, groups=c), nn.BatchNorm2d(c)
            self.pw1, self.pw2 = nn.Conv2d(c, 3 * c, 1), nn.Conv2d(3 * c, c, 1)

        def forward(self, x):
            return x + self.pw2(torch.relu(self.pw1(self.bn(self.dw(x)))))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 24, 4, 4), nn.BatchNorm2d(24))
            self.s1 = nn.Sequential(Block(24), Block(24))
            self.down = nn.Sequential(nn.Conv2d(24, 48, 2, 2), nn.BatchNorm2d(48))
            self.s2 = nn.Sequential(Block(48), Block(48))
            self.fc = nn.Linear(48, 10)

        def forward(self, x):
            y = self.s2(self.down(self.s1(self.stem(x))))
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))

    torch.manual_seed(seed)
    return _init_bn(Net(), 40)


def _init_bn(model, resolution):
    from tinyengine_tvm.testing import torch_models as tm

    return tm.calibrate_bn(tm.random_bn_affine(model), resolution)


def _float_convs(qdq):
    """Conv nodes onnxruntime runs in float (unfused) in its optimized graph of the QDQ model."""
    import onnx

    from tinyengine_tvm.testing.onnx_models import ort_optimized

    g = ort_optimized(qdq)[1].graph
    convs = [n for n in g.node if n.op_type == "Conv"]
    kinds = {}
    for n in convs:
        a = {x.name: onnx.helper.get_attribute_value(x) for x in n.attribute}
        k = "x".join(str(v) for v in a.get("kernel_shape", []))
        key = ("depthwise " if a.get("group", 1) > 1 else "") + k + (f"/s{a['strides'][0]}" if a.get("strides", [1])[0] > 1 else "")
        kinds[key] = kinds.get(key, 0) + 1
    return kinds, sum(n.op_type == "QLinearConv" for n in g.node)


def compare(name, n_inputs=50):
    import tinyengine_tvm as te
    from tinyengine_tvm.testing import onnx_models as om
    from tinyengine_tvm.testing import torch_models as tm

    model, res = {"resnet8": (resnet8, 32), "convnext_dw": (convnext_dw, 40)}[name]
    model = model()
    calib = tm.images(16, res, seed=10)
    qdq = om.ort_quantize(tm.to_onnx(model, calib[0]), calib, per_channel=True)
    float_convs, fused = _float_convs(qdq)
    cm = te.compile(qdq, arithmetic="onnxruntime")
    s, _ = om.output_qparams(qdq)
    diffs, images = 0, 0
    outs = 0
    for x in tm.images(n_inputs, res, seed=20):
        ref = om.ort_run(qdq, [x])[0]
        ours = cm.run([np.ascontiguousarray(x.transpose(0, 2, 3, 1))])[0]
        d = np.abs(np.rint(ref / s) - np.rint(ours / s))
        diffs += int((d > 0).sum())
        images += int(d.max() > 0)
        outs += d.size
    return {"model": name, "float_convs_in_onnxruntime": float_convs, "qlinearconv": fused, "images": n_inputs,
            "output_values": outs, "values_differing": diffs, "images_differing": images}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=50)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    res = [compare(m, args.inputs) for m in ("resnet8", "convnext_dw")]
    print(json.dumps(res, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
