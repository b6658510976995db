"""The weight-sharing MBConv supernet (PyTorch) and plain networks built from architecture specs.

``Supernet(space)`` holds the largest network of a search space: every block slot at the
largest depthwise kernel and expansion. A genome picks per stage how many slots run and
per slot a kernel (the centre of the 7x7 weights, as once-for-all networks share them)
and an expansion (the first channels of the expand / project weights). BatchNorm statistics
are sliced the same way and recalibrated per subnet before it is evaluated.
``MBNet(spec)`` is the same network as an ordinary ``nn.Module`` (what is trained alone,
exported and compiled); ``Supernet.extract(genome)`` returns one with the shared weights.
Padding is k // 2 on every side, as ``graph.kernel_graph`` assumes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .space import Genome, SearchSpace
from .spec import ArchSpec


class ConvBN(nn.Sequential):
    def __init__(self, cin, cout, k=1, stride=1, groups=1, relu6=True):
        layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
        if relu6:
            layers.append(nn.ReLU6())
        super().__init__(*layers)


class MBBlock(nn.Module):
    def __init__(self, cin, cout, kernel, expand, stride):
        super().__init__()
        mid = cin * expand
        self.expand = ConvBN(cin, mid) if expand != 1 else None
        self.dw = ConvBN(mid, mid, kernel, stride, groups=mid)
        self.project = ConvBN(mid, cout, relu6=False)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.expand(x) if self.expand is not None else x
        y = self.project(self.dw(y))
        return y + x if self.residual else y  # ADD(block output, block input), as graph.kernel_graph orders it


class MBNet(nn.Module):
    """The network of an ArchSpec: stem, MBConv blocks, global average pool, linear classifier."""

    def __init__(self, spec: ArchSpec):
        super().__init__()
        self.spec = spec
        self.stem = ConvBN(spec.in_c, spec.stem_c, spec.stem_kernel, spec.stem_stride)
        blocks, c = [], spec.stem_c
        for b in spec.blocks:
            blocks.append(MBBlock(c, b.out_c, b.kernel, b.expand, b.stride))
            c = b.out_c
        self.blocks = nn.Sequential(*blocks)
        self.head = ConvBN(c, spec.head_c) if spec.head_c else nn.Identity()
        self.classifier = nn.Linear(spec.head_c or c, spec.classes)

    def forward(self, x):
        x = self.head(self.blocks(self.stem(x)))
        return self.classifier(x.mean(dim=(2, 3)))


def _bn(x, bn: nn.BatchNorm2d, c: int):
    """BatchNorm over the first c channels of ``bn``; in train mode its running statistics (slices
    of the shared ones) are updated in place, cumulatively when momentum is None (recalibration)."""
    momentum = bn.momentum
    if bn.training and momentum is None:
        bn.num_batches_tracked += 1
        momentum = 1.0 / float(bn.num_batches_tracked)
    return F.batch_norm(x, bn.running_mean[:c], bn.running_var[:c], bn.weight[:c], bn.bias[:c],
                        bn.training, momentum or 0.0, bn.eps)


class ElasticBlock(nn.Module):
    def __init__(self, cin, cout, stride, max_kernel, max_expand, first=False):
        super().__init__()
        self.cin, self.cout, self.stride, self.first = cin, cout, stride, first
        self.max_kernel = max_kernel
        mid = cin * max_expand
        self.expand = None if first else ConvBN(cin, mid)
        self.dw = ConvBN(mid, mid, max_kernel, stride, groups=mid)
        self.project = ConvBN(mid, cout, relu6=False)

    def forward(self, x, kernel, expand):
        mid = self.cin * expand
        y = x
        if self.expand is not None:
            y = F.relu6(_bn(F.conv2d(x, self.expand[0].weight[:mid]), self.expand[1], mid))
        c = (self.max_kernel - kernel) // 2
        w = self.dw[0].weight[:mid, :, c:c + kernel, c:c + kernel]
        y = F.relu6(_bn(F.conv2d(y, w, None, self.stride, kernel // 2, 1, mid), self.dw[1], mid))
        y = _bn(F.conv2d(y, self.project[0].weight[:, :mid]), self.project[1], self.cout)
        return y + x if (self.stride == 1 and self.cin == self.cout) else y

    def export_to(self, block: MBBlock, kernel, expand):
        """Copy this slot's shared weights (kernel, expand) into a plain MBBlock."""
        mid = self.cin * expand
        c = (self.max_kernel - kernel) // 2
        with torch.no_grad():
            if block.expand is not None:
                _copy_convbn(block.expand, self.expand, out=slice(0, mid))
            _copy_convbn(block.dw, self.dw, out=slice(0, mid), crop=(c, kernel))
            _copy_convbn(block.project, self.project, out=slice(0, self.cout), inp=slice(0, mid))


def _copy_convbn(dst, src, out, inp=slice(None), crop=None):
    w = src[0].weight[out, inp]
    if crop is not None:
        c, k = crop
        w = w[:, :, c:c + k, c:c + k]
    dst[0].weight.copy_(w)
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(dst[1], name).copy_(getattr(src[1], name)[out])


class Supernet(nn.Module):
    def __init__(self, space: SearchSpace, in_c: int = 3):
        super().__init__()
        self.space = space
        big = space.largest()
        self.stem = ConvBN(in_c, big.stem_c, 3, 2)
        per = max(space.depths)
        slots, c = [], space.channels(space.first)
        self.first = ElasticBlock(big.stem_c, c, 1, 3, 1, first=True)
        for base, stride in space.stages:
            cout = space.channels(base)
            for j in range(per):
                slots.append(ElasticBlock(c, cout, stride if j == 0 else 1, max(space.kernels), max(space.expands)))
                c = cout
        self.slots = nn.ModuleList(slots)
        self.classifier = nn.Linear(c, space.classes)

    def forward(self, x, genome: Genome):
        x = self.first(self.stem(x), 3, 1)
        for i in self.space.active(genome):
            x = self.slots[i](x, genome.kernels[i], genome.expands[i])
        return self.classifier(x.mean(dim=(2, 3)))

    def extract(self, genome: Genome) -> MBNet:
        """The subnet as a plain MBNet carrying the shared weights."""
        net = MBNet(self.space.spec_of(genome))
        with torch.no_grad():
            _copy_convbn(net.stem, self.stem, out=slice(None))
            self.first.export_to(net.blocks[0], 3, 1)
            for blk, i in zip(list(net.blocks)[1:], self.space.active(genome)):
                self.slots[i].export_to(blk, genome.kernels[i], genome.expands[i])
            net.classifier.load_state_dict(self.classifier.state_dict())
        return net
