"""Example: a float PyTorch model to a C project for a microcontroller, with post-training quantization.

  python scripts/torch_example.py [-o out/torch_net] [--target host|cortex-m7]

Builds a small CNN (conv + BN + ReLU6, depthwise, residual, pooling, linear), quantizes it
on 32 calibration images (int8, TFLite scheme: per-channel weights, per-tensor activations),
prints the float-vs-int8 report, writes the C project and, on the host, runs it and
compares its outputs with the float model.
"""

from __future__ import annotations

import argparse

import numpy as np


def make_model():
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self, classes=10):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6())
            self.block = nn.Sequential(
                nn.Conv2d(16, 48, 1, bias=False), nn.BatchNorm2d(48), nn.ReLU6(),
                nn.Conv2d(48, 48, 3, 1, 1, groups=48, bias=False), nn.BatchNorm2d(48), nn.ReLU6(),
                nn.Conv2d(48, 16, 1, bias=False), nn.BatchNorm2d(16))
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(16, classes)

        def forward(self, x):
            h = self.stem(x)
            h = h + self.block(h)
            return self.fc(torch.flatten(self.pool(h), 1))

    from tinyengine_tvm.testing.torch_models import calibrate_bn

    torch.manual_seed(0)
    return calibrate_bn(Net(), resolution=32)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default="out/torch_net")
    ap.add_argument("--target", default="host")
    args = ap.parse_args(argv)

    import tinyengine_tvm as te
    from tinyengine_tvm.testing.torch_models import images, run_torch

    model = make_model()
    calibration = images(32, 32, seed=1)  # NCHW, as the model takes them
    cm = te.compile(model, target=args.target, calibration=calibration)
    print(cm.quantization_report)
    print(cm.summary())
    cm.export(args.output)
    print(f"wrote {args.output}/ (model.c, model.h: model_run takes NHWC float input)")
    if args.target == "host":
        agree = 0
        for x in images(10, 32, seed=2):
            y = cm.run([np.ascontiguousarray(x.transpose(0, 2, 3, 1))])[0]
            agree += int(np.argmax(y) == np.argmax(run_torch(model, x)))
        print(f"C on the host vs float PyTorch: same top-1 on {agree}/10 images")


if __name__ == "__main__":
    main()
