"""Training for TinyNAS: the supernet (sandwich rule), single networks, BN recalibration, accuracy.

The supernet trains the largest and the smallest subnet and ``n_random`` random ones on
every batch (MCUNet: 4 subnets per batch) and sums their losses. Under ``torchrun`` (or any
initialised ``torch.distributed`` process group, gloo on CPU) gradients are averaged over
the processes with DDP and each process takes its shard of every global batch.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def _dist():
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def batches(x, y, batch: int, rng: np.random.Generator, shard=True):
    """Shuffled (x, y) batches; with a process group, this process's share of each global batch."""
    idx = rng.permutation(len(y))
    d = _dist()
    rank, world = (d.get_rank(), d.get_world_size()) if (d and shard) else (0, 1)
    for i in range(0, len(idx) - batch + 1, batch):
        part = idx[i:i + batch][rank::world]
        yield x[part], y[part]


def _average_grads(model: nn.Module):
    d = _dist()
    if d is None:
        return
    world = d.get_world_size()
    for p in model.parameters():
        if p.grad is not None:
            d.all_reduce(p.grad, op=d.ReduceOp.SUM)
            p.grad /= world


def train_supernet(net, x, y, epochs: int, lr: float = 0.01, batch: int = 64, n_random: int = 2, seed: int = 0,
                   progress=None):
    """``x``: the training images, or a list of them at several resolutions (elastic resolution, as
    once-for-all networks train it: batch i at ``x[i % len(x)]``), so one supernet serves every
    resolution a search may choose (the network is fully convolutional up to its global pool)."""
    xs = list(x) if isinstance(x, (list, tuple)) else [x]
    space = net.space
    rng = np.random.default_rng(seed)          # the same genomes on every process
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=1e-5)
    steps = max(1, epochs * (len(y) // batch))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    big, small = _extreme(space, max), _extreme(space, min)
    net.train()
    for ep in range(epochs):
        total = 0.0
        for i, (idx, yb) in enumerate(batches(torch.arange(len(y)), y, batch, rng)):
            xb = xs[i % len(xs)][idx]
            opt.zero_grad()
            genomes = [big, small] + [space.sample_genome(rng) for _ in range(n_random)]
            for g in genomes:
                loss = F.cross_entropy(net(xb, g), yb)
                loss.backward()
                total += float(loss.detach())
            _average_grads(net)
            opt.step()
            sched.step()
        if progress is not None:
            progress(ep, total)
    return net


def _extreme(space, pick):
    from .space import Genome

    return Genome(tuple([pick(space.depths)] * len(space.stages)), tuple([pick(space.kernels)] * space.slots),
                  tuple([pick(space.expands)] * space.slots))


def train(model: nn.Module, x, y, epochs: int, lr: float = 0.01, batch: int = 64, seed: int = 0):
    """Train one network (fine-tuning or a baseline) with SGD + cosine schedule."""
    rng = np.random.default_rng(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=1e-5)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, epochs * (len(y) // batch)))
    model.train()
    for _ in range(epochs):
        for xb, yb in batches(x, y, batch, rng):
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            _average_grads(model)
            opt.step()
            sched.step()
    return model


@torch.no_grad()
def recalibrate_bn(model: nn.Module, x, batch: int = 64, max_batches: int = 8):
    """Reset BatchNorm statistics and re-estimate them (cumulative average) on a few training batches."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for i in range(0, min(len(x), batch * max_batches), batch):
        model(x[i:i + batch])
    for m in bns:
        m.momentum = 0.1
    model.eval()
    return model


@torch.no_grad()
def accuracy(model: nn.Module, x, y, batch: int = 256) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(y), batch):
        correct += int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    return correct / max(1, len(y))
