"""Float PyTorch models for the PyTorch frontend and PTQ tests (torch imported on use).

``mobilenet_v2(width, classes, seed)`` is a MobileNetV2 (inverted residual blocks:
1x1 expand + ReLU6, 3x3 depthwise + ReLU6, 1x1 project, residual add; last 1x1 conv to
1280, global average pool, linear) with random weights whose batch-norm statistics are
realistic: ``calibrate_bn`` runs it in training mode on random images so each BN's
running mean/var are those of the activations it actually sees. ``to_onnx`` exports a
module with torch's ONNX exporter (batch norm folded into the convs), the input of the
onnxruntime reference.
"""

from __future__ import annotations

import numpy as np


def _divisible(v, d=8):
    nv = max(d, int(v + d / 2) // d * d)
    return nv + d if nv < 0.9 * v else nv


def mobilenet_v2(width: float = 0.35, classes: int = 1000, seed: int = 0, resolution: int = 96):
    import torch
    from torch import nn

    class ConvBN(nn.Sequential):
        def __init__(self, i, o, k=3, stride=1, groups=1, act=True):
            layers = [nn.Conv2d(i, o, k, stride, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(o)]
            if act:
                layers.append(nn.ReLU6())
            super().__init__(*layers)

    class InvertedResidual(nn.Module):
        def __init__(self, i, o, stride, expand):
            super().__init__()
            h = int(round(i * expand))
            self.residual = stride == 1 and i == o
            layers = [] if expand == 1 else [ConvBN(i, h, 1)]
            layers += [ConvBN(h, h, 3, stride, groups=h), ConvBN(h, o, 1, act=False)]
            self.conv = nn.Sequential(*layers)

        def forward(self, x):
            return x + self.conv(x) if self.residual else self.conv(x)

    class MobileNetV2(nn.Module):
        def __init__(self):
            super().__init__()
            cfg = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]
            c = _divisible(32 * width)
            feats = [ConvBN(3, c, 3, 2)]
            for t, ch, n, s in cfg:
                o = _divisible(ch * width)
                for k in range(n):
                    feats.append(InvertedResidual(c, o, s if k == 0 else 1, t))
                    c = o
            feats.append(ConvBN(c, 1280, 1))
            self.features = nn.Sequential(*feats)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(1280, classes)

        def forward(self, x):
            return self.classifier(torch.flatten(self.pool(self.features(x)), 1))

    torch.manual_seed(seed)
    model = random_bn_affine(MobileNetV2())
    calibrate_bn(model, resolution, seed)
    return model.eval()


def small_net(channels: int = 16, resolution: int = 24, classes: int = 10, seed: int = 0):
    """A small float net with the PTQ's layer kinds: conv 3x3/2 + BN + ReLU6, depthwise 3x3 + BN + ReLU,
    1x1 project + BN, residual add, max pool 2x2, global average pool, linear."""
    import torch
    from torch import nn

    c = channels

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, c, 3, 2, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU6())
            self.dw = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, groups=c, bias=False), nn.BatchNorm2d(c), nn.ReLU())
            self.project = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))
            self.pool = nn.MaxPool2d(2)
            self.head = nn.Linear(c, classes)

        def forward(self, x):
            h = self.stem(x)
            h = h + self.project(self.dw(h))
            h = self.pool(h)
            return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(h, 1), 1))

    torch.manual_seed(seed)
    return calibrate_bn(random_bn_affine(Net()), resolution=resolution)


def small_resnet(resolution: int = 32, classes: int = 10, seed: int = 0):
    """A ResNet-style float net: 7x7/2 stem + BN + ReLU, 3x3/2 max pool (padded), three basic blocks
    (3x3 convs, residual adds with ReLU, 1x1/2 downsampling convs), global average pool, linear."""
    import torch
    from torch import nn

    def conv_bn(i, o, k, stride, relu):
        layers = [nn.Conv2d(i, o, k, stride, k // 2, bias=False), nn.BatchNorm2d(o)]
        return nn.Sequential(*layers, nn.ReLU()) if relu else nn.Sequential(*layers)

    class Block(nn.Module):
        def __init__(self, i, o, stride):
            super().__init__()
            self.body = nn.Sequential(conv_bn(i, o, 3, stride, True), conv_bn(o, o, 3, 1, False))
            self.down = None if (i, stride) == (o, 1) else conv_bn(i, o, 1, stride, False)

        def forward(self, x):
            return torch.relu(self.body(x) + (x if self.down is None else self.down(x)))

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(conv_bn(3, 16, 7, 2, True), nn.MaxPool2d(3, 2, 1))
            self.blocks = nn.Sequential(Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2))
            self.fc = nn.Linear(64, classes)

        def forward(self, x):
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1), 1))

    torch.manual_seed(seed)
    return calibrate_bn(random_bn_affine(ResNet()), resolution=resolution)


def random_bn_affine(model):
    """BN scales in [0.5, 1.5] and shifts in [-0.2, 0.2] instead of torch's 1 and 0, so that channels
    differ in scale and offset after normalization, as in a trained network."""
    from torch import nn

    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.2, 0.2)
    return model


def calibrate_bn(model, resolution=96, seed=0, batches=4, batch=16, channels=3):
    """Set every BatchNorm's running statistics to those of the activations on random images."""
    import torch
    from torch import nn

    for mod in model.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.reset_running_stats()
            mod.momentum = None  # cumulative average over the batches below
    g = torch.Generator().manual_seed(seed + 1)
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.rand(batch, channels, resolution, resolution, generator=g) * 2 - 1)
    return model.eval()


def images(n: int, resolution: int = 96, seed: int = 0) -> list[np.ndarray]:
    """n random NCHW float images in [-1, 1], each (1, 3, R, R)."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, (1, 3, resolution, resolution)).astype(np.float32) for _ in range(n)]


def to_onnx(model, example: np.ndarray, opset: int = 13):
    """Export with torch's ONNX exporter (TorchScript-based; folds batch norm into conv); returns a ModelProto."""
    import io

    import onnx
    import torch

    buf = io.BytesIO()
    torch.onnx.export(model.eval(), (torch.from_numpy(example),), buf, dynamo=False, opset_version=opset,
                      input_names=["x"], output_names=["y"])
    return onnx.load_from_string(buf.getvalue())


def run_torch(model, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()
